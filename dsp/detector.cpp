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
  if (!(c.min_snr_db >= 0.0 && c.min_snr_db <= 100.0)) bad("min_snr_db", c.min_snr_db, "0..100 dB");
  if (!(c.min_duration_s >= 0.0 && c.min_duration_s < 10.0)) bad("min_duration_s", c.min_duration_s, "0..10 seconds");
  if (!(c.max_duration_s > c.min_duration_s && c.max_duration_s <= 600.0))
    bad("max_duration_s", c.max_duration_s, "above min_duration_s and at most 600 seconds");
  if (!(c.merge_gap_s >= 0.0 && c.merge_gap_s <= 5.0)) bad("merge_gap_s", c.merge_gap_s, "0..5 seconds");
  if (!(c.noise_adapt_s >= 0.1 && c.noise_adapt_s <= 600.0)) bad("noise_adapt_s", c.noise_adapt_s, "0.1..600 seconds");
  if (!(c.min_confidence >= 0.0 && c.min_confidence <= 1.0)) bad("min_confidence", c.min_confidence, "0..1");
}

// Only the bins up to just above the band are smoothed and given a floor: nothing
// above it is looked at (at 48 kHz that halves the work).
static int bins_used(double rate, const DetectorConfig& c) {
  const int n = fft_size_for(rate, c.frame_s);
  const int bins = n / 2 + 1;
  return std::min(bins, band_of(c, bins, rate / n).hi_bin + 2);
}

SpectrumLayout detector_spectrum_layout(double rate, const DetectorConfig& c) {
  return half_overlapping_layout(rate, c.frame_s);
}

struct Detector::State {
  State(double rate, const DetectorConfig& c)
      : config(c),
        stft(detector_spectrum_layout(rate, c)),
        used(bins_used(rate, c)),
        smoother(used),
        floor(used, stft.frame_rate_hz(), c.noise_adapt_s),
        events(c, stft.bins(), stft.bin_hz(), stft.frame_rate_hz(), stft.time_s(0)),
        smoothed(static_cast<std::size_t>(used)),
        floor_before(static_cast<std::size_t>(used)),
        excess(static_cast<std::size_t>(used)) {
    held.reserve(prime_frames * static_cast<std::size_t>(used));
    held_frames.reserve(prime_frames);
  }
  // The first kPrimeSeconds of frames are held back until the noise floor is primed
  // on them (NoiseFloor::prime), then judged in order.
  static constexpr double kPrimeSeconds = 2.0;
  void judge(int64_t frame, std::span<const float> smoothed_frame, std::vector<Sound>& out,
             std::vector<BirdLikenessInputs>* why) {
    floor.process(smoothed_frame, excess, floor_before);
    events.process(FrameView{frame, smoothed_frame, floor_before, excess}, out, why);
  }
  void end_priming(std::vector<Sound>& out, std::vector<BirdLikenessInputs>* why) {
    const std::size_t n = static_cast<std::size_t>(used);
    std::vector<float> column;
    floor.prime(held, held_frames.size(), column);
    for (std::size_t i = 0; i < held_frames.size(); ++i)
      judge(held_frames[i], std::span<const float>(held).subspan(i * n, n), out, why);
    priming = false;
    std::vector<float>().swap(held);
    std::vector<int64_t>().swap(held_frames);
  }
  DetectorConfig config;
  Stft stft;
  int used;
  SpectrumSmoother smoother;
  NoiseFloor floor;
  EventDetector events;
  std::vector<float> smoothed;
  std::vector<float> floor_before;
  std::vector<float> excess;
  bool priming = true;
  std::size_t prime_frames = static_cast<std::size_t>(std::max(1.0, std::round(kPrimeSeconds * stft.frame_rate_hz())));
  std::vector<float> held;          // prime_frames x used smoothed powers
  std::vector<int64_t> held_frames;
  DetectorStats stats;
  SpectrumListener listener;
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

void Detector::process(std::span<const float> samples, std::vector<Sound>& out,
                       std::vector<BirdLikenessInputs>* why) {
  State& s = *state_;
  const int64_t frames_before = s.stft.frames_done();
  s.stft.process(samples, [&](int64_t frame, std::span<const float> power) {
    if (s.listener) s.listener(frame, power);
    s.smoother.process(power.first(static_cast<std::size_t>(s.used)), s.smoothed);
    if (!s.priming) {
      s.judge(frame, s.smoothed, out, why);
      return;
    }
    s.held.insert(s.held.end(), s.smoothed.begin(), s.smoothed.end());
    s.held_frames.push_back(frame);
    if (s.held_frames.size() >= s.prime_frames) s.end_priming(out, why);
  });
  if (s.stft.frames_done() == frames_before || s.priming) return;
  // In-band level and floor of the latest frame, for metrics: once per call, as only the
  // latest is read. The Hann window spreads a sine over 1.5 bins' worth of power:
  // dividing by 1.5 makes a full-scale sine read 0 dBFS.
  const std::span<const float> power = s.stft.power();
  double level = 0.0, noise = 0.0;
  for (int b = s.events.lo_bin(); b <= s.events.hi_bin(); ++b) {
    level += power[static_cast<std::size_t>(b)];
    noise += s.floor_before[static_cast<std::size_t>(b)];
  }
  s.stats.frames = s.stft.frames_done();
  s.stats.level_dbfs = power_to_db(static_cast<float>(level / 1.5));
  s.stats.noise_floor_dbfs = power_to_db(static_cast<float>(noise / 1.5));
}

void Detector::flush(std::vector<Sound>& out, std::vector<BirdLikenessInputs>* why) {
  if (state_->priming) state_->end_priming(out, why);  // a recording shorter than the priming
  state_->events.flush(out, why);
}

void Detector::listen(SpectrumListener listener) { state_->listener = std::move(listener); }
SpectrumLayout Detector::spectrum_layout() const { return state_->stft.layout(); }

double Detector::sample_rate_hz() const { return state_->stft.sample_rate_hz(); }
const DetectorConfig& Detector::config() const { return state_->config; }
const DetectorStats& Detector::stats() const { return state_->stats; }

}  // namespace birdsong::dsp
