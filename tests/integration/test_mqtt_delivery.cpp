// The outbox, the runner and the real MQTT client against a real mosquitto.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <map>
#include <set>
#include <thread>

#include "agent/delivery/delivery.hpp"
#include "agent/sinks/mqtt_sink.hpp"
#include "tests/agent/audio_files.hpp"
#include "tests/integration/processes.hpp"
#include "tests/integration/subscriber.hpp"

using namespace birdsong;
using namespace birdsong::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr auto kDetections = "birdsong/garden/detection";

Event event(int n) {
  Event e;
  e.id = new_event_id();
  e.station = "garden";
  e.time = std::chrono::system_clock::now();
  e.sound.start_s = n;
  e.sound.end_s = n + 0.5;
  e.sound.confidence = 0.8;
  return e;
}

MqttConfig mqtt_config(const std::string& url) {
  MqttConfig c;
  c.url = url;
  c.timeout_s = 5.0;
  return c;
}

// A Delivery with one MQTT sink. The backoff tops out at 1 s here so that the tests
// measure the client, not the (unit-tested) 60 s ceiling.
std::unique_ptr<Delivery> mqtt_delivery(const std::string& outbox_path, const MqttConfig& config,
                                        OutboxSync sync = OutboxSync::normal) {
  OutboxOptions o;
  o.path = outbox_path;
  o.sync = sync;
  std::vector<std::unique_ptr<Sink>> sinks;
  sinks.push_back(std::make_unique<MqttSink>(config, "garden"));
  RunnerOptions r;
  r.backoff_initial = 200ms;
  r.backoff_max = 1s;
  r.idle_check = 1s;
  return std::make_unique<Delivery>(o, std::move(sinks), r);
}

// The event ids of the detection messages, in arrival order.
std::vector<std::string> detection_ids(const std::vector<Received>& messages) {
  std::vector<std::string> ids;
  for (const Received& m : messages)
    if (m.topic == kDetections) ids.push_back(json::parse(m.payload).at("id").get<std::string>());
  return ids;
}

// First occurrences only (consumers drop repeats by id); `duplicates` counts the rest.
std::vector<std::string> dedupe(const std::vector<std::string>& ids, int& duplicates) {
  std::set<std::string> seen;
  std::vector<std::string> first;
  duplicates = 0;
  for (const std::string& id : ids) {
    if (seen.insert(id).second) first.push_back(id);
    else ++duplicates;
  }
  return first;
}

// What a subscriber that arrives now gets: the retained messages.
std::vector<Received> retained(const Mosquitto& broker, const std::string& filter) {
  Subscriber late(broker.uri(), {filter}, false, "birdsong-test-late");
  std::this_thread::sleep_for(300ms);  // retained messages come right after the SUBACK
  return late.all();
}

}  // namespace

