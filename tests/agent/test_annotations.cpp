#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "agent/commands/commands.hpp"
#include "agent/evaluate/annotations.hpp"
#include "agent/output/event_writer.hpp"

using namespace birdsong;
namespace fs = std::filesystem;

namespace {

const fs::path kData = fs::path(BIRDSONG_SOURCE_DIR) / "tests/data/annotations";

bool near(double a, double b, double tolerance) { return std::abs(a - b) <= tolerance; }

// The message of the AnnotationError a reader throws, or "no error".
template <typename Read>
std::string error_of(Read read) {
  try {
    read();
  } catch (const AnnotationError& e) {
    return e.what();
  }
  return "no error";
}

std::string csv_error(const std::string& text) {
  return error_of([&] {
    std::istringstream in(text);
    read_csv_annotations(in, "t.csv", "/d");
  });
}
std::string raven_error(const std::string& text) {
  return error_of([&] {
    std::istringstream in(text);
    read_raven_annotations(in, "t.txt", "/d", fs::path("/d/r.wav"));
  });
}
std::string audacity_error(const std::string& text) {
  return error_of([&] {
    std::istringstream in(text);
    read_audacity_annotations(in, "t.txt", "/d/r.wav");
  });
}

// A scratch directory, removed afterwards.
struct ScratchDir {
  fs::path path = fs::temp_directory_path() / ("birdsong-annotations-" + std::to_string(::getpid()));
  ScratchDir() { fs::create_directories(path); }
  ~ScratchDir() { fs::remove_all(path); }
  fs::path write(const std::string& name, const std::string& text) const {
    std::ofstream(path / name) << text;
    return path / name;
  }
};

}  // namespace

TEST_CASE("annotations: CSV with quotes, CRLF, extra columns and an empty recording") {
  const auto recs = read_annotations(kData / "quoted.csv");
  REQUIRE(recs.size() == 4);
  CHECK(recs[0].name == "dawn, garden.wav");
  CHECK(recs[0].audio == kData / "dawn, garden.wav");
  REQUIRE(recs[0].annotations.size() == 1);
  CHECK(recs[0].annotations[0].start_s == 1.5);
  CHECK(recs[0].annotations[0].end_s == 2.25);
  CHECK(recs[0].annotations[0].low_hz == 2000.0);
  CHECK(recs[0].annotations[0].high_hz == 6000.0);
  CHECK(recs[0].annotations[0].label == "Turdus merula");
  CHECK(recs[0].annotations[0].line == 2);

  CHECK(recs[1].name == "dawn.wav");  // rows of one recording gather, wherever they are
  REQUIRE(recs[1].annotations.size() == 2);
  CHECK_FALSE(recs[1].annotations[0].low_hz.has_value());
  CHECK(recs[1].annotations[1].start_s == 2.0);
  CHECK(recs[1].annotations[1].line == 8);  // counted across the quoted line break

  CHECK(recs[2].audio == kData / "sub/dusk.wav");
  REQUIRE(recs[2].annotations.size() == 1);
  CHECK(recs[2].annotations[0].label.empty());
  CHECK(recs[2].annotations[0].line == 4);

  CHECK(recs[3].name == "empty.wav");
  CHECK(recs[3].annotations.empty());
  CHECK(recs[3].source == (kData / "quoted.csv").string());
}

TEST_CASE("annotations: RFC 4180 records") {
  std::istringstream in("a,\"b,\"\"c\"\"\",\"\"\n\"x\ny\",2\nlast,\"\"");
  const auto r = parse_csv(in, "t.csv");
  REQUIRE(r.size() == 3);
  CHECK(r[0].fields == std::vector<std::string>{"a", "b,\"c\"", ""});
  CHECK(r[1].fields == std::vector<std::string>{"x\ny", "2"});
  CHECK(r[2].line == 4);
  CHECK(r[2].fields == std::vector<std::string>{"last", ""});
}

