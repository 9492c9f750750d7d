// Learning species profiles from labelled recordings.
//
// Each recording goes through the same stages as in `analyze`: the detector finds its
// sounds and SoundHistory pools each sound's features at the moment the detector
// reports it. Learning then sees each recording at three scales, each carrying a third
// of the recording's weight: single sounds, bouts (sounds less than bout_gap_s apart,
// pooled) and the whole recording pooled, because the live classifier meets all three
// (a lone call, the middle of a song, a long song). The model's temperature is fitted
// on recordings held out of the fit (folds by recording), so confidences are honest.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "agent/species/manifest.hpp"
#include "agent/species/profile_pack.hpp"
#include "dsp/detector.hpp"
#include "dsp/species_classifier.hpp"
#include "dsp/species_model.hpp"

namespace birdsong {

// The detected sounds of one recording, with their features.
struct RecordingSounds {
  std::string path;
  std::string label;
  std::string common_name;
  double audio_s = 0.0;
  std::vector<dsp::Sound> sounds;
  std::vector<dsp::FeaturePool> pools;  // one per sound, without codes
  bool whole_windows = false;           // no sound was detected: pools are 5 s windows
  // The codebook is learned after extraction, from the training recordings only, so
  // extraction keeps what codes are made of: the patch of each frame a pool found active
  // (taken once, as SoundHistory codes it once), and each pool's runs of active frames.
  std::vector<uint8_t> patches;                                  // dsp::make_patch, one after another
  std::vector<int32_t> patch_of_frame;                           // per frame: index in patches, -1: none
  std::vector<std::vector<std::pair<int32_t, int32_t>>> active;  // per pool: runs [first, last] of frames
};

// The pools of a recording with the codes of `codebook` added (the pools as they are
// when it is empty).
std::vector<dsp::FeaturePool> coded_pools(const RecordingSounds& recording, const dsp::FrameCodebook& codebook);

// Decodes one recording and extracts its sounds, every sound the detector outlines however
// bird-like (as a pack classifies them: identification.hpp), only those overlapping
// start_s..end_s when the entry gives them. Throws AudioError or std::invalid_argument.
RecordingSounds extract_sounds(const ManifestEntry& entry, const dsp::DetectorConfig& detector,
                               const dsp::SpeciesFeatureSetup& setup);

// Progress: called after each recording (done, total, path).
using LearnProgress = std::function<void(int, int, const std::string&)>;

// Extracts every recording of a manifest; failures are reported through `failed`
// (one line each) and skipped.
std::vector<RecordingSounds> extract_all(const std::vector<ManifestEntry>& entries,
                                         const dsp::DetectorConfig& detector, const dsp::SpeciesFeatureSetup& setup,
                                         const LearnProgress& progress, std::vector<std::string>& failed);

// A step of the calibration curve rests on at least this many recordings' worth of
// held-out sounds.
inline constexpr double kCalibrationStepRecordings = 5.0;
// ... and its share right counts two more recordings, one right and one wrong (Laplace).
// Measured without it (5-fold cross-validation): a top step learned from a few recordings
// said 0.99, and the 18 events of the scored fold given it were right 11 % of the time.
inline constexpr double kCalibrationPriorRecordings = 2.0;

// The feature settings `learn` uses with this detector: the defaults, read from the
// detector's spectra (their frame length is the detector's frame_s), with `context_s` of
// audio before each sound (the history grows to hold it and 10 s more for the sound and
// the background level).
dsp::SpeciesFeatureSetup feature_setup_for(const dsp::DetectorConfig& detector,
                                           double context_s = dsp::SpeciesFeatureSetup{}.context_s);

struct LearnOptions {
  dsp::SpeciesFeatureSetup features;
  dsp::CodebookOptions codebook;      // codebook.codes = 0: summary features only
  int patches_per_recording = 300;    // the codebook learns from at most this many patches of each recording
  dsp::SpeciesTrainingOptions training;
  double threshold = 0.5;         // default per-species threshold stored in the pack
  int calibration_folds = 5;      // held-out folds for the temperature and curve; 0: no calibration
  int max_sounds_per_recording = 40;
  std::string description;
  bool demo = false;
};

// Learns a pack from extracted recordings. Throws std::invalid_argument when fewer than
// two labels have examples.
ProfilePack learn_pack(const std::vector<RecordingSounds>& recordings, const LearnOptions& options);

// One classified sound of a recording.
struct ClassifiedSound {
  double start_s = 0.0;
  double end_s = 0.0;
  int best = -1;             // class index, -1: nothing to classify
  float probability = 0.0f;
};
// Classifies a recording's sounds as the live classifier would (bouts included, codes
// of the pack's codebook).
std::vector<ClassifiedSound> classify_sounds(const ProfilePack& pack, const RecordingSounds& recording);

}  // namespace birdsong
