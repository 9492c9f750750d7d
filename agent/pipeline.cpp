#include "agent/pipeline.hpp"

#include <algorithm>
#include <ostream>
#include <thread>

#include "agent/enrichment/enrichment.hpp"

namespace birdsong {

namespace {

// Read the ring in chunks of this many samples (85 ms at 48 kHz).
constexpr std::size_t kChunkSamples = 4096;

// How long to wait when the ring is empty: four device buffers, within 20..100 ms (85 ms
// at 48 kHz and 1024 frames). Birds do not need lower latency, and each wake-up costs:
// waking every half buffer took more CPU than the detector itself (replay at speed 1).
std::chrono::microseconds idle_wait(const AudioConfig& audio, double sample_rate_hz) {
  const double four_buffers_us = 4e6 * audio.frames_per_buffer / sample_rate_hz;
  return std::chrono::microseconds(static_cast<int64_t>(std::clamp(four_buffers_us, 20e3, 100e3)));
}

}  // namespace

Pipeline::Pipeline(const Config& config, double sample_rate_hz, std::ostream& log)
    : station_(config.station.id),
      log_(log),
      detector_(sample_rate_hz,
                config.species.profiles.empty() ? config.detector : detector_config_with_profiles(config.detector)),
      idle_(idle_wait(config.audio, sample_rate_hz)),
      chunk_(kChunkSamples) {
  if (!config.species.profiles.empty()) {
    try {
      profiles_ = std::make_unique<LoadedProfiles>(load_profiles(config.species, config.detector.min_confidence));
    } catch (const ProfilePackError& e) {
      throw ConfigError(e.what());  // a bad pack is a bad configuration: one line, exit 2
    }
    species_ = std::make_unique<SpeciesIdentifier>(profiles_->pack, profiles_->policy, detector_);
  }
}

std::vector<std::string> Pipeline::known_species() const {
  std::vector<std::string> names;
  if (profiles_)
    for (const SpeciesClass& c : profiles_->pack.classes)
      if (c.label != "none") names.push_back(c.label);
  return names;
}

void Pipeline::add_sink(EventSink sink) { sinks_.push_back(std::move(sink)); }

void Pipeline::add_progress_listener(ProgressListener listener) { progress_listeners_.push_back(std::move(listener)); }

void Pipeline::run(AudioSource& source, const std::atomic<bool>& stop) {
  SampleRing& ring = source.ring();
  source.start();
  for (;;) {
    // Asked before draining: whatever a finished source wrote is then read below.
    const bool finished = source.finished();
    while (!stop.load(std::memory_order_relaxed))
      if (!analyse(source, ring.read(chunk_))) break;
    watch_losses(source, false);
    if (finished || stop.load(std::memory_order_relaxed)) break;
    std::this_thread::sleep_for(idle_);
  }
  source.stop();
  while (analyse(source, ring.read(chunk_))) {
  }
  detector_.flush(sounds_);
  emit(source);
  watch_losses(source, true);
}

bool Pipeline::analyse(AudioSource& source, std::size_t samples) {
  if (samples == 0) return false;
  detector_.process(std::span<const float>(chunk_.data(), samples), sounds_);
  stats_.samples.fetch_add(samples, std::memory_order_relaxed);
  stats_.level_dbfs.store(detector_.stats().level_dbfs, std::memory_order_relaxed);
  stats_.noise_floor_dbfs.store(detector_.stats().noise_floor_dbfs, std::memory_order_relaxed);
  emit(source);
  for (const ProgressListener& listener : progress_listeners_) listener(stats_);
  return true;
}

// Sound times count samples the detector saw. Samples the ring dropped never reached it,
// so the wall-clock time adds the audio dropped so far; only a sound that straddles an
// overrun is then placed up to the dropped duration late.
void Pipeline::emit(AudioSource& source) {
  if (sounds_.empty()) return;
  const auto first_sample = source.first_sample_time();
  const double dropped_s = static_cast<double>(overruns_.seen) / detector_.sample_rate_hz();
  for (const dsp::Sound& s : sounds_) {
    Event e;
    e.id = new_event_id();
    e.station = station_;
    e.file = source.file();
    e.sound = s;
    if (first_sample)
      e.time = *first_sample + std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                   std::chrono::duration<double>(s.start_s + dropped_s));
    if (species_ && !species_->identify(e)) continue;  // a doubtful sound the pack did not name
    if (enrichment_) enrichment_->enrich(e);
    stats_.events.fetch_add(1, std::memory_order_relaxed);
    for (const EventSink& sink : sinks_) sink(e);
  }
  sounds_.clear();
}

std::optional<uint64_t> Pipeline::LossEpisodes::look(uint64_t counter, bool final) {
  const bool rising = counter > seen;
  if (rising && !ongoing) {
    ongoing = true;
    at_start = seen;
  }
  seen = counter;
  if (!ongoing || (rising && !final)) return std::nullopt;
  ongoing = false;
  return counter - at_start;
}

void Pipeline::watch_losses(AudioSource& source, bool final) {
  const uint64_t dropped = source.ring().dropped_samples();
  const bool overrun_began = dropped > overruns_.seen && !overruns_.ongoing;
  if (overrun_began) stats_.overrun_episodes.fetch_add(1, std::memory_order_relaxed);
  if (const auto lost = overruns_.look(dropped, final))
    log_ << "pipeline: overrun: analysis fell behind and " << static_cast<double>(*lost) / detector_.sample_rate_hz()
         << " s of audio were dropped (" << *lost << " samples)\n";
  stats_.overrun_samples.store(dropped, std::memory_order_relaxed);

  const uint64_t overflows = source.input_overflows();
  if (const auto lost = overflows_.look(overflows, final))
    log_ << "pipeline: input overflow: the audio device lost input " << *lost << (*lost == 1 ? " time\n" : " times\n");
  stats_.input_overflows.store(overflows, std::memory_order_relaxed);
}

}  // namespace birdsong
