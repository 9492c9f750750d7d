// Species features and model on generated signals: exact expectations.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "dsp/detector.hpp"
#include "dsp/mel_spectrogram.hpp"
#include "dsp/species_classifier.hpp"
#include "dsp/species_features.hpp"
#include "dsp/species_model.hpp"
#include "tests/signals.hpp"

using namespace birdsong;

namespace {

// The spectra the detector computes at this rate (default settings): what the species
// front end reads.
dsp::SpectrumLayout spectra_at(double rate_hz) { return dsp::detector_spectrum_layout(rate_hz, dsp::DetectorConfig{}); }
// Feeds the detector's spectra of x to history.add_spectrum, as Detector::listen does.
void feed(dsp::SoundHistory& history, dsp::Stft& stft, std::span<const float> x) {
  stft.process(x, [&](int64_t frame, std::span<const float> power) { history.add_spectrum(frame, power); });
}

// Log-mel frames of a whole signal.
struct Frames {
  std::vector<float> db, peak;
  double rate = 0.0;
  int bands = 0;
};
Frames mel_frames(const std::vector<float>& x, double rate_hz) {
  dsp::MelSpectrogram mel(spectra_at(rate_hz), dsp::MelConfig{});
  dsp::Stft stft(spectra_at(rate_hz));
  Frames f;
  f.rate = mel.frame_rate_hz();
  f.bands = mel.bands();
  stft.process(x, [&](int64_t spectrum, std::span<const float> power) {
    mel.add_spectrum(spectrum, power, [&](int64_t, std::span<const float> db, float peak_hz) {
      f.db.insert(f.db.end(), db.begin(), db.end());
      f.peak.push_back(peak_hz);
    });
  });
  return f;
}

// Features of the sound between start_s and end_s, as the classifier computes them.
std::vector<float> features_of(const std::vector<float>& x, double rate_hz, double start_s, double end_s) {
  dsp::SoundHistory history(spectra_at(rate_hz), dsp::SpeciesFeatureSetup{});
  dsp::Stft stft(spectra_at(rate_hz));
  feed(history, stft, x);
  return history.pool(start_s, end_s).vector();
}

constexpr int kBands = 40;
int pitch_offset() { return 4 * kBands; }
int scalar_offset() { return dsp::FeaturePool::size(kBands) - dsp::FeaturePool::kScalars; }
// The pitch histogram bin holding `hz` (octave-spaced bins over 300..11000 Hz).
int pitch_bin(double hz) {
  return static_cast<int>(std::floor((std::log2(hz) - std::log2(300.0)) / (std::log2(11000.0) - std::log2(300.0)) *
                                     dsp::FeaturePool::kPitchBins));
}

}  // namespace

TEST_CASE("mel spectrogram: a 3 kHz tone peaks in the band around 3 kHz at any sample rate") {
  for (double rate : {24000.0, 32000.0, 48000.0}) {
    auto x = test::noise(1.0, rate, 0.0005);
    test::add_tone(x, rate, 3000.0, 0.3, 0.0, 1.0);
    const Frames f = mel_frames(x, rate);
    REQUIRE(f.peak.size() > 20);
    const std::size_t mid = f.peak.size() / 2;
    // The detector's bins are 94-125 Hz wide: the parabola places the peak within a tenth of one.
    CHECK(std::abs(f.peak[mid] - 3000.0) <= 0.1 * spectra_at(rate).bin_hz());
    dsp::MelSpectrogram mel(spectra_at(rate), dsp::MelConfig{});
    const auto& centres = mel.band_centre_hz();
    const float* row = &f.db[mid * static_cast<std::size_t>(f.bands)];
    const auto loudest = static_cast<std::size_t>(std::max_element(row, row + f.bands) - row);
    // the loudest band is the one whose centre is nearest 3 kHz
    std::size_t nearest = 0;
    for (std::size_t b = 1; b < centres.size(); ++b)
      if (std::abs(centres[b] - 3000.0) < std::abs(centres[nearest] - 3000.0)) nearest = b;
    CHECK(loudest == nearest);
    CHECK(f.rate == doctest::Approx(1.0 / 0.016).epsilon(0.01));  // hop in seconds, not samples
  }
}

