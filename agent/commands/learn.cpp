// learn: species profiles from labelled recordings (a CSV manifest) into one pack file.
#include <cstdio>
#include <iostream>
#include <memory>

#include "agent/commands/commands.hpp"
#include "agent/species/learning.hpp"
#include "agent/species/manifest.hpp"
#include "agent/species/profile_pack.hpp"

namespace birdsong {

int learn(const LearnCommandOptions& o, std::ostream& out, std::ostream& err) {
  std::vector<ManifestEntry> entries;
  try {
    entries = read_manifest(o.manifest);
  } catch (const ManifestError& e) {
    err << "learn: " << e.what() << '\n';
    return kExitUsage;
  }
  LearnOptions options;
  options.features = feature_setup_for(o.config.detector, o.context_s);
  options.description = o.description;
  options.demo = o.demo;
  options.threshold = o.threshold;
  options.training.hidden = o.hidden;
  options.codebook.codes = o.codes;
  std::vector<std::string> failed;
  // Progress on stderr: a line every tenth of the way (and for each file on short runs).
  const int step = std::max<int>(1, static_cast<int>(entries.size()) / 10);
  auto recordings = extract_all(entries, o.config.detector, options.features,
                                [&](int done, int total, const std::string&) {
                                  if (done % step == 0 || done == total)
                                    err << "learn: " << done << "/" << total << " recordings analysed\n";
                                },
                                failed);
  for (const auto& f : failed) err << "learn: " << f << '\n';
  ProfilePack pack;
  try {
    pack = learn_pack(recordings, options);
    save_profile_pack(pack, o.output);
  } catch (const std::invalid_argument& e) {
    err << "learn: " << o.manifest << ": " << e.what() << '\n';
    return kExitInputFailed;
  } catch (const ProfilePackError& e) {
    err << "learn: " << e.what() << '\n';
    return kExitInputFailed;
  }
  char line[256];
  std::snprintf(line, sizeof line, "%s: %zu classes from %d recordings (%.1f min of audio, %d sounds, %d examples)\n",
                o.output.c_str(), pack.classes.size(), pack.training.recordings, pack.training.audio_s / 60.0,
                pack.training.sounds, pack.training.examples);
  out << line;
  for (const auto& c : pack.classes) {
    std::snprintf(line, sizeof line, "  %-30.30s %-28.28s %3d recordings %5d sounds %7.1f s\n", c.label.c_str(),
                  c.common_name.c_str(), c.recordings, c.sounds, c.seconds);
    out << line;
  }
  if (pack.model.hidden() > 0)
    std::snprintf(line, sizeof line, "model: one hidden layer of %d units; ", pack.model.hidden());
  else
    std::snprintf(line, sizeof line, "model: softmax regression; ");
  out << line;
  std::snprintf(line, sizeof line, "%d frame codes; ", pack.codebook.codes());
  out << line;
  std::snprintf(line, sizeof line, "%g s of context before each sound; calibration temperature %.2f; default threshold %.2f\n",
                pack.features.context_s, pack.model.temperature(), options.threshold);
  out << line;
  if (const auto& curve = pack.model.calibration(); !curve.probability.empty()) {
    out << "calibration curve (softmax probability -> share right on held-out recordings):";
    for (std::size_t k = 0; k < curve.probability.size(); ++k) {
      std::snprintf(line, sizeof line, " %.2f->%.2f", curve.probability[k], curve.right[k]);
      out << line;
    }
    out << '\n';
  }
  for (const auto& r : recordings)
    if (r.whole_windows)
      err << "learn: " << r.path << ": no sound detected; learned from 5 s windows of it\n";
  return failed.empty() ? kExitOk : kExitInputFailed;
}

Command add_learn_command(CLI::App& app) {
  struct Args {
    LearnCommandOptions o;
    std::string config_path;
  };
  auto args = std::make_shared<Args>();
  Command c;
  c.app = app.add_subcommand("learn", "Learn species profiles from labelled recordings into a profile pack");
  c.app->add_option("--manifest", args->o.manifest, "CSV with a header and at least path,label (label none: not a bird)")
      ->required();
  c.app->add_option("--output", args->o.output, "The profile pack to write")->required();
  c.app->add_option("--description", args->o.description, "Says what the pack was learned from");
  c.app->add_flag("--demo", args->o.demo, "Mark the pack as a demonstration (learned from a handful of clips)");
  c.app->add_option("--threshold", args->o.threshold, "Default per-species threshold stored in the pack")
      ->default_str("0.5")
      ->check(CLI::Range(0.0, 1.0));
  c.app->add_option("--hidden", args->o.hidden,
                    "Units of the model's hidden layer; 0: softmax regression (smaller, learns faster, less accurate)")
      ->default_str(std::to_string(args->o.hidden))
      ->check(CLI::Range(0, 4096));
  c.app->add_option("--context", args->o.context_s,
                    "Seconds of audio before a sound that it is judged with (the bird's calls and song before it); "
                    "stored in the pack. Longer names lone singers better and mixes neighbouring birds more")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 60.0));
  c.app->add_option("--codes", args->o.codes,
                    "Frame codes to learn: shapes of spectrum the recordings hold, pooled with the summary "
                    "features (README, Species profiles: 256 codes name more recordings, and classification then adds about "
                    "24 % to the CPU of analyze instead of 16.5 %); 0: none")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  c.app->add_option("--config", args->config_path, "TOML configuration ([detector] applies)");
  c.run = [args] {
    LearnCommandOptions o = args->o;
    if (!args->config_path.empty()) o.config = load_config(args->config_path);
    return learn(o, std::cout, std::cerr);
  };
  return c;
}

}  // namespace birdsong
