#include "dsp/noise_floor.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace birdsong::dsp {

float power_to_db(float power) { return power > 1e-15f ? 10.0f * std::log10(power) : -150.0f; }

SpectrumSmoother::SpectrumSmoother(int bins) {
  if (bins < 3) throw std::invalid_argument("bins: " + std::to_string(bins) + ": expected >= 3");
  previous_.assign(static_cast<std::size_t>(bins), 0.0f);
}

void SpectrumSmoother::process(std::span<const float> power, std::span<float> smoothed) {
  const std::size_t n = previous_.size();
  const float* __restrict p = power.data();
  float* __restrict out = smoothed.data();
  float* __restrict prev = previous_.data();
  // Frequency first, into `out`; mirrored at the edges: DC and Nyquist have one
  // neighbour. The inner loop has no branch, so the compiler can vectorise it.
  out[0] = 0.25f * (p[1] + p[1]) + 0.5f * p[0];
  for (std::size_t b = 1; b + 1 < n; ++b) out[b] = 0.25f * (p[b - 1] + p[b + 1]) + 0.5f * p[b];
  out[n - 1] = 0.25f * (p[n - 2] + p[n - 2]) + 0.5f * p[n - 1];
  // Then time: the mean with the previous frame's frequency-smoothed values.
  if (primed_) {
    for (std::size_t b = 0; b < n; ++b) {
      const float now = out[b];
      out[b] = 0.5f * (now + prev[b]);
      prev[b] = now;
    }
  } else {
    std::copy_n(out, n, prev);
  }
  primed_ = true;
}

NoiseFloor::NoiseFloor(int bins, double frame_rate_hz, double adapt_s) {
  if (bins < 1) throw std::invalid_argument("bins: " + std::to_string(bins) + ": expected >= 1");
  if (!(frame_rate_hz > 0.0))
    throw std::invalid_argument("frame_rate_hz: " + std::to_string(frame_rate_hz) + ": expected > 0");
  if (!(adapt_s > 0.0))
    throw std::invalid_argument("noise_adapt_s: " + std::to_string(adapt_s) + ": expected > 0");
  floor_.assign(static_cast<std::size_t>(bins), kMinPower);
  up_run_.assign(static_cast<std::size_t>(bins), 0);
  const double rise_db = 10.0 / (adapt_s * frame_rate_hz);
  for (int k = 0; k <= kMaxDoublings; ++k)
    rise_[k] = static_cast<float>(std::pow(10.0, std::ldexp(rise_db, k) / 10.0));
  fall_ = static_cast<float>(std::pow(10.0, -3.0 * rise_db / 10.0));
  doubling_frames_ = std::max(1, static_cast<int>(std::lround(adapt_s / 4.0 * frame_rate_hz)));
}

void NoiseFloor::prime(std::span<const float> frames, std::size_t count, std::vector<float>& column) {
  const std::size_t n = floor_.size();
  if (count == 0 || frames.size() < count * n) return;
  column.resize(count);
  const auto k = static_cast<std::size_t>(kPrimeQuantile * static_cast<double>(count - 1) + 0.5);
  for (std::size_t b = 0; b < n; ++b) {
    for (std::size_t i = 0; i < count; ++i) column[i] = frames[i * n + b];
    std::nth_element(column.begin(), column.begin() + static_cast<std::ptrdiff_t>(k), column.end());
    floor_[b] = std::max(column[k], kMinPower);
  }
}

void NoiseFloor::process(std::span<const float> power, std::span<float> excess_ratio) {
  process(power, excess_ratio, {});
}

void NoiseFloor::process(std::span<const float> power, std::span<float> excess_ratio, std::span<float> floor_before) {
  float* before = floor_before.empty() ? nullptr : floor_before.data();
  const std::size_t n = floor_.size();
  float* floor = floor_.data();
  uint16_t* run = up_run_.data();
  for (std::size_t b = 0; b < n; ++b) {
    float f = floor[b];
    if (before != nullptr) before[b] = f;
    const float p = power[b];
    // A bin still at the minimum has seen only silence: it takes its first real power
    // as the floor instead of climbing to it.
    if (f <= kMinPower) f = std::max(p, kMinPower);
    excess_ratio[b] = p / f;
    // Written without branches: whether a noise bin is above its floor is a coin toss.
    const bool up = p > f;
    const int r = up ? std::min(run[b] + 1, static_cast<int>(UINT16_MAX)) : 0;
    run[b] = static_cast<uint16_t>(r);
    const int doublings = r < doubling_frames_ ? 0 : std::min(r / doubling_frames_, kMaxDoublings);
    f = std::max(f * (up ? rise_[doublings] : fall_), kMinPower);
    floor[b] = f;
  }
}

}  // namespace birdsong::dsp
