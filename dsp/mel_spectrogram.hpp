// Log-mel spectrogram: the spectral front end of species classification.
//
// A bird's song is a pattern in time and frequency: whistles, trills, buzzes and
// harmonics. The mel scale spaces bands evenly in pitch, which keeps syllable shapes
// comparable from a 1 kHz owl to an 8 kHz warbler. The mel is made from the detector's
// own power spectra (dsp/detector.hpp), so one FFT per frame serves detection and
// classification: a mel frame is the mean power of the spectra centred in its hop_s.
// Everything is defined in seconds and hertz, not samples and bins, so a profile learned
// from 32 kHz recordings classifies 24 or 48 kHz audio, and each band reports mean power
// per FFT bin.
#pragma once

#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "dsp/stft.hpp"

namespace birdsong::dsp {

struct MelConfig {
  double min_hz = 300.0;    // lowest band edge
  double max_hz = 11000.0;  // highest band edge; audio must be sampled at >= 2 * max_hz
  int bands = 40;
  double frame_s = kDefaultFrame_s;  // the spectra's frames: the detector's frame_s, checked against them
  double hop_s = 0.016;     // one mel frame every hop_s
};

// Throws std::invalid_argument naming the first bad field.
void validate(const MelConfig& config);

class MelSpectrogram {
 public:
  // Reads spectra laid out as `spectra` (the detector's: detector_spectrum_layout).
  // Throws std::invalid_argument naming the bad parameter: also when max_hz is above the
  // Nyquist frequency, or when the spectra are not those of frames of config.frame_s
  // (profiles learned with another [detector] frame_s).
  MelSpectrogram(const SpectrumLayout& spectra, const MelConfig& config);

  // Feeds the power spectrum of frame `spectrum` (spectra come in order). Each time the
  // spectra of a mel frame are complete (the first of the next arrives), calls
  // on_frame(frame_index, band_db, peak_hz): band_db holds bands() levels in dB re full
  // scale (valid during the call); peak_hz is the frequency of the loudest bin between
  // min_hz and max_hz, refined between bins by a parabola through its neighbours.
  template <class OnFrame>
  void add_spectrum(int64_t spectrum, std::span<const float> power, OnFrame&& on_frame) {
    const auto k = static_cast<int64_t>(std::floor(spectra_.time_s(spectrum) / config_.hop_s));
    if (k != frame_ && count_ > 0) {
      float peak_hz = 0.0f;
      to_bands(peak_hz);
      on_frame(frame_, std::span<const float>(band_db_), peak_hz);
    }
    frame_ = k;
    float* __restrict sum = sum_.data();
    const float* __restrict p = power.data();
    for (std::size_t i = 0, n = sum_.size(); i < n; ++i) sum[i] += p[i];
    ++count_;
  }

  const MelConfig& config() const { return config_; }
  int bands() const { return config_.bands; }
  double frame_rate_hz() const { return 1.0 / config_.hop_s; }
  // Centre of mel frame `frame_index`, in seconds from the first sample.
  double time_s(int64_t frame_index) const { return (static_cast<double>(frame_index) + 0.5) * config_.hop_s; }
  // Centre frequency of each band, in Hz.
  const std::vector<double>& band_centre_hz() const { return centre_hz_; }

 private:
  // The mean of the spectra summed so far, to bands; starts the next sum.
  void to_bands(float& peak_hz);

  struct Weight {
    int bin;
    float w;
  };
  MelConfig config_;
  SpectrumLayout spectra_;
  int lo_bin_ = 0;
  int hi_bin_ = 0;
  std::vector<Weight> weights_;           // sparse triangular filters, band by band
  std::vector<std::size_t> band_first_;   // band b's weights: [band_first_[b], band_first_[b + 1])
  std::vector<double> centre_hz_;
  std::vector<float> band_db_;
  std::vector<float> sum_;  // power of the spectra of the current mel frame, summed
  int count_ = 0;           // ... how many
  int64_t frame_ = -1;      // the current mel frame
};

}  // namespace birdsong::dsp