TEST_CASE("annotations: malformed CSV gives one line with file, line and reason") {
  CHECK(csv_error("path,start_s,end_s\na.wav,1,x\n") == "t.csv:2: end_s 'x' is not a number");
  CHECK(csv_error("path,start_s,end_s\n\"a\nb.wav\",1,2\na.wav,2,1\n") ==
        "t.csv:4: end 1 s is not after start 2 s");
  CHECK(csv_error("path,start_s,end_s\na.wav,1,2,3\n") == "t.csv:2: 4 fields, the header has 3");
  CHECK(csv_error("path,start_s,end_s\na.wav,1,2\n\"b.wav,1,2\n") == "t.csv:3: a quoted field is never closed");
  CHECK(csv_error("file,start_s,end_s\na.wav,1,2\n") == "t.csv:1: the header has no path column");
  CHECK(csv_error("path,start_s\na.wav,1\n") == "t.csv:1: the header has start_s but no end_s");
  CHECK(csv_error("path,start_s,end_s\na.wav,-1,2\n") == "t.csv:2: start -1 s is negative");
  CHECK(csv_error("path,start_s,end_s,low_hz,high_hz\na.wav,1,2,5000,3000\n") ==
        "t.csv:2: high frequency 3000 Hz is below low frequency 5000 Hz");
  CHECK(csv_error("path,start_s,end_s\n,1,2\n") == "t.csv:2: path is empty");
  CHECK(csv_error("path,start_s,end_s\na.wav,1,\n") == "t.csv:2: end_s is empty");
  CHECK(csv_error("") == "t.csv:1: no header row (expected path,start_s,end_s,...)");
  // Clip-level labels (like tests/fixtures/manifest.csv) say nothing about when.
  CHECK(csv_error("path,label,common_name\na.wav,Parus major,Great Tit\n") ==
        "t.csv:2: no start_s/end_s; only a row labelled none (a recording without bird sound) may leave them out");
  CHECK(csv_error("path,start_s,end_s,label\na.wav,,,none\na.wav,1,2,x\n") ==
        "t.csv:3: a.wav is annotated but was labelled none at line 2");
  CHECK(csv_error("path,start_s,end_s,label\na.wav,1,2,x\na.wav,,,none\n") ==
        "t.csv:3: a.wav is labelled none but has annotations (line 2)");
  CHECK(csv_error("path,start_s,end_s,label\na.wav,1,2,none\n") ==
        "t.csv:2: label none declares a recording without bird sound, but the row has times");
}

TEST_CASE("annotations: Raven keeps one row per selection, preferring the spectrogram view") {
  const auto recs = read_annotations(kData / "duplicate_views.raven.txt", AnnotationFormat::automatic,
                                     fs::path("/recordings/dawn.wav"));
  REQUIRE(recs.size() == 1);
  CHECK(recs[0].name == "dawn.wav");
  CHECK(recs[0].audio == fs::path("/recordings/dawn.wav"));
  const auto& a = recs[0].annotations;
  REQUIRE(a.size() == 3);
  CHECK(a[0].start_s == 0.5);
  CHECK(a[0].end_s == 1.25);
  CHECK(a[0].low_hz == 2100.5);  // from the spectrogram row, which came second
  CHECK(a[0].high_hz == 5400.0);
  CHECK(a[0].label == "TUME");
  CHECK(a[0].line == 3);
  CHECK(a[1].low_hz == 3000.0);
  CHECK(a[1].label == "PAMA");
  CHECK(a[2].start_s == 10.0);
  CHECK(a[2].label.empty());
}