TEST_CASE("mel spectrogram: refuses audio sampled too low for its band, and spectra of another frame length") {
  CHECK_THROWS_WITH_AS(dsp::MelSpectrogram(spectra_at(16000.0), dsp::MelConfig{}),
                       doctest::Contains("max_hz: 11000.000000: expected at most the Nyquist frequency 8000"),
                       std::invalid_argument);
  dsp::MelConfig bad;
  bad.bands = 1;
  CHECK_THROWS_WITH_AS(dsp::MelSpectrogram(spectra_at(32000.0), bad), "bands: 1.000000: expected 2..256",
                       std::invalid_argument);
  // Profiles learned with the default [detector] frame_s, a detector with 21 ms frames.
  dsp::DetectorConfig longer;
  longer.frame_s = 0.0213;
  CHECK_THROWS_WITH_AS(dsp::MelSpectrogram(dsp::detector_spectrum_layout(32000.0, longer), dsp::MelConfig{}),
                       "frame_s: 0.010700: expected the detector's frame_s: its spectra are 512-sample frames at "
                       "32000 Hz, these profiles were learned from 256-sample ones (learn them again with this "
                       "[detector] frame_s)",
                       std::invalid_argument);
}

TEST_CASE("species features: a steady 3 kHz whistle is one pitch, no movement, one syllable") {
  const double rate = 32000.0;
  auto x = test::noise(3.0, rate, 0.0005);
  test::add_tone(x, rate, 3000.0, 0.3, 1.0, 1.5);
  const auto v = features_of(x, rate, 0.9, 1.6);
  REQUIRE(v.size() == static_cast<std::size_t>(dsp::FeaturePool::size(kBands)));
  CHECK(v[static_cast<std::size_t>(pitch_offset() + pitch_bin(3000.0))] > 0.95f);
  const int moves = pitch_offset() + dsp::FeaturePool::kPitchBins;
  CHECK(v[static_cast<std::size_t>(moves + dsp::FeaturePool::kPitchMoveBins / 2)] > 0.95f);  // no movement
  const auto s = static_cast<std::size_t>(scalar_offset());
  CHECK(std::pow(2.0f, v[s + 1]) == doctest::Approx(3000.0).epsilon(0.03));  // mean pitch
  CHECK(v[s + 2] < 0.02f);                                                   // pitch spread, octaves
  CHECK(v[s + 4] == doctest::Approx(1.0 / 0.7).epsilon(0.15));                // 1 syllable in the 0.7 s sound
}

TEST_CASE("species features: pulse rate and sweeps are told apart") {
  const double rate = 32000.0;
  auto pulses = test::noise(4.0, rate, 0.0005);
  for (int i = 0; i < 20; ++i) test::add_tone(pulses, rate, 4000.0, 0.3, 1.0 + i * 0.1, 1.0 + i * 0.1 + 0.05);
  const auto p = features_of(pulses, rate, 1.0, 3.0);
  const auto s = static_cast<std::size_t>(scalar_offset());
  CHECK(p[s + 4] == doctest::Approx(10.0).epsilon(0.1));  // 10 pulses per second

  auto sweeps = test::noise(4.0, rate, 0.0005);
  test::add_chirp(sweeps, rate, 2000.0, 8000.0, 0.3, 1.0, 1.4);
  const auto w = features_of(sweeps, rate, 0.95, 1.45);
  const int moves = pitch_offset() + dsp::FeaturePool::kPitchBins;
  float up = 0.0f, down = 0.0f;
  for (int b = 0; b < dsp::FeaturePool::kPitchMoveBins / 2; ++b) down += w[static_cast<std::size_t>(moves + b)];
  for (int b = dsp::FeaturePool::kPitchMoveBins / 2 + 1; b < dsp::FeaturePool::kPitchMoveBins; ++b)
    up += w[static_cast<std::size_t>(moves + b)];
  CHECK(up > 0.8f);
  CHECK(down < 0.05f);
}

