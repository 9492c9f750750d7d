#include "agent/sinks/mqtt_sink.hpp"

#include <mqtt/async_client.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <vector>

#include "agent/credentials.hpp"
#include "agent/version.hpp"

namespace birdsong {

namespace {

using Clock = std::chrono::steady_clock;

// The state is republished when the level moved this much, or after this long anyway.
constexpr double kLevelStepDb = 1.0;
constexpr auto kStateRefresh = std::chrono::seconds(60);
// close(): how long "offline" and the disconnect may take.
constexpr auto kCloseTimeout = std::chrono::seconds(3);

std::chrono::milliseconds to_ms(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(seconds * 1000.0)));
}

// The secret is read here, once; it never goes to argv, the environment or a log line.
std::string read_secret(const std::string& configured) {
  const std::string path = resolve_secret_path(configured);
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw ConfigError("[mqtt] password_file = \"" + configured + "\": cannot open " +
                      (path == configured ? std::string("it") : path));
  std::ostringstream text;
  text << in.rdbuf();
  std::string secret = text.str();
  // A trailing newline is the editor's, not the password's.
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  if (secret.empty()) throw ConfigError("[mqtt] password_file = \"" + configured + "\": the file is empty");
  return secret;
}

SendResult retry(std::string reason) { return {SendStatus::retry, std::move(reason), std::nullopt}; }

}  // namespace

struct MqttSink::Client {
  Client(const std::string& uri, const std::string& client_id) : paho(uri, client_id, nullptr) {}
  mqtt::async_client paho;          // no persistence: the outbox is the only queue
  mqtt::connect_options options;
  mqtt::token_ptr connecting;       // the connect in flight, if any
  bool announced = false;           // status, discovery and state went out on this connection

  // Waits for every token until `deadline`; gives up early when the connection drops.
  SendResult await(std::vector<mqtt::delivery_token_ptr>& tokens, Clock::time_point deadline,
                   std::chrono::milliseconds timeout) {
    try {
      for (const auto& token : tokens) {
        while (!token->wait_for(std::chrono::milliseconds(100))) {
          if (!paho.is_connected()) return retry("connection lost before the broker acknowledged");
          if (Clock::now() >= deadline)
            return retry("no acknowledgement from the broker within " +
                         std::to_string(std::chrono::duration_cast<std::chrono::seconds>(timeout).count()) + " s");
        }
      }
    } catch (const mqtt::exception& e) {
      return retry(std::string("publish: ") + e.what());
    }
    return {};
  }

  mqtt::delivery_token_ptr publish(const std::string& topic, const std::string& payload, int qos, bool retained) {
    return paho.publish(mqtt::make_message(topic, payload, qos, retained));
  }
};

std::string mqtt_server_uri(const std::string& url) {
  const bool tls = url.rfind("mqtts://", 0) == 0;
  std::string authority = url.substr(tls ? 8 : 7);
  // A port is there when the last ':' comes after any IPv6 literal's closing bracket.
  const std::size_t colon = authority.rfind(':');
  const std::size_t bracket = authority.rfind(']');
  if (colon == std::string::npos || (bracket != std::string::npos && colon < bracket))
    authority += tls ? ":8883" : ":1883";
  return (tls ? "ssl://" : "tcp://") + authority;
}

MqttSink::MqttSink(const MqttConfig& config, std::string station_id)
    : config_(config),
      station_(std::move(station_id)),
      topics_(config.topic_prefix, station_),
      server_uri_(mqtt_server_uri(config.url)) {
  if (!config_.password_file.empty()) password_ = read_secret(config_.password_file);
  const std::string client_id = config_.client_id.empty() ? "birdsong-" + station_ : config_.client_id;
  try {
    client_ = std::make_unique<Client>(server_uri_, client_id);
  } catch (const mqtt::exception& e) {
    throw ConfigError("[mqtt] url = \"" + config_.url + "\": " + e.what());
  }
  mqtt::connect_options& o = client_->options;
  o.set_mqtt_version(MQTTVERSION_3_1_1);
  o.set_clean_session(true);  // nothing to resume: undelivered records are still in the outbox
  o.set_automatic_reconnect(false);
  o.set_keep_alive_interval(config_.keepalive_s);
  o.set_connect_timeout(std::chrono::seconds(static_cast<int64_t>(std::ceil(config_.timeout_s))));
  o.set_max_inflight(static_cast<int>(kMaxBatch) + 16);
  o.set_will(mqtt::will_options(topics_.status(), std::string("offline"), 1, true));
  if (!config_.username.empty()) o.set_user_name(config_.username);
  if (!password_.empty()) o.set_password(password_);
  if (server_uri_.rfind("ssl://", 0) == 0) {
    mqtt::ssl_options ssl;
    if (!config_.ca_file.empty()) ssl.set_trust_store(config_.ca_file);
    ssl.set_enable_server_cert_auth(config_.tls_verify);  // the chain up to a trusted CA
    ssl.set_verify(config_.tls_verify);                   // the certificate names the host
    o.set_ssl(ssl);
  }
}

MqttSink::~MqttSink() { close(); }