TEST_CASE("annotations: Raven files, offsets and errors") {
  std::istringstream in(
      "Selection\tView\tChannel\tBegin File\tFile Offset (s)\tBegin Time (s)\tEnd Time (s)\tAnnotation\n"
      "1\tSpectrogram 1\t1\ta.wav\t1.5\t1.5\t2.0\tx\n"
      "2\tSpectrogram 1\t1\tb.wav\t0.25\t60.25\t61.0\ty\n");
  const auto recs = read_raven_annotations(in, "t.txt", "/d", std::nullopt);
  REQUIRE(recs.size() == 2);
  CHECK(recs[0].audio == fs::path("/d/a.wav"));
  CHECK(recs[1].name == "b.wav");
  REQUIRE(recs[1].annotations.size() == 1);
  CHECK(recs[1].annotations[0].start_s == 0.25);  // within b.wav, not on the table's timeline
  CHECK(recs[1].annotations[0].end_s == 1.0);
  CHECK(recs[1].annotations[0].label == "y");

  const std::string header = "Selection\tView\tBegin Time (s)\tEnd Time (s)\n";
  CHECK(raven_error(header + "1\tWaveform 1\t1\t2\n1\tSpectrogram 1\t1\t2.5\n") ==
        "t.txt:3: selection 1 differs from its row at line 2");
  CHECK(raven_error(header + "1\tSpectrogram 1\tabc\t2\n") == "t.txt:2: Begin Time (s) 'abc' is not a number");
  CHECK(raven_error(header + "1\tSpectrogram 1\t1\t2\t3\n") == "t.txt:2: 5 fields, the header has 4");
  CHECK(raven_error("Selection\tView\tStart\tEnd\n") ==
        "t.txt:1: not a Raven selection table: no 'Begin Time (s)' and 'End Time (s)' columns");
  CHECK(error_of([&] {
          std::istringstream no_audio(header + "1\tSpectrogram 1\t1\t2\n");
          read_raven_annotations(no_audio, "t.txt", "/d", std::nullopt);
        }) == "t.txt:2: the table names no recording (no Begin File column) and no single recording with its name "
              "lies beside it; give it with --audio");
}

TEST_CASE("annotations: Audacity labels with and without frequency lines") {
  const auto recs =
      read_annotations(kData / "labels.audacity.txt", AnnotationFormat::automatic, fs::path("dawn.flac"));
  REQUIRE(recs.size() == 1);
  const auto& a = recs[0].annotations;
  REQUIRE(a.size() == 3);
  CHECK(a[0].start_s == 0.5);
  CHECK(a[0].end_s == 1.25);
  CHECK(a[0].low_hz == 2100.0);
  CHECK(a[0].high_hz == 5400.0);
  CHECK(a[0].label == "TUME");
  CHECK(a[1].label == "PAMA");
  CHECK_FALSE(a[1].low_hz.has_value());
  CHECK_FALSE(a[1].high_hz.has_value());
  CHECK(a[2].line == 4);
  CHECK(a[2].label.empty());
  CHECK_FALSE(a[2].low_hz.has_value());  // Audacity's -1: no lower edge
  CHECK(a[2].high_hz == 8000.0);

  CHECK(audacity_error("\\\t100\t200\n") == "t.txt:1: a frequency line must follow a label line");
  CHECK(audacity_error("1\t2\tx\n\\\t100\t200\n\\\t100\t200\n") == "t.txt:3: a frequency line must follow a label line");
  CHECK(audacity_error("1\t2\tx\n\n3\tfour\ty\n") == "t.txt:3: end 'four' is not a number");
  CHECK(audacity_error("1\t2\tx\n\\\t100\n") == "t.txt:2: expected '\\<TAB>low<TAB>high'");
  CHECK(audacity_error("1\n") == "t.txt:1: expected 'start<TAB>end<TAB>label'");
  CHECK(audacity_error("2\t2\tpoint\n") == "t.txt:1: end 2 s is not after start 2 s");
}

