// Log-mel spectrogram: the spectral front end of species classification.
//
// A bird's song is a pattern in time and frequency: whistles, trills, buzzes and
// harmonics. The mel scale spaces bands evenly in pitch, which keeps syllable shapes
// comparable from a 1 kHz owl to an 8 kHz warbler. Everything is defined in seconds
// and hertz, not samples and bins, so a profile learned from 32 kHz recordings
// classifies 24 or 48 kHz audio: only the FFT size and hop (rounded at the sample
// rate) change, and each band reports mean power per FFT bin.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "dsp/stft.hpp"

namespace birdsong::dsp {

struct MelConfig {
  double min_hz = 300.0;    // lowest band edge
  double max_hz = 11000.0;  // highest band edge; audio must be sampled at >= 2 * max_hz
  int bands = 40;
  double frame_s = 0.016;   // FFT length (the next power of two at the sample rate)
  double hop_s = 0.016;     // one frame every hop_s
};

// Throws std::invalid_argument naming the first bad field.
void validate(const MelConfig& config);

// The FFT size for frames of at least frame_s: the next power of two.
int fft_size_at(double sample_rate_hz, double frame_s);

class MelSpectrogram {
 public:
  // Throws std::invalid_argument naming the bad parameter (also when max_hz is above
  // the Nyquist frequency of sample_rate_hz).
  MelSpectrogram(double sample_rate_hz, const MelConfig& config);

  // Feeds samples; calls on_frame(frame_index, band_db, peak_hz) for every frame they
  // complete. band_db holds bands() levels in dB re full scale (valid during the call);
  // peak_hz is the frequency of the loudest FFT bin between min_hz and max_hz.
  template <class OnFrame>
  void process(std::span<const float> samples, OnFrame&& on_frame) {
    stft_.process(samples, [&](int64_t frame, std::span<const float> power) {
      float peak_hz = 0.0f;
      to_bands(power, peak_hz);
      on_frame(frame, std::span<const float>(band_db_), peak_hz);
    });
  }

  const MelConfig& config() const { return config_; }
  int bands() const { return config_.bands; }
  double frame_rate_hz() const { return stft_.frame_rate_hz(); }
  // Centre of frame `frame_index`, in seconds from the first sample (see Stft).
  double time_s(int64_t frame_index) const { return stft_.time_s(frame_index); }
  // Centre frequency of each band, in Hz.
  const std::vector<double>& band_centre_hz() const { return centre_hz_; }

 private:
  void to_bands(std::span<const float> power, float& peak_hz);

  struct Weight {
    int bin;
    float w;
  };
  MelConfig config_;
  Stft stft_;
  int lo_bin_ = 0;
  int hi_bin_ = 0;
  std::vector<Weight> weights_;           // sparse triangular filters, band by band
  std::vector<std::size_t> band_first_;   // band b's weights: [band_first_[b], band_first_[b + 1])
  std::vector<double> centre_hz_;
  std::vector<float> band_db_;
};

}  // namespace birdsong::dsp
