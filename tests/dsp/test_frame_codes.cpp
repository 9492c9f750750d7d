// Frame codes (dsp/frame_codes.hpp): patches, the learned codebook, and the codes the
// history pools, on generated data with exact expectations.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <stdexcept>
#include <vector>

#include "dsp/detector.hpp"
#include "dsp/frame_codes.hpp"
#include "dsp/species_classifier.hpp"
#include "dsp/species_features.hpp"
#include "dsp/stft.hpp"
#include "tests/signals.hpp"

using namespace birdsong;

namespace {

// Patches of `shapes` prototype excess frames (each patch: one shape in all three
// frames), with up to +-1 dB of noise; shape of patch i is i % shapes.
std::vector<uint8_t> clustered_patches(int shapes, int per_shape, int bands, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> jitter(-1.0f, 1.0f);
  std::vector<float> background(static_cast<std::size_t>(bands), -60.0f);
  std::vector<uint8_t> out;
  std::vector<float> row(static_cast<std::size_t>(bands));
  std::vector<uint8_t> patch(static_cast<std::size_t>(dsp::kPatchFrames * bands));
  for (int i = 0; i < shapes * per_shape; ++i) {
    const int shape = i % shapes;
    std::vector<float> frames[3];
    for (auto& f : frames) {
      f.assign(static_cast<std::size_t>(bands), -60.0f);
      for (int b = 0; b < bands; ++b) {
        // shape s: a 20 dB peak 3 bands wide centred at band 2 + 4 s
        const int d = std::abs(b - (2 + 4 * shape));
        f[static_cast<std::size_t>(b)] += (d <= 1 ? 20.0f : 2.0f) + jitter(rng);
      }
    }
    dsp::make_patch(frames[0].data(), frames[1].data(), frames[2].data(), background, patch.data());
    out.insert(out.end(), patch.begin(), patch.end());
  }
  return out;
}

}  // namespace

TEST_CASE("frame codes: a patch is each band's excess over the background, clipped, in quarter dB") {
  const std::vector<float> background = {-50.0f, -40.0f};
  const float before[2] = {-60.0f, -40.0f};  // below, at the background
  const float row[2] = {-49.9f, -30.1f};     // 0.1 dB (rounds to 0), 9.9 dB (39.6 steps: 40)
  const float after[2] = {20.0f, -39.875f};  // 70 dB (past 63.75: 255), 0.125 dB (half a step: 1)
  uint8_t patch[6];
  dsp::make_patch(before, row, after, background, patch);
  CHECK(std::vector<int>(patch, patch + 6) == std::vector<int>{0, 0, 0, 40, 255, 1});
}

TEST_CASE("frame codes: a patch of many bands holds the same bytes as the clipped, rounded excess") {
  // 40 bands (the vectorised loop's whole registers and its remainder), excess from far
  // below to far above the range, on and between the rounding points.
  const int bands = 40;
  std::vector<float> background(bands), frames(3 * bands);
  for (int b = 0; b < bands; ++b) background[static_cast<std::size_t>(b)] = -70.0f + 0.5f * static_cast<float>(b);
  for (int i = 0; i < 3 * bands; ++i) {
    const float excess = -900.0f + 7.3f * static_cast<float>(i) + (i % 5 == 0 ? 0.125f : 0.0f);
    frames[static_cast<std::size_t>(i)] = background[static_cast<std::size_t>(i % bands)] + excess;
  }
  frames[5] = background[5] + 63.875f;   // rounds up past 255: 255
  frames[6] = background[6] - 0.124f;    // just below: 0
  std::vector<uint8_t> patch(3 * bands);
  dsp::make_patch(&frames[0], &frames[bands], &frames[2 * bands], background, patch.data());
  for (int i = 0; i < 3 * bands; ++i) {
    CAPTURE(i);
    const auto k = static_cast<std::size_t>(i);
    const float steps = std::clamp((frames[k] - background[k % bands]) / dsp::kPatchStepDb, 0.0f, 255.0f);
    CHECK(int{patch[k]} == static_cast<int>(steps + 0.5f));
  }
  CHECK(int{patch[5]} == 255);
  CHECK(int{patch[6]} == 0);
}

