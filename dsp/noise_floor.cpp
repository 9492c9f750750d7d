#include "dsp/noise_floor.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

namespace birdsong::dsp {

float power_to_db(float power) { return power > 1e-15f ? 10.0f * std::log10(power) : -150.0f; }

NoiseFloor::NoiseFloor(int bins, double frame_rate_hz, double adapt_s) {
  if (bins < 1) throw std::invalid_argument("bins: " + std::to_string(bins) + ": expected >= 1");
  if (!(frame_rate_hz > 0.0))
    throw std::invalid_argument("frame_rate_hz: " + std::to_string(frame_rate_hz) + ": expected > 0");
  if (!(adapt_s > 0.0))
    throw std::invalid_argument("noise_adapt_s: " + std::to_string(adapt_s) + ": expected > 0");
  floor_db_.assign(static_cast<std::size_t>(bins), -150.0f);
  rise_ = static_cast<float>(1.0 - std::exp(-1.0 / (adapt_s * frame_rate_hz)));
  fall_ = static_cast<float>(1.0 - std::exp(-1.0 / (0.1 * frame_rate_hz)));
}

void NoiseFloor::process(std::span<const float> power, std::span<float> excess_db) {
  for (std::size_t b = 0; b < floor_db_.size(); ++b) {
    const float db = power_to_db(power[b]);
    float& f = floor_db_[b];
    if (!primed_) f = db;
    f += (db < f ? fall_ : rise_) * (db - f);
    excess_db[b] = db - f;
  }
  primed_ = true;
}

}  // namespace birdsong::dsp
