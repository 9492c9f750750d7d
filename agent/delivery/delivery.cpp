#include "agent/delivery/delivery.hpp"

#include <iostream>
#include <thread>

#include "agent/sinks/loki_sink.hpp"
#ifdef BIRDSONG_WITH_MQTT
#include "agent/sinks/mqtt_sink.hpp"
#endif

namespace birdsong {

OutboxRecord to_outbox_record(const Event& event) {
  OutboxRecord r;
  r.id = event.id;
  r.kind = "detection";
  const auto when = event.time.value_or(std::chrono::system_clock::now());
  r.time_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(when.time_since_epoch()).count();
  r.payload = to_json(event).dump();
  return r;
}

std::unique_ptr<Delivery> Delivery::from_config(const Config& config) {
  std::vector<std::unique_ptr<Sink>> sinks;
  if (config.mqtt) {
#ifdef BIRDSONG_WITH_MQTT
    sinks.push_back(std::make_unique<MqttSink>(*config.mqtt, config.station.id));
#else
    throw ConfigError("[mqtt]: this birdsong-agent was built without MQTT (BIRDSONG_WITH_MQTT=OFF)");
#endif
  }
  if (config.loki) sinks.push_back(std::make_unique<LokiSink>(*config.loki, config.station.id));
  if (sinks.empty()) return nullptr;

  OutboxOptions outbox;
  outbox.path = config.outbox.path.empty() ? default_outbox_path() : config.outbox.path;
  outbox.max_records = config.outbox.max_records;
  outbox.max_bytes = config.outbox.max_bytes;
  outbox.max_age = std::chrono::seconds(static_cast<int64_t>(config.outbox.max_age_days * 86400.0));
  outbox.sync = config.outbox.sync_full ? OutboxSync::full : OutboxSync::normal;
  return std::make_unique<Delivery>(std::move(outbox), std::move(sinks));
}

Delivery::Delivery(OutboxOptions outbox, std::vector<std::unique_ptr<Sink>> sinks, RunnerOptions runner)
    : sinks_(std::move(sinks)) {
  outbox.sinks.clear();
  for (const auto& sink : sinks_) outbox.sinks.push_back(sink->name());
  outbox_ = std::make_unique<Outbox>(std::move(outbox));
  for (const auto& sink : sinks_) {
    runners_.push_back(std::make_unique<SinkRunner>(*outbox_, *sink, runner));
#ifdef BIRDSONG_WITH_MQTT
    if (auto* mqtt = dynamic_cast<MqttSink*>(sink.get())) mqtt_ = mqtt;
#endif
  }
}

Delivery::~Delivery() { stop(); }

void Delivery::start() {
  for (auto& runner : runners_) runner->start();
}

bool Delivery::publish(const Event& event) { return publish(to_outbox_record(event)); }

bool Delivery::publish(const OutboxRecord& record) {
  std::lock_guard lock(hold_mutex_);
  if (flush_held_locked()) {
    try {
      outbox_->append(record);
      return true;
    } catch (const std::exception& e) {
      ++append_errors_;
      if (!failing_.exchange(true))
        std::cerr << (std::string(e.what()) + "; events wait in memory until it can be written\n");
    }
  } else {
    ++append_errors_;  // held behind older records that cannot be written either
  }
  held_bytes_ += record.payload.size();
  held_.push_back(record);
  while (held_bytes_ > kHoldBytes && held_.size() > 1) {
    held_bytes_ -= held_.front().payload.size();
    held_.pop_front();
    if (hold_dropped_.fetch_add(1) == 0)
      std::cerr << "outbox: memory for held events is full (" << kHoldBytes / 1024
                << " KiB); dropping the oldest, counted in birdsong_outbox_hold_dropped_total\n";
  }
  held_count_.store(held_.size());
  return false;
}

bool Delivery::flush_held_locked() {
  while (!held_.empty()) {
    try {
      outbox_->append(held_.front());
    } catch (const std::exception&) {
      return false;
    }
    held_bytes_ -= held_.front().payload.size();
    held_.pop_front();
    held_count_.store(held_.size());
  }
  if (failing_.exchange(false)) std::cerr << "outbox: writing again\n";
  return true;
}

void Delivery::retry_held() {
  if (held_count_.load() == 0) return;
  std::lock_guard lock(hold_mutex_);
  flush_held_locked();
}

bool Delivery::drain(std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  // Held events first: they are older than anything published after them.
  while (held_count_.load() > 0 && std::chrono::steady_clock::now() < until) {
    retry_held();
    if (held_count_.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (held_count_.load() > 0) return false;
  return outbox_->wait_delivered(outbox_->last_seq(), until);
}

void Delivery::stop() {
  if (stopped_) return;
  stopped_ = true;
  for (auto& runner : runners_) runner->stop();
#ifdef BIRDSONG_WITH_MQTT
  if (mqtt_ != nullptr) mqtt_->close();
#endif
}

void Delivery::set_audio_level_dbfs(double dbfs) {
#ifdef BIRDSONG_WITH_MQTT
  if (mqtt_ != nullptr) mqtt_->set_audio_level_dbfs(dbfs);
#else
  (void)dbfs;
#endif
}

std::vector<SinkStats> Delivery::sink_stats() const {
  std::vector<SinkStats> stats;
  for (const auto& runner : runners_) stats.push_back(runner->stats());
  return stats;
}

}  // namespace birdsong
