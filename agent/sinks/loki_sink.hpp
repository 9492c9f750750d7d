// Grafana Loki sink: pushes outbox records to Loki's HTTP push API (libcurl).
//
//   POST <url>/loki/api/v1/push
//   Content-Type: application/json, Content-Encoding: gzip
//   {"streams":[{"stream":{"job":"birdsong-agent","station":"garden","kind":"detection"},
//                "values":[["<Unix ns as a string>","<event JSON>"], ...]}]}
//
// Source: Loki HTTP API reference, "Ingest logs" (grafana.com/docs/loki/latest/reference/
// loki-http-api/). Loki answers 204 on success, 429 when a tenant's ingestion limit is
// hit, 5xx when it is unwell, and 400 for entries it will never accept (too old, too long,
// bad labels). Labels stay few and low-cardinality (a Loki stream per label set): the
// species, confidence and so on live in the JSON line, where LogQL's `| json` finds them.
//
// The sink does the HTTP exchange only; SinkRunner retries and sets aside (sink.hpp).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "agent/config.hpp"
#include "agent/delivery/sink.hpp"

namespace birdsong {

class LokiSink : public Sink {
 public:
  // Reads [loki] password_file now, so a missing secret is a start-up error
  // (ConfigError naming the key), not a stream of failed pushes.
  LokiSink(const LokiConfig& config, std::string station_id);
  ~LokiSink() override;
  LokiSink(const LokiSink&) = delete;
  LokiSink& operator=(const LokiSink&) = delete;

  std::string name() const override { return "loki"; }
  std::size_t max_batch() const override;
  std::size_t max_batch_bytes() const override;
  std::chrono::milliseconds linger() const override;
  // One POST; blocks at most [loki] timeout_s.
  SendResult send(std::span<const OutboxRecord> batch) override;

  const std::string& push_url() const { return push_url_; }

 private:
  struct Curl;
  LokiConfig config_;
  std::string station_;
  std::string push_url_;
  std::string password_;
  std::unique_ptr<Curl> curl_;
};

// The pieces of a push, exposed for tests.

// <base>/loki/api/v1/push, or `url` itself when it already names the push endpoint.
std::string loki_push_url(std::string_view url);
// The JSON push body (uncompressed): one stream per `kind`, in order of first appearance,
// entries within a stream sorted by time (stably, so equal times keep outbox order).
std::string loki_push_body(std::span<const OutboxRecord> batch, std::string_view station);
// A Retry-After value (RFC 9110 10.2.3): delay-seconds or an HTTP-date. nullopt if unparsable.
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           std::chrono::system_clock::time_point now);
// Maps Loki's HTTP answer to what the runner should do.
SendResult loki_result(long http_status, std::string_view body, std::string_view retry_after,
                       std::chrono::system_clock::time_point now);

}  // namespace birdsong
