#include "agent/evaluate/annotations.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

namespace birdsong {

namespace fs = std::filesystem;

AnnotationFormat parse_annotation_format(const std::string& name) {
  if (name == "auto") return AnnotationFormat::automatic;
  if (name == "csv") return AnnotationFormat::csv;
  if (name == "raven") return AnnotationFormat::raven;
  if (name == "audacity") return AnnotationFormat::audacity;
  throw std::invalid_argument("--annotation-format " + name + ": expected auto, csv, raven or audacity");
}

namespace {

[[noreturn]] void fail(const std::string& origin, int line, const std::string& what) {
  throw AnnotationError(origin + ":" + std::to_string(line) + ": " + what);
}

std::string trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(first, last - first + 1));
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Spreadsheets put a UTF-8 byte order mark before the first header name.
void strip_bom(std::string& s) {
  if (s.rfind("\xEF\xBB\xBF", 0) == 0) s.erase(0, 3);
}

std::optional<double> parse_number(std::string_view text) {
  const std::string s = trim(text);
  if (s.empty()) return std::nullopt;
  const char* begin = s.data() + (s[0] == '+' ? 1 : 0);
  double v = 0.0;
  const auto [end, ec] = std::from_chars(begin, s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

// A number in a named field; an error names the field and the text found.
double number_field(const std::string& text, const std::string& field, const std::string& origin, int line) {
  const auto v = parse_number(text);
  if (!v) fail(origin, line, field + " '" + text + "' is not a number");
  return *v;
}

std::string text_of(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

void check_times(Annotation& a, const std::string& origin) {
  if (a.start_s < 0.0) fail(origin, a.line, "start " + text_of(a.start_s) + " s is negative");
  if (!(a.end_s > a.start_s))
    fail(origin, a.line, "end " + text_of(a.end_s) + " s is not after start " + text_of(a.start_s) + " s");
  if ((a.low_hz && *a.low_hz < 0.0) || (a.high_hz && *a.high_hz < 0.0))
    fail(origin, a.line, "a frequency is negative");
  if (a.low_hz && a.high_hz && *a.high_hz < *a.low_hz)
    fail(origin, a.line,
         "high frequency " + text_of(*a.high_hz) + " Hz is below low frequency " + text_of(*a.low_hz) + " Hz");
}

std::vector<std::string> split(const std::string& line, char sep) {
  std::vector<std::string> out;
  std::size_t from = 0;
  for (;;) {
    const auto at = line.find(sep, from);
    out.push_back(line.substr(from, at == std::string::npos ? std::string::npos : at - from));
    if (at == std::string::npos) return out;
    from = at + 1;
  }
}

// Header names compare without case and surrounding blanks; -1 when absent.
int column(const std::vector<std::string>& header, std::initializer_list<const char*> names) {
  for (const char* name : names)
    for (std::size_t i = 0; i < header.size(); ++i)
      if (lower(trim(header[i])) == lower(name)) return static_cast<int>(i);
  return -1;
}

std::string field(const std::vector<std::string>& row, int col) {
  return col >= 0 && static_cast<std::size_t>(col) < row.size() ? trim(row[col]) : std::string();
}

// A relative path in an annotation file is relative to that file.
fs::path resolve(const fs::path& base_dir, const std::string& path) {
  const fs::path p(path);
  return (p.is_absolute() ? p : base_dir / p).lexically_normal();
}

// Collects recordings in order of first appearance.
class Recordings {
 public:
  explicit Recordings(std::string source) : source_(std::move(source)) {}
  AnnotatedRecording& get(const std::string& name, const fs::path& audio) {
    const auto [it, added] = index_.try_emplace(audio.string(), list_.size());
    if (added) list_.push_back({name, audio, {}, source_});
    return list_[it->second];
  }
  std::vector<AnnotatedRecording> take() { return std::move(list_); }

 private:
  std::string source_;
  std::map<std::string, std::size_t> index_;
  std::vector<AnnotatedRecording> list_;
};

bool is_blank(const std::vector<std::string>& fields) {
  return std::all_of(fields.begin(), fields.end(), [](const std::string& f) { return trim(f).empty(); });
}

}  // namespace

std::vector<CsvRecord> parse_csv(std::istream& in, const std::string& origin) {
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  std::vector<CsvRecord> records;
  CsvRecord record;
  std::string f;
  int line = 1;
  int quote_line = 0;  // where an open quote started
  bool quoted = false;
  record.line = 1;
  auto end_record = [&] {
    record.fields.push_back(std::move(f));
    f.clear();
    records.push_back(std::move(record));
    record = CsvRecord{};
    record.line = line;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        f += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        if (c == '\n') ++line;
        f += c;
      }
    } else if (c == '"' && trim(f).empty()) {
      quoted = true;
      quote_line = line;
      f.clear();
    } else if (c == ',') {
      record.fields.push_back(std::move(f));
      f.clear();
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      ++line;
      end_record();
    } else {
      f += c;
    }
  }
  if (quoted) fail(origin, quote_line, "a quoted field is never closed");
  if (!f.empty() || !record.fields.empty()) end_record();
  return records;
}

std::vector<AnnotatedRecording> read_csv_annotations(std::istream& in, const std::string& origin,
                                                     const fs::path& base_dir) {
  auto records = parse_csv(in, origin);
  std::erase_if(records, [](const CsvRecord& r) { return is_blank(r.fields); });
  if (records.empty()) fail(origin, 1, "no header row (expected path,start_s,end_s,...)");
  auto& header = records.front().fields;
  strip_bom(header.front());
  const int path_col = column(header, {"path"});
  const int start_col = column(header, {"start_s"});
  const int end_col = column(header, {"end_s"});
  const int low_col = column(header, {"low_hz"});
  const int high_col = column(header, {"high_hz"});
  const int label_col = column(header, {"label"});
  const int header_line = records.front().line;
  if (path_col < 0) fail(origin, header_line, "the header has no path column");
  if ((start_col < 0) != (end_col < 0))
    fail(origin, header_line, "the header has " + std::string(start_col < 0 ? "end_s but no start_s" : "start_s but no end_s"));

  Recordings recordings(origin);
  std::map<std::string, int> declared_empty;  // recording -> line of its `none` row
  for (std::size_t r = 1; r < records.size(); ++r) {
    const auto& row = records[r].fields;
    const int line = records[r].line;
    if (row.size() > header.size())
      fail(origin, line, std::to_string(row.size()) + " fields, the header has " + std::to_string(header.size()));
    const std::string path = field(row, path_col);
    if (path.empty()) fail(origin, line, "path is empty");
    const std::string label = field(row, label_col);
    const std::string start = field(row, start_col);
    const std::string end = field(row, end_col);
    AnnotatedRecording& rec = recordings.get(path, resolve(base_dir, path));
    const bool none = lower(label) == "none";
    if (start.empty() && end.empty()) {
      if (!none)
        fail(origin, line, "no start_s/end_s; only a row labelled none (a recording without bird sound) may leave them out");
      if (!rec.annotations.empty())
        fail(origin, line, path + " is labelled none but has annotations (line " +
                               std::to_string(rec.annotations.front().line) + ")");
      declared_empty.emplace(path, line);
      continue;
    }
    if (none) fail(origin, line, "label none declares a recording without bird sound, but the row has times");
    if (const auto it = declared_empty.find(path); it != declared_empty.end())
      fail(origin, line, path + " is annotated but was labelled none at line " + std::to_string(it->second));
    if (start.empty()) fail(origin, line, "start_s is empty");
    if (end.empty()) fail(origin, line, "end_s is empty");
    Annotation a;
    a.line = line;
    a.start_s = number_field(start, "start_s", origin, line);
    a.end_s = number_field(end, "end_s", origin, line);
    if (const std::string low = field(row, low_col); !low.empty()) a.low_hz = number_field(low, "low_hz", origin, line);
    if (const std::string high = field(row, high_col); !high.empty())
      a.high_hz = number_field(high, "high_hz", origin, line);
    a.label = label;
    check_times(a, origin);
    rec.annotations.push_back(std::move(a));
  }
  return recordings.take();
}

namespace {

// Reads lines, dropping line ends (\n or \r\n) and counting them.
class LineReader {
 public:
  explicit LineReader(std::istream& in) : in_(in) {}
  bool next(std::string& line) {
    if (!std::getline(in_, line)) return false;
    ++number_;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (number_ == 1) strip_bom(line);
    return true;
  }
  int number() const { return number_; }

