// Event schema v1: what the agent says about one detected sound.
//
// The same JSON object goes to stdout (JSON lines) and, later, to MQTT and Loki.
// Fields are documented in README.md ("Event schema"); later versions add fields,
// never rename these.
#pragma once

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "dsp/detector.hpp"

namespace birdsong {

inline constexpr int kEventSchema = 1;

struct WeatherObservation;  // agent/enrichment/weather.hpp
struct SpeciesSummary;      // agent/enrichment/wikipedia.hpp

struct Event {
  std::string id;                                          // unique, time-ordered
  std::string station;
  std::optional<std::chrono::system_clock::time_point> time;  // UTC start of the sound, when known
  std::optional<std::string> file;                         // the recording, when analysing files
  dsp::Sound sound;                                        // start_s .. confidence
  std::optional<std::string> species;                      // scientific name; empty: a bird, not identified
  std::optional<std::string> common_name;
  // Enrichment (agent/enrichment/): what was known when the event was emitted; shared,
  // so copying an event stays cheap. Null: not known (or enrichment off).
  std::shared_ptr<const WeatherObservation> weather;
  std::shared_ptr<const SpeciesSummary> wikipedia;
};

// A new unique id: a UUID version 7 (time-ordered, RFC 9562), so ids sort by creation.
std::string new_event_id();

// The event as a schema-v1 JSON object (numbers rounded to sensible precision).
nlohmann::json to_json(const Event& event);
// ISO-8601 UTC with milliseconds, e.g. 2026-05-01T05:12:03.250Z.
std::string format_utc(std::chrono::system_clock::time_point t);

}  // namespace birdsong
