#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "agent/sinks/home_assistant.hpp"
#include "agent/sinks/mqtt_sink.hpp"

using namespace birdsong;
using nlohmann::json;
using std::chrono::system_clock;

namespace {

OutboxRecord detection(const json& event, system_clock::time_point when) {
  OutboxRecord r;
  r.id = event.value("id", "x");
  r.kind = "detection";
  r.time_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(when.time_since_epoch()).count();
  r.payload = event.dump();
  return r;
}

}  // namespace

TEST_CASE("home assistant: topics of a station") {
  const MqttTopics t("birdsong", "garden");
  CHECK(t.status() == "birdsong/garden/status");
  CHECK(t.state() == "birdsong/garden/state");
  CHECK(t.for_kind("detection") == "birdsong/garden/detection");
  CHECK(MqttTopics("home/birds", "roof").for_kind("detection") == "home/birds/roof/detection");
}

TEST_CASE("home assistant: one device per station, sensors reading the state topic") {
  const MqttTopics t("birdsong", "garden");
  const auto messages = home_assistant_discovery(t, "garden", "homeassistant", "1.2.3");
  REQUIRE(messages.size() == 5);
  std::set<std::string> unique_ids, topics;
  for (const MqttMessage& m : messages) {
    CAPTURE(m.topic);
    CHECK(m.retained);
    const json c = json::parse(m.payload);  // throws (fails) on invalid JSON
    unique_ids.insert(c.at("unique_id").get<std::string>());
    topics.insert(m.topic);
    CHECK(c.at("device").at("identifiers") == json::array({"birdsong_garden"}));
    CHECK(c.at("device").at("name") == "Birdsong garden");
    CHECK(c.at("device").at("model") == "birdsong-agent");
    CHECK(c.at("device").at("sw_version") == "1.2.3");
    CHECK(c.at("name").is_string());
    CHECK(c.contains("state_topic"));
    // <discovery_prefix>/<component>/<node_id>/<object_id>/config, ids of [a-zA-Z0-9_-]
    CHECK(m.topic.rfind("homeassistant/", 0) == 0);
    CHECK(m.topic.find("/birdsong_garden/") != std::string::npos);
    CHECK(m.topic.size() > 7);
    CHECK(m.topic.substr(m.topic.size() - 7) == "/config");
  }
  CHECK(unique_ids.size() == messages.size());
  CHECK(topics.size() == messages.size());

  auto config_of = [&](const std::string& topic) {
    for (const MqttMessage& m : messages)
      if (m.topic == topic) return json::parse(m.payload);
    FAIL("no discovery message on " << topic);
    return json();
  };
  const json species = config_of("homeassistant/sensor/birdsong_garden/last_species/config");
  CHECK(species.at("state_topic") == "birdsong/garden/state");
  CHECK(species.at("value_template") == "{{ value_json.last_species }}");
  CHECK(species.at("availability_topic") == "birdsong/garden/status");
  CHECK(species.at("payload_available") == "online");
  CHECK(species.at("payload_not_available") == "offline");
  CHECK(species.at("unique_id") == "birdsong_garden_last_species");

  const json today = config_of("homeassistant/sensor/birdsong_garden/detections_today/config");
  CHECK(today.at("state_class") == "total_increasing");
  CHECK(today.at("value_template") == "{{ value_json.detections_today }}");
  const json level = config_of("homeassistant/sensor/birdsong_garden/audio_level/config");
  CHECK(level.at("unit_of_measurement") == "dBFS");
  const json confidence = config_of("homeassistant/sensor/birdsong_garden/last_confidence/config");
  CHECK(confidence.at("unit_of_measurement") == "%");

  const json online = config_of("homeassistant/binary_sensor/birdsong_garden/connectivity/config");
  CHECK(online.at("device_class") == "connectivity");
  CHECK(online.at("state_topic") == "birdsong/garden/status");
  CHECK(online.at("payload_on") == "online");
  CHECK(online.at("payload_off") == "offline");
  CHECK_FALSE(online.contains("availability_topic"));  // offline must read "off", not "unavailable"
}

TEST_CASE("home assistant: the state follows delivered detections, and today means the detection's own day") {
  const auto now = system_clock::now();
  StationState s;
  json before = s.to_json(now, std::nullopt);
  CHECK(before.at("last_species").is_null());
  CHECK(before.at("confidence").is_null());
  CHECK(before.at("detections_today") == 0);
  CHECK(before.at("audio_level_dbfs").is_null());

  s.on_record(detection({{"id", "a"}, {"species", nullptr}, {"common_name", nullptr}, {"confidence", 0.61},
                         {"time", "2026-05-01T05:00:00.000Z"}},
                        now),
              now);
  json one = s.to_json(now, -48.26);
  CHECK(one.at("last_species") == "unidentified");
  CHECK(one.at("confidence") == 0.61);
  CHECK(one.at("detections_today") == 1);
  CHECK(one.at("audio_level_dbfs") == -48.3);
  CHECK(one.at("last_detection") == "2026-05-01T05:00:00.000Z");

  s.on_record(detection({{"id", "b"}, {"species", "Turdus merula"}, {"common_name", "Eurasian Blackbird"},
                         {"confidence", 0.9}},
                        now),
              now);
  s.on_record(detection({{"id", "c"}, {"species", "Parus major"}, {"common_name", nullptr}, {"confidence", 0.8}},
                        now - std::chrono::hours(48)),  // a backlog from two days ago
              now);
  json three = s.to_json(now, std::nullopt);
  CHECK(three.at("last_species") == "Parus major");
  CHECK(three.at("last_scientific_name") == "Parus major");
  CHECK(three.at("detections_today") == 2);

  // Another record kind, or garbage, changes nothing.
  OutboxRecord weather{0, "w", "weather", 0, "{\"temperature_c\": 12}"};
  s.on_record(weather, now);
  OutboxRecord broken{0, "x", "detection", 0, "{not json"};
  s.on_record(broken, now);
  CHECK(s.to_json(now, std::nullopt).at("detections_today") == 2);

  // The day after, the count starts again.
  CHECK(s.to_json(now + std::chrono::hours(25), std::nullopt).at("detections_today") == 0);
}

TEST_CASE("mqtt: broker URLs become paho server URIs with default ports") {
  CHECK(mqtt_server_uri("mqtt://broker.lan") == "tcp://broker.lan:1883");
  CHECK(mqtt_server_uri("mqtt://broker.lan:1884") == "tcp://broker.lan:1884");
  CHECK(mqtt_server_uri("mqtts://broker.lan") == "ssl://broker.lan:8883");
  CHECK(mqtt_server_uri("mqtts://10.0.0.2:18883") == "ssl://10.0.0.2:18883");
  CHECK(mqtt_server_uri("mqtt://[::1]") == "tcp://[::1]:1883");
  CHECK(mqtt_server_uri("mqtt://[::1]:1999") == "tcp://[::1]:1999");
}
