// Annotations in: what people marked in recordings, read from the files they use.
//   csv      - a header row with `path`, `start_s`, `end_s` (optional `low_hz`, `high_hz`,
//              `label`; other columns ignored), paths relative to the CSV file. A row
//              labelled `none` without times declares a recording with no bird sound.
//   raven    - a Raven Pro selection table (tab-separated, "Begin Time (s)" ...).
//   audacity - an Audacity label track ("start<TAB>end<TAB>label", optional
//              "\<TAB>low<TAB>high" frequency lines).
// Raven tables and Audacity tracks name their recording in a "Begin Path"/"Begin File"
// column when they have one; otherwise the recording is given (--audio) or lies beside
// the annotation file with the same name up to the first '.' (XC13738.raven.txt ->
// XC13738.mp3).
#pragma once

#include <filesystem>
#include <iosfwd>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace birdsong {

// One line naming the file, the line and what was wrong: "<file>:<line>: <what>".
class AnnotationError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class AnnotationFormat { automatic, csv, raven, audacity };

// "auto", "csv", "raven", "audacity"; throws std::invalid_argument for anything else.
AnnotationFormat parse_annotation_format(const std::string& name);

// One annotated sound.
struct Annotation {
  double start_s = 0.0;
  double end_s = 0.0;
  std::optional<double> low_hz;
  std::optional<double> high_hz;
  std::string label;  // may be empty
  int line = 0;       // where it was read, for messages
};

// Everything one annotation file says about one recording. A recording with no
// annotations contains no bird sound: every event on it is a false one.
struct AnnotatedRecording {
  std::string name;                   // the recording as the annotation file names it
  std::filesystem::path audio;        // the recording, resolved against the annotation file
  std::vector<Annotation> annotations;
  std::string source;                 // the annotation file
};

// Reads one annotation file; recordings come in order of first appearance.
// `audio` names the recording of a Raven table or Audacity track that does not name it.
// Throws AnnotationError.
std::vector<AnnotatedRecording> read_annotations(const std::filesystem::path& file,
                                                 AnnotationFormat format = AnnotationFormat::automatic,
                                                 const std::optional<std::filesystem::path>& audio = {});

// The readers, on a stream. `origin` names it in messages; relative paths are resolved
// against `base_dir`; `audio` is the recording when the text does not name it.
std::vector<AnnotatedRecording> read_csv_annotations(std::istream& in, const std::string& origin,
                                                     const std::filesystem::path& base_dir);
std::vector<AnnotatedRecording> read_raven_annotations(std::istream& in, const std::string& origin,
                                                       const std::filesystem::path& base_dir,
                                                       const std::optional<std::filesystem::path>& audio);
std::vector<AnnotatedRecording> read_audacity_annotations(std::istream& in, const std::string& origin,
                                                          const std::filesystem::path& audio);

// Splits RFC 4180 CSV text into records; each record remembers the line it starts on.
// Throws AnnotationError for an unterminated quote.
struct CsvRecord {
  std::vector<std::string> fields;
  int line = 0;
};
std::vector<CsvRecord> parse_csv(std::istream& in, const std::string& origin);

}  // namespace birdsong
