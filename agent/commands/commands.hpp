// The sub-commands of birdsong-agent. Each command file adds its sub-command to the
// CLI11 app and returns what to run if it was chosen; main.cpp only wires them.
// Every command returns the process exit code:
//   0 ok, 1 some input failed, 2 bad usage or configuration.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include "agent/config.hpp"
#include "agent/output/event_writer.hpp"

namespace birdsong {

inline constexpr int kExitOk = 0;
inline constexpr int kExitInputFailed = 1;
inline constexpr int kExitUsage = 2;

struct Command {
  CLI::App* app = nullptr;       // the sub-command; `*app` is true when it was chosen
  std::function<int()> run;      // runs it, after parsing
};

Command add_analyze_command(CLI::App& app);
Command add_check_config_command(CLI::App& app);

// The pieces behind the commands, callable from tests.
struct AnalyzeOptions {
  std::vector<std::string> files;
  EventFormat format = EventFormat::jsonl;
  Config config;  // [station] and [detector] apply
};
// Analyses recordings, writing events to `out` and one line per failed file to `err`.
int analyze(const AnalyzeOptions& options, std::ostream& out, std::ostream& err);
int check_config(const std::string& path, std::ostream& out, std::ostream& err);

}  // namespace birdsong
