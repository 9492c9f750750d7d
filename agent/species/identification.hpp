// Naming the species of each event: the classifier stage of the agent.
//
// SpeciesIdentifier wraps dsp::SpeciesClassifier with the pack's class names and the
// [species] settings: thresholds per species (BirdNET users know them as
// "confidence"), an include list (report only these) and an exclude list. An event
// gets `species` and `common_name` when the best allowed class is a species whose
// calibrated probability reaches its threshold; its `confidence` then becomes that
// probability. Otherwise species stays null: a bird, not identified (the detector's
// confidence is kept), including when the best class is "none".
//
// With a pack, the pack has the last word on sounds the detector doubts. The detector
// then passes on every sound it outlines (detector_config_with_profiles), and the
// [detector] min_confidence gate on bird-likeness is applied after classification: a
// sound less bird-like than the gate is still reported when the pack names a species
// with at least [species] rescue_confidence (reported(); off by default). Harsh calls,
// hoots and croaks (anis, owls, cuckoos) look little like the whistles the
// bird-likeness score knows; the pack, having learned them, can recognise them. Every
// sound joins the classifier's bouts, and `learn` learns from every sound too.
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
  double bird_gate = 0.0;         // [detector] min_confidence: sounds this bird-like are reported, named or not
  double rescue = 1.0;            // [species] rescue_confidence: less bird-like ones when named this surely
};

// Throws ConfigError when a species named in [species] is not in the pack. `bird_gate`
// is [detector] min_confidence.
SpeciesPolicy resolve_policy(const ProfilePack& pack, const SpeciesConfig& config, double bird_gate);

// Whether a sound becomes an event: it is as bird-like as the gate, or the pack named
// `species` (>= 0) for it with at least the rescue confidence (a rescue of 1: never).
bool reported(const SpeciesPolicy& policy, double bird_likeness, int species, float confidence);

// The detector settings to use with a pack: every sound outlined goes to the
// classifier, which applies the bird-likeness gate itself (see reported()).
dsp::DetectorConfig detector_config_with_profiles(const dsp::DetectorConfig& config);

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
LoadedProfiles load_profiles(const SpeciesConfig& config, double bird_gate);

class SpeciesIdentifier {
 public:
  // Throws std::invalid_argument when the pack cannot work with this detector (sample
  // rate, [detector] frame_s). Listens to the detector's spectra: keep both alive together.
  SpeciesIdentifier(const ProfilePack& pack, SpeciesPolicy policy, dsp::Detector& detector);
  SpeciesIdentifier(const SpeciesIdentifier&) = delete;  // the detector holds its address
  SpeciesIdentifier& operator=(const SpeciesIdentifier&) = delete;
  // Fills species, common_name and confidence of an event made from a detected sound
  // (its confidence is the detector's bird-likeness until then). Returns whether the
  // event is reported (reported()); when not, the caller drops it.
  bool identify(Event& event);

 private:
  const ProfilePack& pack_;
  SpeciesPolicy policy_;
  dsp::SpeciesClassifier classifier_;
};

}  // namespace birdsong
