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

  const std::vector<Command> commands = {
      add_analyze_command(app),
      add_check_config_command(app),
      add_evaluate_command(app),
      add_run_command(app),
      add_devices_command(app),
      add_learn_command(app),
  };

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);  // help and version go to stdout, errors to stderr
    return rc == 0 ? kExitOk : kExitUsage;
  }

  try {
    for (const Command& c : commands)
      if (*c.app) return c.run();
  } catch (const ConfigError& e) {
    std::cerr << e.what() << '\n';
    return kExitUsage;
  } catch (const std::invalid_argument& e) {
    std::cerr << "birdsong-agent: " << e.what() << '\n';
    return kExitUsage;
  }
  return kExitUsage;
}
