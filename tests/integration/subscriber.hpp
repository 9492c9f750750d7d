// A test's MQTT subscriber (paho): collects every message on some topic filters, QoS 1.
// With `persistent`, its session (clean_session = false, fixed client id) outlives a
// broker restart when the broker persists sessions, and it reconnects by itself.
#pragma once

#include <mqtt/async_client.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace birdsong::test {

struct Received {
  std::string topic;
  std::string payload;
  bool retained = false;
  std::chrono::steady_clock::time_point at;  // when it arrived here
};

class Subscriber : public virtual mqtt::callback {
 public:
  // Connects and subscribes (waits for the SUBACK, at most 10 s; throws on failure).
  Subscriber(const std::string& server_uri, std::vector<std::string> filters, bool persistent = false,
             const std::string& client_id = "birdsong-test-subscriber");
  ~Subscriber() override;

  std::vector<Received> all() const;
  std::vector<Received> on(const std::string& topic) const;
  // Waits until `done(all messages)` holds, at most `timeout`.
  bool wait_for(const std::function<bool(const std::vector<Received>&)>& done, std::chrono::milliseconds timeout) const;
  bool is_connected() const { return client_.is_connected(); }

 private:
  void connected(const std::string& cause) override;
  void message_arrived(mqtt::const_message_ptr msg) override;
  void subscribe();

  mqtt::async_client client_;
  std::vector<std::string> filters_;
  std::atomic<bool> subscribed_{false};
  mutable std::mutex mutex_;
  std::vector<Received> messages_;
};

}  // namespace birdsong::test
