#include <iostream>
#include <memory>
#include <optional>
#include <vector>

#include "agent/audio/recording_time.hpp"
#include "agent/audio/sound_file.hpp"
#include "agent/commands/commands.hpp"
#include "agent/species/identification.hpp"
#include "dsp/detector.hpp"

namespace birdsong {

// Runs one recording through the detector, writing each sound as soon as it ends.
void analyze_file(const std::string& path, const Config& config, EventWriter& writer,
                  const LoadedProfiles* profiles) {
  // analyze runs on one thread, so libmpg123's notes can be captured into the one line.
  SoundFile file(path, DecoderNotes::captured);
  const auto file_start = recording_start_time(file);
  // Species: the classifier keeps a history of the detector's spectra, and judges every
  // sound the detector outlines (identification.hpp).
  dsp::Detector detector(file.sample_rate_hz(),
                         profiles != nullptr ? detector_config_with_profiles(config.detector) : config.detector);
  std::optional<SpeciesIdentifier> species;
  if (profiles != nullptr) species.emplace(profiles->pack, profiles->policy, detector);
  std::vector<float> chunk(8192);
  std::vector<dsp::Sound> sounds;
  auto emit = [&] {
    for (const dsp::Sound& s : sounds) {
      Event e;
      e.id = new_event_id();
      e.station = config.station.id;
      e.file = path;
      e.sound = s;
      if (file_start)
        e.time = *file_start + std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                   std::chrono::duration<double>(s.start_s));
      if (species && !species->identify(e)) continue;
      writer.write(e);
    }
    sounds.clear();
  };
  try {
    while (std::size_t n = file.read(chunk)) {
      detector.process(std::span<const float>(chunk.data(), n), sounds);
      emit();
    }
  } catch (const AudioError&) {
    // Every sample before the damage was good: report the sound they end in, then the damage.
    detector.flush(sounds);
    emit();
    throw;
  }
  detector.flush(sounds);
  emit();
}

int analyze(const AnalyzeOptions& options, std::ostream& out, std::ostream& err) {
  // [species] profiles (or --profiles): load and check the pack once, up front.
  std::optional<LoadedProfiles> profiles;
  if (!options.config.species.profiles.empty()) {
    try {
      profiles = load_profiles(options.config.species, options.config.detector.min_confidence);
    } catch (const std::runtime_error& e) {  // ProfilePackError, ConfigError
      err << "analyze: " << e.what() << '\n';
      return kExitUsage;
    }
  }
  auto writer = make_event_writer(options.format, out);
  int failed = 0;
  for (const std::string& path : options.files) {
    try {
      analyze_file(path, options.config, *writer, profiles ? &*profiles : nullptr);
    } catch (const AudioError& e) {
      err << "analyze: " << e.what() << '\n';
      ++failed;
    } catch (const std::invalid_argument& e) {
      err << "analyze: " << path << ": " << e.what() << '\n';
      ++failed;
    }
  }
  return failed > 0 ? kExitInputFailed : kExitOk;
}

Command add_analyze_command(CLI::App& app) {
  struct Args {
    std::vector<std::string> files;
    std::string format = "jsonl";
    std::string config_path;
    std::string profiles;
  };
  auto args = std::make_shared<Args>();
  Command c;
  c.app = app.add_subcommand("analyze", "Detect bird sounds in recordings; one event per line on stdout");
  c.app->add_option("files", args->files, "WAV, FLAC, Ogg or MP3 recordings")->required();
  c.app->add_option("--format", args->format, "jsonl, csv, raven or audacity")->default_str("jsonl");
  c.app->add_option("--config", args->config_path, "TOML configuration ([station] [detector] [species] apply)");
  c.app->add_option("--profiles", args->profiles, "Species profile pack (birdsong-agent learn); overrides [species] profiles");
  c.run = [args] {
    AnalyzeOptions options;
    options.files = args->files;
    options.format = parse_event_format(args->format);
    if (!args->config_path.empty()) options.config = load_config(args->config_path);
    if (!args->profiles.empty()) options.config.species.profiles = args->profiles;
    return analyze(options, std::cout, std::cerr);
  };
  return c;
}

Command add_check_config_command(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  Command c;
  c.app = app.add_subcommand("check-config", "Validate a configuration file");
  c.app->add_option("file", *path, "TOML configuration")->required();
  c.run = [path] { return check_config(*path, std::cout, std::cerr); };
  return c;
}

int check_config(const std::string& path, std::ostream& out, std::ostream& err) {
  try {
    load_config(path);
  } catch (const ConfigError& e) {
    err << e.what() << '\n';
    return kExitUsage;
  }
  out << path << ": ok\n";
  return kExitOk;
}

}  // namespace birdsong
