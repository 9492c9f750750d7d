// The fault suite's tools: recordings made for it, the agent as a watched child process,
// and the end-to-end oracle.
//
// The oracle. Every event carries a unique `id`, and the agent prints an event only once
// it is committed to the outbox, so the printed ids are what every sink must receive, in
// that order. For each sink the oracle counts the printed events that never arrived
// (lost), the arrivals of an id already received (duplicates: at-least-once delivery
// allows them, consumers drop them by id), arrivals of an id older than one already
// received (out of order) and arrivals of ids that were never printed (an agent killed
// between committing and printing an event).
#pragma once

#include <signal.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <stop_token>
#include <thread>
#include <vector>

#include "tests/agent/audio_files.hpp"
#include "tests/integration/processes.hpp"

namespace birdsong::test {

struct Tally {
  std::size_t expected = 0;      // printed by the agent
  std::size_t received = 0;      // arrivals at the sink
  std::size_t lost = 0;          // printed, never arrived
  std::size_t duplicates = 0;    // arrivals of an id already received
  std::size_t out_of_order = 0;  // arrivals of an id printed before one already received
  std::size_t unexpected = 0;    // arrivals of an id never printed
  // The first out-of-order arrival in context: printed positions of the arrivals around
  // it ("12 13 [9] 14", duplicates marked "d", ids never printed "?"), to tell whether the
  // agent or the broker reordered.
  std::string first_disorder;
};

Tally tally(const std::vector<std::string>& expected, const std::vector<std::string>& received);
std::string describe(const Tally& t);

// The ids of complete JSON lines in an agent's stdout (a kill -9 may cut the last one).
std::vector<std::string> printed_ids(const std::string& stdout_path);
// The ids in a list of event JSON texts (MQTT payloads, Loki lines); others are skipped.
std::vector<std::string> event_ids(const std::vector<std::string>& json_texts);

// `notes` trill notes (±300 Hz at 30 Hz, `note_s` long) every `spacing_s` from 0.3 s, the
// pitch cycling through 2.5, 4.5, 7 and 9.5 kHz, in noise of `noise_rms`, at 48 kHz.
// Notes of different pitch are never merged, so each note is one event.
std::string write_notes(const TempDir& dir, const std::string& name, int notes, double spacing_s,
                        double note_s = 0.25, double noise_rms = 0.003);

// An agent configuration: MQTT to `mqtt_url` and Loki at `loki_url` (each: empty for
// none), the outbox at `outbox_path`, /metrics on loopback `metrics_port` (0: none).
std::string write_config(const TempDir& dir, const std::string& name, const std::string& mqtt_url,
                         const std::string& loki_url, const std::string& outbox_path, int metrics_port);

// `birdsong-agent run --replay` as a child, watched from a thread: the peak resident size
// (VmHWM of /proc/<pid>/status) and the last /metrics text. `env`: NAME=value settings
// added to the child's environment.
class Agent {
 public:
  Agent(const TempDir& dir, const std::string& tag, const std::string& config, const std::string& recording,
        const std::string& speed, double drain_timeout_s, int metrics_port = 0, double linger_s = 0.0,
        const std::vector<std::string>& env = {});
  ~Agent();

  Process& process() { return *process_; }
  bool wait(std::chrono::milliseconds timeout) { return process_->wait(timeout); }
  bool exited_ok();
  void kill9();
  std::string out_path() const { return out_; }
  std::string err_path() const { return err_; }
  std::string stderr_text() const { return read_file(err_); }
  long peak_rss_kb() const;
  std::string metrics() const;
  // A sample of the last scrape, e.g. metric("birdsong_sink_failed_total{sink=\"mqtt\"}").
  std::optional<double> metric(const std::string& series) const;

 private:
  void watch(const std::stop_token& stop);

  std::string out_, err_;
  int metrics_port_ = 0;
  std::unique_ptr<Process> process_;
  mutable std::mutex mutex_;
  long peak_kb_ = 0;
  std::string metrics_;
  std::jthread watcher_;
};

// One line per figure, for the CI log: "faults: <scenario>: <text>".
void report(const std::string& scenario, const std::string& text);

}  // namespace birdsong::test
