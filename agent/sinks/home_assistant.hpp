// What the MQTT sink publishes besides the events themselves: the station's topics, its
// Home Assistant discovery messages, and the state JSON the Home Assistant sensors read.
//
//   <prefix>/<station>/detection   each event (schema v1 JSON), QoS 1, not retained
//   <prefix>/<station>/weather     each new weather observation (agent/enrichment/weather.hpp), retained
//   <prefix>/<station>/status      "online" / "offline", retained; "offline" is the last will
//   <prefix>/<station>/state       {"last_species": ..., "confidence": ..., "detections_today": ...,
//                                   "audio_level_dbfs": ...}, retained
//   homeassistant/<component>/birdsong_<station>/<object>/config   discovery, retained
//
// Discovery follows Home Assistant's "MQTT Discovery" documentation (home-assistant.io/
// integrations/mqtt/#mqtt-discovery), single-component form, which every Home Assistant
// release with discovery understands: one retained config message per entity, all
// entities sharing one `device` (identifiers, name, model, sw_version) so they appear
// as one device per station. The sensors take their values from the state topic with a
// value_template and are "unavailable" while the status topic says "offline"; the
// connectivity binary_sensor reads the status topic itself.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "agent/delivery/sink.hpp"

namespace birdsong {

struct MqttTopics {
  MqttTopics(const std::string& prefix, const std::string& station);
  std::string base;  // <prefix>/<station>
  std::string status() const { return base + "/status"; }
  std::string state() const { return base + "/state"; }
  // Where a record of this kind goes: <base>/detection, <base>/weather ...
  std::string for_kind(const std::string& kind) const { return base + "/" + kind; }
};

struct MqttMessage {
  std::string topic;
  std::string payload;
  bool retained = false;
};

// The retained discovery config messages for one station.
std::vector<MqttMessage> home_assistant_discovery(const MqttTopics& topics, const std::string& station,
                                                  const std::string& discovery_prefix, const std::string& sw_version);

// The figures behind the Home Assistant sensors, taken from the detections as they are
// delivered. "Today" is the local calendar day of the detection's own time, so a backlog
// from yesterday delivered this morning does not count for today. The count starts from
// zero when the agent starts (Home Assistant's total_increasing handles the reset).
class StationState {
 public:
  // Takes one delivered record; only "detection" records count.
  void on_record(const OutboxRecord& record, std::chrono::system_clock::time_point now);
  // The state JSON; detections_today is 0 once the day of the last count is over.
  // audio_level_dbfs: null when unknown.
  nlohmann::json to_json(std::chrono::system_clock::time_point now, std::optional<double> audio_level_dbfs) const;

 private:
  std::optional<std::string> last_species_;        // common name, else scientific name
  std::optional<std::string> last_scientific_name_;
  std::optional<double> last_confidence_;
  std::optional<std::string> last_time_;
  int64_t count_day_ = 0;  // local yyyymmdd of the count
  int64_t detections_today_ = 0;
};

// The local calendar day of a time, as yyyymmdd.
int64_t local_day(std::chrono::system_clock::time_point t);

}  // namespace birdsong
