// The agent's configuration: one TOML file, validated up front.
//
// Every key is documented in agent.example.toml (which a test parses). A bad key or
// value raises ConfigError with one line naming the key, the value and what was
// expected; main turns that into exit code 2.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>

#include "dsp/detector.hpp"

namespace birdsong {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct StationConfig {
  std::string id = "garden";               // names this station in events, topics, labels
  std::optional<double> latitude;          // degrees north, -90..90
  std::optional<double> longitude;         // degrees east, -180..180
};

struct AudioConfig {
  std::string device;                      // PortAudio device name (substring) or index; empty: default input
  double sample_rate_hz = 48000.0;
  int frames_per_buffer = 1024;            // PortAudio callback size
  double ring_s = 10.0;                    // capture ring buffer length
};

struct Config {
  StationConfig station;
  AudioConfig audio;
  dsp::DetectorConfig detector;
};

// Parses and validates a TOML file. Throws ConfigError("<file>: <key> = <value>: expected ...").
Config load_config(const std::string& path);
// The same from a string (tests, --config -), `origin` names it in messages.
Config parse_config(const std::string& toml_text, const std::string& origin);

}  // namespace birdsong
