// `run --replay`: a recording through the live pipeline (FileReplay -> SampleRing ->
// Pipeline) must give exactly the events `analyze` gives.
#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "agent/audio/file_replay.hpp"
#include "agent/commands/commands.hpp"
#include "agent/pipeline.hpp"
#include "tests/agent/audio_files.hpp"
#include "tests/signals.hpp"

using namespace birdsong;

namespace {

constexpr double kRate = 48000.0;

// Two songs over quiet noise, trills of 40 ms notes: 4.5 -> 3 kHz from 1.0 to 1.66 s,
// 7 -> 5.5 kHz from 2.2 to 2.59 s.
std::vector<float> two_sounds(double seconds) {
  auto x = test::noise(seconds, kRate, 0.01, 5);
  test::add_trill(x, kRate, 4500.0, 3000.0, 0.04, 0.03, 0.1, 1.0, 1.7);
  test::add_trill(x, kRate, 7000.0, 5500.0, 0.04, 0.03, 0.1, 2.2, 2.6);
  return x;
}

std::string write_wav(const test::TempDir& dir, const std::string& name, const std::vector<float>& x) {
  const std::string path = dir / name;
  test::write_sound(path, SF_FORMAT_WAV | SF_FORMAT_PCM_16, static_cast<int>(kRate), 1, x);
  return path;
}

std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

RunOptions replay_options(const std::string& path, double speed) {
  RunOptions o;
  o.replay_file = path;
  o.speed = speed;
  o.config.metrics.enabled = false;  // tests run in parallel: no fixed port
  return o;
}

// analyze and run --replay give the same sounds: same times, band, strength.
void check_same_events(const std::vector<nlohmann::json>& analysed, const std::vector<nlohmann::json>& replayed) {
  REQUIRE(replayed.size() == analysed.size());
  for (std::size_t i = 0; i < analysed.size(); ++i) {
    for (const char* key : {"start_s", "end_s", "low_hz", "high_hz", "peak_hz", "snr_db", "confidence", "time", "file"})
      CHECK_MESSAGE(replayed[i][key] == analysed[i][key], "event ", i, " ", key);
  }
}

}  // namespace

TEST_CASE("run --replay: at speed 0 a recording gives exactly the events of analyze") {
  test::TempDir dir;
  // A recorder's file name: both commands then date the events from it.
  const std::string path = write_wav(dir, "20240501_051200.wav", two_sounds(4.0));

  AnalyzeOptions a;
  a.files = {path};
  std::ostringstream analyze_out, analyze_err;
  REQUIRE(analyze(a, analyze_out, analyze_err) == kExitOk);
  const auto analysed = json_lines(analyze_out.str());
  REQUIRE(analysed.size() == 2);
  CHECK(analysed[0]["start_s"].get<double>() == doctest::Approx(1.0).epsilon(0.02));
  CHECK(analysed[1]["start_s"].get<double>() == doctest::Approx(2.2).epsilon(0.02));

  std::atomic<bool> stop{false};
  std::ostringstream out, err;
  CHECK(run_agent(replay_options(path, 0.0), stop, out, err) == kExitOk);
  const auto replayed = json_lines(out.str());
  check_same_events(analysed, replayed);
  // 05:12:00 from the name + about 1 s (times are truncated to the millisecond).
  CHECK(replayed[0]["time"].get<std::string>().rfind("2024-05-01T05:12:0", 0) == 0);
  CHECK(replayed[0]["file"] == path);
  CHECK(err.str().find("run: replaying " + path + " (48000 Hz, 4 s) as fast as possible\n") == 0);
  CHECK(err.str().find("run: end of input after 4 s of audio, 2 events, 0 samples dropped\n") != std::string::npos);
}

TEST_CASE("run --replay: the birdsong-agent program replays and exits 0 with analyze's events") {
  test::TempDir dir;
  const std::string path = write_wav(dir, "burst.wav", two_sounds(3.0));
  std::ofstream(dir / "agent.toml") << "[metrics]\nenabled = false\n";
  // Runs the program, returning its stdout and exit status.
  auto run = [&](const std::string& args, int& status) {
    const std::string command = std::string(BIRDSONG_AGENT_EXE) + " " + args + " 2>" + (dir / "stderr.txt");
    FILE* pipe = ::popen(command.c_str(), "r");
    REQUIRE(pipe != nullptr);
    std::string text;
    char buffer[4096];
    while (const std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) text.append(buffer, n);
    status = ::pclose(pipe);
    return text;
  };
  int status = -1;
  const auto analysed = json_lines(run("analyze " + path, status));
  REQUIRE(status == 0);
  REQUIRE(analysed.size() == 2);
  auto replayed = json_lines(run("run --config " + (dir / "agent.toml") + " --replay " + path + " --speed 0", status));
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  // Without a date in the file, the replay is dated from its start: only `time` differs.
  for (auto& e : replayed) e["time"] = nullptr;
  for (const auto& e : analysed) CHECK(e["time"].is_null());
  check_same_events(analysed, replayed);
}

TEST_CASE("run --replay: an unreadable recording is one line naming it, exit 1") {
  std::atomic<bool> stop{false};
  std::ostringstream out, err;
  CHECK(run_agent(replay_options("/nonexistent/x.wav", 0.0), stop, out, err) == kExitInputFailed);
  CHECK(err.str() == "run: /nonexistent/x.wav: No such file or directory\n");
  CHECK(out.str().empty());
}

TEST_CASE("run --replay: speed 1 paces the recording in real time, speed 4 four times faster") {
  test::TempDir dir;
  const std::string path = write_wav(dir, "short.wav", test::noise(0.6, kRate, 0.01));
  for (const double speed : {1.0, 4.0}) {
    std::atomic<bool> stop{false};
    std::ostringstream out, err;
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(run_agent(replay_options(path, speed), stop, out, err) == kExitOk);
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - t0;
    // The last buffer is handed over when it has been "recorded": 0.6 s / speed. The
    // upper bound is loose: a loaded machine, or qemu in the cross build, is slow.
    CHECK(took.count() >= 0.6 / speed - 0.005);
    CHECK(took.count() < 0.6 / speed + 2.0);
  }
}

TEST_CASE("pipeline: a stalled analysis overruns the ring, the loss is counted and logged once") {
  test::TempDir dir;
  const auto x = two_sounds(6.0);
  const std::string path = write_wav(dir, "stall.wav", x);
  AudioConfig audio;
  audio.ring_s = 0.5;
  FileReplay replay(path, 4.0, audio);  // 6 s of audio in 1.5 s
  Config config;
  std::ostringstream log;
  Pipeline pipeline(config, replay.sample_rate_hz(), log);
  int events = 0;
  pipeline.add_sink([&](const Event&) {
    // The first song is out near 1.9 s of audio; stalling 0.6 s there lets the replay
    // produce 2.4 s more, which a 0.5 s ring cannot hold.
    if (events++ == 0) std::this_thread::sleep_for(std::chrono::milliseconds(600));
  });
  std::atomic<bool> stop{false};
  pipeline.run(replay, stop);

  const PipelineStats& stats = pipeline.stats();
  CHECK(stats.overrun_samples.load() > static_cast<uint64_t>(1.0 * kRate));
  CHECK(stats.overrun_samples.load() == replay.ring().dropped_samples());
  CHECK(stats.samples.load() + stats.overrun_samples.load() == x.size());
  CHECK(stats.overrun_episodes.load() == 1);
  const std::string text = log.str();
  CHECK(text.rfind("pipeline: overrun: analysis fell behind and ", 0) == 0);
  CHECK(std::count(text.begin(), text.end(), '\n') == 1);
}
