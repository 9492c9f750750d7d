// The sub-commands of birdsong-agent. Each command file adds its sub-command to the
// CLI11 app and returns what to run if it was chosen; main.cpp only wires them.
// Every command returns the process exit code:
//   0 ok, 1 some input failed, 2 bad usage or configuration.
#pragma once

#include <CLI/CLI.hpp>
#include <atomic>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "agent/config.hpp"
#include "agent/enrichment/enrichment.hpp"
#include "agent/output/event_writer.hpp"
#include "dsp/species_classifier.hpp"
#include "dsp/species_model.hpp"

namespace birdsong {

struct LoadedProfiles;

inline constexpr int kExitOk = 0;
inline constexpr int kExitInputFailed = 1;
inline constexpr int kExitUsage = 2;

struct Command {
  CLI::App* app = nullptr;       // the sub-command; `*app` is true when it was chosen
  std::function<int()> run;      // runs it, after parsing
};

Command add_analyze_command(CLI::App& app);
Command add_check_config_command(CLI::App& app);
Command add_evaluate_command(CLI::App& app);
Command add_run_command(CLI::App& app);
Command add_devices_command(CLI::App& app);
Command add_learn_command(CLI::App& app);

// The pieces behind the commands, callable from tests.
struct AnalyzeOptions {
  std::vector<std::string> files;
  EventFormat format = EventFormat::jsonl;
  Config config;  // [station] and [detector] apply
};
// Analyses recordings, writing events to `out` and one line per failed file to `err`.
int analyze(const AnalyzeOptions& options, std::ostream& out, std::ostream& err);
// Runs one recording through the detector ([station] and [detector] of `config`),
// writing each sound as it ends. Throws AudioError, or std::invalid_argument when the
// detector cannot run at the file's sample rate.
// With `profiles`, each event also gets its species (agent/species/identification.hpp).
void analyze_file(const std::string& path, const Config& config, EventWriter& writer,
                  const LoadedProfiles* profiles = nullptr);
int check_config(const std::string& path, std::ostream& out, std::ostream& err);

struct LearnCommandOptions {
  std::string manifest;     // CSV: path,label[,common_name,start_s,end_s,...]
  std::string output;       // profile pack to write
  std::string description;
  bool demo = false;
  double threshold = 0.5;   // default per-species threshold stored in the pack
  int hidden = dsp::SpeciesTrainingOptions{}.hidden;  // hidden units of the model, 0: softmax regression
  double context_s = dsp::SpeciesFeatureSetup{}.context_s;  // audio before a sound that it is judged with
  int codes = dsp::CodebookOptions{}.codes;  // frame codes learned (dsp/frame_codes.hpp), 0: none
  Config config;            // [detector] applies
};
// Learns a profile pack (agent/commands/learn.cpp): progress on `err`, summary on `out`.
int learn(const LearnCommandOptions& options, std::ostream& out, std::ostream& err);

struct SpeciesEvaluateOptions {
  std::string manifest;     // labelled recordings
  std::string profiles;     // pack to score; empty with cross_validate
  int cross_validate = 0;   // K folds by recording (learn on K-1, score the last)
  unsigned seed = 1;        // the shuffle of each label's recordings into the folds
  int hidden = dsp::SpeciesTrainingOptions{}.hidden;  // with cross_validate: the model learned (as learn --hidden)
  double context_s = dsp::SpeciesFeatureSetup{}.context_s;  // with cross_validate: as learn --context
  int codes = dsp::CodebookOptions{}.codes;  // with cross_validate: as learn --codes
  bool json = false;
  Config config;            // [detector] and [species] apply
};
// Clip-level species scores (agent/commands/evaluate_species.cpp).
int evaluate_species(const SpeciesEvaluateOptions& options, std::ostream& out, std::ostream& err);

struct EvaluateOptions {
  std::vector<std::string> annotations;  // annotation files (CSV, Raven, Audacity)
  std::string annotation_format = "auto";
  std::string audio;                     // the recording of a Raven/Audacity file that does not name it
  std::string events;                    // events written by analyze (jsonl or csv); empty: run the detector
  double min_iou = 0.3;
  bool json = false;
  Config config;                         // [detector] applies when the detector runs
};
// Scores events against annotations: a table (or JSON) on `out`, one line per problem on `err`.
int evaluate(const EvaluateOptions& options, std::ostream& out, std::ostream& err);

struct RunOptions {
  Config config;                             // [station] [audio] [detector] apply
  std::optional<std::string> replay_file;    // replay this recording instead of capturing
  double speed = 1.0;                        // replay pace: 1 real time, 0 as fast as possible
  bool quiet = false;                        // no events on `out`
  double linger_s = 0.0;                     // after a replay ends, keep serving metrics this long
  double drain_timeout_s = 10.0;             // at the end, wait this long at most for the sinks to have every event
  EnrichmentOptions enrichment;              // tests: shorter weather interval, Wikipedia pace and clock
};
// The live agent: capture (or replay) through the live pipeline until the source ends
// or `stop` becomes true; events as JSON lines on `out`, logs on `err`.
int run_agent(const RunOptions& options, const std::atomic<bool>& stop, std::ostream& out, std::ostream& err);
// After this, SIGINT and SIGTERM set the returned flag (a second signal kills at once).
const std::atomic<bool>& stop_on_signals();
// The input devices as a table on `out`.
int list_devices(std::ostream& out, std::ostream& err);

}  // namespace birdsong
