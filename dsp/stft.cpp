#include "dsp/stft.hpp"

#include <kiss_fftr.h>

#include <cmath>
#include <numbers>
#include <stdexcept>
#include <string>

namespace birdsong::dsp {

int fft_size_for(double sample_rate_hz, double target_frame_s) {
  const double want = sample_rate_hz * target_frame_s;
  int n = 16;
  while (n < 65536 && std::abs(n * 2 - want) < std::abs(n - want)) n *= 2;
  return n;
}

Stft::Stft(double sample_rate_hz, int fft_size, int hop_samples)
    : sample_rate_hz_(sample_rate_hz), fft_size_(fft_size), hop_samples_(hop_samples) {
  if (!(sample_rate_hz > 0.0) || !std::isfinite(sample_rate_hz))
    throw std::invalid_argument("sample_rate_hz: " + std::to_string(sample_rate_hz) +
                                ": expected a positive rate");
  if (fft_size < 16 || fft_size % 2 != 0)
    throw std::invalid_argument("fft_size: " + std::to_string(fft_size) +
                                ": expected an even number >= 16");
  if (hop_samples < 1 || hop_samples > fft_size)
    throw std::invalid_argument("hop_samples: " + std::to_string(hop_samples) +
                                ": expected 1.." + std::to_string(fft_size));
  cfg_ = kiss_fftr_alloc(fft_size, 0, nullptr, nullptr);
  if (cfg_ == nullptr) throw std::invalid_argument("fft_size: KissFFT cannot plan this size");
  window_.resize(static_cast<std::size_t>(fft_size));
  double window_sum = 0.0;
  for (int i = 0; i < fft_size; ++i) {
    // Periodic Hann: overlap-adds to a constant at 50% and 75% overlap.
    const double w = 0.5 - 0.5 * std::cos(2.0 * std::numbers::pi * i / fft_size);
    window_[static_cast<std::size_t>(i)] = static_cast<float>(w);
    window_sum += w;
  }
  // A sine of amplitude 1 gives |X| = window_sum / 2 in its bin: normalise that to 1.
  scale_ = static_cast<float>(2.0 / window_sum);
  buffer_.assign(static_cast<std::size_t>(fft_size), 0.0f);
  windowed_.assign(static_cast<std::size_t>(fft_size), 0.0f);
  spectrum_.assign(static_cast<std::size_t>(bins()) * 2, 0.0f);
  power_.assign(static_cast<std::size_t>(bins()), 0.0f);
}

Stft::~Stft() { kiss_fftr_free(cfg_); }

void Stft::transform() {
  // Plain loops over restrict pointers: the compiler vectorises both.
  const std::size_t n = buffer_.size(), bins = power_.size();
  const float* __restrict x = buffer_.data();
  const float* __restrict w = window_.data();
  float* __restrict xw = windowed_.data();
  for (std::size_t i = 0; i < n; ++i) xw[i] = x[i] * w[i];
  kiss_fftr(cfg_, windowed_.data(), reinterpret_cast<kiss_fft_cpx*>(spectrum_.data()));
  const float* __restrict ri = spectrum_.data();  // interleaved re, im
  float* __restrict p = power_.data();
  const float scale = scale_;
  for (std::size_t b = 0; b < bins; ++b) {
    const float re = ri[2 * b] * scale;
    const float im = ri[2 * b + 1] * scale;
    p[b] = re * re + im * im;
  }
}

}  // namespace birdsong::dsp
