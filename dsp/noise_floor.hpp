// Per-frequency noise floor.
//
// Models the background in each FFT bin as a slowly varying level: rain, traffic,
// insects and wind are sustained, bird sounds come and go. The floor is a running
// quantile of the smoothed power, tracked with fixed steps in dB (stochastic-
// approximation quantile tracking): power above the floor -> the floor rises by
// rise_db, power below -> it falls by 3 x rise_db, so it settles where 3/4 of the
// frames lie above it (the 25th percentile). A quantile ignores what occupies a bin
// less than 3/4 of the time - the notes of a song - and fixed steps bound how fast
// the floor climbs under any sound: rise_db is 10 dB per `adapt_s`, so a 2 s whistle
// moves it by a few dB only.
//
// A sustained sound (rain that starts, a generator, a cicada chorus) keeps a bin above
// the floor without a break, which a song does not: after each adapt_s / 4 of
// unbroken excess the upward step doubles (up to 64x), so such a sound is absorbed
// within a few adapt_s however loud it is, while a bird's notes, with their gaps,
// only ever see the base step.
//
// Everything runs in the linear power domain: a compare and a multiply per bin per
// frame, no logarithms.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace birdsong::dsp {

// Smooths each power spectrum over 3 bins ([1 2 1]/4) and 2 frames. The power of
// noise in one bin and frame is exponentially distributed (std ~5.6 dB), so a floor
// on raw bins either sits far below the noise or lets it through; averaging about 6
// neighbouring cells halves that spread, at the cost of one bin of frequency and half
// a hop of time resolution, both well below the size of a bird's note.
class SpectrumSmoother {
 public:
  explicit SpectrumSmoother(int bins);
  // power and smoothed hold bins values; they must not alias.
  void process(std::span<const float> power, std::span<float> smoothed);

 private:
  std::vector<float> previous_;  // the frequency-smoothed previous frame
  bool primed_ = false;
};

class NoiseFloor {
 public:
  // Throws std::invalid_argument naming the bad parameter.
  NoiseFloor(int bins, double frame_rate_hz, double adapt_s);

  // power: smoothed linear power per bin. Writes, per bin, the ratio of the power to
  // the floor as it stood before this frame (so a sound does not mask its own onset),
  // then updates the floor.
  void process(std::span<const float> power, std::span<float> excess_ratio);
  // The same, and writes the floor as it stood before this frame to floor_before.
  void process(std::span<const float> power, std::span<float> excess_ratio, std::span<float> floor_before);

  // Starts the floor at each bin's kPrimeQuantile of `frames` (rows of bins() smoothed
  // powers): the frames a recording or stream begins with, seen before any is judged.
  // A clip cut around a call starts with the bird, so a floor primed on its first frames
  // sits at the call and outlines nothing for seconds; the quantile is where the
  // tracker would settle anyway. Scratch is `column` (resized as needed).
  void prime(std::span<const float> frames, std::size_t count, std::vector<float>& column);

  // Linear power of the floor per bin.
  std::span<const float> floor() const { return floor_; }

  // The floor never goes below this per-bin power (-110 dBFS): digital silence (the
  // zeros an MP3 decoder starts with, a muted input) would otherwise give any faint
  // sound an unbounded excess. 16-bit quantisation noise lies near -130 dB per bin.
  static constexpr float kMinPower = 1e-11f;
  // A quantile, not the loudest or the first frames: an MP3 decoder fades in over two
  // or three frames, which a quantile over 2 s ignores.
  static constexpr double kPrimeQuantile = 0.25;
  static constexpr int kMaxDoublings = 6;

 private:
  std::vector<float> floor_;
  std::vector<uint16_t> up_run_;  // frames in a row above the floor, per bin
  float rise_[kMaxDoublings + 1] = {};  // step up as a factor, after 0..6 doublings
  float fall_ = 1.0f;
  int doubling_frames_ = 1;
};

// 10*log10 with a floor at -150 dB, so silence stays finite.
float power_to_db(float power);

}  // namespace birdsong::dsp