TEST_CASE("species features: pools add up (a bout is the sum of its sounds)") {
  const double rate = 32000.0;
  auto x = test::noise(4.0, rate, 0.0005);
  test::add_tone(x, rate, 3000.0, 0.3, 1.0, 1.3);
  test::add_tone(x, rate, 3000.0, 0.3, 2.0, 2.3);
  dsp::SoundHistory history(spectra_at(rate), dsp::SpeciesFeatureSetup{});
  dsp::Stft stft(spectra_at(rate));
  feed(history, stft, x);
  dsp::FeaturePool a = history.pool(0.95, 1.35), b = history.pool(1.95, 2.35);
  dsp::Bout bout(3.0);
  bout.add(0.95, 1.35, a);
  const auto& both = bout.add(1.95, 2.35, b);
  CHECK(bout.sounds() == 2);
  CHECK(both.active_frames() == a.active_frames() + b.active_frames());
  dsp::Bout apart(0.5);
  apart.add(0.95, 1.35, a);
  CHECK(apart.add(1.95, 2.35, b).active_frames() == b.active_frames());  // 0.6 s gap: a new bout
  CHECK(apart.sounds() == 1);
}

TEST_CASE("species features: the 3x3 smoothing is the mean of the neighbours inside the block") {
  // Three bands, background 0: the sound's frame alone, with one frame of context after
  // it, and with context on both sides. The shape feature is the smoothed level minus
  // the frame's loudest smoothed band.
  const int bands = 3;
  const std::vector<float> background(bands, 0.0f);
  struct Case {
    std::vector<float> db;
    std::size_t begin;
    std::array<double, 3> shape;
  };
  const std::vector<Case> cases = {
      {{10, 20, 40}, 0, {15.0 - 30.0, 70.0 / 3.0 - 30.0, 0.0}},
      {{10, 20, 40, 0, 0, 0}, 0, {7.5 - 15.0, 70.0 / 6.0 - 15.0, 0.0}},
      {{0, 0, 0, 10, 20, 40, 0, 0, 0}, 1, {5.0 - 10.0, 70.0 / 9.0 - 10.0, 0.0}},
  };
  for (const Case& c : cases) {
    const std::vector<float> peak(c.db.size() / bands, 3000.0f);
    dsp::MelBlock block{bands, 62.5, c.db, peak, c.begin, c.begin + 1, {}, {}};
    dsp::FeaturePool pool(bands);
    pool.add(block, background, dsp::SpeciesFeatureConfig{});
    REQUIRE(pool.active_frames() == 1);
    const auto v = pool.vector();
    for (std::size_t b = 0; b < 3; ++b) {
      CHECK(v[b] == doctest::Approx(c.db[c.begin * bands + b]));  // mean excess: the frame itself
      CHECK(v[2 * bands + b] == doctest::Approx(c.shape[b]));
    }
  }
}

TEST_CASE("species features: the history's cached smoothing pools exactly as smoothing the block itself") {
  // SoundHistory smooths each frame once, as it arrives, and reads its rings in place;
  // FeaturePool smooths the frames of a block it is given. Pooled from the history or
  // from the same frames as a block, with the same background, a sound must give the same
  // features: in the middle of the history, across the place where the ring wraps, from
  // the oldest frame held once it has wrapped, and at the newest frame (smoothed with the
  // rows there are). 26 s: the 20 s history has wrapped.
  const double rate = 32000.0;
  auto x = test::noise(26.0, rate, 0.002);
  for (int i = 0; i < 62; ++i) test::add_chirp(x, rate, 2500.0 + 20.0 * i, 4000.0, 0.3, 1.0 + 0.4 * i, 1.2 + 0.4 * i);
  test::add_tone(x, rate, 3500.0, 0.3, 25.7, 26.0);
  const Frames all = mel_frames(x, rate);
  const dsp::SpeciesFeatureSetup setup;
  dsp::SoundHistory history(spectra_at(rate), setup);
  dsp::Stft stft(spectra_at(rate));
  feed(history, stft, x);
  const auto n = static_cast<int64_t>(all.peak.size());
  const int64_t oldest = n - history.frames_held();
  REQUIRE(oldest > 0);
  const auto B = static_cast<std::size_t>(kBands);
  const double t0 = 0.5 / all.rate;
  const double wrap_s = static_cast<double>(history.frames_held()) / all.rate;  // where slot 0 comes round again
  for (const auto& [start_s, end_s] :
       {std::pair{10.0, 12.0}, std::pair{wrap_s - 1.0, wrap_s + 1.0}, std::pair{2.0, 8.0}, std::pair{25.6, 27.0}}) {
    CAPTURE(start_s);
    const dsp::FeaturePool pooled = history.pool(start_s, end_s);
    const auto first = std::max(oldest, static_cast<int64_t>(std::ceil((start_s - t0) * all.rate)));
    const int64_t last = std::min(n - 1, static_cast<int64_t>(std::floor((end_s - t0) * all.rate)));
    const int64_t c0 = std::max<int64_t>(oldest, first - 1), c1 = std::min(n - 1, last + 1);
    const dsp::MelBlock block{kBands,
                              all.rate,
                              std::span<const float>(all.db).subspan(static_cast<std::size_t>(c0) * B,
                                                                     static_cast<std::size_t>(c1 - c0 + 1) * B),
                              std::span<const float>(all.peak).subspan(static_cast<std::size_t>(c0),
                                                                       static_cast<std::size_t>(c1 - c0 + 1)),
                              static_cast<std::size_t>(first - c0),
                              static_cast<std::size_t>(last - c0 + 1),
                              {}, {}};
    dsp::FeaturePool expected(kBands);
    expected.add(block, history.background_db(), setup.features);
    REQUIRE(pooled.active_frames() > 10);
    CHECK(pooled.active_frames() == expected.active_frames());
    const auto got = pooled.vector(), want = expected.vector();
    for (std::size_t i = 0; i < want.size(); ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-4));
  }
}

