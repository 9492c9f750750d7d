#include "agent/sinks/home_assistant.hpp"

#include <cmath>
#include <ctime>


namespace birdsong {

namespace {

using nlohmann::json;

// One entity's discovery config: the parts every entity of the station shares, plus `extra`.
MqttMessage entity(const std::string& component, const std::string& object, const std::string& name,
                   const std::string& station, const std::string& discovery_prefix, const json& device,
                   const json& origin, json extra) {
  const std::string node = "birdsong_" + station;
  json config = {
      {"name", name},
      {"has_entity_name", true},  // shown as "<device name> <name>"
      {"unique_id", node + "_" + object},
      {"device", device},
      {"origin", origin},
  };
  config.update(extra);
  return {discovery_prefix + "/" + component + "/" + node + "/" + object + "/config", config.dump(), true};
}

}  // namespace

MqttTopics::MqttTopics(const std::string& prefix, const std::string& station) : base(prefix + "/" + station) {}

std::vector<MqttMessage> home_assistant_discovery(const MqttTopics& topics, const std::string& station,
                                                  const std::string& discovery_prefix, const std::string& sw_version) {
  const json device = {
      {"identifiers", json::array({"birdsong_" + station})},
      {"name", "Birdsong " + station},
      {"manufacturer", "birdsong-agent"},
      {"model", "birdsong-agent"},
      {"sw_version", sw_version},
  };
  const json origin = {{"name", "birdsong-agent"}, {"sw_version", sw_version}};
  // Sensors read the retained state JSON and go "unavailable" when the agent is offline.
  const json from_state = {
      {"state_topic", topics.state()},
      {"availability_topic", topics.status()},
      {"payload_available", "online"},
      {"payload_not_available", "offline"},
  };
  auto sensor = [&](const std::string& object, const std::string& name, json extra) {
    extra.update(from_state);
    return entity("sensor", object, name, station, discovery_prefix, device, origin, std::move(extra));
  };
  std::vector<MqttMessage> messages;
  messages.push_back(sensor("last_species", "Last species",
                            {{"icon", "mdi:bird"}, {"value_template", "{{ value_json.last_species }}"},
                             {"json_attributes_topic", topics.state()}}));
  // Rendered "None" (no detection yet) is Home Assistant's "unknown".
  messages.push_back(sensor(
      "last_confidence", "Last species confidence",
      {{"icon", "mdi:percent"},
       {"unit_of_measurement", "%"},
       {"state_class", "measurement"},
       {"value_template",
        "{{ (value_json.confidence * 100) | round(0) if value_json.confidence is not none else none }}"}}));
  messages.push_back(sensor("detections_today", "Detections today",
                            {{"icon", "mdi:counter"},
                             {"state_class", "total_increasing"},
                             {"value_template", "{{ value_json.detections_today }}"}}));
  // dBFS is not a sound pressure (no device_class): full scale of the sound card, not dB SPL.
  messages.push_back(sensor("audio_level", "Audio level",
                            {{"icon", "mdi:microphone"},
                             {"unit_of_measurement", "dBFS"},
                             {"state_class", "measurement"},
                             {"entity_category", "diagnostic"},
                             {"value_template", "{{ value_json.audio_level_dbfs }}"}}));
  // Connectivity reads the status topic itself and has no availability: while the agent
  // is offline it must show "off" (disconnected), not "unavailable".
  messages.push_back(entity("binary_sensor", "connectivity", "Connectivity", station, discovery_prefix, device,
                            origin,
                            {{"device_class", "connectivity"},
                             {"entity_category", "diagnostic"},
                             {"state_topic", topics.status()},
                             {"payload_on", "online"},
                             {"payload_off", "offline"}}));
  return messages;
}

int64_t local_day(std::chrono::system_clock::time_point t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  localtime_r(&secs, &tm);
  return (tm.tm_year + 1900) * 10000LL + (tm.tm_mon + 1) * 100LL + tm.tm_mday;
}

void StationState::on_record(const OutboxRecord& record, std::chrono::system_clock::time_point now) {
  if (record.kind != "detection") return;
  const json event = json::parse(record.payload, nullptr, false);
  if (!event.is_object()) return;
  auto text = [&](const char* key) -> std::optional<std::string> {
    const auto it = event.find(key);
    if (it == event.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };
  last_scientific_name_ = text("species");
  last_species_ = text("common_name");
  if (!last_species_) last_species_ = last_scientific_name_;
  if (!last_species_) last_species_ = "unidentified";  // a bird sound, species not (yet) classified
  const auto confidence = event.find("confidence");
  last_confidence_ = confidence != event.end() && confidence->is_number() ? std::optional(confidence->get<double>())
                                                                          : std::nullopt;
  last_time_ = text("time");

  const auto when = record.time_ns > 0 ? std::chrono::system_clock::time_point(std::chrono::duration_cast<
                                             std::chrono::system_clock::duration>(std::chrono::nanoseconds(record.time_ns)))
                                       : now;
  const int64_t today = local_day(now);
  if (local_day(when) != today) return;
  if (count_day_ != today) {
    count_day_ = today;
    detections_today_ = 0;
  }
  ++detections_today_;
}

nlohmann::json StationState::to_json(std::chrono::system_clock::time_point now,
                                     std::optional<double> audio_level_dbfs) const {
  auto or_null = [](const auto& v) { return v ? json(*v) : json(nullptr); };
  return {
      {"last_species", or_null(last_species_)},
      {"last_scientific_name", or_null(last_scientific_name_)},
      {"confidence", or_null(last_confidence_)},
      {"last_detection", or_null(last_time_)},
      {"detections_today", count_day_ == local_day(now) ? detections_today_ : 0},
      {"audio_level_dbfs",
       audio_level_dbfs && std::isfinite(*audio_level_dbfs) ? json(std::round(*audio_level_dbfs * 10.0) / 10.0)
                                                             : json(nullptr)},
  };
}

}  // namespace birdsong
