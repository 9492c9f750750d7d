// The agent program end to end: `birdsong-agent run --replay` of a generated recording,
// delivering to a real mosquitto.
#include <doctest/doctest.h>

#include <signal.h>

#include <nlohmann/json.hpp>
#include <map>
#include <numbers>
#include <set>
#include <sstream>

#include "tests/agent/audio_files.hpp"
#include "tests/integration/processes.hpp"
#include "tests/integration/subscriber.hpp"
#include "tests/signals.hpp"

using namespace birdsong;
using namespace birdsong::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr auto kDetections = "birdsong/garden/detection";
constexpr auto kStatus = "birdsong/garden/status";
constexpr double kRateHz = 48000.0;

// `count` trills (4 kHz +-1 kHz at 25 Hz, 0.25 s) every `spacing_s`, from 0.5 s, in
// faint noise: each one is exactly one event.
std::string write_trills(const TempDir& dir, const std::string& name, int count, double spacing_s) {
  std::vector<float> x = noise(count * spacing_s + 1.0, kRateHz, 0.003);
  for (int k = 0; k < count; ++k) {
    const auto a = static_cast<std::size_t>((0.5 + k * spacing_s) * kRateHz);
    const double duration_s = 0.25;
    double phase = 0.0;
    for (std::size_t i = 0; i < static_cast<std::size_t>(duration_s * kRateHz); ++i) {
      const double t = static_cast<double>(i) / kRateHz;
      const double envelope = std::min({1.0, t / 0.005, (duration_s - t) / 0.005});
      phase += 2.0 * std::numbers::pi * (4000.0 + 1000.0 * std::sin(2.0 * std::numbers::pi * 25.0 * t)) / kRateHz;
      x[a + i] += static_cast<float>(0.3 * envelope * std::sin(phase));
    }
  }
  const std::string path = dir / name;
  write_sound(path, SF_FORMAT_WAV | SF_FORMAT_PCM_16, static_cast<int>(kRateHz), 1, x);
  return path;
}

// A configuration for the agent: MQTT to `url`, the outbox in `dir`, no metrics port (tests
// run side by side), and no bird-likeness threshold, so the count depends on the
// segmentation alone.
std::string write_config(const TempDir& dir, const std::string& url) {
  const std::string path = dir / "agent.toml";
  std::ofstream(path) << "[station]\nid = \"garden\"\n"
                      << "[detector]\nmin_confidence = 0.0\n"
                      << "[metrics]\nenabled = false\n"
                      << "[mqtt]\nurl = \"" << url << "\"\ntimeout_s = 5\n"
                      << "[outbox]\npath = \"" << (dir / "outbox.db") << "\"\n";
  return path;
}

std::unique_ptr<Process> start_agent(const TempDir& dir, const std::string& config, const std::string& wav,
                                     const std::string& speed, const std::string& tag,
                                     const std::string& drain_timeout_s = "60") {
  return std::make_unique<Process>(
      std::vector<std::string>{BIRDSONG_AGENT_EXE, "run", "--config", config, "--replay", wav, "--speed", speed,
                               "--drain-timeout", drain_timeout_s},
      dir / (tag + ".out"), dir / (tag + ".err"));
}

// The ids of the events the agent printed (each printed only after it was committed).
std::vector<std::string> printed_ids(const std::string& stdout_path) {
  std::vector<std::string> ids;
  std::istringstream lines(read_file(stdout_path));
  for (std::string line; std::getline(lines, line);)
    if (!line.empty()) ids.push_back(json::parse(line).at("id").get<std::string>());
  return ids;
}

std::vector<std::string> detection_ids(const std::vector<Received>& messages) {
  std::vector<std::string> ids;
  for (const Received& m : messages)
    if (m.topic == kDetections) ids.push_back(json::parse(m.payload).at("id").get<std::string>());
  return ids;
}

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

std::vector<std::string> payloads(const std::vector<Received>& messages) {
  std::vector<std::string> p;
  for (const Received& m : messages) p.push_back(m.payload);
  return p;
}

std::vector<Received> retained(const Mosquitto& broker, const std::string& filter) {
  Subscriber late(broker.uri(), {filter}, false, "birdsong-test-late");
  std::this_thread::sleep_for(300ms);
  return late.all();
}

bool exited_ok(Process& p) { return WIFEXITED(p.exit_status()) && WEXITSTATUS(p.exit_status()) == 0; }

}  // namespace

