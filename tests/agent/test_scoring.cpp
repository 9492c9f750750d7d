#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <sstream>

#include "agent/commands/commands.hpp"
#include "agent/evaluate/scoring.hpp"

using namespace birdsong;
namespace fs = std::filesystem;

namespace {

using Pairs = std::vector<std::pair<std::size_t, std::size_t>>;

Pairs match(const std::vector<TimeSpan>& annotations, const std::vector<TimeSpan>& events, double iou = 0.3) {
  return match_events(annotations, events, iou);
}

// The largest one-to-one matching, by trying every assignment (small cases only).
std::size_t brute_force_matches(const std::vector<TimeSpan>& a, const std::vector<TimeSpan>& e, double iou) {
  std::vector<bool> used(e.size());
  std::function<std::size_t(std::size_t)> best = [&](std::size_t i) -> std::size_t {
    if (i == a.size()) return 0;
    std::size_t most = best(i + 1);  // annotation i unmatched
    for (std::size_t j = 0; j < e.size(); ++j)
      if (!used[j] && time_iou(a[i], e[j]) >= iou - 1e-9) {
        used[j] = true;
        most = std::max(most, 1 + best(i + 1));
        used[j] = false;
      }
    return most;
  };
  return best(0);
}

struct ScratchDir {
  fs::path path = fs::temp_directory_path() / ("birdsong-scoring-" + std::to_string(::getpid()));
  ScratchDir() { fs::create_directories(path); }
  ~ScratchDir() { fs::remove_all(path); }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(path / name) << text;
    return (path / name).string();
  }
};

}  // namespace

TEST_CASE("scoring: time IoU") {
  CHECK(time_iou({0, 1}, {0, 1}) == 1.0);
  CHECK(time_iou({0, 1}, {0.5, 1.5}) == doctest::Approx(0.5 / 1.5));
  CHECK(time_iou({0, 1}, {1, 2}) == 0.0);  // touching is not overlapping
  CHECK(time_iou({0, 4}, {1, 2}) == 0.25);
  CHECK(time_iou({2, 3}, {0, 1}) == 0.0);
}

TEST_CASE("scoring: the IoU threshold is inclusive, to decimal precision") {
  CHECK(match({{0, 1}}, {{0, 0.3}}) == Pairs{{0, 0}});
  CHECK(match({{0, 1}}, {{0, 0.29}}).empty());
  CHECK(match({{0, 1}}, {{0.7, 1.0}}) == Pairs{{0, 0}});
  // 0.3 s of a 1 s sound computes as 0.2999999999999998 in binary; it still matches.
  REQUIRE(time_iou({1.1, 2.1}, {1.1, 1.4}) < 0.3);
  CHECK(match({{1.1, 2.1}}, {{1.1, 1.4}}) == Pairs{{0, 0}});
  CHECK(match({{0, 1}}, {{0, 0.5}}, 0.5) == Pairs{{0, 0}});
  CHECK(match({{0, 1}}, {{0, 0.49}}, 0.5).empty());
  CHECK(match({{0, 1}}, {{0, 1}}, 1.0) == Pairs{{0, 0}});
  CHECK_THROWS_WITH_AS(match({}, {}, 0.0), "--iou 0: expected a number above 0 and at most 1", std::invalid_argument);
  CHECK_THROWS_WITH_AS(match({}, {}, 1.5), "--iou 1.5: expected a number above 0 and at most 1",
                       std::invalid_argument);
}

TEST_CASE("scoring: each sound and each event match at most once") {
  // Two events on one sound: one match, one false event.
  CHECK(match({{0, 1}}, {{0, 0.9}, {0.1, 1}}).size() == 1);
  // One event over two sounds: one match, one missed sound.
  CHECK(match({{0, 1}, {0.1, 1.1}}, {{0, 1.05}}).size() == 1);
  // Events in a different order than sounds.
  CHECK(match({{0, 1}, {5, 6}, {10, 11}}, {{10.1, 11}, {0, 0.8}, {20, 21}}) == Pairs{{0, 1}, {2, 0}});
}