TEST_CASE("frame codes: the codebook learns one code per shape of patch") {
  const int bands = 16, shapes = 4, inputs = dsp::kPatchFrames * bands;
  const std::vector<uint8_t> patches = clustered_patches(shapes, 50, bands, 7);
  dsp::CodebookOptions o;
  o.codes = shapes;
  o.alpha = 0.0f;
  const dsp::FrameCodebook cb = dsp::learn_codebook(patches, inputs, o);
  REQUIRE(cb.codes() == shapes);
  CHECK(cb.inputs == inputs);
  CHECK(cb.dims() >= 1);
  CHECK(cb.dims() <= inputs);
  dsp::validate(cb);
  for (int k = 0; k < shapes; ++k) {  // centroids are unit length
    double norm2 = 0.0;
    for (int d = 0; d < cb.dims(); ++d) norm2 += std::pow(cb.centroids[static_cast<std::size_t>(d * shapes + k)], 2);
    CHECK(norm2 == doctest::Approx(1.0).epsilon(1e-4));
  }
  // Every patch of a shape has the same strongest code, and each shape its own.
  std::map<int, std::set<int>> strongest;
  std::vector<float> codes(static_cast<std::size_t>(shapes));
  for (std::size_t i = 0; i < patches.size() / static_cast<std::size_t>(inputs); ++i) {
    cb.encode(&patches[i * static_cast<std::size_t>(inputs)], codes.data());
    CHECK(std::all_of(codes.begin(), codes.end(), [](float c) { return c >= 0.0f && c <= 1.0f + 1e-5f; }));
    strongest[static_cast<int>(i) % shapes].insert(
        static_cast<int>(std::max_element(codes.begin(), codes.end()) - codes.begin()));
  }
  std::set<int> used;
  for (const auto& [shape, ks] : strongest) {
    CHECK(ks.size() == 1);
    used.insert(*ks.begin());
  }
  CHECK(used.size() == static_cast<std::size_t>(shapes));
  // alpha: codes are the cosine less alpha, rectified.
  dsp::FrameCodebook shifted = cb;
  shifted.alpha = 0.5f;
  std::vector<float> less(static_cast<std::size_t>(shapes));
  cb.encode(patches.data(), codes.data());
  shifted.encode(patches.data(), less.data());
  for (int k = 0; k < shapes; ++k)
    CHECK(less[static_cast<std::size_t>(k)] == doctest::Approx(std::max(0.0f, codes[static_cast<std::size_t>(k)] - 0.5f)));
}

TEST_CASE("frame codes: few patches give one code each, none an empty codebook, bad sizes are refused") {
  const int bands = 8, inputs = dsp::kPatchFrames * bands;
  const std::vector<uint8_t> three = clustered_patches(1, 3, bands, 1);
  dsp::CodebookOptions many;
  many.codes = 256;
  CHECK(dsp::learn_codebook(three, inputs, many).codes() == 3);
  CHECK(dsp::learn_codebook({}, inputs, many).empty());
  CHECK(dsp::CodebookOptions{}.codes == 0);  // codes are asked for (learn --codes N)
  CHECK(dsp::learn_codebook(three, inputs, dsp::CodebookOptions{}).empty());
  CHECK_THROWS_AS(dsp::learn_codebook(three, 10, many), std::invalid_argument);
  dsp::CodebookOptions too_many;
  too_many.codes = dsp::kMaxCodes + 1;
  CHECK_THROWS_WITH_AS(dsp::learn_codebook(three, inputs, too_many), "codes: 4097: expected 0..4096",
                       std::invalid_argument);

  dsp::FrameCodebook cb = dsp::learn_codebook(clustered_patches(2, 20, bands, 3), inputs, many);
  REQUIRE(cb.codes() == 40);
  dsp::validate(cb);
  dsp::FrameCodebook short_mean = cb;
  short_mean.mean.pop_back();
  CHECK_THROWS_WITH_AS(dsp::validate(short_mean), doctest::Contains("frame codebook: mean has 23 values, expected 24"),
                       std::invalid_argument);
  dsp::FrameCodebook nan = cb;
  nan.centroids[0] = std::nanf("");
  CHECK_THROWS_WITH_AS(dsp::validate(nan), "frame codebook: a value is not finite", std::invalid_argument);
}

TEST_CASE("frame codes: a pool holds the mean, spread and maximum of its frames' codes; pools add up") {
  dsp::FeaturePool a(2, 2), b(2, 2), ab(2, 2);
  const float c1[2] = {0.0f, 0.5f}, c2[2] = {0.2f, 0.1f}, c3[2] = {0.4f, 0.0f};
  a.add_codes(c1);
  b.add_codes(c2);
  b.add_codes(c3);
  for (const float* c : {c1, c2, c3}) ab.add_codes(c);
  a.add(b);
  CHECK(a.codes() == 2);
  CHECK(dsp::FeaturePool::size(2, 2) == dsp::FeaturePool::size(2) + 6);
  // vector() is all zero while no frame is active; the code part of a pool with one is:
  dsp::FeaturePool sum = a;
  CHECK(sum.vector() == std::vector<float>(static_cast<std::size_t>(dsp::FeaturePool::size(2, 2)), 0.0f));
  // Code statistics alone, through a pool with an active frame (two bands of excess).
  const std::vector<float> db = {10.0f, 10.0f}, peak = {3000.0f}, background = {0.0f, 0.0f};
  dsp::MelBlock block{2, 62.5, db, peak, 0, 1, {}, {}};
  dsp::FeaturePool one(2, 2);
  one.add(block, background, dsp::SpeciesFeatureConfig{});
  REQUIRE(one.active_frames() == 1);
  one.reset_codes(2);
  for (const float* c : {c1, c2, c3}) one.add_codes(c);
  const std::vector<float> v = one.vector();
  const std::size_t at = static_cast<std::size_t>(dsp::FeaturePool::size(2));
  // code 0: 0, 0.2, 0.4: mean 0.2, spread sqrt(0.08/3), max 0.4; code 1: 0.5, 0.1, 0: mean 0.2
  CHECK(v[at] == doctest::Approx(0.2));
  CHECK(v[at + 1] == doctest::Approx(std::sqrt(0.08 / 3.0)));
  CHECK(v[at + 2] == doctest::Approx(0.4));
  CHECK(v[at + 3] == doctest::Approx(0.2));
  CHECK(v[at + 4] == doctest::Approx(std::sqrt((0.25 + 0.01 + 0.0) / 3.0 - 0.04)));
  CHECK(v[at + 5] == doctest::Approx(0.5));
  // a + b pooled the same codes as ab.
  dsp::FeaturePool x = one, y = one;
  x.reset_codes(2);
  y.reset_codes(2);
  x.add(a);  // adds a's codes (and its zero summary sums)
  for (const float* c : {c1, c2, c3}) y.add_codes(c);
  CHECK(x.vector() == y.vector());
  CHECK_THROWS_AS(x.add(dsp::FeaturePool(2, 3)), std::invalid_argument);
}

