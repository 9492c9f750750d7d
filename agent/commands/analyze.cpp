#include <iostream>
#include <memory>
#include <vector>

#include "agent/audio/recording_time.hpp"
#include "agent/audio/sound_file.hpp"
#include "agent/commands/commands.hpp"
#include "dsp/detector.hpp"

namespace birdsong {

namespace {

// Runs one recording through the detector, writing each sound as soon as it ends.
void analyze_file(const std::string& path, const Config& config, EventWriter& writer) {
  SoundFile file(path);
  const auto file_start = recording_start_time(path);
  dsp::Detector detector(file.sample_rate_hz(), config.detector);
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
      writer.write(e);
    }
    sounds.clear();
  };
  while (std::size_t n = file.read(chunk)) {
    detector.process(std::span<const float>(chunk.data(), n), sounds);
    emit();
  }
  detector.flush(sounds);
  emit();
}

}  // namespace

int analyze(const AnalyzeOptions& options, std::ostream& out, std::ostream& err) {
  auto writer = make_event_writer(options.format, out);
  int failed = 0;
  for (const std::string& path : options.files) {
    try {
      analyze_file(path, options.config, *writer);
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
  };
  auto args = std::make_shared<Args>();
  Command c;
  c.app = app.add_subcommand("analyze", "Detect bird sounds in recordings; one event per line on stdout");
  c.app->add_option("files", args->files, "WAV, FLAC, Ogg or MP3 recordings")->required();
  c.app->add_option("--format", args->format, "jsonl, csv, raven or audacity")->default_str("jsonl");
  c.app->add_option("--config", args->config_path, "TOML configuration ([station] and [detector] apply)");
  c.run = [args] {
    AnalyzeOptions options;
    options.files = args->files;
    options.format = parse_event_format(args->format);
    if (!args->config_path.empty()) options.config = load_config(args->config_path);
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