TEST_CASE("scoring: maximum matching finds what greedy-by-IoU misses") {
  // Event 0 fits sound 0 best (IoU 0.91) but also fits sound 1 (0.42); event 1 fits
  // only sound 0 (0.4). Greedy takes event 0 for sound 0 and leaves one match; the
  // maximum matching pairs event 0 with sound 1 and event 1 with sound 0.
  const std::vector<TimeSpan> sounds = {{0, 1}, {0.6, 1.2}};
  const std::vector<TimeSpan> events = {{0, 1.1}, {0, 0.4}};
  REQUIRE(time_iou(sounds[0], events[0]) > time_iou(sounds[1], events[0]));
  CHECK(match(sounds, events) == Pairs{{0, 1}, {1, 0}});
}

TEST_CASE("scoring: empty sets") {
  CHECK(match({}, {}).empty());
  CHECK(match({{0, 1}}, {}).empty());
  CHECK(match({}, {{0, 1}}).empty());
}

TEST_CASE("scoring: matching agrees with exhaustive search on random cases") {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> start(0.0, 5.0), length(0.1, 2.0);
  std::uniform_int_distribution<int> count(0, 7);
  for (int trial = 0; trial < 300; ++trial) {
    std::vector<TimeSpan> a(count(rng)), e(count(rng));
    for (auto* spans : {&a, &e})
      for (TimeSpan& s : *spans) {
        s.start_s = start(rng);
        s.end_s = s.start_s + length(rng);
      }
    const auto pairs = match(a, e);
    CAPTURE(trial);
    CHECK(pairs.size() == brute_force_matches(a, e, 0.3));
    std::vector<bool> seen_a(a.size()), seen_e(e.size());
    for (const auto& [i, j] : pairs) {
      CHECK_FALSE(seen_a[i]);
      CHECK_FALSE(seen_e[j]);
      seen_a[i] = seen_e[j] = true;
      CHECK(time_iou(a[i], e[j]) >= 0.3 - 1e-9);
    }
  }
}

TEST_CASE("scoring: a recording's counts, per label, and the totals") {
  AnnotatedRecording rec;
  rec.name = "dawn.wav";
  rec.audio = "/d/dawn.wav";
  for (auto [start, end, label] : {std::tuple{0.0, 1.0, "Turdus merula"}, {2.0, 3.0, "Turdus merula"},
                                   {5.0, 6.0, "Parus major"}, {8.0, 9.0, ""}})
    rec.annotations.push_back({start, end, {}, {}, label, 0});
  const std::vector<TimeSpan> events = {{0.1, 1.0}, {5.0, 5.9}, {6.5, 7.0}, {8.2, 8.9}, {20, 21}, {21, 22}};
  const RecordingScore s = score_recording(rec, events, 120.0, 0.3);
  CHECK(s.annotations == 4);
  CHECK(s.events == 6);
  CHECK(s.matched == 3);
  CHECK(s.labels.at("Turdus merula").annotations == 2);
  CHECK(s.labels.at("Turdus merula").matched == 1);
  CHECK(s.labels.at("Parus major").matched == 1);
  CHECK(s.labels.at("").matched == 1);
  const ScoreTotals t = totals_of(s);
  CHECK(*precision(t) == 0.5);
  CHECK(*recall(t) == 0.75);
  CHECK(*f1(t) == doctest::Approx(0.6));
  CHECK(*false_events_per_min(t) == 1.5);  // 3 false events in 2 minutes

  RecordingScore quiet;  // declared without bird sound
  quiet.name = "rain.wav";
  quiet.duration_s = 30.0;
  quiet.events = 2;
  Evaluation e;
  e.recordings = {s, quiet};
  const ScoreTotals annotated = annotated_totals(e);
  CHECK(annotated.recordings == 1);
  CHECK(*precision(annotated) == 0.5);
  const ScoreTotals empty = empty_totals(e);
  CHECK(empty.recordings == 1);
  CHECK(*precision(empty) == 0.0);  // 2 events, none matched
  CHECK_FALSE(recall(empty).has_value());
  CHECK(*f1(empty) == 0.0);
  CHECK(*false_events_per_min(empty) == 4.0);
  CHECK_FALSE(precision(ScoreTotals{}).has_value());
  CHECK_FALSE(f1(ScoreTotals{}).has_value());

  const auto j = to_json(e);
  CHECK(j["annotated"]["f1"] == 0.6);
  CHECK(j["empty"]["false_per_min"] == 4.0);
  CHECK(j["empty"]["recall"].is_null());
  CHECK(j["recordings"][0]["false_events"] == 3);
  CHECK(j["labels"][1]["label"] == "Parus major");
  CHECK(j["labels"][2]["recall"] == 0.5);

  std::ostringstream table;
  write_table(e, table);
  CHECK(table.str().find("rain.wav") != std::string::npos);
  CHECK(table.str() ==
        "recording                            seconds  sounds  events  matched  precision  recall     F1  false/min\n"
        "dawn.wav                               120.0       4       6        3      0.500   0.750  0.600        1.5\n"
        "rain.wav                                30.0       0       2        0      0.000       -  0.000        4.0\n"
        "----------------------------------------------------------------------------------------------------------\n"
        "all with sounds (1 recording)          120.0       4       6        3      0.500   0.750  0.600        1.5\n"
        "all without sounds (1 recording)        30.0       0       2        0      0.000       -  0.000        4.0\n"
        "(events match sounds one-to-one when their time IoU >= 0.3)\n"
        "\n"
        "label            sounds  matched  recall\n"
        "(no label)            1        1   1.000\n"
        "Parus major           1        1   1.000\n"
        "Turdus merula         2        1   0.500\n");
}

