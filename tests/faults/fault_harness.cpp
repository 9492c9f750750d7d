#include "tests/faults/fault_harness.hpp"

#include <httplib.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <numbers>
#include <sstream>

#include "tests/signals.hpp"

namespace birdsong::test {

Tally tally(const std::vector<std::string>& expected, const std::vector<std::string>& received) {
  Tally t;
  t.expected = expected.size();
  t.received = received.size();
  std::map<std::string, std::size_t> order;  // id -> position in the printed order
  for (std::size_t i = 0; i < expected.size(); ++i) order.emplace(expected[i], i);
  std::map<std::string, int> seen;
  std::vector<std::string> marks;  // per arrival: its printed position, "d" for a repeat
  std::optional<std::size_t> latest, disorder_at;
  for (const std::string& id : received) {
    const auto it = order.find(id);
    const std::string position = it == order.end() ? "?" : std::to_string(it->second);
    if (seen[id]++ > 0) {
      ++t.duplicates;
      marks.push_back(position + "d");
      continue;
    }
    marks.push_back(position);
    if (it == order.end()) {
      ++t.unexpected;
      continue;
    }
    if (latest && it->second < *latest) {
      ++t.out_of_order;
      if (!disorder_at) disorder_at = marks.size() - 1;
    }
    if (!latest || it->second > *latest) latest = it->second;
  }
  for (const std::string& id : expected)
    if (seen.count(id) == 0) ++t.lost;
  if (disorder_at) {
    const std::size_t from = *disorder_at > 12 ? *disorder_at - 12 : 0;
    const std::size_t to = std::min(marks.size(), *disorder_at + 13);
    for (std::size_t i = from; i < to; ++i)
      t.first_disorder += (i > from ? " " : "") + (i == *disorder_at ? "[" + marks[i] + "]" : marks[i]);
  }
  return t;
}

std::string describe(const Tally& t) {
  std::ostringstream s;
  s << t.expected << " events, lost " << t.lost << ", duplicates " << t.duplicates << ", out of order "
    << t.out_of_order << ", unprinted " << t.unexpected;
  if (!t.first_disorder.empty()) s << " (arrivals by printed position: " << t.first_disorder << ")";
  return s.str();
}

std::vector<std::string> event_ids(const std::vector<std::string>& json_texts) {
  std::vector<std::string> ids;
  for (const std::string& text : json_texts) {
    const auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_object() && j.contains("id") && j["id"].is_string()) ids.push_back(j["id"].get<std::string>());
  }
  return ids;
}

std::vector<std::string> printed_ids(const std::string& stdout_path) {
  std::vector<std::string> lines;
  const std::string text = read_file(stdout_path);
  std::size_t begin = 0;
  for (std::size_t nl; (nl = text.find('\n', begin)) != std::string::npos; begin = nl + 1)
    lines.push_back(text.substr(begin, nl - begin));  // a line without its newline was cut
  return event_ids(lines);
}

std::string write_notes(const TempDir& dir, const std::string& name, int notes, double spacing_s, double note_s,
                        double noise_rms) {
  constexpr double rate_hz = 48000.0;
  constexpr double pitches_hz[] = {2500.0, 4500.0, 7000.0, 9500.0};
  std::vector<float> x = noise(notes * spacing_s + 1.0, rate_hz, noise_rms);
  for (int k = 0; k < notes; ++k) {
    const auto a = static_cast<std::size_t>((0.3 + k * spacing_s) * rate_hz);
    const double f_hz = pitches_hz[k % 4];
    double phase = 0.0;
    for (std::size_t i = 0; i < static_cast<std::size_t>(note_s * rate_hz); ++i) {
      const double t = static_cast<double>(i) / rate_hz;
      const double envelope = std::min({1.0, t / 0.004, (note_s - t) / 0.004});
      phase += 2.0 * std::numbers::pi * (f_hz + 300.0 * std::sin(2.0 * std::numbers::pi * 30.0 * t)) / rate_hz;
      x[a + i] += static_cast<float>(0.3 * envelope * std::sin(phase));
    }
  }
  const std::string path = dir / name;
  write_sound(path, SF_FORMAT_WAV | SF_FORMAT_PCM_16, static_cast<int>(rate_hz), 1, x);
  return path;
}

