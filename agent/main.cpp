// birdsong-agent: parses the command line and hands over to one sub-command.
// Everything else lives in agent/ (runtime) and dsp/ (signal processing).
#include <CLI/CLI.hpp>

#include <iostream>

#include "agent/commands/commands.hpp"
#include "agent/version.hpp"

using namespace birdsong;

int main(int argc, char** argv) {
  CLI::App app{"birdsong-agent: detects bird sounds from a microphone or in recordings", "birdsong-agent"};
  app.set_version_flag("--version", std::string("birdsong-agent ") + kVersion);
  app.require_subcommand(1);

  std::string config_path;
  std::vector<std::string> files;
  std::string format = "jsonl";
  auto* analyze_cmd = app.add_subcommand("analyze", "Detect bird sounds in recordings; events go to stdout");
  analyze_cmd->add_option("files", files, "WAV, FLAC, Ogg or MP3 recordings")->required();
  analyze_cmd->add_option("--format", format, "jsonl, csv, raven or audacity")->default_str("jsonl");
  analyze_cmd->add_option("--config", config_path, "TOML configuration ([station], [detector] apply)");

  std::string check_path;
  auto* check_cmd = app.add_subcommand("check-config", "Validate a configuration file");
  check_cmd->add_option("file", check_path, "TOML configuration")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);  // prints help/version to stdout, errors to stderr
    return rc == 0 ? kExitOk : kExitUsage;
  }

  try {
    if (*analyze_cmd) {
      AnalyzeOptions options;
      options.files = files;
      options.format = parse_event_format(format);
      if (!config_path.empty()) options.config = load_config(config_path);
      return analyze(options, std::cout, std::cerr);
    }
    if (*check_cmd) return check_config(check_path, std::cout, std::cerr);
  } catch (const ConfigError& e) {
    std::cerr << e.what() << '\n';
    return kExitUsage;
  } catch (const std::invalid_argument& e) {
    std::cerr << "birdsong-agent: " << e.what() << '\n';
    return kExitUsage;
  }
  return kExitUsage;
}