TEST_CASE("evaluate: scores an events file against a CSV, durations from the audio") {
  ScratchDir dir;
  const std::string audio = BIRDSONG_FIXTURES "/Great_Tit.wav";  // 3 s
  const std::string quiet = BIRDSONG_FIXTURES "/Background.wav";  // 3 s
  EvaluateOptions o;
  o.annotations = {dir.write("a.csv", "path,start_s,end_s,label\n" + audio + ",0.5,1.0,Parus major\n" + audio +
                                          ",1.5,2.0,Parus major\n" + quiet + ",,,none\n")};
  o.events = dir.write("events.jsonl",
                       "{\"file\":\"elsewhere/Great_Tit.wav\",\"start_s\":0.55,\"end_s\":1.0}\n"
                       "{\"file\":\"" + audio + "\",\"start_s\":2.5,\"end_s\":2.9}\n"
                       "{\"file\":\"Background.wav\",\"start_s\":1,\"end_s\":2}\n"
                       "{\"file\":\"Mallard.wav\",\"start_s\":1,\"end_s\":2}\n");
  o.json = true;
  std::stringstream out, err;
  REQUIRE(evaluate(o, out, err) == kExitOk);
  CHECK(err.str() == "evaluate: " + o.events + ": 1 events belong to no annotated recording; not scored\n");
  const auto j = nlohmann::json::parse(out.str());
  REQUIRE(j["recordings"].size() == 2);
  CHECK(j["recordings"][0]["duration_s"] == 3.0);
  CHECK(j["recordings"][0]["events"] == 2);
  CHECK(j["recordings"][0]["matched"] == 1);
  CHECK(j["annotated"]["precision"] == 0.5);
  CHECK(j["annotated"]["recall"] == 0.5);
  CHECK(j["annotated"]["false_per_min"] == 20.0);
  CHECK(j["empty"]["events"] == 1);
  CHECK(j["empty"]["false_per_min"] == 20.0);
  CHECK(j["labels"][0]["recall"] == 0.5);

  // The same events as CSV (analyze --format csv) score the same.
  o.events = dir.write("events.csv",
                       "id,station,time,file,start_s,end_s\n1,g,,\"elsewhere/Great_Tit.wav\",0.550,1.000\n"
                       "2,g,," + audio + ",2.500,2.900\n3,g,,Background.wav,1.000,2.000\n");
  std::stringstream out_csv, err_csv;
  REQUIRE(evaluate(o, out_csv, err_csv) == kExitOk);
  CHECK(nlohmann::json::parse(out_csv.str())["annotated"] == j["annotated"]);
}