TEST_CASE("frame codes: the history codes each active frame once, and recorded patches pool the same codes") {
  const double rate = 24000.0;
  auto x = test::noise(6.0, rate, 0.001, 3);
  for (double t = 0.5; t < 5.5; t += 0.3) test::add_chirp(x, rate, 2500.0, 5000.0, 0.2, t, t + 0.1);
  const auto layout = dsp::detector_spectrum_layout(rate, dsp::DetectorConfig{});
  const dsp::SpeciesFeatureSetup setup;
  const std::vector<std::pair<double, double>> sounds = {{0.4, 1.0}, {0.9, 2.0}, {3.0, 3.5}, {3.4, 5.0}};

  // Learning: no codebook; the listener gets each frame's patch the first time only.
  dsp::SoundHistory recorder(layout, setup);
  std::map<int64_t, std::vector<uint8_t>> patch_of;
  std::vector<std::vector<int64_t>> active(sounds.size());
  std::size_t current = 0;
  int repeated_patch = 0;
  recorder.listen_active([&](int64_t frame, const uint8_t* patch) {
    active[current].push_back(frame);
    if (patch == nullptr) return;
    if (patch_of.count(frame)) ++repeated_patch;
    patch_of[frame].assign(patch, patch + dsp::kPatchFrames * recorder.bands());
  });
  dsp::Stft stft(layout);
  std::vector<dsp::FeaturePool> plain;
  // Sounds are pooled as the detector reports them: after their end is in the history.
  std::size_t fed = 0;
  auto feed_until = [&](dsp::SoundHistory& h, dsp::Stft& s, double t_s) {
    const auto upto = std::min(x.size(), static_cast<std::size_t>(t_s * rate));
    if (upto > fed) s.process(std::span<const float>(&x[fed], upto - fed), [&](int64_t f, std::span<const float> p) { h.add_spectrum(f, p); });
    fed = std::max(fed, upto);
  };
  for (current = 0; current < sounds.size(); ++current) {
    feed_until(recorder, stft, sounds[current].second + 0.2);
    plain.push_back(recorder.pool(sounds[current].first, sounds[current].second));
  }
  CHECK(repeated_patch == 0);
  CHECK(active[1].size() > 0);
  CHECK(plain[0].codes() == 0);

  // A codebook from the recorded patches; the history with it pools the same codes.
  std::vector<uint8_t> all;
  for (const auto& [frame, p] : patch_of) all.insert(all.end(), p.begin(), p.end());
  dsp::CodebookOptions o;
  o.codes = 16;
  const dsp::FrameCodebook cb = dsp::learn_codebook(all, dsp::kPatchFrames * recorder.bands(), o);
  REQUIRE(cb.codes() == 16);
  dsp::SoundHistory live(layout, setup, cb);
  dsp::Stft stft2(layout);
  fed = 0;
  std::vector<float> codes(16);
  for (std::size_t i = 0; i < sounds.size(); ++i) {
    feed_until(live, stft2, sounds[i].second + 0.2);
    const dsp::FeaturePool pool = live.pool(sounds[i].first, sounds[i].second);
    dsp::FeaturePool expected = plain[i];
    expected.reset_codes(16);
    for (int64_t f : active[i]) {
      cb.encode(patch_of.at(f).data(), codes.data());
      expected.add_codes(codes.data());
    }
    CHECK(pool.codes() == 16);
    CHECK(pool.vector() == expected.vector());
  }
  CHECK_THROWS_WITH_AS(dsp::SoundHistory(layout, setup, dsp::learn_codebook(clustered_patches(2, 20, 8, 3), 24, o)),
                       "codebook: patches of 24 values, the mel gives 120", std::invalid_argument);
}
