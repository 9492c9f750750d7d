// SinkRunner: the delivery policy shared by every sink, one thread per sink.
//
//   loop: read the next batch after the sink's position (oldest first)
//         send it (one attempt in flight, never two)
//           ok       -> advance the position, count `sent`
//           retry    -> count `failed`, wait (exponential backoff with jitter, 1 s .. 60 s,
//                       or longer if the server asks), then send the same batch again
//           rejected -> a batch of one is set aside with the reason and counted `rejected`;
//                       a larger batch is resent one record at a time, so that one bad
//                       record does not take its good neighbours with it
//         nothing to send -> let the sink keep its session up (Sink::maintain), then
//                       sleep until a record is appended (woken at once) or the next check
//
// Because the position only moves after a success, a backlog goes out oldest first,
// in order, after any outage, and a record is delivered at least once.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "agent/delivery/backoff.hpp"
#include "agent/delivery/outbox.hpp"
#include "agent/delivery/sink.hpp"

namespace birdsong {

// What a runner has done since it started, plus the sink's backlog in the outbox.
struct SinkStats {
  std::string sink;                  // Sink::name()
  uint64_t sent = 0;                 // records delivered
  uint64_t failed = 0;               // attempts (send or maintain) that failed and will be retried
  uint64_t retried = 0;              // attempts that repeated a failed one
  uint64_t rejected = 0;             // records set aside for good
  bool up = false;                   // the last attempt succeeded
  int64_t pending = 0;               // records not yet delivered to this sink
  double oldest_pending_age_s = 0;   // how long the oldest of them has waited
};

struct RunnerOptions {
  Backoff::ms backoff_initial = std::chrono::seconds(1);
  Backoff::ms backoff_max = std::chrono::seconds(60);
  // While idle, Sink::maintain() runs this often (MQTT notices a lost connection
  // within this time even when no bird sings).
  Backoff::ms idle_check = std::chrono::seconds(5);
  uint64_t seed = std::random_device{}();  // for the jitter
};

class SinkRunner {
 public:
  // `outbox` and `sink` must outlive the runner; `sink.name()` must be one of the
  // outbox's configured sinks.
  SinkRunner(Outbox& outbox, Sink& sink, RunnerOptions options = {});
  ~SinkRunner();  // stop()
  SinkRunner(const SinkRunner&) = delete;
  SinkRunner& operator=(const SinkRunner&) = delete;

  void start();
  // Asks the thread to stop, waits for the attempt in flight (bounded by the sink's own
  // timeout) and returns. Records not yet delivered stay in the outbox.
  void stop();

  SinkStats stats() const;
  const std::string& name() const { return name_; }

 private:
  void run(std::stop_token stop);
  // After a failed attempt: counts, logs the first failure of a series, and sleeps the
  // backoff delay (cut short by stop()).
  void back_off(const SendResult& result, std::stop_token stop);
  void succeeded();
  void deliver(std::vector<OutboxRecord>& batch, std::stop_token stop);

  Outbox& outbox_;
  Sink& sink_;
  RunnerOptions options_;
  std::string name_;
  Backoff backoff_;
  int64_t isolate_through_ = 0;  // after a rejected batch: one record at a time up to this seq
  bool failing_ = false;         // the last attempt failed (the next one is a retry)

  std::atomic<uint64_t> sent_{0};
  std::atomic<uint64_t> failed_{0};
  std::atomic<uint64_t> retried_{0};
  std::atomic<uint64_t> rejected_{0};
  std::atomic<bool> up_{false};

  std::mutex sleep_mutex_;
  std::condition_variable_any sleep_;
  std::jthread thread_;
};

}  // namespace birdsong