TEST_CASE("annotations: the format comes from the content, the recording from beside the file") {
  ScratchDir dir;
  dir.write("site3.wav", "not read here");
  const auto raven = dir.write("site3.Table.1.selections.txt", "Selection\tView\tBegin Time (s)\tEnd Time (s)\n1\tSpectrogram 1\t1\t2\n");
  const auto audacity = dir.write("site3.labels.txt", "1\t2\tbird\n");
  const auto csv = dir.write("notes.txt", "path,start_s,end_s\nsite3.wav,1,2\n");
  for (const auto& file : {raven, audacity, csv}) {
    const auto recs = read_annotations(file);
    REQUIRE(recs.size() == 1);
    CHECK(recs[0].audio == dir.path / "site3.wav");
    CHECK(recs[0].annotations.size() == 1);
  }
  const auto lonely = dir.write("elsewhere.labels.txt", "1\t2\tbird\n");
  CHECK(error_of([&] { read_annotations(lonely); }) ==
        lonely.string() + ": no single recording named elsewhere.wav (or .flac, .mp3 ...) beside it; give it with --audio");
  const auto odd = dir.write("odd.txt", "hello world\n");
  CHECK(error_of([&] { read_annotations(odd, AnnotationFormat::automatic, fs::path("x.wav")); }) ==
        odd.string() + ":1: cannot tell the annotation format (not a CSV header, a Raven selection table or an "
                       "Audacity label line); choose one with --annotation-format");
  CHECK(error_of([&] { read_annotations(dir.path / "missing.csv"); }) ==
        (dir.path / "missing.csv").string() + ": cannot read: No such file or directory");
  CHECK_THROWS_WITH_AS(parse_annotation_format("tsv"), "--annotation-format tsv: expected auto, csv, raven or audacity",
                       std::invalid_argument);
}

TEST_CASE("annotations: our Raven and Audacity outputs read back") {
  std::vector<Event> events(2);
  const double spans[2][4] = {{1.25, 2.5, 2000.5, 6000.0}, {3.125, 3.75, 1500.0, 4000.5}};
  for (std::size_t i = 0; i < 2; ++i) {
    events[i].file = "site/dawn.wav";
    events[i].sound.start_s = spans[i][0];
    events[i].sound.end_s = spans[i][1];
    events[i].sound.low_hz = spans[i][2];
    events[i].sound.high_hz = spans[i][3];
  }
  events[1].species = "Turdus merula";

  std::stringstream raven, audacity;
  auto raven_writer = make_event_writer(EventFormat::raven, raven);
  auto audacity_writer = make_event_writer(EventFormat::audacity, audacity);
  for (const Event& e : events) {
    raven_writer->write(e);
    audacity_writer->write(e);
  }
  const auto from_raven = read_raven_annotations(raven, "out.txt", "/data", std::nullopt);
  const auto from_audacity = read_audacity_annotations(audacity, "out.txt", "/data/site/dawn.wav");
  REQUIRE(from_raven.size() == 1);
  CHECK(from_raven[0].audio == fs::path("/data/site/dawn.wav"));
  for (const auto* recs : {&from_raven, &from_audacity}) {
    REQUIRE(recs->size() == 1);
    const auto& a = (*recs)[0].annotations;
    REQUIRE(a.size() == 2);
    for (std::size_t i = 0; i < 2; ++i) {
      CHECK(a[i].start_s == events[i].sound.start_s);
      CHECK(a[i].end_s == events[i].sound.end_s);
      CHECK(a[i].low_hz == events[i].sound.low_hz);
      CHECK(a[i].high_hz == events[i].sound.high_hz);
    }
    CHECK(a[0].label == "bird");
    CHECK(a[1].label == "Turdus merula");
  }
}

