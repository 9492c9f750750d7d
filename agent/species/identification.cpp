#include "agent/species/identification.hpp"

#include <algorithm>
#include <set>

namespace birdsong {

SpeciesPolicy resolve_policy(const ProfilePack& pack, const SpeciesConfig& config, double bird_gate) {
  std::set<std::string> known;
  for (const auto& c : pack.classes) known.insert(c.label);
  auto check = [&](const std::string& key, const std::string& name) {
    if (!known.count(name) || name == kNoneLabel)
      throw ConfigError("[species] " + key + ": \"" + name + "\": not a species of profile pack " + config.profiles);
  };
  for (const auto& n : config.include) check("include", n);
  for (const auto& n : config.exclude) check("exclude", n);
  for (const auto& [n, v] : config.thresholds) check("thresholds", n);
  SpeciesPolicy p;
  p.bird_gate = bird_gate;
  p.rescue = config.rescue_confidence;
  for (const auto& c : pack.classes) {
    double t = config.min_confidence.value_or(c.threshold);
    if (auto it = config.thresholds.find(c.label); it != config.thresholds.end()) t = it->second;
    p.threshold.push_back(t);
    bool allowed = config.include.empty() ||
                   std::find(config.include.begin(), config.include.end(), c.label) != config.include.end();
    if (std::find(config.exclude.begin(), config.exclude.end(), c.label) != config.exclude.end()) allowed = false;
    p.allowed.push_back(allowed || c.label == kNoneLabel);
  }
  return p;
}

int choose_species(const ProfilePack& pack, const SpeciesPolicy& policy, std::span<const float> p, float& confidence) {
  int best = -1;
  for (std::size_t c = 0; c < p.size() && c < policy.allowed.size(); ++c)
    if (policy.allowed[c] && (best < 0 || p[c] > p[static_cast<std::size_t>(best)])) best = static_cast<int>(c);
  if (best < 0) return -1;
  const auto b = static_cast<std::size_t>(best);
  confidence = p[b];
  if (pack.classes[b].label == kNoneLabel || p[b] < policy.threshold[b]) return -1;
  return best;
}

bool reported(const SpeciesPolicy& policy, double bird_likeness, int species, float confidence) {
  return bird_likeness >= policy.bird_gate || (species >= 0 && policy.rescue < 1.0 && confidence >= policy.rescue);
}

dsp::DetectorConfig detector_config_with_profiles(const dsp::DetectorConfig& config) {
  dsp::DetectorConfig c = config;
  c.min_confidence = 0.0;
  return c;
}

LoadedProfiles load_profiles(const SpeciesConfig& config, double bird_gate) {
  LoadedProfiles p;
  p.pack = load_profile_pack(config.profiles);
  p.policy = resolve_policy(p.pack, config, bird_gate);
  return p;
}

SpeciesIdentifier::SpeciesIdentifier(const ProfilePack& pack, SpeciesPolicy policy, dsp::Detector& detector)
    : pack_(pack), policy_(std::move(policy)), classifier_(detector.spectrum_layout(), pack.features, pack.model, pack.codebook) {
  detector.listen([this](int64_t frame, std::span<const float> power) { classifier_.add_spectrum(frame, power); });
}

bool SpeciesIdentifier::identify(Event& e) {
  const dsp::SpeciesScores s = classifier_.classify(e.sound);
  e.species.reset();
  e.common_name.reset();
  float confidence = 0.0f;
  const int c = s.best < 0 ? -1 : choose_species(pack_, policy_, s.probabilities, confidence);
  if (!reported(policy_, e.sound.confidence, c, confidence)) return false;
  if (c < 0) return true;
  const SpeciesClass& k = pack_.classes[static_cast<std::size_t>(c)];
  e.species = k.label;
  if (!k.common_name.empty()) e.common_name = k.common_name;
  e.sound.confidence = confidence;
  return true;
}

}  // namespace birdsong