TEST_CASE("mqtt: each event arrives once, in order, and status, discovery and state are retained") {
  TempDir dir;
  Mosquitto broker(dir / "");
  Subscriber sub(broker.uri(), {"birdsong/#", "homeassistant/#"});
  auto delivery = mqtt_delivery(dir / "outbox.db", mqtt_config(broker.url()));
  delivery->start();
  std::vector<std::string> sent;
  for (int n = 0; n < 20; ++n) {
    const Event e = event(n);
    sent.push_back(e.id);
    REQUIRE(delivery->publish(e));
  }
  REQUIRE(delivery->drain(20s));
  REQUIRE(sub.wait_for([](const auto& all) { return detection_ids(all).size() >= 20; }, 10s));
  std::this_thread::sleep_for(200ms);  // anything extra would show now
  CHECK(detection_ids(sub.all()) == sent);  // exactly once each, in order
  const auto sinks = delivery->sink_stats();
  REQUIRE(sinks.size() == 1);
  CHECK(sinks[0].sink == "mqtt");
  CHECK(sinks[0].sent == 20);
  CHECK(sinks[0].pending == 0);
  CHECK(sinks[0].up);

  // Each detection message is the event, schema v1.
  const json first = json::parse(sub.on(kDetections).front().payload);
  CHECK(first.at("schema") == 1);
  CHECK(first.at("station") == "garden");
  CHECK_FALSE(sub.on(kDetections).front().retained);

  // A newcomer (Home Assistant starting later) gets status, discovery and state retained.
  REQUIRE(sub.wait_for([](const auto& all) {
    for (const auto& m : all)
      if (m.topic == "birdsong/garden/state" && json::parse(m.payload).at("detections_today") == 20) return true;
    return false;
  }, 10s));
  const auto kept = retained(broker, "#");
  std::map<std::string, std::string> by_topic;
  for (const Received& m : kept) {
    CHECK(m.retained);
    by_topic[m.topic] = m.payload;
  }
  CHECK(by_topic["birdsong/garden/status"] == "online");
  CHECK(by_topic.count(kDetections) == 0);  // events are not retained
  const json state = json::parse(by_topic["birdsong/garden/state"]);
  CHECK(state.at("detections_today") == 20);
  CHECK(state.at("last_species") == "unidentified");
  CHECK(state.at("confidence") == 0.8);
  int discovery = 0;
  for (const auto& [topic, payload] : by_topic) {
    if (topic.rfind("homeassistant/", 0) != 0) continue;
    ++discovery;
    const json c = json::parse(payload);
    CHECK(c.at("unique_id").get<std::string>().rfind("birdsong_garden_", 0) == 0);
    CHECK(c.at("device").at("identifiers") == json::array({"birdsong_garden"}));
    const std::string state_topic = c.at("state_topic");
    CHECK((state_topic == "birdsong/garden/state" || state_topic == "birdsong/garden/status"));
  }
  CHECK(discovery == 5);

  // A clean stop says "offline" itself (the will is only for an unclean end).
  delivery->stop();
  const auto after = retained(broker, "birdsong/garden/status");
  REQUIRE(after.size() == 1);
  CHECK(after[0].payload == "offline");
}

TEST_CASE("mqtt: with the broker down the events wait in the outbox and go out oldest first once it is up") {
  TempDir dir;
  Mosquitto broker(dir / "", "", true);
  {
    // A persistent session: the subscriber misses nothing published while it reconnects.
    Subscriber sub(broker.uri(), {"birdsong/#"}, true);
  }
  broker.stop();
  auto delivery = mqtt_delivery(dir / "outbox.db", mqtt_config(broker.url()));
  delivery->start();
  std::vector<std::string> sent;
  for (int n = 0; n < 50; ++n) {
    const Event e = event(n);
    sent.push_back(e.id);
    REQUIRE(delivery->publish(e));
  }
  REQUIRE(eventually([&] { return delivery->sink_stats()[0].failed >= 2; }, 10s));
  CHECK(delivery->sink_stats()[0].pending == 50);
  CHECK_FALSE(delivery->sink_stats()[0].up);

  broker.start();
  Subscriber sub(broker.uri(), {"birdsong/#"}, true);
  REQUIRE(delivery->drain(30s));
  REQUIRE(sub.wait_for([](const auto& all) { return detection_ids(all).size() >= 50; }, 10s));
  int duplicates = 0;
  CHECK(dedupe(detection_ids(sub.all()), duplicates) == sent);
  CHECK(duplicates == 0);
  CHECK(delivery->sink_stats()[0].sent == 50);
}

