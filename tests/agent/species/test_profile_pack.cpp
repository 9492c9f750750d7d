#include <doctest/doctest.h>

#include <fstream>

#include "agent/species/profile_pack.hpp"
#include "tests/agent/audio_files.hpp"

using namespace birdsong;

namespace {
ProfilePack small_pack() {
  ProfilePack p;
  p.description = "test";
  p.demo = true;
  const int F = dsp::FeaturePool::size(p.features.mel.bands);
  p.classes = {{"Parus major", "Great Tit", 0.6, 3, 40, 12.5}, {"none", "", 0.5, 1, 4, 3.0}};
  std::vector<float> weights(static_cast<std::size_t>(2 * F));
  for (std::size_t i = 0; i < weights.size(); ++i) weights[i] = static_cast<float>(i % 7) * 0.25f - 0.5f;
  p.model = dsp::SpeciesModel(2, std::vector<float>(static_cast<std::size_t>(F), 1.0f),
                              std::vector<float>(static_cast<std::size_t>(F), 2.0f), weights, {0.5f, -0.5f}, 1.5);
  p.training.recordings = 4;
  return p;
}

// The pack with the first `from` of its JSON replaced by `to`, under a header whose
// checksum matches: what a parser meets past the checksum.
std::string edited(const std::string& bytes, const std::string& from, const std::string& to) {
  std::string payload = bytes.substr(bytes.find('\n') + 1);
  const auto at = payload.find(from);
  REQUIRE(at != std::string::npos);
  payload.replace(at, from.size(), to);
  char head[64];
  std::snprintf(head, sizeof head, "birdsong-profiles 1 crc32=%08x\n", crc32(payload));
  return head + payload;
}
}  // namespace

TEST_CASE("profile pack: what is saved is loaded") {
  test::TempDir dir;
  const ProfilePack p = small_pack();
  save_profile_pack(p, dir / "p.pack");
  const ProfilePack q = load_profile_pack(dir / "p.pack");
  CHECK(q.description == "test");
  CHECK(q.demo);
  REQUIRE(q.classes.size() == 2);
  CHECK(q.classes[0].common_name == "Great Tit");
  CHECK(q.classes[0].threshold == 0.6);
  CHECK(q.none_class() == 1);
  CHECK(q.model.temperature() == 1.5);
  CHECK(q.model.weights() == p.model.weights());
  CHECK(q.model.bias() == p.model.bias());
  CHECK(q.min_sample_rate_hz() == 22000.0);
  CHECK(q.training.recordings == 4);
  CHECK(q.model.calibration().probability.empty());  // none learned: none saved, none loaded
}

TEST_CASE("profile pack: a path that is no pack file is refused with one line") {
  test::TempDir dir;
  CHECK_THROWS_WITH_AS(load_profile_pack(dir / "absent.pack"), doctest::Contains("absent.pack: cannot open profile pack"),
                       ProfilePackError);
  // A directory opens as a stream on Linux; its "size" is not a file's.
  CHECK_THROWS_WITH_AS(load_profile_pack(dir / "."),
                       doctest::Contains(": cannot read profile pack: not a regular file"), ProfilePackError);
  std::ofstream(dir / "empty.pack").close();
  CHECK_THROWS_WITH_AS(load_profile_pack(dir / "empty.pack"), doctest::Contains("empty.pack: not a birdsong profile pack"),
                       ProfilePackError);
}

TEST_CASE("profile pack: a model with a hidden layer is saved and loaded; an unknown kind is refused") {
  ProfilePack p = small_pack();
  const auto F = static_cast<std::size_t>(dsp::FeaturePool::size(p.features.mel.bands));
  const std::size_t H = 3;
  std::vector<float> hidden_weights(F * H), weights(2 * H);
  for (std::size_t i = 0; i < hidden_weights.size(); ++i) hidden_weights[i] = static_cast<float>(i % 5) * 0.125f;
  for (std::size_t i = 0; i < weights.size(); ++i) weights[i] = static_cast<float>(i) - 2.5f;
  p.model = dsp::SpeciesModel(2, p.model.mean(), p.model.scale(), hidden_weights, {0.5f, -0.25f, 0.0f}, weights,
                              {0.5f, -0.5f}, 1.5);
  const std::string bytes = serialize_profile_pack(p);
  const ProfilePack q = parse_profile_pack(bytes, "p.pack");
  CHECK(q.model.hidden() == 3);
  CHECK(q.model.hidden_weights() == hidden_weights);
  CHECK(q.model.hidden_bias() == p.model.hidden_bias());
  CHECK(q.model.weights() == weights);
  std::vector<float> features(F, 1.5f), a(2), b(2);
  features[0] = 4.0f;
  p.model.predict(features, a);
  q.model.predict(features, b);
  CHECK(a == b);
  CHECK_THROWS_WITH_AS(parse_profile_pack(edited(bytes, "\"hidden-layer\"", "\"forest\""), "p.pack"),
                       "p.pack: damaged profile pack: unknown model kind \"forest\"", ProfilePackError);
}

TEST_CASE("profile pack: the calibration curve is saved and loaded; a broken one is refused") {
  ProfilePack p = small_pack();
  p.model.set_calibration({{0.2f, 0.5f, 0.9f}, {0.1f, 0.6f, 0.8f}});
  const std::string bytes = serialize_profile_pack(p);
  const ProfilePack q = parse_profile_pack(bytes, "p.pack");
  CHECK(q.model.calibration().probability == p.model.calibration().probability);
  CHECK(q.model.calibration().right == p.model.calibration().right);
  // A curve that goes down, with a valid checksum: refused, not used.
  CHECK_THROWS_WITH_AS(parse_profile_pack(edited(bytes, "0.800000011920929", "0.05"), "p.pack"),
                       "p.pack: damaged profile pack: calibration: shares decreasing", ProfilePackError);
}