TEST_CASE("species features: the background is exactly the quantile of the history as the level moves") {
  // Noise whose level jumps up 25 dB at 12 s and back down at 30 s, longer than the
  // 20 s history (the ring wraps): each band's background must be the exact 20 %
  // quantile of the frames held.
  const double rate = 32000.0;
  auto x = test::noise(40.0, rate, 0.0005);
  const auto loud = test::noise(18.0, rate, 0.009, 7);
  for (std::size_t i = 0; i < loud.size(); ++i) x[static_cast<std::size_t>(12.0 * rate) + i] += loud[i];
  for (int s = 1; s < 40; s += 2) test::add_tone(x, rate, 2500.0 + 100.0 * s, 0.3, s + 0.2, s + 0.5);
  const Frames all = mel_frames(x, rate);
  const dsp::SpeciesFeatureSetup setup;
  dsp::SoundHistory history(spectra_at(rate), setup);
  dsp::Stft stft(spectra_at(rate));
  // A second mel fed the same spectra counts the frames computed so far.
  dsp::MelSpectrogram mel(spectra_at(rate), setup.mel);
  std::size_t computed = 0;
  const auto chunk = static_cast<std::size_t>(4.5 * rate);  // more than 4 s: each pool recomputes
  int checked = 0;
  for (std::size_t at = 0; at + chunk <= x.size(); at += chunk) {
    stft.process(std::span<const float>(x).subspan(at, chunk), [&](int64_t frame, std::span<const float> power) {
      history.add_spectrum(frame, power);
      mel.add_spectrum(frame, power, [&](int64_t, std::span<const float>, float) { ++computed; });
    });
    const double now = static_cast<double>(at + chunk) / rate;
    const dsp::FeaturePool pooled = history.pool(now - 1.2, now - 0.2);
    if (pooled.frames() == 0) continue;
    // The frames the history holds: the newest frames_held() of those computed so far.
    const auto held = static_cast<std::size_t>(history.frames_held());
    REQUIRE(held <= computed);
    const std::size_t oldest = computed - held, B = kBands;
    std::vector<float> expected(B), column(held);
    const auto q = static_cast<std::size_t>(setup.background_quantile * static_cast<double>(held - 1));
    for (std::size_t b = 0; b < B; ++b) {
      for (std::size_t k = 0; k < held; ++k) column[k] = all.db[(oldest + k) * B + b];
      std::nth_element(column.begin(), column.begin() + static_cast<std::ptrdiff_t>(q), column.end());
      expected[b] = column[q];
    }
    REQUIRE(history.background_db().size() == B);
    for (std::size_t b = 0; b < B; ++b) CHECK(history.background_db()[b] == expected[b]);
    ++checked;
  }
  CHECK(checked >= 8);
}

