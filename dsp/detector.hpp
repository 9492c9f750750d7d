// The detection pipeline, read left to right:
//   samples -> Stft (frames, power spectra) -> SpectrumSmoother -> NoiseFloor (excess)
//           -> SyllableTracker (runs -> syllables) -> EventDetector (syllables -> sounds)
//           -> bird_likeness (confidence) -> Sound
// One object per audio stream. process() keeps all state between calls, so feeding
// a recording in one chunk or in many gives the same sounds.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "dsp/bird_likeness.hpp"
#include "dsp/stft.hpp"

namespace birdsong::dsp {

struct DetectorConfig {
  double min_hz = 1000.0;          // band searched for bird sounds (clamped to 0.95 x Nyquist)
  double max_hz = 12000.0;
  double frame_s = kDefaultFrame_s;         // analysis frame length (rounded to a power-of-two FFT)
  double threshold_db = 15.0;      // excess over the noise floor that outlines a sound
  double min_snr_db = 30.0;        // a syllable must peak this far above the floor to count
  double min_duration_s = 0.04;    // shorter blips are not sounds
  double max_duration_s = 15.0;    // a sound this long is closed and reported
  double merge_gap_s = 0.16;       // silences shorter than this join syllables into one sound
  double noise_adapt_s = 4.0;      // how fast the noise floor follows sustained sound
  double min_confidence = 0.5;     // sounds less bird-like than this are not reported
};

// Throws std::invalid_argument("<key>: <value>: expected ...") for the first bad field.
void validate(const DetectorConfig& config);

// One detected sound. Times are seconds from the first sample fed to the detector.
struct Sound {
  double start_s = 0.0;
  double end_s = 0.0;
  double low_hz = 0.0;
  double high_hz = 0.0;
  double peak_hz = 0.0;
  double snr_db = 0.0;      // peak excess over the noise floor
  double confidence = 0.0;  // 0..1, how bird-like the sound is
};

// Running figures about the audio, for metrics (not per-sound).
struct DetectorStats {
  int64_t frames = 0;
  double level_dbfs = -120.0;        // in-band level of the latest frame
  double noise_floor_dbfs = -120.0;  // in-band noise floor of the latest frame
};

// The spectra the detector computes at this rate: Hann frames of about frame_s (a power
// of two), half-overlapping. The species classifier reads the same spectra.
SpectrumLayout detector_spectrum_layout(double sample_rate_hz, const DetectorConfig& config);

// Called with each power spectrum the detector computes (frame index, power; valid
// during the call), before the detector judges it.
using SpectrumListener = std::function<void(int64_t frame, std::span<const float> power)>;

class EventDetector;
class NoiseFloor;

class Detector {
 public:
  // Throws std::invalid_argument naming the bad parameter.
  Detector(double sample_rate_hz, const DetectorConfig& config);
  ~Detector();
  Detector(Detector&&) noexcept;
  Detector& operator=(Detector&&) noexcept;

  // Feeds samples (mono, -1..1). Sounds that have ended are appended to `out`; when
  // `why` is given, what each one's confidence was computed from is appended to it,
  // in the same order (for tuning and debugging).
  void process(std::span<const float> samples, std::vector<Sound>& out,
               std::vector<BirdLikenessInputs>* why = nullptr);
  // End of the stream: closes and reports any sound still open.
  void flush(std::vector<Sound>& out, std::vector<BirdLikenessInputs>* why = nullptr);

  // The species classifier listens here: one FFT per frame serves both (the FFT is
  // most of the detector's cost). One listener: another call replaces it.
  void listen(SpectrumListener listener);
  SpectrumLayout spectrum_layout() const;

  double sample_rate_hz() const;
  const DetectorConfig& config() const;
  const DetectorStats& stats() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace birdsong::dsp
