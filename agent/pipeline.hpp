// The live analysis loop, shared by `run` (microphone) and `run --replay` (recording):
//
//   AudioSource -> SampleRing -> dsp::Detector -> Event -> SpeciesIdentifier -> sinks
//
// The pipeline reads the ring on its own thread (the caller's), feeds the detector,
// turns each sound into a schema-v1 Event with its UTC time, and hands the event to
// every sink in the order they were added. Later stages plug in here: a classifier or
// enrichment adds a sink-like step before the others; the durable outbox (MQTT, Loki)
// is a sink; the Prometheus exporter reads stats() from its own thread; the systemd
// watchdog listens to progress.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/audio/audio_source.hpp"
#include "agent/config.hpp"
#include "agent/event.hpp"
#include "agent/species/identification.hpp"
#include "dsp/detector.hpp"

namespace birdsong {

class Enrichment;

// Receives each event on the analysis thread: must be quick (write a line, enqueue).
using EventSink = std::function<void(const Event&)>;

// Running figures, updated by the analysis thread and readable from any thread.
struct PipelineStats {
  std::atomic<uint64_t> samples{0};              // analysed
  std::atomic<uint64_t> events{0};               // handed to the sinks
  std::atomic<uint64_t> overrun_samples{0};      // dropped because the ring was full
  std::atomic<uint64_t> overrun_episodes{0};
  std::atomic<uint64_t> input_overflows{0};      // PortAudio input overflow flags
  std::atomic<double> level_dbfs{-120.0};        // in-band level of the latest frame
  std::atomic<double> noise_floor_dbfs{-120.0};  // in-band noise floor of the latest frame
};

// Called on the analysis thread after each chunk analysed (READY=1 on the first, a
// watchdog ping): its absence means no audio is arriving or the analysis is stuck.
using ProgressListener = std::function<void(const PipelineStats&)>;

class Pipeline {
 public:
  // Logs go to `log`, one line per happening ("pipeline: ..."). Throws
  // std::invalid_argument when [detector] does not suit sample_rate_hz.
  Pipeline(const Config& config, double sample_rate_hz, std::ostream& log);

  void add_sink(EventSink sink);
  // Each event gets the weather and species facts `enrichment` knows when it is emitted,
  // after species identification and before the sinks. Must outlive run().
  void set_enrichment(Enrichment* enrichment) { enrichment_ = enrichment; }
  void add_progress_listener(ProgressListener listener);

  // Starts `source`, analyses what it produces until it finishes or `stop` becomes
  // true, then stops it, analyses what is left in the ring and flushes the detector:
  // every sound heard comes out as an event before run() returns.
  void run(AudioSource& source, const std::atomic<bool>& stop);

  const PipelineStats& stats() const { return stats_; }
  // The species the [species] pack can name (scientific names, without "none"); empty
  // without profiles. They bound the species label of birdsong_detections_total.
  std::vector<std::string> known_species() const;

 private:
  // Feeds the first `samples` of chunk_ to the detector; false when there were none.
  bool analyse(AudioSource& source, std::size_t samples);
  void emit(AudioSource& source);
  void watch_losses(AudioSource& source, bool final);

  const std::string station_;
  std::ostream& log_;
  dsp::Detector detector_;
  // [species] profiles: names the species of each event; null without profiles.
  std::unique_ptr<LoadedProfiles> profiles_;
  std::unique_ptr<SpeciesIdentifier> species_;
  Enrichment* enrichment_ = nullptr;
  const std::chrono::microseconds idle_;  // wait when the ring is empty
  std::vector<float> chunk_;
  std::vector<EventSink> sinks_;
  std::vector<ProgressListener> progress_listeners_;
  std::vector<dsp::Sound> sounds_;
  PipelineStats stats_;
  // A loss goes on while its counter keeps rising between two looks at it; each such
  // episode gives one log line when it ends, not one per buffer.
  struct LossEpisodes {
    uint64_t seen = 0;         // the counter at the last look
    uint64_t at_start = 0;     // the counter when the current episode began
    bool ongoing = false;
    // Takes the counter's value; returns how much was lost when an episode has just
    // ended (or is still going at the `final` look).
    std::optional<uint64_t> look(uint64_t counter, bool final);
  };
  LossEpisodes overruns_;
  LossEpisodes overflows_;
};

}  // namespace birdsong