std::string write_config(const TempDir& dir, const std::string& name, const std::string& mqtt_url,
                         const std::string& loki_url, const std::string& outbox_path, int metrics_port) {
  const std::string path = dir / name;
  std::ofstream f(path);
  f << "[station]\nid = \"garden\"\n"
    << "[detector]\nmin_confidence = 0.0\n";
  if (metrics_port > 0) f << "[metrics]\nlisten = \"127.0.0.1:" << metrics_port << "\"\n";
  else f << "[metrics]\nenabled = false\n";
  if (!mqtt_url.empty()) f << "[mqtt]\nurl = \"" << mqtt_url << "\"\ntimeout_s = 5\nkeepalive_s = 5\n";
  if (!loki_url.empty()) f << "[loki]\nurl = \"" << loki_url << "\"\nbatch_wait_s = 0.2\ntimeout_s = 5\n";
  f << "[outbox]\npath = \"" << outbox_path << "\"\n";
  return path;
}

Agent::Agent(const TempDir& dir, const std::string& tag, const std::string& config, const std::string& recording,
             const std::string& speed, double drain_timeout_s, int metrics_port, double linger_s,
             const std::vector<std::string>& env)
    : out_(dir / (tag + ".out")), err_(dir / (tag + ".err")), metrics_port_(metrics_port) {
  std::vector<std::string> argv;
  if (!env.empty()) {  // env(1) sets them and execs the agent: the same pid
    argv.push_back("/usr/bin/env");
    argv.insert(argv.end(), env.begin(), env.end());
  }
  argv.insert(argv.end(), {BIRDSONG_AGENT_EXE, "run", "--config", config, "--replay", recording, "--speed", speed,
                           "--drain-timeout", std::to_string(drain_timeout_s)});
  if (linger_s > 0) {
    argv.push_back("--linger-s");
    argv.push_back(std::to_string(linger_s));
  }
  process_ = std::make_unique<Process>(argv, out_, err_);
  watcher_ = std::jthread([this](std::stop_token stop) { watch(stop); });
}

Agent::~Agent() {
  watcher_.request_stop();
  if (watcher_.joinable()) watcher_.join();
}

bool Agent::exited_ok() {
  return !process_->running() && WIFEXITED(process_->exit_status()) && WEXITSTATUS(process_->exit_status()) == 0;
}

void Agent::kill9() {
  process_->signal(SIGKILL);
  process_->wait(std::chrono::seconds(10));
}

void Agent::watch(const std::stop_token& stop) {
  const std::string status_path = "/proc/" + std::to_string(process_->pid()) + "/status";
  std::unique_ptr<httplib::Client> client;
  if (metrics_port_ > 0) {
    client = std::make_unique<httplib::Client>("127.0.0.1", metrics_port_);
    client->set_connection_timeout(std::chrono::milliseconds(500));
    client->set_read_timeout(std::chrono::seconds(2));
  }
  while (!stop.stop_requested()) {
    std::istringstream status(read_file(status_path));
    for (std::string line; std::getline(status, line);)
      if (line.rfind("VmHWM:", 0) == 0) {
        const long kb = std::atol(line.c_str() + 6);
        std::lock_guard lock(mutex_);
        peak_kb_ = std::max(peak_kb_, kb);
      }
    if (client) {
      if (auto r = client->Get("/metrics"); r && r->status == 200) {
        std::lock_guard lock(mutex_);
        metrics_ = r->body;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

long Agent::peak_rss_kb() const {
  std::lock_guard lock(mutex_);
  return peak_kb_;
}

std::string Agent::metrics() const {
  std::lock_guard lock(mutex_);
  return metrics_;
}

std::optional<double> Agent::metric(const std::string& series) const {
  std::istringstream lines(metrics());
  for (std::string line; std::getline(lines, line);)
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 && line[series.size()] == ' ')
      return std::stod(line.substr(series.size() + 1));
  return std::nullopt;
}

void report(const std::string& scenario, const std::string& text) {
  std::cout << "faults: " << scenario << ": " << text << std::endl;
}

}  // namespace birdsong::test
