// Per-frequency noise floor.
//
// Models the background as a slowly varying level in each FFT bin: rain, traffic,
// insects and wind are sustained, bird sounds come and go. The floor falls quickly
// when a bin gets quieter and rises slowly (time constant `adapt_s`) under sustained
// sound, so a passing song barely moves it while a lasting noise is absorbed.
#pragma once

#include <span>
#include <vector>

namespace birdsong::dsp {

class NoiseFloor {
 public:
  // Throws std::invalid_argument naming the bad parameter.
  NoiseFloor(int bins, double frame_rate_hz, double adapt_s);

  // power: linear power per bin. Writes the excess over the floor, in dB, per bin.
  void process(std::span<const float> power, std::span<float> excess_db);

  std::span<const float> floor_db() const { return floor_db_; }

 private:
  std::vector<float> floor_db_;
  float rise_ = 0.0f;
  float fall_ = 0.0f;
  bool primed_ = false;
};

// 10*log10 with a floor at -150 dB, so silence stays finite.
float power_to_db(float power);

}  // namespace birdsong::dsp