TEST_CASE("evaluate: a missing recording fails alone, bad annotations stop with exit 2") {
  ScratchDir dir;
  const std::string audio = BIRDSONG_FIXTURES "/Great_Tit.wav";
  EvaluateOptions o;
  o.annotations = {dir.write("a.csv", "path,start_s,end_s\n" + audio + ",0.5,1.0\ngone.wav,1,2\n")};
  o.events = dir.write("events.jsonl", "");
  std::stringstream out, err;
  CHECK(evaluate(o, out, err) == kExitInputFailed);
  CHECK(err.str() == "evaluate: " + (dir.path / "gone.wav").string() + ": No such file or directory (annotated in " +
                         o.annotations[0] + ")\n");
  CHECK(out.str().find("Great_Tit.wav") != std::string::npos);

  o.annotations = {dir.write("b.csv", "path,start_s,end_s\nx.wav,2,1\n")};
  std::stringstream out2, err2;
  CHECK(evaluate(o, out2, err2) == kExitUsage);
  CHECK(err2.str() == "evaluate: " + o.annotations[0] + ":2: end 1 s is not after start 2 s\n");

  o.annotations = {dir.write("c.csv", "path,start_s,end_s\n" + audio + ",0.5,1.0\n"),
                   dir.write("d.csv", "path,start_s,end_s\n" + audio + ",1.5,2.0\n")};
  std::stringstream out3, err3;
  CHECK(evaluate(o, out3, err3) == kExitUsage);
  CHECK(err3.str() == "evaluate: " + o.annotations[1] + ": " + audio + " is also annotated in " + o.annotations[0] +
                          "; give each recording's annotations once\n");

  o.annotations = {o.annotations[0]};
  o.events = dir.write("bad.jsonl", "{\"start_s\":1,\"end_s\":2}\n{\"start_s\":1}\n");
  std::stringstream out4, err4;
  CHECK(evaluate(o, out4, err4) == kExitUsage);
  CHECK(err4.str() == "evaluate: " + o.events + ":2: no number end_s\n");
}

TEST_CASE("evaluate: without an events file the detector runs, as analyze would") {
  ScratchDir dir;
  std::vector<std::string> files;
  std::string csv = "path,start_s,end_s,label\n";
  for (const auto& entry : fs::directory_iterator(BIRDSONG_FIXTURES))
    if (entry.path().extension() == ".wav") {
      files.push_back(entry.path().string());
      csv += entry.path().string() + ",0.5,1.5,x\n";
    }
  AnalyzeOptions a;
  a.files = files;
  std::stringstream events, analyze_err;
  REQUIRE(analyze(a, events, analyze_err) == kExitOk);
  std::map<std::string, std::size_t> per_file;
  const std::string lines = events.str();
  std::istringstream in(lines);
  for (std::string line; std::getline(in, line);) ++per_file[nlohmann::json::parse(line)["file"].get<std::string>()];
  REQUIRE_FALSE(per_file.empty());

  EvaluateOptions o;
  o.annotations = {dir.write("a.csv", csv)};
  o.json = true;
  std::stringstream out, err;
  REQUIRE(evaluate(o, out, err) == kExitOk);
  CHECK(err.str().empty());
  const auto j = nlohmann::json::parse(out.str());
  REQUIRE(j["recordings"].size() == files.size());
  for (const auto& r : j["recordings"]) {
    CAPTURE(r["path"]);
    CHECK(r["events"] == per_file[r["path"].get<std::string>()]);
    CHECK(r["duration_s"] == 3.0);
  }

  // And the events analyze wrote score the same through --events.
  o.events = dir.write("events.jsonl", lines);
  std::stringstream out2, err2;
  REQUIRE(evaluate(o, out2, err2) == kExitOk);
  CHECK(nlohmann::json::parse(out2.str())["recordings"] == j["recordings"]);
}

TEST_CASE("evaluate: the real soundscapes and negatives score, with decoded durations") {
  const fs::path data = fs::path(BIRDSONG_SHARED_DATA);
  if (!fs::is_directory(data / "soundscapes") || !fs::is_directory(data / "negatives")) {
    MESSAGE("skipped: " << data << " is absent");
    return;
  }
  EvaluateOptions o;
  o.annotations = {(data / "soundscapes/annotations.csv").string(), (data / "negatives/manifest.csv").string()};
  o.json = true;
  std::stringstream out, err;
  REQUIRE(evaluate(o, out, err) == kExitOk);
  CHECK(err.str().empty());
  const auto j = nlohmann::json::parse(out.str());
  CHECK(j["annotated"]["recordings"] == 5);
  CHECK(j["annotated"]["annotations"] == 52);
  CHECK(j["empty"]["recordings"] == 47);
  std::map<std::string, double> seconds;
  for (const auto& r : j["recordings"]) seconds[r["name"].get<std::string>()] = r["duration_s"].get<double>();
  CHECK(seconds.at("monitoR_survey.wav") == doctest::Approx(23.5).epsilon(0.01));
  CHECK(seconds.at("ohun_lbh1.wav") == doctest::Approx(5.0).epsilon(0.01));
  // The MP3 header claims 55.3 s; decoding gives the true length (sox: 54.87 s).
  CHECK(seconds.at("XC13738.mp3") == doctest::Approx(54.85).epsilon(0.001));
}
