#include "agent/species/identification.hpp"

#include <algorithm>
#include <set>

namespace birdsong {

SpeciesPolicy resolve_policy(const ProfilePack& pack, const SpeciesConfig& config) {
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

LoadedProfiles load_profiles(const SpeciesConfig& config) {
  LoadedProfiles p;
  p.pack = load_profile_pack(config.profiles);
  p.policy = resolve_policy(p.pack, config);
  return p;
}

SpeciesIdentifier::SpeciesIdentifier(const ProfilePack& pack, SpeciesPolicy policy, double sample_rate_hz)
    : pack_(pack), policy_(std::move(policy)), classifier_(sample_rate_hz, pack.features, pack.model) {}

void SpeciesIdentifier::identify(Event& e) {
  const dsp::SpeciesScores s = classifier_.classify(e.sound);
  e.species.reset();
  e.common_name.reset();
  if (s.best < 0) return;
  float confidence = 0.0f;
  const int c = choose_species(pack_, policy_, s.probabilities, confidence);
  if (c < 0) return;
  const SpeciesClass& k = pack_.classes[static_cast<std::size_t>(c)];
  e.species = k.label;
  if (!k.common_name.empty()) e.common_name = k.common_name;
  e.sound.confidence = confidence;
}

}  // namespace birdsong
