// Naming the species of each event: the classifier stage of the agent.
//
// SpeciesIdentifier wraps dsp::SpeciesClassifier with the pack's class names and the
// [species] settings: thresholds per species (BirdNET users know them as
// "confidence"), an include list (report only these) and an exclude list. An event
// gets `species` and `common_name` when the best allowed class is a species whose
// calibrated probability reaches its threshold; its `confidence` then becomes that
// probability. Otherwise species stays null: a bird, not identified (the detector's
// confidence is kept), including when the best class is "none".
#pragma once

#include <span>
#include <vector>

#include "agent/config.hpp"
#include "agent/event.hpp"
#include "agent/species/manifest.hpp"
#include "agent/species/profile_pack.hpp"
#include "dsp/species_classifier.hpp"

namespace birdsong {

// Thresholds and permissions per class of a pack, resolved from [species].
struct SpeciesPolicy {
  std::vector<double> threshold;  // per class
  std::vector<bool> allowed;      // per class ("none" always allowed: it can win, then nothing is reported)
};

// Throws ConfigError when a species named in [species] is not in the pack.
SpeciesPolicy resolve_policy(const ProfilePack& pack, const SpeciesConfig& config);

// The reported class for a vector of class probabilities, or -1 (not identified).
int choose_species(const ProfilePack& pack, const SpeciesPolicy& policy, std::span<const float> probabilities,
                   float& confidence);

// A loaded pack with the [species] settings resolved against it.
struct LoadedProfiles {
  ProfilePack pack;
  SpeciesPolicy policy;
};
// Throws ProfilePackError (unreadable, damaged, other version) or ConfigError (a
// species in [species] that the pack does not know).
LoadedProfiles load_profiles(const SpeciesConfig& config);

class SpeciesIdentifier {
 public:
  // Throws std::invalid_argument when the pack cannot work at this sample rate.
  SpeciesIdentifier(const ProfilePack& pack, SpeciesPolicy policy, double sample_rate_hz);

  // Feed the same samples as the detector, before it.
  void process(std::span<const float> samples) { classifier_.process(samples); }
  // Fills species, common_name and confidence of an event made from a detected sound.
  void identify(Event& event);

 private:
  const ProfilePack& pack_;
  SpeciesPolicy policy_;
  dsp::SpeciesClassifier classifier_;
};

}  // namespace birdsong
