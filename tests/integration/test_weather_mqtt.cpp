// Weather over MQTT: the program replays the garden recording with Open-Meteo played by
// the local enrichment test server, delivering to a real mosquitto. The observation is
// published retained on <prefix>/<station>/weather, so a subscriber that comes later
// (Home Assistant after a restart) still gets it.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "tests/agent/audio_files.hpp"
#include "tests/agent/enrichment/enrichment_test_server.hpp"
#include "tests/integration/processes.hpp"
#include "tests/integration/subscriber.hpp"

using namespace birdsong;
using namespace birdsong::test;
using namespace std::chrono_literals;
using nlohmann::json;

TEST_CASE("agent: the weather is published retained on <prefix>/<station>/weather and events carry it") {
  TempDir dir;
  Mosquitto broker(dir / "");
  EnrichmentTestServer web;
  const std::string config = dir / "agent.toml";
  std::ofstream(config) << "[station]\nid = \"garden\"\nlatitude = 51.4779\nlongitude = -0.0015\n"
                        << "[weather]\nbase_url = \"" << web.open_meteo_url() << "\"\n"
                        << "[wikipedia]\nenabled = false\n"
                        << "[metrics]\nenabled = false\n"
                        << "[mqtt]\nurl = \"" << broker.url() << "\"\ntimeout_s = 5\n"
                        << "[outbox]\npath = \"" << (dir / "outbox.db") << "\"\n";
  Process agent({BIRDSONG_AGENT_EXE, "run", "--config", config, "--replay", BIRDSONG_SOURCE_DIR "/tests/fixtures/garden-demo.flac",
                 "--speed", "0", "--drain-timeout", "30"},
                dir / "agent.out", dir / "agent.err");
  REQUIRE(agent.wait(60s));
  INFO(read_file(dir / "agent.err"));
  REQUIRE(WIFEXITED(agent.exit_status()));
  CHECK(WEXITSTATUS(agent.exit_status()) == 0);
  REQUIRE(web.requests("/v1/forecast").size() == 1);

  std::istringstream lines(read_file(dir / "agent.out"));
  json last;
  for (std::string line; std::getline(lines, line);) last = json::parse(line);
  REQUIRE(last.contains("weather"));
  CHECK(last["weather"]["temperature_c"] == 9.4);

  // A subscriber that connects after the agent has gone still gets the observation.
  Subscriber late(broker.uri(), {"birdsong/garden/weather"}, false, "birdsong-test-late");
  REQUIRE(late.wait_for([](const auto& all) { return !all.empty(); }, 5s));
  const auto kept = late.all();
  REQUIRE(kept.size() == 1);
  CHECK(kept[0].retained);
  const json weather = json::parse(kept[0].payload);
  CHECK(weather["kind"] == "weather");
  CHECK(weather["station"] == "garden");
  CHECK(weather["time"] == "2026-05-01T05:15:00.000Z");
  CHECK(weather["wind_speed_m_s"] == 3.4);
  CHECK(weather["sunset"] == "2026-05-01T19:24:00.000Z");
}
