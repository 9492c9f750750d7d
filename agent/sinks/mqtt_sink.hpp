// MQTT sink (paho-mqtt-cpp): publishes outbox records to the station's topics, keeps the
// retained status ("online", last will "offline") and Home Assistant discovery up to date.
// Topics and payloads: agent/sinks/home_assistant.hpp.
//
// A record counts as sent only when the broker acknowledged it (PUBACK for QoS 1,
// PUBCOMP for QoS 2): send() publishes the batch, then waits for every delivery token,
// at most [mqtt] timeout_s. Anything else - not connected, connection lost, no answer in
// time - is `retry`, and the runner sends the same batch again later (at least once;
// consumers drop repeats by the event's id).
//
// Reconnecting is the runner's job, not paho's: paho's automatic reconnect does not
// retry a failed first connect, has no jitter and sits beside a second retry policy.
// Here a connect is attempted inside send() or maintain() only, so the runner's one
// backoff (1 s .. 60 s with jitter, one attempt in flight) paces connects as well as
// deliveries, and maintain() (every few seconds while idle) notices a lost connection
// even when no bird sings. A connect that is still in flight when its wait times out is
// waited for by the next attempt, never doubled. Paho itself keeps no messages (no
// persistence, nothing buffered while disconnected): the outbox is the only queue.
#pragma once

#include <atomic>
#include <chrono>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "agent/config.hpp"
#include "agent/delivery/sink.hpp"
#include "agent/sinks/home_assistant.hpp"

namespace birdsong {

class MqttSink : public Sink {
 public:
  // Reads [mqtt] password_file now: a missing secret is a start-up error (ConfigError
  // naming the key), not a stream of refused connects. Does not connect yet.
  MqttSink(const MqttConfig& config, std::string station_id);
  ~MqttSink() override;  // close()
  MqttSink(const MqttSink&) = delete;
  MqttSink& operator=(const MqttSink&) = delete;

  std::string name() const override { return "mqtt"; }
  std::size_t max_batch() const override { return kMaxBatch; }
  SendResult send(std::span<const OutboxRecord> batch) override;
  // Connects (status, discovery, state) if not connected; republishes the state when
  // the audio level moved or a minute passed.
  SendResult maintain() override;

  // The level the "Audio level" sensor shows; any thread.
  void set_audio_level_dbfs(double dbfs) { audio_level_dbfs_.store(dbfs); }
  // Publishes "offline" (retained) and disconnects, a few seconds at most. Call after
  // the runner stopped; send() and maintain() must not run at the same time.
  void close();

  const MqttTopics& topics() const { return topics_; }
  // The paho server URI: tcp://host:port or ssl://host:port.
  const std::string& server_uri() const { return server_uri_; }

  // Records per send(): paho keeps this many (plus status and state) in flight at once.
  static constexpr std::size_t kMaxBatch = 50;

 private:
  struct Client;
  SendResult connect();
  SendResult publish_state(bool force);

  MqttConfig config_;
  std::string station_;
  MqttTopics topics_;
  std::string server_uri_;
  std::string password_;
  std::unique_ptr<Client> client_;
  StationState state_;
  std::string last_figures_;                 // the last state published, without the level
  std::optional<double> last_level_dbfs_;     // and its level
  std::chrono::steady_clock::time_point last_state_publish_;
  std::atomic<double> audio_level_dbfs_{std::numeric_limits<double>::quiet_NaN()};
};

// mqtt://host[:port] -> tcp://host:port (1883), mqtts://host[:port] -> ssl://host:port (8883).
std::string mqtt_server_uri(const std::string& url);

}  // namespace birdsong
