// Species profile pack: everything needed to classify, in one versioned file.
//
// Format (version 1), documented in README.md ("Species profiles"):
//   line 1:  birdsong-profiles 1 crc32=<8 hex digits>\n
//   rest:    a JSON object (the payload); the CRC-32 (IEEE) is over its exact bytes.
// The payload holds the feature version and settings (in Hz and seconds, so the pack
// works at any sample rate >= min_sample_rate_hz), the classes (label, common name,
// threshold, training counts), the codebook of frame codes if any (dsp/frame_codes.hpp), the model (standardisation, the hidden layer if any,
// weights, temperature, calibration curve) and training statistics. The curve is optional: packs learned before
// it, and packs too small to hold recordings out, have none. A pack of another format or
// feature version, or one whose checksum does not match, is refused with one line saying so.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "dsp/species_classifier.hpp"
#include "dsp/species_model.hpp"

namespace birdsong {

inline constexpr int kProfilePackFormat = 1;

class ProfilePackError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct SpeciesClass {
  std::string label;        // scientific name, or "none"
  std::string common_name;
  double threshold = 0.5;   // minimum calibrated probability to report this species
  int recordings = 0;       // learned from
  int sounds = 0;
  double seconds = 0.0;     // of sound (detected events) learned from
};

struct TrainingSummary {
  int recordings = 0;
  int sounds = 0;
  int examples = 0;
  double audio_s = 0.0;
  int hidden = 0;       // units of the hidden layer, 0: softmax regression
  double l2 = 0.0;      // weight decay
  int iterations = 0;   // gradient steps (softmax regression) or epochs (hidden layer)
};

struct ProfilePack {
  std::string description;
  bool demo = false;            // learned from a handful of clips, for demonstration only
  std::string created_by;
  dsp::SpeciesFeatureSetup features;
  std::vector<SpeciesClass> classes;
  dsp::FrameCodebook codebook;  // empty: the model reads the summary features only
  dsp::SpeciesModel model;
  TrainingSummary training;

  // Index of the "none" class, or -1.
  int none_class() const;
  double min_sample_rate_hz() const { return 2.0 * features.mel.max_hz; }
};

uint32_t crc32(std::string_view bytes);

// Writes the pack. Throws ProfilePackError when the file cannot be written.
void save_profile_pack(const ProfilePack& pack, const std::string& path);
std::string serialize_profile_pack(const ProfilePack& pack);
// Reads and checks a pack. Throws ProfilePackError("<path>: <why>").
ProfilePack load_profile_pack(const std::string& path);
ProfilePack parse_profile_pack(const std::string& bytes, const std::string& origin);

}  // namespace birdsong
