// evaluate: scores events against annotations (precision, recall, F1, false events per
// minute), so that users can tune the detector for their own site. Events come from the
// detector itself (the same code path as analyze) or from a file analyze wrote.
#include <charconv>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>

#include "agent/audio/sound_file.hpp"
#include "agent/commands/commands.hpp"
#include "agent/evaluate/annotations.hpp"
#include "agent/evaluate/scoring.hpp"

namespace birdsong {

namespace fs = std::filesystem;

namespace {

// One event as scoring needs it.
struct ScoredEvent {
  std::optional<std::string> file;
  TimeSpan span;
};

// Keeps the events the detector writes, instead of printing them.
class EventCollector : public EventWriter {
 public:
  explicit EventCollector(std::vector<TimeSpan>& out) : out_(out) {}
  void write(const Event& e) override { out_.push_back({e.sound.start_s, e.sound.end_s}); }

 private:
  std::vector<TimeSpan>& out_;
};

// Length from the header; streams that do not say, and MP3 whose header only
// estimates it (XC13738.mp3: 55.3 s claimed, 54.87 s decoded), are read to the end.
double duration_s(const fs::path& path) {
  SoundFile file(path.string(), DecoderNotes::captured);  // single-threaded, like analyze
  if (file.frames() >= 0 && file.format_name().find("MPEG") == std::string::npos) return file.duration_s();
  std::vector<float> chunk(16384);
  double samples = 0.0;
  while (const std::size_t n = file.read(chunk)) samples += static_cast<double>(n);
  return samples / file.sample_rate_hz();
}

double event_number(const nlohmann::json& j, const char* key, const std::string& where) {
  if (!j.contains(key) || !j[key].is_number()) throw AnnotationError(where + ": no number " + key);
  return j[key].get<double>();
}

double csv_number(const std::string& text, const char* key, const std::string& where) {
  double v = 0.0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size())
    throw AnnotationError(where + ": " + key + " '" + text + "' is not a number");
  return v;
}

// Events written by `analyze`: JSON lines (the default) or CSV.
std::vector<ScoredEvent> read_events(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in || fs::is_directory(path)) throw AnnotationError(path + ": cannot read events");
  std::vector<ScoredEvent> events;
  const bool csv = fs::path(path).extension() == ".csv" || (in >> std::ws, in.peek() != '{' && in.peek() != std::char_traits<char>::eof());
  in.clear();
  in.seekg(0);
  if (csv) {
    const auto records = parse_csv(in, path);
    if (records.empty()) return events;
    const auto& header = records.front().fields;
    auto col = [&](const char* name) {
      for (std::size_t i = 0; i < header.size(); ++i)
        if (header[i] == name) return static_cast<int>(i);
      return -1;
    };
    const int file_col = col("file"), start_col = col("start_s"), end_col = col("end_s");
    if (start_col < 0 || end_col < 0)
      throw AnnotationError(path + ":1: not an events file: no start_s and end_s columns");
    for (std::size_t r = 1; r < records.size(); ++r) {
      const auto& f = records[r].fields;
      const std::string where = path + ":" + std::to_string(records[r].line);
      if (f.size() == 1 && f[0].empty()) continue;
      if (f.size() != header.size())
        throw AnnotationError(where + ": " + std::to_string(f.size()) + " fields, the header has " +
                              std::to_string(header.size()));
      ScoredEvent e;
      e.span = {csv_number(f[start_col], "start_s", where), csv_number(f[end_col], "end_s", where)};
      if (file_col >= 0 && !f[file_col].empty()) e.file = f[file_col];
      events.push_back(std::move(e));
    }
    return events;
  }
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(number);
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw AnnotationError(where + ": not a JSON object");
    ScoredEvent e;
    e.span = {event_number(j, "start_s", where), event_number(j, "end_s", where)};
    if (j.contains("file") && j["file"].is_string()) e.file = j["file"].get<std::string>();
    events.push_back(std::move(e));
  }
  return events;
}

std::string same_file_key(const fs::path& p) {
  std::error_code ec;
  const fs::path c = fs::weakly_canonical(p, ec);
  return ec ? p.lexically_normal().string() : c.string();
}

// Gives each event to the recording it names: by resolved path, else by file name when
// only one annotated recording has it. Returns how many events found no recording.
std::size_t assign_events(const std::vector<ScoredEvent>& events, const std::vector<AnnotatedRecording>& recordings,
                          std::vector<std::vector<TimeSpan>>& per_recording) {
  std::map<std::string, std::size_t> by_path;
  std::map<std::string, std::vector<std::size_t>> by_name;
  for (std::size_t i = 0; i < recordings.size(); ++i) {
    by_path.emplace(same_file_key(recordings[i].audio), i);
    by_name[recordings[i].audio.filename().string()].push_back(i);
  }
  std::size_t lost = 0;
  for (const ScoredEvent& e : events) {
    std::optional<std::size_t> to;
    if (!e.file) {
      if (recordings.size() == 1) to = 0;  // live events name no file
    } else if (const auto it = by_path.find(same_file_key(*e.file)); it != by_path.end()) {
      to = it->second;
    } else if (const auto n = by_name.find(fs::path(*e.file).filename().string());
               n != by_name.end() && n->second.size() == 1) {
      to = n->second.front();
    }
    if (to) per_recording[*to].push_back(e.span);
    else ++lost;
  }
  return lost;
}

}  // namespace

