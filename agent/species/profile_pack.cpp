#include "agent/species/profile_pack.hpp"

#include <array>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <span>

namespace birdsong {

namespace {
constexpr const char* kMagic = "birdsong-profiles";

std::array<uint32_t, 256> crc_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[i] = c;
  }
  return t;
}
}  // namespace

uint32_t crc32(std::string_view bytes) {
  static const auto table = crc_table();
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : bytes) c = table[(c ^ b) & 0xFFu] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

int ProfilePack::none_class() const {
  for (std::size_t i = 0; i < classes.size(); ++i)
    if (classes[i].label == "none") return static_cast<int>(i);
  return -1;
}

namespace {
// Each float as the shortest decimal that reads back as the same float ("0.8", not
// "0.800000011920929"): a pack of 33 000 weights is then half the size, and loads exactly.
std::vector<double> shortest(std::span<const float> values) {
  std::vector<double> out;
  out.reserve(values.size());
  char text[32];
  for (float v : values) {
    const char* end = std::to_chars(text, text + sizeof text, v).ptr;
    double d = v;
    std::from_chars(text, end, d);  // no locale: "0.8" is 0.8 whatever LC_NUMERIC says
    out.push_back(d);
  }
  return out;
}
}  // namespace

std::string serialize_profile_pack(const ProfilePack& p) {
  using nlohmann::json;
  json j;
  j["feature_version"] = p.codebook.empty() ? dsp::kSpeciesFeatureVersionWithoutCodes : dsp::kSpeciesFeatureVersion;
  j["description"] = p.description;
  j["demo"] = p.demo;
  j["created_by"] = p.created_by;
  const auto& f = p.features;
  j["features"] = {{"mel_min_hz", f.mel.min_hz},
                   {"mel_max_hz", f.mel.max_hz},
                   {"mel_bands", f.mel.bands},
                   {"frame_s", f.mel.frame_s},
                   {"hop_s", f.mel.hop_s},
                   {"min_excess_db", f.features.min_excess_db},
                   {"dynamic_range_db", f.features.dynamic_range_db},
                   {"min_pitch_hz", f.features.min_pitch_hz},
                   {"max_pitch_hz", f.features.max_pitch_hz},
                   {"history_s", f.history_s},
                   {"background_quantile", f.background_quantile},
                   {"bout_gap_s", f.bout_gap_s},
                   {"context_s", f.context_s}};
  j["min_sample_rate_hz"] = p.min_sample_rate_hz();
  json classes = json::array();
  for (const auto& c : p.classes)
    classes.push_back({{"label", c.label},
                       {"common_name", c.common_name},
                       {"threshold", c.threshold},
                       {"recordings", c.recordings},
                       {"sounds", c.sounds},
                       {"seconds", c.seconds}});
  j["classes"] = classes;
  const auto& m = p.model;
  // Rows: one per class of the softmax, one per feature of the hidden layer.
  auto rows = [](const std::vector<float>& v, std::size_t width) {
    json out = json::array();
    for (std::size_t at = 0; at < v.size(); at += width)
      out.push_back(shortest(std::span<const float>(v).subspan(at, width)));
    return out;
  };
  const auto F = static_cast<std::size_t>(m.feature_count()), H = static_cast<std::size_t>(m.hidden());
  j["model"] = {{"kind", H > 0 ? "hidden-layer" : "softmax-regression"},
                {"temperature", m.temperature()},
                {"mean", shortest(m.mean())},
                {"scale", shortest(m.scale())},
                {"weights", rows(m.weights(), H > 0 ? H : F)},
                {"bias", shortest(m.bias())}};
  if (H > 0) {
    j["model"]["hidden_weights"] = rows(m.hidden_weights(), H);
    j["model"]["hidden_bias"] = shortest(m.hidden_bias());
  }
  if (!m.calibration().probability.empty())
    j["model"]["calibration"] = {{"probability", m.calibration().probability}, {"right", m.calibration().right}};
  const auto& cb = p.codebook;
  if (!cb.empty())
    j["codebook"] = {{"patch_frames", dsp::kPatchFrames},
                     {"patch_step_db", dsp::kPatchStepDb},
                     {"alpha", cb.alpha},
                     {"mean", shortest(cb.mean)},
                     {"whitening", rows(cb.whitening, static_cast<std::size_t>(cb.dims()))},
                     {"centroids", rows(cb.centroids, static_cast<std::size_t>(cb.codes()))}};
  const auto& t = p.training;
  j["training"] = {{"recordings", t.recordings}, {"sounds", t.sounds},       {"examples", t.examples},
                   {"audio_s", t.audio_s},       {"hidden", t.hidden},       {"l2", t.l2},
                   {"iterations", t.iterations}};
  const std::string payload = j.dump(1);
  char head[64];
  std::snprintf(head, sizeof head, "%s %d crc32=%08x\n", kMagic, kProfilePackFormat, crc32(payload));
  return head + payload;
}

