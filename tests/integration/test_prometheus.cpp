// The agent's /metrics scraped by a real Prometheus (Debian package: /usr/bin/prometheus,
// /usr/bin/promtool). The agent replays a generated recording, delivering to the Loki
// test server, and keeps serving metrics afterwards (--linger-s); Prometheus scrapes it
// every second and its HTTP API must return the agent's series with the right values.
#include <doctest/doctest.h>
#include <httplib.h>
#include <signal.h>

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <numbers>
#include <regex>
#include <sstream>

#include "tests/agent/audio_files.hpp"
#include "tests/agent/sinks/loki_test_server.hpp"
#include "tests/integration/processes.hpp"
#include "tests/signals.hpp"

using namespace birdsong;
using namespace birdsong::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr double kRateHz = 48000.0;
constexpr const char* kPrometheus = "/usr/bin/prometheus";
constexpr const char* kPromtool = "/usr/bin/promtool";

// `count` trills (4 kHz +-1 kHz at 25 Hz, 0.25 s) every 0.6 s in faint noise.
std::string write_trills(const TempDir& dir, int count) {
  constexpr double spacing_s = 0.6;
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
  const std::string path = dir / "trills.wav";
  write_sound(path, SF_FORMAT_WAV | SF_FORMAT_PCM_16, static_cast<int>(kRateHz), 1, x);
  return path;
}

// The port from the agent's "metrics: serving http://127.0.0.1:<port>/metrics" line.
int served_port(const std::string& stderr_text) {
  std::smatch m;
  static const std::regex line(R"(metrics: serving http://127\.0\.0\.1:(\d+)/metrics)");
  return std::regex_search(stderr_text, m, line) ? std::stoi(m[1]) : 0;
}

// Runs one instant query; the result vector, or an empty array while Prometheus is not
// ready or the series is not there yet.
json query(int prometheus_port, const std::string& promql) {
  httplib::Client client("127.0.0.1", prometheus_port);
  client.set_connection_timeout(2, 0);
  client.set_read_timeout(5, 0);
  auto res = client.Get("/api/v1/query", httplib::Params{{"query", promql}}, httplib::Headers{});
  if (!res || res->status != 200) return json::array();
  const json j = json::parse(res->body, nullptr, false);
  if (j.is_discarded() || j.value("status", "") != "success") return json::array();
  return j["data"]["result"];
}

// The single value of an instant query, or NaN.
double value_of(int prometheus_port, const std::string& promql) {
  const json r = query(prometheus_port, promql);
  if (r.size() != 1) return std::nan("");
  return std::stod(r[0]["value"][1].get<std::string>());
}

}  // namespace