TEST_CASE("species model: learns separable classes and calibrates a temperature") {
  // Three classes in 2-D: centres (0,0), (4,0), (0,4), unit spread.
  std::vector<float> x;
  std::vector<int> y;
  std::vector<float> w;
  auto noise = test::noise(1.0, 600.0, 1.0, 7);
  const float cx[3] = {0, 4, 0}, cy[3] = {0, 0, 4};
  for (int i = 0; i < 300; ++i) {
    const int c = i % 3;
    x.push_back(cx[c] + noise[static_cast<std::size_t>(2 * i)]);
    x.push_back(cy[c] + noise[static_cast<std::size_t>(2 * i + 1)]);
    y.push_back(c);
    w.push_back(1.0f);
  }
  const auto m = dsp::SpeciesModel::train(3, 2, x, y, w, dsp::SpeciesTrainingOptions{});
  std::vector<float> p(3);
  const float probes[3][2] = {{0, 0}, {4, 0}, {0, 4}};
  for (int c = 0; c < 3; ++c) {
    m.predict(std::span<const float>(probes[c], 2), p);
    CHECK(std::max_element(p.begin(), p.end()) - p.begin() == c);
    CHECK(p[static_cast<std::size_t>(c)] > 0.7f);
  }
  // Temperature: scores made twice as large need twice the temperature.
  std::vector<float> scores, doubled;
  std::vector<int> truth;
  for (int i = 0; i < 300; ++i) {
    m.scores(std::span<const float>(&x[static_cast<std::size_t>(2 * i)], 2), p);
    for (float s : p) {
      scores.push_back(s);
      doubled.push_back(2.0f * s);
    }
    truth.push_back(y[static_cast<std::size_t>(i)]);
  }
  const double t1 = dsp::SpeciesModel::fit_temperature(3, scores, truth);
  CHECK(t1 > 0.05);
  CHECK(t1 < 50.0);
  CHECK(dsp::SpeciesModel::fit_temperature(3, doubled, truth) == doctest::Approx(2.0 * t1).epsilon(0.01));
  CHECK_THROWS_WITH_AS(dsp::SpeciesModel::train(3, 2, {}, {}, {}, dsp::SpeciesTrainingOptions{}),
                       "no training examples", std::invalid_argument);
}

TEST_CASE("species model: the hidden layer learns classes no straight line separates") {
  // Exclusive or: class 0 where both features have the same sign, class 1 where they
  // differ. No softmax regression gets all four quadrants right; one hidden layer does.
  std::vector<float> x;
  std::vector<int> y;
  std::vector<float> w;
  auto noise = test::noise(1.0, 800.0, 1.0, 11);
  const float sx[4] = {-2, 2, -2, 2}, sy[4] = {-2, 2, 2, -2};
  for (int i = 0; i < 400; ++i) {
    const int q = i % 4;
    x.push_back(sx[q] + 0.5f * noise[static_cast<std::size_t>(2 * i)]);
    x.push_back(sy[q] + 0.5f * noise[static_cast<std::size_t>(2 * i + 1)]);
    y.push_back(q < 2 ? 0 : 1);
    w.push_back(1.0f);
  }
  dsp::SpeciesTrainingOptions hidden;
  hidden.hidden = 16;
  dsp::SpeciesTrainingOptions linear;
  linear.hidden = 0;
  const auto m = dsp::SpeciesModel::train(2, 2, x, y, w, hidden);
  const auto l = dsp::SpeciesModel::train(2, 2, x, y, w, linear);
  CHECK(m.hidden() == 16);
  CHECK(l.hidden() == 0);
  int right_hidden = 0, right_linear = 0;
  std::vector<float> p(2);
  for (int q = 0; q < 4; ++q) {
    const float probe[2] = {sx[q], sy[q]};
    m.predict(probe, p);
    right_hidden += (p[0] > p[1]) == (q < 2);
    CHECK(std::max(p[0], p[1]) > 0.8f);
    l.predict(probe, p);
    right_linear += (p[0] > p[1]) == (q < 2);
  }
  CHECK(right_hidden == 4);
  CHECK(right_linear < 4);
  // The same examples learn the same model (fixed seed for the start and the shuffles).
  CHECK(dsp::SpeciesModel::train(2, 2, x, y, w, hidden).hidden_weights() == m.hidden_weights());
  CHECK_THROWS_WITH_AS(dsp::SpeciesModel(2, {0.0f}, {1.0f}, {1.0f, 2.0f}, {0.0f}, {1.0f, 1.0f}, {0.0f, 0.0f}, 1.0),
                       "model sizes disagree: 1 means, 1 scales, 2 hidden weights for 1 hidden units, 2 weights, "
                       "2 biases for 2 classes",
                       std::invalid_argument);
}

