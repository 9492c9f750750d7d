// Test signals generated in code, so expectations can be exact.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <random>
#include <vector>

namespace birdsong::test {

// White noise at `rms` (linear), deterministic for a given seed.
inline std::vector<float> noise(double seconds, double rate_hz, double rms, uint32_t seed = 1) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, static_cast<float>(rms));
  std::vector<float> out(static_cast<std::size_t>(seconds * rate_hz));
  for (float& s : out) s = dist(rng);
  return out;
}

// Adds a tone of `freq_hz` and `amplitude` from start_s to end_s, with 5 ms ramps.
inline void add_tone(std::vector<float>& x, double rate_hz, double freq_hz, double amplitude, double start_s,
                     double end_s) {
  const auto a = static_cast<std::size_t>(start_s * rate_hz);
  const auto b = std::min(x.size(), static_cast<std::size_t>(end_s * rate_hz));
  const double ramp = 0.005 * rate_hz;
  for (std::size_t i = a; i < b; ++i) {
    const double k = static_cast<double>(i - a);
    const double env = std::min({1.0, k / ramp, static_cast<double>(b - i) / ramp});
    x[i] += static_cast<float>(amplitude * env * std::sin(2.0 * std::numbers::pi * freq_hz * k / rate_hz));
  }
}

// Adds a linear chirp from f0_hz to f1_hz between start_s and end_s.
inline void add_chirp(std::vector<float>& x, double rate_hz, double f0_hz, double f1_hz, double amplitude,
                      double start_s, double end_s) {
  const auto a = static_cast<std::size_t>(start_s * rate_hz);
  const auto b = std::min(x.size(), static_cast<std::size_t>(end_s * rate_hz));
  const double dur = end_s - start_s;
  const double ramp = 0.005 * rate_hz;
  for (std::size_t i = a; i < b; ++i) {
    const double t = static_cast<double>(i - a) / rate_hz;
    const double phase = 2.0 * std::numbers::pi * (f0_hz * t + 0.5 * (f1_hz - f0_hz) / dur * t * t);
    const double env = std::min({1.0, static_cast<double>(i - a) / ramp, static_cast<double>(b - i) / ramp});
    x[i] += static_cast<float>(amplitude * env * std::sin(phase));
  }
}

// Adds a trill, the commonest shape of a bird song: notes sweeping down from f0_hz to
// f1_hz, each note_s long and followed by gap_s of silence, from start_s until end_s.
inline void add_trill(std::vector<float>& x, double rate_hz, double f0_hz, double f1_hz, double note_s,
                      double gap_s, double amplitude, double start_s, double end_s) {
  for (double t = start_s; t + note_s <= end_s + 1e-9; t += note_s + gap_s)
    add_chirp(x, rate_hz, f0_hz, f1_hz, amplitude, t, t + note_s);
}

}  // namespace birdsong::test