TEST_CASE("prometheus: scrapes the agent - its API returns the agent's series and promtool accepts the exposition") {
  REQUIRE_MESSAGE(std::filesystem::exists(kPrometheus), "Debian package prometheus is needed");
  TempDir dir;
  constexpr int kTrills = 5;
  const std::string wav = write_trills(dir, kTrills);
  LokiTestServer loki;

  const std::string config = dir / "agent.toml";
  std::ofstream(config) << "[station]\nid = \"garden\"\n"
                        << "[detector]\nmin_confidence = 0.0\n"
                        << "[metrics]\nlisten = \"127.0.0.1:0\"\n"
                        << "[loki]\nurl = \"" << loki.url() << "\"\nbatch_wait_s = 0.1\n"
                        << "[outbox]\npath = \"" << (dir / "outbox.db") << "\"\n";
  Process agent({BIRDSONG_AGENT_EXE, "run", "--config", config, "--replay", wav, "--speed", "1", "--linger-s", "120"},
                dir / "agent.out", dir / "agent.err");
  int agent_port = 0;
  REQUIRE_MESSAGE(eventually([&] { return (agent_port = served_port(read_file(dir / "agent.err"))) > 0; }, 20s),
                  read_file(dir / "agent.err"));

  // Prometheus on a free port, scraping the agent every second. A port taken between
  // free_port() and Prometheus binding it: try another.
  std::ofstream(dir / "prometheus.yml") << "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                                        << "scrape_configs:\n  - job_name: birdsong\n    static_configs:\n"
                                        << "      - targets: ['127.0.0.1:" << agent_port << "']\n";
  std::unique_ptr<Process> prometheus;
  int prometheus_port = 0;
  for (int attempt = 0; attempt < 3 && !prometheus; ++attempt) {
    prometheus_port = free_port();
    prometheus = std::make_unique<Process>(
        std::vector<std::string>{kPrometheus, "--config.file=" + (dir / "prometheus.yml"),
                                 "--storage.tsdb.path=" + (dir / "tsdb"),
                                 "--web.listen-address=127.0.0.1:" + std::to_string(prometheus_port)},
        dir / "prometheus.out", dir / "prometheus.err");
    if (!eventually([&] { return port_open(prometheus_port) || !prometheus->running(); }, 30s) ||
        !prometheus->running())
      prometheus.reset();
  }
  REQUIRE_MESSAGE(prometheus, read_file(dir / "prometheus.err"));

  // The agent's series reach Prometheus's API.
  REQUIRE_MESSAGE(eventually([&] { return !query(prometheus_port, "birdsong_build_info").empty(); }, 60s),
                  read_file(dir / "prometheus.err"));
  const json build = query(prometheus_port, "birdsong_build_info");
  CHECK(build[0]["metric"]["job"] == "birdsong");
  CHECK(build[0]["metric"]["version"].get<std::string>().size() > 0);
  CHECK(build[0]["value"][1] == "1");
  CHECK(value_of(prometheus_port, "up{job=\"birdsong\"}") == 1.0);

  // Wait for the replay to end (the agent says so) and delivery to drain, then for a
  // scrape after that: the final figures.
  REQUIRE_MESSAGE(eventually([&] { return read_file(dir / "agent.err").find("end of input") != std::string::npos; },
                             60s),
                  read_file(dir / "agent.err"));
  std::vector<std::string> events;
  {
    std::istringstream lines(read_file(dir / "agent.out"));
    for (std::string line; std::getline(lines, line);)
      if (!line.empty()) events.push_back(line);
  }
  const auto n = static_cast<double>(events.size());
  CHECK(events.size() == kTrills);
  REQUIRE(loki.wait_for_accepted(events.size(), 20s));
  CHECK_MESSAGE(eventually([&] { return value_of(prometheus_port, "sum(birdsong_detections_total)") == n; }, 30s),
                "Prometheus has sum(birdsong_detections_total) = ",
                value_of(prometheus_port, "sum(birdsong_detections_total)"), ", the agent printed ", n, " events");
  CHECK(value_of(prometheus_port, "birdsong_detections_total{species=\"unidentified\"}") == n);
  CHECK(value_of(prometheus_port, "birdsong_events_detected_total") == n);
  CHECK(eventually([&] { return value_of(prometheus_port, "birdsong_sink_sent_total{sink=\"loki\"}") == n; }, 30s));
  CHECK(value_of(prometheus_port, "birdsong_sink_rejected_total{sink=\"loki\"}") == 0.0);
  CHECK(value_of(prometheus_port, "birdsong_outbox_pending_records{sink=\"loki\"}") == 0.0);
  CHECK(value_of(prometheus_port, "birdsong_capture_overruns_total") == 0.0);
  CHECK(value_of(prometheus_port, "birdsong_audio_seconds_total") ==
        doctest::Approx(kTrills * 0.6 + 1.0).epsilon(0.01));
  const double level = value_of(prometheus_port, "birdsong_audio_level_dbfs");
  CHECK(level < 0.0);
  CHECK(level > -120.0);
  CHECK(value_of(prometheus_port, "process_resident_memory_bytes") > 1e6);
  CHECK(value_of(prometheus_port, "process_start_time_seconds") > 1.6e9);

  // promtool's linter accepts the exposition as the agent serves it.
  httplib::Client client("127.0.0.1", agent_port);
  auto res = client.Get("/metrics");
  REQUIRE(res);
  std::ofstream(dir / "metrics.txt") << res->body;
  const std::string promtool = std::string(kPromtool) + " check metrics < " + (dir / "metrics.txt") + " > " +
                               (dir / "promtool.txt") + " 2>&1";
  CHECK_MESSAGE(std::system(promtool.c_str()) == 0, read_file(dir / "promtool.txt"));

  agent.signal(SIGTERM);
  CHECK(agent.wait(20s));
  CHECK(WIFEXITED(agent.exit_status()));
  CHECK(WEXITSTATUS(agent.exit_status()) == 0);
  prometheus->signal(SIGTERM);
  CHECK(prometheus->wait(30s));
}

TEST_CASE("prometheus: promtool rejects a broken exposition (the check above can fail)") {
  TempDir dir;
  std::ofstream(dir / "bad.txt") << "# TYPE birdsong_detections counter\nbirdsong_detections 1\n";
  const std::string promtool =
      std::string(kPromtool) + " check metrics < " + (dir / "bad.txt") + " > " + (dir / "out.txt") + " 2>&1";
  CHECK(std::system(promtool.c_str()) != 0);
}

TEST_CASE("prometheus: a metrics port in use is one line, and the agent still detects") {
  TempDir dir;
  const std::string wav = write_trills(dir, 2);
  httplib::Server holder;  // holds a port the way another program would
  const int port = holder.bind_to_any_port("127.0.0.1");
  REQUIRE(port > 0);
  const std::string config = dir / "agent.toml";
  std::ofstream(config) << "[detector]\nmin_confidence = 0.0\n[metrics]\nlisten = \"127.0.0.1:" << port << "\"\n";
  Process agent({BIRDSONG_AGENT_EXE, "run", "--config", config, "--replay", wav, "--speed", "0"}, dir / "agent.out",
                dir / "agent.err");
  REQUIRE(agent.wait(60s));
  CHECK(WEXITSTATUS(agent.exit_status()) == 0);
  const std::string err = read_file(dir / "agent.err");
  CHECK_MESSAGE(err.find("metrics: cannot listen on 127.0.0.1:" + std::to_string(port) +
                         ": Address already in use; running without metrics\n") != std::string::npos,
                err);
  std::istringstream lines(read_file(dir / "agent.out"));
  int events = 0;
  for (std::string line; std::getline(lines, line);) events += !line.empty();
  CHECK(events == 2);
}
