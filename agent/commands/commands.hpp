// The sub-commands of birdsong-agent. main.cpp parses the command line into these
// options and calls one function; each returns the process exit code:
//   0 ok, 1 some input failed, 2 bad usage or configuration.
#pragma once

#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "agent/config.hpp"
#include "agent/output/event_writer.hpp"

namespace birdsong {

inline constexpr int kExitOk = 0;
inline constexpr int kExitInputFailed = 1;
inline constexpr int kExitUsage = 2;

struct AnalyzeOptions {
  std::vector<std::string> files;
  EventFormat format = EventFormat::jsonl;
  Config config;  // [station] and [detector] apply
};
// Analyses recordings, writing events to `out` and one line per failed file to `err`.
int analyze(const AnalyzeOptions& options, std::ostream& out, std::ostream& err);

int check_config(const std::string& path, std::ostream& out, std::ostream& err);

}  // namespace birdsong