int evaluate(const EvaluateOptions& options, std::ostream& out, std::ostream& err) {
  check_min_iou(options.min_iou);
  const AnnotationFormat format = parse_annotation_format(options.annotation_format);
  std::optional<fs::path> audio;
  if (!options.audio.empty()) audio = options.audio;

  std::vector<AnnotatedRecording> recordings;
  std::vector<ScoredEvent> events;
  try {
    std::map<std::string, std::string> annotated_in;  // recording -> annotation file
    for (const std::string& file : options.annotations)
      for (AnnotatedRecording& r : read_annotations(file, format, audio)) {
        const auto [it, added] = annotated_in.emplace(same_file_key(r.audio), r.source);
        if (!added)
          throw AnnotationError(r.source + ": " + r.name + " is also annotated in " + it->second +
                                "; give each recording's annotations once");
        recordings.push_back(std::move(r));
      }
    if (!options.events.empty()) events = read_events(options.events);
  } catch (const AnnotationError& e) {
    err << "evaluate: " << e.what() << '\n';
    return kExitUsage;
  }

  std::vector<std::vector<TimeSpan>> per_recording(recordings.size());
  if (!options.events.empty()) {
    if (const std::size_t lost = assign_events(events, recordings, per_recording))
      err << "evaluate: " << options.events << ": " << lost
          << " events belong to no annotated recording; not scored\n";
  }

  Evaluation evaluation;
  evaluation.min_iou = options.min_iou;
  for (std::size_t i = 0; i < recordings.size(); ++i) {
    const AnnotatedRecording& r = recordings[i];
    try {
      const double length_s = duration_s(r.audio);
      if (options.events.empty()) {
        EventCollector collector(per_recording[i]);
        analyze_file(r.audio.string(), options.config, collector);
      }
      evaluation.recordings.push_back(score_recording(r, per_recording[i], length_s, options.min_iou));
    } catch (const AudioError& e) {
      evaluation.failures.push_back(std::string(e.what()) + " (annotated in " + r.source + ")");
    } catch (const std::invalid_argument& e) {
      evaluation.failures.push_back(r.audio.string() + ": " + e.what());
    }
  }
  for (const std::string& f : evaluation.failures) err << "evaluate: " << f << '\n';

  if (options.json)
    out << to_json(evaluation).dump(2) << '\n';
  else
    write_table(evaluation, out);
  return evaluation.failures.empty() ? kExitOk : kExitInputFailed;
}

Command add_evaluate_command(CLI::App& app) {
  struct Args {
    EvaluateOptions options;
    SpeciesEvaluateOptions species;  // --manifest: clip-level species scores instead
    std::string config_path;
  };
  auto args = std::make_shared<Args>();
  EvaluateOptions& o = args->options;
  Command c;
  c.app = app.add_subcommand("evaluate", "Score detected events against annotations (precision, recall, F1), or species per clip (--manifest)");
  c.app->add_option("--annotations", o.annotations,
                    "Annotations: CSV (path,start_s,end_s[,low_hz,high_hz,label]), Raven selection table or "
                    "Audacity label track; repeatable");
  auto* manifest = c.app->add_option("--manifest", args->species.manifest,
                                     "Species instead: CSV of labelled recordings (path,label,...), scored per clip");
  c.app->add_option("--profiles", args->species.profiles, "With --manifest: the profile pack to score")
      ->needs(manifest);
  c.app->add_option("--cross-validate", args->species.cross_validate,
                    "With --manifest: learn on K-1 folds of the recordings, score the last, K times")
      ->needs(manifest)
      ->check(CLI::Range(2, 100));
  c.app->add_option("--seed", args->species.seed,
                    "With --cross-validate: the shuffle of the recordings into folds (another seed, other folds)")
      ->needs(c.app->get_option("--cross-validate"))
      ->default_str("1");
  c.app->add_option("--hidden", args->species.hidden,
                    "With --cross-validate: units of the hidden layer of the packs learned (as learn --hidden)")
      ->needs(c.app->get_option("--cross-validate"))
      ->default_str(std::to_string(args->species.hidden))
      ->check(CLI::Range(0, 4096));
  c.app->add_option("--context", args->species.context_s,
                    "With --cross-validate: seconds of audio before a sound that it is judged with (as learn --context)")
      ->needs(c.app->get_option("--cross-validate"))
      ->capture_default_str()
      ->check(CLI::Range(0.0, 60.0));
  c.app->add_option("--codes", args->species.codes,
                    "With --cross-validate: frame codes each pack learns (as learn --codes)")
      ->needs(c.app->get_option("--cross-validate"))
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  manifest->excludes(c.app->get_option("--annotations"));
  c.app->add_option("--annotation-format", o.annotation_format, "auto, csv, raven or audacity")->default_str("auto");
  c.app->add_option("--audio", o.audio, "The recording a Raven table or Audacity track describes, when it does "
                                        "not name it and it does not lie beside it");
  c.app->add_option("--events", o.events, "Events written by analyze (jsonl or csv); without it the detector runs");
  c.app->add_option("--iou", o.min_iou, "Least time intersection over union for an event to match a sound")
      ->default_str("0.3");
  c.app->add_option("--config", args->config_path, "TOML configuration ([detector] applies; with --manifest, [species] too)");
  c.app->add_flag("--json", o.json, "JSON instead of a table");
  c.run = [args] {
    if (!args->config_path.empty()) args->options.config = load_config(args->config_path);
    if (!args->species.manifest.empty()) {
      args->species.config = args->options.config;
      args->species.json = args->options.json;
      return evaluate_species(args->species, std::cout, std::cerr);
    }
    if (args->options.annotations.empty()) {
      std::cerr << "evaluate: give --annotations FILE (detected events) or --manifest FILE (species per clip)\n";
      return kExitUsage;
    }
    return evaluate(args->options, std::cout, std::cerr);
  };
  return c;
}

}  // namespace birdsong
