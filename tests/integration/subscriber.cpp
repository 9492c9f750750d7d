#include "tests/integration/subscriber.hpp"

#include <stdexcept>
#include <thread>

namespace birdsong::test {

Subscriber::Subscriber(const std::string& server_uri, std::vector<std::string> filters, bool persistent,
                       const std::string& client_id)
    : client_(server_uri, client_id, nullptr), filters_(std::move(filters)) {
  client_.set_callback(*this);
  mqtt::connect_options options;
  options.set_mqtt_version(MQTTVERSION_3_1_1);
  options.set_clean_session(!persistent);
  options.set_keep_alive_interval(10);
  if (persistent) options.set_automatic_reconnect(1, 2);
  if (!client_.connect(options)->wait_for(std::chrono::seconds(10)))
    throw std::runtime_error("subscriber: no CONNACK from " + server_uri);
  subscribe();
  subscribed_ = true;
}

Subscriber::~Subscriber() {
  try {
    if (client_.is_connected()) client_.disconnect()->wait_for(std::chrono::seconds(5));
  } catch (const mqtt::exception&) {
  }
}

void Subscriber::subscribe() {
  for (const std::string& f : filters_)
    if (!client_.subscribe(f, 1)->wait_for(std::chrono::seconds(10)))
      throw std::runtime_error("subscriber: no SUBACK for " + f);
}

void Subscriber::connected(const std::string&) {
  // After an automatic reconnect: subscribe again (harmless if the session kept them).
  // Not from this callback thread's own stack, where paho cannot wait for the SUBACK.
  // (Each SUBSCRIBE brings the retained messages again: not on the first connect, which
  // the constructor subscribes itself.)
  if (!subscribed_ || !client_.is_connected()) return;
  for (const std::string& f : filters_) client_.subscribe(f, 1);
}

void Subscriber::message_arrived(mqtt::const_message_ptr msg) {
  std::lock_guard lock(mutex_);
  messages_.push_back({msg->get_topic(), msg->to_string(), msg->is_retained(), std::chrono::steady_clock::now()});
}

std::vector<Received> Subscriber::all() const {
  std::lock_guard lock(mutex_);
  return messages_;
}

std::vector<Received> Subscriber::on(const std::string& topic) const {
  std::lock_guard lock(mutex_);
  std::vector<Received> out;
  for (const Received& m : messages_)
    if (m.topic == topic) out.push_back(m);
  return out;
}

bool Subscriber::wait_for(const std::function<bool(const std::vector<Received>&)>& done,
                          std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done(all())) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done(all());
}

}  // namespace birdsong::test