TEST_CASE("agent: a replayed recording gives one detection message per event, with discovery and status") {
  TempDir dir;
  Mosquitto broker(dir / "");
  Subscriber sub(broker.uri(), {"birdsong/#", "homeassistant/#"});
  const std::string wav = write_trills(dir, "trills.wav", 8, 1.5);
  auto agent = start_agent(dir, write_config(dir, broker.url()), wav, "0", "agent");
  REQUIRE(agent->wait(60s));
  INFO(read_file(dir / "agent.err"));
  CHECK(exited_ok(*agent));

  const auto printed = printed_ids(dir / "agent.out");
  CHECK(printed.size() == 8);  // 8 trills, 8 events
  REQUIRE(sub.wait_for([&](const auto& all) { return detection_ids(all).size() >= printed.size(); }, 10s));
  std::this_thread::sleep_for(200ms);
  CHECK(detection_ids(sub.all()) == printed);  // one message per event, in order, none twice

  // Online while running, offline (said by the agent itself) at the clean exit.
  REQUIRE(sub.wait_for([](const auto& all) {
    for (const auto& m : all)
      if (m.topic == kStatus && m.payload == "offline") return true;
    return false;
  }, 10s));
  const auto statuses = payloads(sub.on(kStatus));
  REQUIRE(statuses.size() >= 2);
  CHECK(statuses.front() == "online");
  CHECK(statuses.back() == "offline");

  // Home Assistant discovery: valid JSON, unique ids, one device, state topics.
  std::set<std::string> unique_ids;
  int discovery = 0;
  for (const Received& m : sub.all()) {
    if (m.topic.rfind("homeassistant/", 0) != 0) continue;
    ++discovery;
    const json c = json::parse(m.payload);
    unique_ids.insert(c.at("unique_id").get<std::string>());
    CHECK(c.at("device").at("identifiers") == json::array({"birdsong_garden"}));
    CHECK(c.at("device").at("sw_version").is_string());
    CHECK(c.contains("state_topic"));
  }
  CHECK(discovery == 5);
  CHECK(unique_ids.size() == 5);
  // The sensors' state, retained for Home Assistant.
  std::map<std::string, std::string> kept;
  for (const Received& m : retained(broker, "birdsong/#")) kept[m.topic] = m.payload;
  CHECK(kept[kStatus] == "offline");
  REQUIRE(kept.count("birdsong/garden/state") == 1);
  const json state = json::parse(kept["birdsong/garden/state"]);
  CHECK(state.at("last_species") == "unidentified");
  CHECK(state.at("audio_level_dbfs").is_number());
}

TEST_CASE("agent: after kill -9 the broker publishes the last will, offline, retained") {
  TempDir dir;
  Mosquitto broker(dir / "");
  Subscriber sub(broker.uri(), {kStatus});
  const std::string wav = write_trills(dir, "long.wav", 30, 1.0);
  auto agent = start_agent(dir, write_config(dir, broker.url()), wav, "1", "agent");
  REQUIRE(sub.wait_for([](const auto& all) { return !all.empty() && all.back().payload == "online"; }, 20s));
  CHECK(retained(broker, kStatus).at(0).payload == "online");
  agent->signal(SIGKILL);
  REQUIRE(agent->wait(10s));
  CHECK(WIFSIGNALED(agent->exit_status()));
  // The broker notices the dropped connection at once and publishes the will.
  REQUIRE(sub.wait_for([](const auto& all) { return !all.empty() && all.back().payload == "offline"; }, 20s));
  const auto kept = retained(broker, kStatus);
  REQUIRE(kept.size() == 1);
  CHECK(kept[0].payload == "offline");
  CHECK(kept[0].retained);
}

TEST_CASE("agent: broker stopped during a replay and started again: every event arrives, in order") {
  TempDir dir;
  Mosquitto broker(dir / "", "", true);
  Subscriber sub(broker.uri(), {"birdsong/#"}, true);
  const std::string wav = write_trills(dir, "long.wav", 40, 1.0);
  auto agent = start_agent(dir, write_config(dir, broker.url()), wav, "4", "agent");
  // The first events go out live; then the broker goes away for a while.
  REQUIRE(sub.wait_for([](const auto& all) { return detection_ids(all).size() >= 3; }, 30s));
  broker.stop();
  const std::size_t before_outage = printed_ids(dir / "agent.out").size();
  REQUIRE(eventually([&] { return printed_ids(dir / "agent.out").size() >= before_outage + 5; }, 30s));
  broker.start();
  REQUIRE(agent->wait(120s));
  INFO(read_file(dir / "agent.err"));
  CHECK(exited_ok(*agent));

  const auto printed = printed_ids(dir / "agent.out");
  CHECK(printed.size() == 40);
  REQUIRE(sub.wait_for([&](const auto& all) {
    int d = 0;
    return dedupe(detection_ids(all), d).size() >= printed.size();
  }, 30s));
  int duplicates = 0;
  CHECK(dedupe(detection_ids(sub.all()), duplicates) == printed);
  MESSAGE("broker outage during a replay: " << printed.size() << " events, all delivered in order, " << duplicates
                                            << " duplicates");
  CHECK(read_file(dir / "agent.err").find("mqtt: delivery failed") != std::string::npos);
}

