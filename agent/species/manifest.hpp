// Labelled recordings for learning and evaluation: a CSV manifest.
//
// The first row names the columns; `path` and `label` are required, `common_name`,
// `start_s` and `end_s` are used when present, any other column is ignored (so the
// manifests of ../shared/data work as they are). Paths are relative to the manifest.
// Label `none` marks audio without birds: the profiles learn to reject it.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace birdsong {

inline constexpr const char* kNoneLabel = "none";

// One line: "<manifest>:<line>: <what is wrong>".
class ManifestError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ManifestEntry {
  std::string path;         // resolved against the manifest's folder
  std::string label;        // scientific name, or "none"
  std::string common_name;  // may be empty
  std::optional<double> start_s, end_s;  // the part of the recording that holds the label
  int line = 0;             // in the manifest, for messages
};

// Reads and checks a manifest: every audio file must exist. Throws ManifestError.
std::vector<ManifestEntry> read_manifest(const std::string& path);
// The same from text; `origin` names it in messages, `folder` resolves paths.
std::vector<ManifestEntry> parse_manifest(const std::string& text, const std::string& origin,
                                          const std::string& folder, bool check_files = true);

// Splits one CSV line (RFC 4180 quoting) into fields; false on an unclosed quote.
bool split_csv_line(const std::string& line, std::vector<std::string>& fields);

}  // namespace birdsong