TEST_CASE("annotations: analyze --format raven and audacity read back as the events it found") {
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(BIRDSONG_FIXTURES))
    if (entry.path().extension() == ".wav") files.push_back(entry.path().string());
  std::sort(files.begin(), files.end());
  auto run = [&](EventFormat format) {
    AnalyzeOptions o;
    o.files = files;
    o.format = format;
    std::stringstream out, err;
    REQUIRE(analyze(o, out, err) == kExitOk);
    return out.str();
  };
  std::vector<nlohmann::json> jsonl;
  std::istringstream lines(run(EventFormat::jsonl));
  for (std::string line; std::getline(lines, line);) jsonl.push_back(nlohmann::json::parse(line));
  REQUIRE_FALSE(jsonl.empty());  // the bird clips give the detector something to find

  // Raven tables name each event's recording; an Audacity track is one recording's.
  std::istringstream raven(run(EventFormat::raven)), audacity(run(EventFormat::audacity));
  std::vector<Annotation> from_raven;
  for (const auto& rec : read_raven_annotations(raven, "analyze.txt", "/elsewhere", std::nullopt)) {
    CHECK(std::find(files.begin(), files.end(), rec.audio.string()) != files.end());  // as analyze was given
    from_raven.insert(from_raven.end(), rec.annotations.begin(), rec.annotations.end());
  }
  std::vector<Annotation> from_audacity = read_audacity_annotations(audacity, "analyze.txt", "all.wav").at(0).annotations;
  for (const auto* read : {&from_raven, &from_audacity}) {
    REQUIRE(read->size() == jsonl.size());
    for (std::size_t i = 0; i < read->size(); ++i) {
      const Annotation& a = (*read)[i];
      CHECK(near(a.start_s, jsonl[i]["start_s"].get<double>(), 1e-3));
      CHECK(near(a.end_s, jsonl[i]["end_s"].get<double>(), 1e-3));
      CHECK(near(a.low_hz.value_or(-1), jsonl[i]["low_hz"].get<double>(), 1.0));
      CHECK(near(a.high_hz.value_or(-1), jsonl[i]["high_hz"].get<double>(), 1.0));
    }
  }
}

TEST_CASE("annotations: the real soundscape files") {
  const fs::path data = fs::path(BIRDSONG_SHARED_DATA);
  if (!fs::is_directory(data / "soundscapes")) {
    MESSAGE("skipped: " << data << " is absent");
    return;
  }
  const auto csv = read_annotations(data / "soundscapes/annotations.csv");
  std::size_t rows = 0;
  std::map<std::string, const AnnotatedRecording*> by_name;
  for (const auto& r : csv) {
    rows += r.annotations.size();
    by_name[r.name] = &r;
    CHECK_MESSAGE(fs::exists(r.audio), r.audio);
  }
  CHECK(rows == 52);
  REQUIRE(csv.size() == 5);
  CHECK(by_name.at("monitoR_survey.wav")->annotations.size() == 7);
  CHECK(by_name.at("ohun_lbh1.wav")->annotations.size() == 10);
  CHECK(by_name.at("ohun_lbh2.wav")->annotations.size() == 9);

  // The native files say the same as the CSV rows made from them.
  const std::pair<const char*, const char*> natives[] = {{"XC13738.raven.txt", "XC13738.mp3"},
                                                         {"maad_spinetail.audacity.txt", "maad_spinetail.wav"}};
  for (const auto& [native, audio] : natives) {
    CAPTURE(native);
    const auto recs = read_annotations(data / "soundscapes" / native);
    REQUIRE(recs.size() == 1);
    CHECK(recs[0].audio == data / "soundscapes" / audio);
    const auto& want = by_name.at(audio)->annotations;
    const auto& got = recs[0].annotations;
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      CHECK(near(got[i].start_s, want[i].start_s, 1e-6));
      CHECK(near(got[i].end_s, want[i].end_s, 1e-6));
      CHECK(near(*got[i].low_hz, *want[i].low_hz, 0.06));
      CHECK(near(*got[i].high_hz, *want[i].high_hz, 0.06));
    }
  }
  CHECK(by_name.at("XC13738.mp3")->annotations.size() == 8);
  CHECK(by_name.at("maad_spinetail.wav")->annotations.size() == 18);

  const auto negatives = read_annotations(data / "negatives/manifest.csv");
  CHECK(negatives.size() == 47);
  for (const auto& r : negatives) CHECK(r.annotations.empty());
}
