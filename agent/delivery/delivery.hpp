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
#include <deque>
#include <memory>
#include <mutex>
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
  // cannot be written (disk full, card gone) the event waits in memory (in order, at most
  // kHoldBytes; beyond that the oldest is dropped and counted in hold_dropped()), the
  // failure is counted in append_errors() and logged at the first of a series, and
  // detection goes on. Held events are written before any newer one, at the next publish()
  // or retry_held(). Returns true when the event is in the outbox now.
  bool publish(const Event& event);
  // The same for a record of another kind ("weather"); any thread.
  bool publish(const OutboxRecord& record);
  // Tries again to write the events held in memory (the pipeline calls it once per audio
  // chunk, so they go out when space returns even if no new event comes). Any thread.
  void retry_held();
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
  // Events waiting in memory for the outbox to take them, and those dropped from there.
  std::size_t held() const { return held_count_.load(); }
  uint64_t hold_dropped() const { return hold_dropped_.load(); }
  // What memory may hold while the outbox cannot be written: about 1,000 detections.
  static constexpr std::size_t kHoldBytes = 2u << 20;
  const std::string& outbox_path() const { return outbox_->path(); }

 private:
  std::unique_ptr<Outbox> outbox_;
  std::vector<std::unique_ptr<Sink>> sinks_;
  std::vector<std::unique_ptr<SinkRunner>> runners_;
  MqttSink* mqtt_ = nullptr;  // among sinks_, for the audio level
  // Appends the held records, oldest first; false at the first that fails. Under hold_mutex_.
  bool flush_held_locked();
  std::atomic<uint64_t> append_errors_{0};
  std::mutex hold_mutex_;             // serialises appends: held records go before newer ones
  std::deque<OutboxRecord> held_;     // not yet in the outbox, in publish order
  std::size_t held_bytes_ = 0;
  std::atomic<std::size_t> held_count_{0};
  std::atomic<uint64_t> hold_dropped_{0};
  std::atomic<bool> failing_{false};  // publish(): the last append failed (log once per series)
  bool stopped_ = false;
};

// The outbox record of an event: schema-v1 JSON, kind "detection", time_ns from the
// event's time (the commit time when the event has none).
OutboxRecord to_outbox_record(const Event& event);

}  // namespace birdsong
