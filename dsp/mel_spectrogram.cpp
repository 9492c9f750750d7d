#include "dsp/mel_spectrogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "dsp/max_of.hpp"

namespace birdsong::dsp {

namespace {
[[noreturn]] void bad(const char* key, double value, const std::string& expected) {
  throw std::invalid_argument(std::string(key) + ": " + std::to_string(value) + ": expected " + expected);
}
double hz_to_mel(double hz) { return 2595.0 * std::log10(1.0 + hz / 700.0); }
double mel_to_hz(double mel) { return 700.0 * (std::pow(10.0, mel / 2595.0) - 1.0); }

// 10 log10(x) for x > 0 to within 0.004 dB: exponent from the float's bits (as frexp
// gives it), mantissa by a cubic in (m - 1) on [1, 2). std::log10 was a fifth of the
// classifier's time on a Pi-class budget, and frexp was a call.
float fast_db(float x) {
  const auto bits = std::bit_cast<uint32_t>(x);
  const auto biased = static_cast<int>((bits >> 23) & 0xffu);
  if (biased == 0 || biased == 0xff) return 10.0f * std::log10(x);  // subnormal, infinite, NaN
  const float m = std::bit_cast<float>((bits & 0x7fffffu) | 0x3f800000u);  // in [1, 2)
  const float t = m - 1.0f;
  const float log2m = t * (1.4234932f + t * (-0.5877653f + t * 0.1655864f));
  return 3.0103f * (static_cast<float>(biased - 127) + log2m);
}

}  // namespace

void validate(const MelConfig& c) {
  if (!(c.min_hz >= 0.0)) bad("min_hz", c.min_hz, "a frequency >= 0");
  if (!(c.max_hz > c.min_hz)) bad("max_hz", c.max_hz, "a frequency above min_hz");
  if (!(c.bands >= 2 && c.bands <= 256)) bad("bands", c.bands, "2..256");
  if (!(c.frame_s >= 0.002 && c.frame_s <= 0.1)) bad("frame_s", c.frame_s, "0.002..0.1 seconds");
  if (!(c.hop_s > 0.0 && c.hop_s <= 0.1)) bad("hop_s", c.hop_s, "more than 0, up to 0.1 seconds");
}

namespace {
// Checks before anything is built from them, so a bad value is reported by its name.
const SpectrumLayout& checked(const SpectrumLayout& spectra, const MelConfig& c) {
  validate(c);
  const double rate_hz = spectra.sample_rate_hz;
  if (!(rate_hz >= 8000.0 && rate_hz <= 384000.0)) bad("sample_rate_hz", rate_hz, "8000..384000");
  if (c.max_hz > rate_hz / 2.0)
    bad("max_hz", c.max_hz,
        "at most the Nyquist frequency " + std::to_string(rate_hz / 2.0) + " (these profiles need audio sampled at >= " +
            std::to_string(2.0 * c.max_hz) + " Hz)");
  const SpectrumLayout learned = half_overlapping_layout(rate_hz, c.frame_s);
  if (spectra.fft_size != learned.fft_size || spectra.hop_samples != learned.hop_samples)
    bad("frame_s", c.frame_s,
        "the detector's frame_s: its spectra are " + std::to_string(spectra.fft_size) + "-sample frames at " +
            std::to_string(static_cast<int>(rate_hz)) + " Hz, these profiles were learned from " +
            std::to_string(learned.fft_size) + "-sample ones (learn them again with this [detector] frame_s)");
  if (c.hop_s * rate_hz < spectra.hop_samples)
    bad("hop_s", c.hop_s, "at least the spectra's hop, " + std::to_string(spectra.hop_samples / rate_hz) + " seconds");
  return spectra;
}
}  // namespace

MelSpectrogram::MelSpectrogram(const SpectrumLayout& spectra, const MelConfig& config)
    : config_(config), spectra_(checked(spectra, config)) {
  const int fft_size = spectra_.fft_size;
  const double bin_hz = spectra_.bin_hz();
  lo_bin_ = std::max(1, static_cast<int>(std::floor(config.min_hz / bin_hz)));
  hi_bin_ = std::min(fft_size / 2, static_cast<int>(std::ceil(config.max_hz / bin_hz)));

  // Triangular filters with edges evenly spaced in mel. A filter narrower than a bin
  // (low bands at small FFT sizes) still gets the bin nearest its centre, so no band
  // is ever empty.
  const double m0 = hz_to_mel(config.min_hz), m1 = hz_to_mel(config.max_hz);
  std::vector<double> edge_hz(static_cast<std::size_t>(config.bands) + 2);
  for (std::size_t i = 0; i < edge_hz.size(); ++i)
    edge_hz[i] = mel_to_hz(m0 + (m1 - m0) * static_cast<double>(i) / static_cast<double>(config.bands + 1));
  for (int b = 0; b < config.bands; ++b) {
    const double lo = edge_hz[b], mid = edge_hz[b + 1], hi = edge_hz[b + 2];
    centre_hz_.push_back(mid);
    double total = 0.0;
    const std::size_t first = weights_.size();
    band_first_.push_back(first);
    for (int k = lo_bin_; k <= hi_bin_; ++k) {
      const double f = k * bin_hz;
      double w = 0.0;
      if (f > lo && f <= mid) w = (f - lo) / (mid - lo);
      else if (f > mid && f < hi) w = (hi - f) / (hi - mid);
      if (w > 0.0) {
        weights_.push_back({k, static_cast<float>(w)});
        total += w;
      }
    }
    if (total == 0.0) {
      weights_.push_back({std::clamp(static_cast<int>(std::lround(mid / bin_hz)), 1, fft_size / 2), 1.0f});
      total = 1.0;
    }
    // Mean power per bin: band levels do not depend on the FFT size (the sample rate).
    for (std::size_t i = first; i < weights_.size(); ++i) weights_[i].w = static_cast<float>(weights_[i].w / total);
  }
  band_first_.push_back(weights_.size());
  band_db_.assign(static_cast<std::size_t>(config.bands), 0.0f);
  sum_.assign(static_cast<std::size_t>(spectra_.bins()), 0.0f);
}

void MelSpectrogram::to_bands(float& peak_hz) {
  const float mean = 1.0f / static_cast<float>(count_);
  for (float& p : sum_) p *= mean;
  const std::span<const float> power(sum_);
  // Band by band with the sum in a register (it was a loop-carried load through memory).
  for (std::size_t b = 0; b + 1 < band_first_.size(); ++b) {
    float sum = 0.0f;
    for (std::size_t i = band_first_[b]; i < band_first_[b + 1]; ++i) sum += weights_[i].w * power[weights_[i].bin];
    band_db_[b] = fast_db(sum + 1e-12f);
  }
  // The peak is the first bin holding the largest power. The detector's bins are wide
  // (125 Hz at 32 kHz), so the peak is placed between bins by the parabola through the
  // dB levels of the bin and its two neighbours.
  const float best = max_of(&power[static_cast<std::size_t>(lo_bin_)], static_cast<std::size_t>(hi_bin_ - lo_bin_ + 1));
  int peak = lo_bin_;
  while (peak < hi_bin_ && !(power[static_cast<std::size_t>(peak)] >= best)) ++peak;
  double offset = 0.0;
  if (peak > lo_bin_ && peak < hi_bin_) {
    const double a = fast_db(power[static_cast<std::size_t>(peak - 1)] + 1e-12f), b = fast_db(best + 1e-12f),
                 c = fast_db(power[static_cast<std::size_t>(peak + 1)] + 1e-12f);
    const double curvature = a - 2.0 * b + c;
    if (curvature < 0.0) offset = std::clamp(0.5 * (a - c) / curvature, -0.5, 0.5);
  }
  peak_hz = static_cast<float>((peak + offset) * spectra_.bin_hz());
  std::fill(sum_.begin(), sum_.end(), 0.0f);
  count_ = 0;
}

}  // namespace birdsong::dsp