void save_profile_pack(const ProfilePack& pack, const std::string& path) {
  const std::string bytes = serialize_profile_pack(pack);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw ProfilePackError(path + ": cannot write profile pack");
  out << bytes;
  out.close();
  if (!out) throw ProfilePackError(path + ": cannot write profile pack");
}

ProfilePack parse_profile_pack(const std::string& bytes, const std::string& origin) {
  auto fail = [&](const std::string& why) { return ProfilePackError(origin + ": " + why); };
  const auto nl = bytes.find('\n');
  const std::string head = bytes.substr(0, nl == std::string::npos ? std::min<std::size_t>(bytes.size(), 80) : nl);
  int format = 0;
  unsigned crc = 0;
  char magic[32] = {0};
  if (nl == std::string::npos || std::sscanf(head.c_str(), "%31s %d crc32=%8x", magic, &format, &crc) != 3 ||
      std::string(magic) != kMagic)
    throw fail("not a birdsong profile pack (expected a first line 'birdsong-profiles <format> crc32=<hex>')");
  if (format != kProfilePackFormat)
    throw fail("profile pack format " + std::to_string(format) + ", this agent reads format " +
               std::to_string(kProfilePackFormat) + ": learn the pack again with this version");
  // The payload is read where it lies: a pack with frame codes is megabytes of text.
  const std::string_view payload = std::string_view(bytes).substr(nl + 1);
  if (crc32(payload) != crc) throw fail("damaged profile pack: checksum mismatch");
  ProfilePack p;
  try {
    const auto j = nlohmann::json::parse(payload.begin(), payload.end());
    const int fv = j.at("feature_version").get<int>();
    if (fv != dsp::kSpeciesFeatureVersion && fv != dsp::kSpeciesFeatureVersionWithoutCodes)
      throw fail("profiles use feature version " + std::to_string(fv) + ", this agent computes versions " +
                 std::to_string(dsp::kSpeciesFeatureVersionWithoutCodes) + " and " +
                 std::to_string(dsp::kSpeciesFeatureVersion) + ": learn the pack again with this version");
    if ((fv == dsp::kSpeciesFeatureVersion) != j.contains("codebook"))
      throw fail("damaged profile pack: feature version " + std::to_string(fv) +
                 (j.contains("codebook") ? " with" : " without") + " a codebook");
    p.description = j.at("description").get<std::string>();
    p.demo = j.at("demo").get<bool>();
    p.created_by = j.value("created_by", "");
    const auto& f = j.at("features");
    auto& s = p.features;
    s.mel.min_hz = f.at("mel_min_hz");
    s.mel.max_hz = f.at("mel_max_hz");
    s.mel.bands = f.at("mel_bands");
    s.mel.frame_s = f.at("frame_s");
    s.mel.hop_s = f.at("hop_s");
    s.features.min_excess_db = f.at("min_excess_db");
    s.features.dynamic_range_db = f.at("dynamic_range_db");
    s.features.min_pitch_hz = f.at("min_pitch_hz");
    s.features.max_pitch_hz = f.at("max_pitch_hz");
    s.history_s = f.at("history_s");
    s.background_quantile = f.at("background_quantile");
    s.bout_gap_s = f.at("bout_gap_s");
    s.context_s = f.at("context_s");
    dsp::validate(s);
    for (const auto& c : j.at("classes")) {
      SpeciesClass k;
      k.label = c.at("label");
      k.common_name = c.at("common_name");
      k.threshold = c.at("threshold");
      k.recordings = c.at("recordings");
      k.sounds = c.at("sounds");
      k.seconds = c.at("seconds");
      p.classes.push_back(k);
    }
    const auto& m = j.at("model");
    auto flat = [](const nlohmann::json& rows) {
      std::vector<float> v;
      for (const auto& row : rows)
        for (float w : row.get<std::vector<float>>()) v.push_back(w);
      return v;
    };
    const std::string kind = m.at("kind");
    std::vector<float> hidden_weights, hidden_bias;
    if (kind == "hidden-layer") {
      hidden_weights = flat(m.at("hidden_weights"));
      hidden_bias = m.at("hidden_bias").get<std::vector<float>>();
      if (hidden_bias.empty()) throw fail("damaged profile pack: a hidden layer of no units");
    } else if (kind != "softmax-regression") {
      throw fail("damaged profile pack: unknown model kind \"" + kind + "\"");
    }
    p.model = dsp::SpeciesModel(static_cast<int>(p.classes.size()), m.at("mean").get<std::vector<float>>(),
                                m.at("scale").get<std::vector<float>>(), std::move(hidden_weights),
                                std::move(hidden_bias), flat(m.at("weights")), m.at("bias").get<std::vector<float>>(),
                                m.at("temperature").get<double>());
    if (m.contains("calibration"))  // packs learned before the curve have none: the softmax as it is
      p.model.set_calibration({m.at("calibration").at("probability").get<std::vector<float>>(),
                               m.at("calibration").at("right").get<std::vector<float>>()});
    if (j.contains("codebook")) {  // packs learned with --codes 0 (the default) have none
      const auto& c = j.at("codebook");
      if (c.at("patch_frames").get<int>() != dsp::kPatchFrames || c.at("patch_step_db").get<float>() != dsp::kPatchStepDb)
        throw fail("damaged profile pack: codebook patches are not of " + std::to_string(dsp::kPatchFrames) +
                   " frames in quarter-dB steps");
      auto& cb = p.codebook;
      cb.alpha = c.at("alpha").get<float>();
      cb.mean = c.at("mean").get<std::vector<float>>();
      cb.inputs = static_cast<int>(cb.mean.size());
      cb.whitening = flat(c.at("whitening"));
      cb.centroids = flat(c.at("centroids"));
      dsp::validate(cb);
      if (cb.inputs != dsp::kPatchFrames * s.mel.bands)
        throw fail("damaged profile pack: codebook patches of " + std::to_string(cb.inputs) + " values, expected " +
                   std::to_string(dsp::kPatchFrames * s.mel.bands));
    }
    const int features = dsp::FeaturePool::size(s.mel.bands, p.codebook.codes());
    if (p.model.feature_count() != features)
      throw fail("damaged profile pack: model has " + std::to_string(p.model.feature_count()) + " features, expected " +
                 std::to_string(features));
    const auto& t = j.at("training");
    p.training.recordings = t.at("recordings");
    p.training.sounds = t.at("sounds");
    p.training.examples = t.at("examples");
    p.training.audio_s = t.at("audio_s");
    p.training.hidden = t.value("hidden", 0);
    p.training.l2 = t.at("l2");
    p.training.iterations = t.at("iterations");
  } catch (const ProfilePackError&) {
    throw;
  } catch (const std::exception& e) {
    throw fail(std::string("damaged profile pack: ") + e.what());
  }
  return p;
}

ProfilePack load_profile_pack(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ProfilePackError(path + ": cannot open profile pack");
  // Read whole into one string of the file's size, and parsed where it lies: the text was
  // held three times over (a string stream's doubling buffer, its copy, then a copy of the
  // payload), 7 MB for the first two alone at the peak of `analyze` with a 2.8 MB pack of
  // 256 frame codes (heaptrack).
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error))
    throw ProfilePackError(path + ": cannot read profile pack: not a regular file");
  const std::uintmax_t size = std::filesystem::file_size(path, error);
  if (error) throw ProfilePackError(path + ": cannot read profile pack: " + error.message());
  std::string bytes(static_cast<std::size_t>(size), '\0');
  if (!in.read(bytes.data(), static_cast<std::streamsize>(bytes.size())))
    throw ProfilePackError(path + ": cannot read profile pack");
  return parse_profile_pack(bytes, path);
}

}  // namespace birdsong