TEST_CASE("species model: a feature far outside what was learned counts as kMaxStandardScore, not more") {
  // Two classes told apart by the first feature only; the second feature is the same
  // noise for both.
  const dsp::SpeciesModel m(2, {0.0f, 0.0f}, {1.0f, 1.0f}, {-1.0f, 0.0f, 1.0f, 0.0f}, {0.0f, 0.0f}, 1.0);
  std::vector<float> at_limit(2), far(2), s(2);
  const float limit[2] = {dsp::kMaxStandardScore, 0.0f}, beyond[2] = {40.0f * dsp::kMaxStandardScore, 0.0f};
  m.predict(limit, at_limit);
  m.predict(beyond, far);
  CHECK(far[1] == doctest::Approx(at_limit[1]));
  m.scores(beyond, s);
  CHECK(s[1] == doctest::Approx(dsp::kMaxStandardScore));
  CHECK(dsp::standard_score(-1e30f, 0.0f, 1.0f) == -dsp::kMaxStandardScore);
  CHECK(dsp::standard_score(3.0f, 1.0f, 2.0f) == doctest::Approx(1.0f));
}

TEST_CASE("species model: the calibration curve maps a probability to the share right at it") {
  // Held-out sounds: at 0.3 right 1 time in 4, at 0.6 right 3 in 4, at 0.9 right 3 in 4
  // (no better than at 0.6: the two pool into one step), 40 of each.
  std::vector<float> top;
  std::vector<uint8_t> right;
  for (const auto& [p, share] : {std::pair{0.3f, 1}, {0.6f, 3}, {0.9f, 3}})
    for (int i = 0; i < 40; ++i) {
      top.push_back(p);
      right.push_back(i % 4 < share ? 1 : 0);
    }
  const std::vector<float> ones(top.size(), 1.0f);
  const auto c = dsp::SpeciesModel::fit_calibration(top, right, ones, 40);
  REQUIRE(c.probability.size() == 2);
  CHECK(c.probability[0] == doctest::Approx(0.3f));
  CHECK(c.right[0] == doctest::Approx(0.25f));
  CHECK(c.probability[1] == doctest::Approx(0.75f));  // the mean of the pooled 0.6 and 0.9
  CHECK(c.right[1] == doctest::Approx(0.75f));
  // A block under min_block joins its neighbour: with 50 per block only one step is left,
  // and one step is no curve.
  CHECK(dsp::SpeciesModel::fit_calibration(top, right, ones, 50).probability.empty());
  CHECK(dsp::SpeciesModel::fit_calibration(std::span(top).first(30), std::span(right).first(30),
                                           std::span(ones).first(30), 40).probability.empty());
  // Weights: the sounds at 0.3 counted four times as much as the rest. Their share is
  // still 1/4; the step above now needs 40 in weight, which the 80 others still make.
  std::vector<float> heavy(ones);
  std::fill_n(heavy.begin(), 40, 4.0f);
  const auto w = dsp::SpeciesModel::fit_calibration(top, right, heavy, 40);
  REQUIRE(w.probability.size() == 2);
  CHECK(w.right[0] == doctest::Approx(0.25f));
  CHECK(w.right[1] == doctest::Approx(0.75f));
  // With a minimum of 100 the light step (80) joins the heavy one: one step, no curve.
  CHECK(dsp::SpeciesModel::fit_calibration(top, right, heavy, 100).probability.empty());

  dsp::SpeciesModel m(2, {0.0f}, {1.0f}, {0.0f, 0.0f}, {0.0f, 0.0f}, 1.0);
  std::vector<float> p(2);
  m.predict(std::vector<float>{0.0f}, p);
  CHECK(p[0] == doctest::Approx(0.5f));  // no curve: the softmax as it is
  m.set_calibration(c);
  CHECK(m.calibrated(0.1f) == doctest::Approx(0.25f));  // flat beyond the ends
  CHECK(m.calibrated(0.95f) == doctest::Approx(0.75f));
  CHECK(m.calibrated(0.525f) == doctest::Approx(0.5f));  // linear between knots
  m.predict(std::vector<float>{0.0f}, p);
  CHECK(p[0] == doctest::Approx(m.calibrated(0.5f) + dsp::kCalibrationOrderSlope * 0.5f));

  // Below the first knot the curve is flat, but the model's order is kept: a class the
  // model prefers is not tied with one listed before it.
  const float b1 = std::log(1.5f), b2 = std::log(7.5f);  // softmax 0.1, 0.15, 0.75
  dsp::SpeciesModel three(3, {0.0f}, {1.0f}, {0.0f, 0.0f, 0.0f}, {0.0f, b1, b2}, 1.0);
  three.set_calibration({{0.5f, 0.9f}, {0.3f, 0.8f}});
  std::vector<float> q(3);
  three.predict(std::vector<float>{0.0f}, q);
  CHECK(three.calibrated(0.1f) == three.calibrated(0.15f));
  CHECK(q[1] > q[0]);
  CHECK(q[0] == doctest::Approx(0.3f + dsp::kCalibrationOrderSlope * 0.1f));
  CHECK(q[1] == doctest::Approx(0.3f + dsp::kCalibrationOrderSlope * 0.15f));
  CHECK(q[2] == doctest::Approx(three.calibrated(0.75f) + dsp::kCalibrationOrderSlope * 0.75f));
  CHECK_THROWS_WITH_AS(m.set_calibration({{0.5f, 0.4f}, {0.2f, 0.3f}}), "calibration: probabilities not increasing",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(m.set_calibration({{0.2f, 0.4f}, {0.5f, 0.3f}}), "calibration: shares decreasing",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(m.set_calibration({{0.2f, 1.5f}, {0.5f, 0.6f}}), "calibration: a knot outside 0..1",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(m.set_calibration({{0.2f}, {0.5f, 0.6f}}), "calibration: 1 probabilities for 2 shares",
                       std::invalid_argument);
}

TEST_CASE("species model: a calibration prior keeps a step of few sounds from certainty") {
  // 5 sounds at 0.2 all wrong, 5 at 0.9 all right: without a prior the curve says 0 and 1;
  // with a prior of 2 (one right, one wrong) it says 1/7 and 6/7.
  std::vector<float> top = {0.2f, 0.2f, 0.2f, 0.2f, 0.2f, 0.9f, 0.9f, 0.9f, 0.9f, 0.9f};
  std::vector<uint8_t> right = {0, 0, 0, 0, 0, 1, 1, 1, 1, 1};
  const std::vector<float> ones(top.size(), 1.0f);
  const auto bare = dsp::SpeciesModel::fit_calibration(top, right, ones, 5);
  REQUIRE(bare.right.size() == 2);
  CHECK(bare.right[0] == 0.0f);
  CHECK(bare.right[1] == 1.0f);
  const auto shrunk = dsp::SpeciesModel::fit_calibration(top, right, ones, 5, 2.0);
  REQUIRE(shrunk.right.size() == 2);
  CHECK(shrunk.right[0] == doctest::Approx(1.0 / 7.0));
  CHECK(shrunk.right[1] == doctest::Approx(6.0 / 7.0));
  // Steps stay increasing when the prior pulls a light step below a heavy one: 100 sounds
  // at 0.5 right 90 %, 5 at 0.9 right 4 times (0.80 with the prior, under 0.90): one step.
  std::vector<float> t2(100, 0.5f);
  std::vector<uint8_t> r2(100, 0);
  std::fill_n(r2.begin(), 90, 1);
  for (int i = 0; i < 5; ++i) {
    t2.push_back(0.9f);
    r2.push_back(i < 4 ? 1 : 0);
  }
  const std::vector<float> w2(t2.size(), 1.0f);
  CHECK(dsp::SpeciesModel::fit_calibration(t2, r2, w2, 5, 2.0).probability.empty());
}
