// Delivery: the durable outbox and the sinks that carry its records away.
//
//   events -> Outbox (SQLite, committed before any send) -> SinkRunner (one per sink:
//   batching, retry with backoff, counters) -> Sink (MQTT, Loki: I/O only)
//
// A Sink only talks to its server. All policy - what to send next, when to retry,
// what to set aside - lives in SinkRunner, shared by every sink (telegraf's
// Output vs RunningOutput).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace birdsong {

// One record of the outbox, in the order it was committed.
struct OutboxRecord {
  int64_t seq = 0;           // outbox position, strictly increasing
  std::string id;            // the event's unique id (consumers drop duplicates by it)
  std::string kind;          // "detection", "weather", "agent" - Loki's `kind` label
  int64_t time_ns = 0;       // the event's time (detection start), Unix nanoseconds
  std::string payload;       // the event as schema-v1 JSON
};

enum class SendStatus {
  ok,         // the whole batch was delivered
  retry,      // a temporary failure (network down, broker gone, HTTP 429/5xx): try again later
  rejected,   // the server refuses these records for good (HTTP 4xx): set them aside with the reason
};

struct SendResult {
  SendStatus status = SendStatus::ok;
  std::string reason;                                   // for logs and the set-aside table
  std::optional<std::chrono::milliseconds> retry_after; // the server's own wish (Retry-After)
};

class Sink {
 public:
  virtual ~Sink() = default;
  virtual std::string name() const = 0;            // "mqtt", "loki": metric label, log component
  virtual std::size_t max_batch() const = 0;       // records per send() at most
  // Payload bytes per send() at most (0: no limit). The runner stops filling a batch
  // before this is exceeded, but always sends at least one record.
  virtual std::size_t max_batch_bytes() const { return 0; }
  // How long the runner may hold a partial batch hoping for more records (Loki
  // prefers fewer, larger pushes). 0: send whatever is pending at once.
  virtual std::chrono::milliseconds linger() const { return std::chrono::milliseconds(0); }
  // Delivers `batch` (oldest first). Blocks at most for the sink's own timeout.
  virtual SendResult send(std::span<const OutboxRecord> batch) = 0;
  // Called by the runner when it has nothing to send: at start and then every few
  // seconds while idle, under the same retry policy as send() (a `retry` result backs
  // off). A sink that holds a session (MQTT) connects here, so its status, discovery
  // and state messages go out without waiting for a first event. Blocks at most for
  // the sink's own timeout. The default has no session to keep.
  virtual SendResult maintain() { return {}; }
};

}  // namespace birdsong