TEST_CASE("agent: kill -9 in the middle of a replay, then a restart on the same outbox: nothing detected is lost") {
  TempDir dir;
  Mosquitto broker(dir / "", "", true);
  Subscriber sub(broker.uri(), {"birdsong/#"}, true);
  const std::string config = write_config(dir, broker.url());
  const std::string wav = write_trills(dir, "long.wav", 40, 1.0);
  auto first = start_agent(dir, config, wav, "4", "first");
  REQUIRE(sub.wait_for([](const auto& all) { return detection_ids(all).size() >= 3; }, 30s));
  // Broker down: what is detected now can only be in the outbox when the agent dies.
  broker.stop();
  const std::size_t delivered_live = printed_ids(dir / "first.out").size();
  REQUIRE(eventually([&] { return printed_ids(dir / "first.out").size() >= delivered_live + 5; }, 30s));
  first->signal(SIGKILL);
  REQUIRE(first->wait(10s));
  const auto detected = printed_ids(dir / "first.out");  // committed before printed
  REQUIRE(detected.size() < 40);                         // it really died mid-replay
  int duplicates = 0;
  REQUIRE(dedupe(detection_ids(sub.all()), duplicates).size() < detected.size());  // some only in the outbox

  broker.start();
  const std::string short_wav = write_trills(dir, "short.wav", 2, 1.0);
  auto second = start_agent(dir, config, short_wav, "0", "second");
  REQUIRE(second->wait(120s));
  INFO(read_file(dir / "second.err"));
  CHECK(exited_ok(*second));
  const auto second_ids = printed_ids(dir / "second.out");
  CHECK(second_ids.size() == 2);

  std::vector<std::string> expected = detected;  // the backlog first, oldest first, then the new ones
  expected.insert(expected.end(), second_ids.begin(), second_ids.end());
  REQUIRE(sub.wait_for([&](const auto& all) {
    int d = 0;
    return dedupe(detection_ids(all), d).size() >= expected.size();
  }, 30s));
  CHECK(dedupe(detection_ids(sub.all()), duplicates) == expected);
  MESSAGE("kill -9 mid-replay: " << detected.size() << " events detected before the kill, all delivered after the "
                                 << "restart, " << duplicates << " duplicates");
}

TEST_CASE("agent: without an mqtt section it prints events and keeps no outbox, and an unreachable broker stops nothing") {
  TempDir dir;
  const std::string wav = write_trills(dir, "trills.wav", 5, 1.0);
  {
    const std::string plain = dir / "plain.toml";
    std::ofstream(plain) << "[detector]\nmin_confidence = 0.0\n[metrics]\nenabled = false\n";
    Process agent({BIRDSONG_AGENT_EXE, "run", "--config", plain, "--replay", wav, "--speed", "0"}, dir / "plain.out",
                  dir / "plain.err");
    REQUIRE(agent.wait(60s));
    CHECK(exited_ok(agent));
    CHECK(printed_ids(dir / "plain.out").size() == 5);
    CHECK(read_file(dir / "plain.err").find("outbox") == std::string::npos);
  }
  // A broker that is not there: detection and printing go on; the end waits only
  // --drain-timeout, and says what stays in the outbox.
  const std::string config = write_config(dir, "mqtt://127.0.0.1:" + std::to_string(free_port()));
  const auto start = Clock::now();
  auto agent = start_agent(dir, config, wav, "0", "down", "1");
  REQUIRE(agent->wait(60s));
  CHECK(exited_ok(*agent));
  CHECK(Clock::now() - start < 20s);
  CHECK(printed_ids(dir / "down.out").size() == 5);
  const std::string err = read_file(dir / "down.err");
  CHECK(err.find("mqtt: delivery failed (connect to tcp://127.0.0.1:") != std::string::npos);
  CHECK(err.find("mqtt: 5 events not delivered within --drain-timeout 1 s") != std::string::npos);
}
