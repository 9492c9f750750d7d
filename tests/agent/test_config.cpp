#include <doctest/doctest.h>

#include "agent/config.hpp"

using namespace birdsong;

TEST_CASE("config: the example configuration parses and matches the defaults") {
  const Config c = load_config(BIRDSONG_SOURCE_DIR "/agent/agent.example.toml");
  const Config d;
  CHECK(c.station.id == d.station.id);
  CHECK(c.audio.sample_rate_hz == d.audio.sample_rate_hz);
  CHECK(c.detector.threshold_db == d.detector.threshold_db);
  CHECK(c.detector.min_hz == d.detector.min_hz);
  CHECK(c.detector.max_hz == d.detector.max_hz);
  CHECK(c.detector.merge_gap_s == d.detector.merge_gap_s);
  CHECK(c.detector.min_confidence == d.detector.min_confidence);
}

TEST_CASE("config: values are read") {
  const Config c = parse_config(
      "[station]\nid = \"pi-zero\"\nlatitude = 52.5\nlongitude = 13.4\n"
      "[audio]\ndevice = 2\nsample_rate_hz = 44100\n[detector]\nthreshold_db = 12\n",
      "t.toml");
  CHECK(c.station.id == "pi-zero");
  CHECK(c.station.latitude == 52.5);
  CHECK(c.audio.device == "2");
  CHECK(c.audio.sample_rate_hz == 44100.0);
  CHECK(c.detector.threshold_db == 12.0);
}

TEST_CASE("config: one clear line names the key, the value and what was expected") {
  auto error_of = [](const std::string& text) {
    try {
      parse_config(text, "agent.toml");
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(error_of("[detector]\nthreshold_db = -3\n") ==
        "agent.toml: [detector] threshold_db = -3: expected a number from 0.1 to 60 dB");
  CHECK(error_of("[station]\nlatitude = \"north\"\n") ==
        "agent.toml: [station] latitude = 'north': expected a number from -90 to 90 degrees");
  CHECK(error_of("[detector]\nthreshold = 3\n") == "agent.toml: [detector] threshold: unknown key");
  CHECK(error_of("[detectors]\n") == "agent.toml: [detectors]: unknown section");
  CHECK(error_of("[station]\nid = \"my garden\"\n").find("[station] id") != std::string::npos);
  CHECK(error_of("[detector]\nmin_hz = 5000\nmax_hz = 4000\n").find("max_hz") != std::string::npos);
  CHECK(error_of("[audio]\nframes_per_buffer = 1.5\n").find("frames_per_buffer") != std::string::npos);
  const std::string syntax = error_of("[station\nid = 1\n");
  CHECK(syntax.rfind("agent.toml:1:", 0) == 0);
  CHECK(syntax.find('\n') == std::string::npos);
}

TEST_CASE("config: a missing file is named") {
  CHECK_THROWS_WITH_AS(load_config("/nonexistent/agent.toml"), doctest::Contains("/nonexistent/agent.toml"),
                       ConfigError);
}