 private:
  std::istream& in_;
  int number_ = 0;
};

// Raven's "Begin File" is often a bare name (the recording beside the table); ours is
// the path analyze was given, relative to where it ran.
fs::path resolve_raven_file(const fs::path& base_dir, const std::string& path) {
  const fs::path beside = resolve(base_dir, path);
  if (fs::path(path).is_relative() && !fs::exists(beside) && fs::exists(path)) return fs::path(path).lexically_normal();
  return beside;
}

}  // namespace

std::vector<AnnotatedRecording> read_raven_annotations(std::istream& in, const std::string& origin,
                                                       const fs::path& base_dir,
                                                       const std::optional<fs::path>& audio) {
  LineReader lines(in);
  std::string text;
  std::vector<std::string> header;
  while (header.empty() && lines.next(text))
    if (!trim(text).empty()) header = split(text, '\t');
  if (header.empty()) fail(origin, std::max(lines.number(), 1), "no header row (expected Selection, View, ... Begin Time (s) ...)");
  const int begin_col = column(header, {"Begin Time (s)"});
  const int end_col = column(header, {"End Time (s)"});
  if (begin_col < 0 || end_col < 0)
    fail(origin, lines.number(), "not a Raven selection table: no 'Begin Time (s)' and 'End Time (s)' columns");
  const int selection_col = column(header, {"Selection"});
  const int view_col = column(header, {"View"});
  const int low_col = column(header, {"Low Freq (Hz)"});
  const int high_col = column(header, {"High Freq (Hz)"});
  // A table over several files counts Begin Time from the start of the first; the time
  // within the selection's own file is its File Offset.
  const int offset_col = column(header, {"File Offset (s)"});
  const int path_col = column(header, {"Begin Path"});
  const int file_col = column(header, {"Begin File"});
  const int label_col = column(header, {"Annotation", "Species", "Label", "Class"});

  struct Kept {
    AnnotatedRecording* recording;
    std::size_t index;
    bool spectrogram;
  };
  Recordings recordings(origin);
  std::map<std::string, Kept> selections;
  while (lines.next(text)) {
    if (trim(text).empty()) continue;
    const int line = lines.number();
    const auto row = split(text, '\t');
    if (row.size() > header.size())
      fail(origin, line, std::to_string(row.size()) + " fields, the header has " + std::to_string(header.size()));
    std::string name = field(row, path_col);
    if (name.empty()) name = field(row, file_col);
    fs::path file;
    if (!name.empty()) {
      file = resolve_raven_file(base_dir, name);
    } else if (audio) {
      file = *audio;
      name = audio->filename().string();
    } else {
      fail(origin, line,
           "the table names no recording (no Begin File column) and no single recording with its name lies "
           "beside it; give it with --audio");
    }
    Annotation a;
    a.line = line;
    const std::string begin = field(row, begin_col);
    const std::string end = field(row, end_col);
    if (begin.empty()) fail(origin, line, "Begin Time (s) is empty");
    if (end.empty()) fail(origin, line, "End Time (s) is empty");
    a.start_s = number_field(begin, "Begin Time (s)", origin, line);
    a.end_s = number_field(end, "End Time (s)", origin, line);
    if (const std::string offset = field(row, offset_col); !offset.empty()) {
      const double length_s = a.end_s - a.start_s;
      a.start_s = number_field(offset, "File Offset (s)", origin, line);
      a.end_s = a.start_s + length_s;
    }
    if (const std::string low = field(row, low_col); !low.empty())
      a.low_hz = number_field(low, "Low Freq (Hz)", origin, line);
    if (const std::string high = field(row, high_col); !high.empty())
      a.high_hz = number_field(high, "High Freq (Hz)", origin, line);
    a.label = field(row, label_col);
    check_times(a, origin);

    // Raven writes one row per view (Waveform, Spectrogram) of the same selection.
    // Keep one, preferring the spectrogram's row: it carries the frequency band.
    const std::string selection = field(row, selection_col);
    const bool spectrogram = lower(field(row, view_col)).rfind("spectrogram", 0) == 0;
    AnnotatedRecording& rec = recordings.get(name, file);
    if (!selection.empty()) {
      if (const auto it = selections.find(selection); it != selections.end()) {
        Annotation& kept = it->second.recording->annotations[it->second.index];
        if (it->second.recording != &rec || std::abs(kept.start_s - a.start_s) > 1e-6 ||
            std::abs(kept.end_s - a.end_s) > 1e-6)
          fail(origin, line, "selection " + selection + " differs from its row at line " + std::to_string(kept.line));
        if (spectrogram && !it->second.spectrogram) {
          kept = a;
          it->second.spectrogram = true;
        }
        continue;
      }
      selections.emplace(selection, Kept{&rec, rec.annotations.size(), spectrogram});
    }
    rec.annotations.push_back(std::move(a));
  }
  auto out = recordings.take();
  // A table without any selection still says its recording has no bird sound.
  if (out.empty() && audio) out.push_back({audio->filename().string(), *audio, {}, origin});
  return out;
}

std::vector<AnnotatedRecording> read_audacity_annotations(std::istream& in, const std::string& origin,
                                                          const fs::path& audio) {
  AnnotatedRecording rec{audio.filename().string(), audio, {}, origin};
  LineReader lines(in);
  std::string text;
  bool frequency_allowed = false;  // a frequency line belongs to the label line just before
  while (lines.next(text)) {
    if (trim(text).empty()) continue;
    const int line = lines.number();
    if (text[0] == '\\') {
      if (!frequency_allowed) fail(origin, line, "a frequency line must follow a label line");
      const auto f = split(text, '\t');
      if (f.size() != 3) fail(origin, line, "expected '\\<TAB>low<TAB>high'");
      Annotation& a = rec.annotations.back();
      // Audacity writes -1 for an undefined edge of the frequency range.
      const double low = number_field(f[1], "low frequency", origin, line);
      const double high = number_field(f[2], "high frequency", origin, line);
      if (low >= 0.0) a.low_hz = low;
      if (high >= 0.0) a.high_hz = high;
      if (a.low_hz && a.high_hz && *a.high_hz < *a.low_hz)
        fail(origin, line, "high frequency is below low frequency");
      frequency_allowed = false;
      continue;
    }
    std::vector<std::string> f = split(text, '\t');
    if (f.size() == 1) {  // hand-written tracks separated by spaces
      std::istringstream words(text);
      std::string start, end, label;
      words >> start >> end;
      std::getline(words >> std::ws, label);
      f = {start, end, label};
    }
    if (f.size() < 2 || trim(f[1]).empty()) fail(origin, line, "expected 'start<TAB>end<TAB>label'");
    if (f.size() > 3)
      fail(origin, line, std::to_string(f.size()) + " fields; expected 'start<TAB>end<TAB>label'");
    Annotation a;
    a.line = line;
    a.start_s = number_field(f[0], "start", origin, line);
    a.end_s = number_field(f[1], "end", origin, line);
    a.label = f.size() > 2 ? trim(f[2]) : std::string();
    check_times(a, origin);
    rec.annotations.push_back(std::move(a));
    frequency_allowed = true;
  }
  return {std::move(rec)};
}

namespace {

bool is_audio_extension(std::string ext) {
  ext = lower(ext);
  for (const char* e : {".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".aif", ".aiff", ".w64", ".caf"})
    if (ext == e) return true;
  return false;
}

// The recording beside an annotation file: same name up to the first '.'.
std::optional<fs::path> recording_beside(const fs::path& file) {
  const std::string name = file.filename().string();
  const std::string stem = name.substr(0, name.find('.'));
  const fs::path dir = file.parent_path().empty() ? fs::path(".") : file.parent_path();
  std::vector<fs::path> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const fs::path p = entry.path();
    if (p.stem().string() == stem && is_audio_extension(p.extension().string()) && entry.is_regular_file(ec))
      found.push_back(file.parent_path() / p.filename());
  }
  if (found.size() != 1) return std::nullopt;  // none, or several to choose from
  return found.front();
}

AnnotationFormat detect_format(const fs::path& file, std::istream& in) {
  if (lower(file.extension().string()) == ".csv") return AnnotationFormat::csv;
  LineReader lines(in);
  std::string text;
  while (lines.next(text)) {
    if (trim(text).empty()) continue;
    if (text.find('\t') != std::string::npos && text.find("Begin Time (s)") != std::string::npos)
      return AnnotationFormat::raven;
    const std::string first = trim(split(split(text, '\t')[0], ' ')[0]);
    if (text[0] == '\\' || parse_number(first)) return AnnotationFormat::audacity;
    if (text.find(',') != std::string::npos) return AnnotationFormat::csv;
    fail(file.string(), lines.number(),
         "cannot tell the annotation format (not a CSV header, a Raven selection table or an Audacity label "
         "line); choose one with --annotation-format");
  }
  return AnnotationFormat::audacity;  // Audacity exports an empty track as an empty file
}

}  // namespace

std::vector<AnnotatedRecording> read_annotations(const fs::path& file, AnnotationFormat format,
                                                 const std::optional<fs::path>& audio) {
  const std::string origin = file.string();
  std::ifstream in(file, std::ios::binary);
  if (!in || fs::is_directory(file))
    throw AnnotationError(origin + ": cannot read: " + (fs::is_directory(file) ? "is a directory" : std::strerror(errno)));
  if (format == AnnotationFormat::automatic) {
    format = detect_format(file, in);
    in.clear();
    in.seekg(0);
  }
  const fs::path base_dir = file.parent_path();
  if (format == AnnotationFormat::csv) return read_csv_annotations(in, origin, base_dir);
  const std::optional<fs::path> recording = audio ? audio : recording_beside(file);
  if (format == AnnotationFormat::raven) return read_raven_annotations(in, origin, base_dir, recording);
  if (!recording)
    throw AnnotationError(origin + ": no single recording named " +
                          file.filename().string().substr(0, file.filename().string().find('.')) +
                          ".wav (or .flac, .mp3 ...) beside it; give it with --audio");
  return read_audacity_annotations(in, origin, *recording);
}

}  // namespace birdsong