TEST_CASE("profile pack: a damaged pack, another format or feature version is refused") {
  std::string bytes = serialize_profile_pack(small_pack());
  std::string damaged = bytes;
  damaged[damaged.size() / 2] = damaged[damaged.size() / 2] == '1' ? '2' : '1';
  CHECK_THROWS_WITH_AS(parse_profile_pack(damaged, "p.pack"), "p.pack: damaged profile pack: checksum mismatch",
                       ProfilePackError);
  CHECK_THROWS_WITH_AS(parse_profile_pack(bytes.substr(0, bytes.size() - 10), "p.pack"),
                       "p.pack: damaged profile pack: checksum mismatch", ProfilePackError);
  std::string v2 = bytes;
  v2.replace(v2.find(" 1 crc32"), 8, " 2 crc32");
  CHECK_THROWS_WITH_AS(parse_profile_pack(v2, "p.pack"),
                       "p.pack: profile pack format 2, this agent reads format 1: learn the pack again with this version",
                       ProfilePackError);
  CHECK_THROWS_WITH_AS(parse_profile_pack("RIFF....WAVE", "x.wav"),
                       doctest::Contains("x.wav: not a birdsong profile pack"), ProfilePackError);
  // A payload with a correct checksum but another feature version.
  const std::string version = "\"feature_version\": " + std::to_string(dsp::kSpeciesFeatureVersionWithoutCodes);
  CHECK_THROWS_WITH_AS(parse_profile_pack(edited(bytes, version, "\"feature_version\": 99"), "p.pack"),
                       doctest::Contains("p.pack: profiles use feature version 99"), ProfilePackError);
  // Version 4 is version 3 with a codebook: one without is damaged.
  CHECK_THROWS_WITH_AS(parse_profile_pack(edited(bytes, version, "\"feature_version\": 4"), "p.pack"),
                       "p.pack: damaged profile pack: feature version 4 without a codebook", ProfilePackError);
  CHECK(crc32("123456789") == 0xCBF43926u);  // the IEEE check value
}

TEST_CASE("profile pack: the codebook is saved and loaded; one that does not fit is refused") {
  ProfilePack p = small_pack();
  const int bands = p.features.mel.bands, inputs = dsp::kPatchFrames * bands, dims = 2, codes = 3;
  auto& cb = p.codebook;
  cb.inputs = inputs;
  cb.alpha = 0.25f;
  cb.mean.assign(static_cast<std::size_t>(inputs), 1.5f);
  cb.whitening.resize(static_cast<std::size_t>(inputs * dims));
  for (std::size_t i = 0; i < cb.whitening.size(); ++i) cb.whitening[i] = static_cast<float>(i % 11) * 0.01f;
  cb.centroids = {0.6f, 0.0f, 1.0f, 0.8f, 1.0f, 0.0f};  // dims x codes: columns of unit length
  const int F = dsp::FeaturePool::size(bands, codes);
  p.model = dsp::SpeciesModel(2, std::vector<float>(static_cast<std::size_t>(F), 1.0f),
                              std::vector<float>(static_cast<std::size_t>(F), 2.0f),
                              std::vector<float>(static_cast<std::size_t>(2 * F), 0.5f), {0.5f, -0.5f}, 1.0);
  const std::string bytes = serialize_profile_pack(p);
  CHECK(bytes.find("\"feature_version\": 4") != std::string::npos);
  const ProfilePack q = parse_profile_pack(bytes, "p.pack");
  CHECK(q.codebook.codes() == codes);
  CHECK(q.codebook.dims() == dims);
  CHECK(q.codebook.alpha == 0.25f);
  CHECK(q.codebook.mean == cb.mean);
  CHECK(q.codebook.whitening == cb.whitening);
  CHECK(q.codebook.centroids == cb.centroids);
  // The model must read the codes too: a pack whose model reads the summary only is damaged.
  ProfilePack summary_only = p;
  summary_only.model = small_pack().model;
  const std::string fewer = "p.pack: damaged profile pack: model has " +
                            std::to_string(dsp::FeaturePool::size(bands)) + " features, expected " + std::to_string(F);
  CHECK_THROWS_WITH_AS(parse_profile_pack(serialize_profile_pack(summary_only), "p.pack"), fewer.c_str(),
                       ProfilePackError);
  // A codebook of patches of another band count.
  ProfilePack narrow = p;
  narrow.codebook.mean.resize(static_cast<std::size_t>(dsp::kPatchFrames * 8));
  narrow.codebook.inputs = dsp::kPatchFrames * 8;
  narrow.codebook.whitening.resize(static_cast<std::size_t>(narrow.codebook.inputs * dims));
  const std::string narrower =
      "p.pack: damaged profile pack: codebook patches of 24 values, expected " + std::to_string(inputs);
  CHECK_THROWS_WITH_AS(parse_profile_pack(serialize_profile_pack(narrow), "p.pack"), narrower.c_str(),
                       ProfilePackError);
  CHECK_THROWS_WITH_AS(parse_profile_pack(edited(bytes, "\"patch_frames\": 3", "\"patch_frames\": 4"), "p.pack"),
                       doctest::Contains("p.pack: damaged profile pack: codebook patches are not of 3 frames"),
                       ProfilePackError);
}