TEST_CASE("mqtt: broker stopped in the middle of a stream and started again: every event arrives, in order") {
  TempDir dir;
  Mosquitto broker(dir / "", "", true);
  Subscriber sub(broker.uri(), {"birdsong/#"}, true);
  auto delivery = mqtt_delivery(dir / "outbox.db", mqtt_config(broker.url()));
  delivery->start();
  std::vector<std::string> sent;
  std::thread producer([&] {
    for (int n = 0; n < 200; ++n) {
      const Event e = event(n);
      sent.push_back(e.id);
      delivery->publish(e);
      std::this_thread::sleep_for(15ms);
    }
  });
  std::this_thread::sleep_for(800ms);
  broker.stop();
  std::this_thread::sleep_for(1500ms);
  broker.start();
  producer.join();
  REQUIRE(delivery->drain(30s));
  REQUIRE(sub.wait_for([](const auto& all) {
    int d = 0;
    return dedupe(detection_ids(all), d).size() >= 200;
  }, 20s));
  int duplicates = 0;
  const auto ids = dedupe(detection_ids(sub.all()), duplicates);
  CHECK(ids == sent);
  MESSAGE("broker restart mid-stream: " << sent.size() << " events, " << duplicates << " duplicates, "
                                        << delivery->sink_stats()[0].failed << " failed attempts");
  CHECK(delivery->sink_stats()[0].failed >= 1);
}

TEST_CASE("mqtt: an unreachable broker never slows publish()") {
  TempDir dir;
  // A port nobody listens on: every connect fails (fast), the runner backs off.
  MqttConfig config = mqtt_config("mqtt://127.0.0.1:" + std::to_string(free_port()));
  auto delivery = mqtt_delivery(dir / "outbox.db", config);
  delivery->start();
  auto slowest = std::chrono::steady_clock::duration::zero();
  for (int n = 0; n < 100; ++n) {
    const auto start = std::chrono::steady_clock::now();
    REQUIRE(delivery->publish(event(n)));
    slowest = std::max(slowest, std::chrono::steady_clock::now() - start);
  }
  CHECK(slowest < 200ms);  // a local commit, not a network round trip
  CHECK(delivery->sink_stats()[0].pending == 100);
  CHECK(delivery->sink_stats()[0].sent == 0);
  const auto start = std::chrono::steady_clock::now();
  CHECK_FALSE(delivery->drain(300ms));
  delivery->stop();
  CHECK(std::chrono::steady_clock::now() - start < 5s);  // stop is bounded too
}

TEST_CASE("mqtt: a 1-hour outage's backlog (1200 events) drains") {
  TempDir dir;
  Mosquitto broker(dir / "", "", true);
  { Subscriber sub(broker.uri(), {"birdsong/#"}, true); }
  broker.stop();
  auto delivery = mqtt_delivery(dir / "outbox.db", mqtt_config(broker.url()), OutboxSync::full);
  delivery->start();
  // 20 events a minute for an hour, each committed on its own as the pipeline would.
  const auto fill_start = std::chrono::steady_clock::now();
  for (int n = 0; n < 1200; ++n) REQUIRE(delivery->publish(event(n)));
  const double fill_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - fill_start).count();
  CHECK(delivery->sink_stats()[0].pending == 1200);

  broker.start();
  const auto drain_start = std::chrono::steady_clock::now();
  Subscriber sub(broker.uri(), {"birdsong/#"}, true);
  REQUIRE(delivery->drain(120s));
  const double drain_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - drain_start).count();
  REQUIRE(sub.wait_for([](const auto& all) { return detection_ids(all).size() >= 1200; }, 30s));
  int duplicates = 0;
  CHECK(dedupe(detection_ids(sub.all()), duplicates).size() == 1200);
  const auto detections = sub.on(kDetections);
  const double transfer_s = std::chrono::duration<double>(detections.back().at - detections.front().at).count();
  MESSAGE("1200 events committed one by one (sync=full) in " << fill_s << " s; drained in " << drain_s
                                                              << " s after the broker came back, of which "
                                                              << transfer_s << " s from the first to the last "
                                                              << "message (reconnect waits at most 1 s here, up to "
                                                                 "60 s with the default backoff)");
  CHECK(drain_s < 60.0);
}