SendResult MqttSink::connect() {
  Client& c = *client_;
  if (c.paho.is_connected() && c.announced) return {};
  const auto timeout = to_ms(config_.timeout_s);
  if (!c.paho.is_connected()) {
    c.announced = false;
    // An attempt that finished after its wait timed out is old news: start afresh.
    if (c.connecting && c.connecting->is_complete()) c.connecting.reset();
    try {
      if (!c.connecting) c.connecting = c.paho.connect(c.options);
      // One attempt in flight: one that outlived the last wait is waited for again.
      if (!c.connecting->wait_for(timeout + std::chrono::seconds(1)))
        return retry("connect to " + server_uri_ + ": no answer");
      c.connecting.reset();
    } catch (const mqtt::exception& e) {
      c.connecting.reset();
      return retry("connect to " + server_uri_ + ": " + e.what());
    }
  }
  c.connecting.reset();
  const auto deadline = Clock::now() + timeout;
  // Announce: status, discovery, state. All retained, so late subscribers get them.
  std::vector<mqtt::delivery_token_ptr> tokens;
  try {
    tokens.push_back(c.publish(topics_.status(), "online", 1, true));
    if (config_.discovery)
      for (const MqttMessage& m : home_assistant_discovery(topics_, station_, config_.discovery_prefix, kVersion))
        tokens.push_back(c.publish(m.topic, m.payload, 1, m.retained));
  } catch (const mqtt::exception& e) {
    return retry(std::string("announce: ") + e.what());
  }
  if (SendResult r = c.await(tokens, deadline, timeout); r.status != SendStatus::ok) return r;
  c.announced = true;
  return publish_state(true);
}

SendResult MqttSink::publish_state(bool force) {
  const double level = audio_level_dbfs_.load();
  const std::optional<double> known_level = std::isfinite(level) ? std::optional(level) : std::nullopt;
  nlohmann::json state = state_.to_json(std::chrono::system_clock::now(), known_level);
  nlohmann::json figures = state;
  figures.erase("audio_level_dbfs");
  // The level wanders all the time: a new message when it moved by a decibel, or when
  // it moved at all and the last message is a minute old.
  const bool level_changed =
      known_level.has_value() != last_level_dbfs_.has_value() ||
      (known_level && (std::fabs(*known_level - *last_level_dbfs_) >= kLevelStepDb ||
                       (*known_level != *last_level_dbfs_ && Clock::now() - last_state_publish_ >= kStateRefresh)));
  if (!force && !level_changed && figures.dump() == last_figures_) return {};
  const auto timeout = to_ms(config_.timeout_s);
  std::vector<mqtt::delivery_token_ptr> tokens;
  try {
    tokens.push_back(client_->publish(topics_.state(), state.dump(), 1, true));
  } catch (const mqtt::exception& e) {
    return retry(std::string("state: ") + e.what());
  }
  if (SendResult r = client_->await(tokens, Clock::now() + timeout, timeout); r.status != SendStatus::ok) return r;
  last_figures_ = figures.dump();
  last_level_dbfs_ = known_level;
  last_state_publish_ = Clock::now();
  return {};
}

SendResult MqttSink::send(std::span<const OutboxRecord> batch) {
  if (SendResult r = connect(); r.status != SendStatus::ok) return r;
  const auto timeout = to_ms(config_.timeout_s);
  std::vector<mqtt::delivery_token_ptr> tokens;
  tokens.reserve(batch.size());
  try {
    // Weather is retained: a subscriber learns the latest observation at once.
    for (const OutboxRecord& r : batch)
      tokens.push_back(client_->publish(topics_.for_kind(r.kind), r.payload, config_.qos, r.kind == "weather"));
  } catch (const mqtt::exception& e) {
    return retry(std::string("publish: ") + e.what());
  }
  if (SendResult r = client_->await(tokens, Clock::now() + timeout, timeout); r.status != SendStatus::ok) return r;
  const auto now = std::chrono::system_clock::now();
  for (const OutboxRecord& r : batch) state_.on_record(r, now);
  // The events are delivered whatever becomes of the state message; a state that did
  // not go out goes with the next send() or maintain().
  publish_state(false);
  return {};
}

SendResult MqttSink::maintain() {
  if (SendResult r = connect(); r.status != SendStatus::ok) return r;
  return publish_state(false);
}

void MqttSink::close() {
  if (!client_) return;
  Client& c = *client_;
  try {
    if (c.paho.is_connected()) {
      // A clean disconnect suppresses the will, so say "offline" ourselves.
      c.publish(topics_.status(), "offline", 1, true)->wait_for(kCloseTimeout);
      c.paho.disconnect(static_cast<int>(std::chrono::milliseconds(kCloseTimeout).count()))->wait_for(kCloseTimeout);
    } else if (c.connecting) {
      c.connecting->wait_for(std::chrono::seconds(1));
      if (c.paho.is_connected()) c.paho.disconnect(0)->wait_for(kCloseTimeout);
    }
  } catch (const mqtt::exception&) {
    // Going away regardless: the broker publishes the will when it notices.
  }
  c.connecting.reset();
  c.announced = false;
}

}  // namespace birdsong
