// Delivery: everything between the pipeline and the servers - the outbox, the
// configured sinks ([mqtt], [loki]) and one SinkRunner per sink.
//
//   pipeline thread: publish(event) -> Outbox (committed) -> returns
//   runner threads:  Outbox -> Sink::send -> advance
//
// publish() never waits for a server, so an unreachable sink never slows detection; it
// only waits for the local commit (an fsync with [outbox] sync = "full").
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "agent/config.hpp"
#include "agent/delivery/outbox.hpp"
#include "agent/delivery/sink_runner.hpp"
#include "agent/event.hpp"

namespace birdsong {

class MqttSink;

class Delivery {
 public:
  // The configured sinks and the outbox ([outbox] path, or default_outbox_path()).
  // Returns nullptr when no sink is configured: then there is nothing to deliver and no
  // outbox file. Throws ConfigError (a sink's settings, e.g. an unreadable password_file)
  // or OutboxError (the file cannot be opened).
  static std::unique_ptr<Delivery> from_config(const Config& config);

  // Any sinks (tests). `outbox.sinks` is filled in from the sinks' names.
  Delivery(OutboxOptions outbox, std::vector<std::unique_ptr<Sink>> sinks, RunnerOptions runner = {});
  ~Delivery();  // stop()
  Delivery(const Delivery&) = delete;
  Delivery& operator=(const Delivery&) = delete;

  void start();
  // Commits the event; the runners pick it up at once. Never throws: if the outbox
  // cannot be written (disk full, card gone) the event is counted in append_errors(),
  // logged at the first failure of a series, and detection goes on.
  bool publish(const Event& event);
  // The same for a record of another kind ("weather"); any thread.
  bool publish(const OutboxRecord& record);
  // Waits until every sink has every record published so far, or `timeout`. True when
  // all were delivered (or set aside).
  bool drain(std::chrono::milliseconds timeout);
  // Stops the runners (each waits for its attempt in flight, bounded by the sink's
  // timeout), then lets the sinks say goodbye (MQTT: status "offline").
  void stop();

  // The level the MQTT "Audio level" sensor shows; any thread.
  void set_audio_level_dbfs(double dbfs);

  std::vector<SinkStats> sink_stats() const;
  OutboxStats outbox_stats() const { return outbox_->stats(); }
  uint64_t append_errors() const { return append_errors_.load(); }
  const std::string& outbox_path() const { return outbox_->path(); }

 private:
  std::unique_ptr<Outbox> outbox_;
  std::vector<std::unique_ptr<Sink>> sinks_;
  std::vector<std::unique_ptr<SinkRunner>> runners_;
  MqttSink* mqtt_ = nullptr;  // among sinks_, for the audio level
  std::atomic<uint64_t> append_errors_{0};
  std::atomic<bool> failing_{false};  // publish(): the last append failed (log once per series)
  bool stopped_ = false;
};

// The outbox record of an event: schema-v1 JSON, kind "detection", time_ns from the
// event's time (the commit time when the event has none).
OutboxRecord to_outbox_record(const Event& event);

}  // namespace birdsong
