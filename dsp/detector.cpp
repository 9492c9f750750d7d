#include "dsp/detector.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "dsp/event_detector.hpp"
#include "dsp/noise_floor.hpp"
#include "dsp/stft.hpp"

namespace birdsong::dsp {

namespace {
[[noreturn]] void bad(const char* key, double value, const std::string& expected) {
  throw std::invalid_argument(std::string(key) + ": " + std::to_string(value) + ": expected " + expected);
}
}  // namespace

void validate(const DetectorConfig& c) {
  if (!(c.min_hz >= 0.0)) bad("min_hz", c.min_hz, "a frequency >= 0");
  if (!(c.max_hz > c.min_hz)) bad("max_hz", c.max_hz, "a frequency above min_hz");
  if (!(c.frame_s >= 0.002 && c.frame_s <= 0.1)) bad("frame_s", c.frame_s, "0.002..0.1 seconds");
  if (!(c.threshold_db > 0.0 && c.threshold_db <= 60.0)) bad("threshold_db", c.threshold_db, "0..60 dB");
  if (!(c.min_duration_s >= 0.0 && c.min_duration_s < 10.0)) bad("min_duration_s", c.min_duration_s, "0..10 seconds");
  if (!(c.max_duration_s > c.min_duration_s && c.max_duration_s <= 600.0))
    bad("max_duration_s", c.max_duration_s, "above min_duration_s and at most 600 seconds");
  if (!(c.merge_gap_s >= 0.0 && c.merge_gap_s <= 5.0)) bad("merge_gap_s", c.merge_gap_s, "0..5 seconds");
  if (!(c.noise_adapt_s >= 0.1 && c.noise_adapt_s <= 600.0)) bad("noise_adapt_s", c.noise_adapt_s, "0.1..600 seconds");
  if (!(c.min_confidence >= 0.0 && c.min_confidence <= 1.0)) bad("min_confidence", c.min_confidence, "0..1");
}

struct Detector::State {
  State(double rate, const DetectorConfig& c)
      : config(c),
        stft(rate, fft_size_for(rate, c.frame_s), fft_size_for(rate, c.frame_s) / 2),
        floor(stft.bins(), stft.frame_rate_hz(), c.noise_adapt_s),
        events(c, stft.bin_hz(), stft.frame_rate_hz(), stft.time_s(0)),
        excess(static_cast<std::size_t>(stft.bins())) {}
  DetectorConfig config;
  Stft stft;
  NoiseFloor floor;
  EventDetector events;
  std::vector<float> excess;
  DetectorStats stats;
};

Detector::Detector(double sample_rate_hz, const DetectorConfig& config) {
  validate(config);
  if (!(sample_rate_hz >= 8000.0 && sample_rate_hz <= 384000.0))
    bad("sample_rate_hz", sample_rate_hz, "8000..384000");
  if (config.min_hz >= sample_rate_hz / 2.0)
    bad("min_hz", config.min_hz, "below the Nyquist frequency " + std::to_string(sample_rate_hz / 2.0));
  state_ = std::make_unique<State>(sample_rate_hz, config);
}

Detector::~Detector() = default;
Detector::Detector(Detector&&) noexcept = default;
Detector& Detector::operator=(Detector&&) noexcept = default;

void Detector::process(std::span<const float> samples, std::vector<Sound>& out) {
  State& s = *state_;
  s.stft.process(samples, [&](int64_t frame, std::span<const float> power) {
    s.floor.process(power, s.excess);
    s.events.process(frame, s.excess, out);
    s.stats.frames = frame + 1;
  });
}

void Detector::flush(std::vector<Sound>& out) { state_->events.flush(out); }

double Detector::sample_rate_hz() const { return state_->stft.sample_rate_hz(); }
const DetectorConfig& Detector::config() const { return state_->config; }
const DetectorStats& Detector::stats() const { return state_->stats; }

}  // namespace birdsong::dsp
