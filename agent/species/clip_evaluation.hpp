// Clip-level evaluation of species profiles (evaluate --manifest).
//
// The label the agent gives a recording is the species it reports with the highest
// confidence in it (after thresholds); a recording with no species reported is
// "unidentified". Scores: accuracy, macro-F1 over the true labels, precision and
// recall per label, a confusion table, and for `none` recordings the species events
// per minute (false alarms). Cross-validation splits by recording: fold k holds every
// K-th recording of each label after a fixed shuffle, learns on the other folds and
// scores fold k, so no recording is ever scored by a pack that learned from it.
#pragma once

#include <iosfwd>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agent/species/identification.hpp"
#include "agent/species/learning.hpp"

namespace birdsong {

inline constexpr const char* kUnidentified = "(unidentified)";

struct ClipResult {
  std::string path;
  std::string truth;
  std::string predicted;      // a label, or kUnidentified
  double confidence = 0.0;
  int species_events = 0;     // events given a species
  int events = 0;
  double audio_s = 0.0;
  int fold = -1;              // cross-validation fold, -1 without
  // Each species event's confidence and whether its species is the recording's label
  // (a bird of another species in the background counts as wrong: a conservative check).
  std::vector<std::pair<float, bool>> species_event_confidence;
  // The same clip scored with every species' threshold at kSweep[k] instead (include,
  // exclude, the bird-likeness gate and the rescue as configured).
  std::vector<ClipResult> swept;
};

// The min_confidence values evaluate tries for every pack it scores, so that a user can
// choose thresholds from what they trade: recordings named against false alarms.
inline constexpr double kSweep[] = {0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9};

// Scores a recording with `policy`, and fills `swept`.
ClipResult score_clip(const ProfilePack& pack, const SpeciesPolicy& policy, const RecordingSounds& recording);

// Learns on K-1 folds, scores the last, for each fold. `progress` gets (fold, K).
// `bird_gate` is [detector] min_confidence; `seed` shuffles the recordings into folds.
std::vector<ClipResult> cross_validate(const std::vector<RecordingSounds>& recordings, int folds,
                                       const LearnOptions& options, const SpeciesConfig& settings = {},
                                       double bird_gate = 0.0, const std::function<void(int, int)>& progress = {},
                                       unsigned seed = 1);

struct LabelScore {
  std::string label;
  int support = 0;    // recordings with this true label
  int predicted = 0;  // recordings given this label
  int correct = 0;
  double precision = 0.0, recall = 0.0, f1 = 0.0;
};

// One row of the threshold sweep: the scores with every species' threshold at min_confidence.
struct SweepRow {
  double min_confidence = 0.0;
  double accuracy = 0.0;
  double species_accuracy = 0.0;
  double macro_f1 = 0.0;
  int species_events = 0;
  int species_events_right = 0;  // naming the recording's label
  double none_species_events_per_minute = 0.0;
};

struct ClipReport {
  int clips = 0;
  double accuracy = 0.0;
  double species_accuracy = 0.0;               // on the recordings whose label is not `none`
  double macro_f1 = 0.0;
  std::vector<LabelScore> labels;              // true labels, sorted
  std::vector<std::string> columns;            // predicted labels in the confusion table
  std::vector<std::vector<int>> confusion;     // [true label][column]
  double none_minutes = 0.0;                   // audio of `none` recordings
  int none_species_events = 0;
  // False alarms: species events per minute of `none` audio (0 without any).
  double none_species_events_per_minute() const {
    return none_minutes > 0.0 ? none_species_events / none_minutes : 0.0;
  }
  std::string split;                           // how the clips were scored
  // Calibration: species events in confidence bins [0.1 k, 0.1 (k + 1)), and how many
  // of them name the recording's label (of events given 0.9, about nine in ten should).
  std::vector<int> calibration_events = std::vector<int>(10, 0), calibration_right = std::vector<int>(10, 0);
  std::vector<double> calibration_confidence = std::vector<double>(10, 0.0);  // sum per bin
  // Expected calibration error: the gap between mean confidence and share right in each
  // bin, weighted by the bin's species events (0: perfectly calibrated).
  double calibration_error = 0.0;
  std::vector<SweepRow> sweep;                 // one row per kSweep value, when the results have them
};

ClipReport summarize(const std::vector<ClipResult>& results, const std::string& split);
void print_report(const ClipReport& report, std::ostream& out);
nlohmann::json to_json(const ClipReport& report, const std::vector<ClipResult>& results);

}  // namespace birdsong
