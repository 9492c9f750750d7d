// analyze with bad input among good: one line per bad file on stderr, the other files
// analysed, the events before damage kept, exit 1.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "agent/commands/commands.hpp"
#include "tests/agent/audio_files.hpp"
#include "tests/signals.hpp"

using namespace birdsong;

namespace {

struct Run {
  int exit_code = -1;
  std::vector<nlohmann::json> events;
  std::string err;
  std::string stderr_text;  // whatever reached the process's stderr directly
};

// Runs analyze with fd 2 pointed at a file, to see that nothing but `err` is written.
Run run_analyze(const std::vector<std::string>& files, const test::TempDir& dir) {
  AnalyzeOptions options;
  options.files = files;
  std::ostringstream out, err;
  const std::string stderr_path = dir / "stderr.txt";
  const int capture = ::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  const int saved = ::dup(STDERR_FILENO);
  ::dup2(capture, STDERR_FILENO);
  Run run;
  run.exit_code = analyze(options, out, err);
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  ::close(capture);
  const auto bytes = test::file_bytes(stderr_path);
  run.stderr_text.assign(bytes.begin(), bytes.end());
  std::istringstream lines(out.str());
  for (std::string line; std::getline(lines, line);) run.events.push_back(nlohmann::json::parse(line));
  run.err = err.str();
  return run;
}

std::vector<double> starts_in(const Run& run, const std::string& file) {
  std::vector<double> s;
  for (const auto& e : run.events)
    if (e["file"] == file) s.push_back(e["start_s"].get<double>());
  return s;
}

}  // namespace

TEST_CASE("analyze: bad files get one line each, good files are analysed, exit 1") {
  test::TempDir dir;
  const double rate = 32000.0;
  // Trills (steady tones are not bird-like) at 0.5-1.0 s and 1.5-2.5 s over quiet
  // noise; 3 s in all.
  auto x = test::noise(3.0, rate, 0.01);
  test::add_trill(x, rate, 3500.0, 2500.0, 0.04, 0.03, 0.2, 0.5, 1.0);
  test::add_trill(x, rate, 5500.0, 4500.0, 0.04, 0.03, 0.2, 1.5, 2.5);
  const std::string good = dir / "good.wav";
  test::write_sound(good, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 32000, 1, x);
  // Cut at 2.0 s, in the middle of the second tone.
  const std::string cut = dir / "cut.wav";
  test::write_truncated(good, cut, 44 + 2 * 64000);
  const std::string text = dir / "text.wav";
  test::write_bytes(text, {'h', 'e', 'l', 'l', 'o', '\n'});
  const std::string mp3 = dir / "noisy.mp3";
  test::write_sound(dir / "full.mp3", SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III, 32000, 1, x);
  test::write_corrupted(dir / "full.mp3", mp3, 0.4, 0.6);

  const Run run = run_analyze({dir / "missing.wav", good, text, cut, mp3}, dir);
  CHECK(run.exit_code == kExitInputFailed);
  CHECK(run.stderr_text == "");  // libmpg123's notes did not leak

  std::istringstream err(run.err);
  std::vector<std::string> lines;
  for (std::string line; std::getline(err, line);) lines.push_back(line);
  REQUIRE(lines.size() == 4);
  CHECK(lines[0] == "analyze: " + dir / "missing.wav" + ": No such file or directory");
  CHECK(lines[1] == "analyze: " + text + ": not a recognised audio format");
  CHECK(lines[2] == "analyze: " + cut + ": truncated: header declares 96000 samples, file holds 64000");
  CHECK(lines[3].starts_with("analyze: " + mp3 + ": damaged: decoding stopped after "));

  // Both tones in the good file; in the cut one, the first and the part of the second
  // that is there, reported when the damage is found.
  const auto good_starts = starts_in(run, good);
  REQUIRE(good_starts.size() == 2);
  CHECK(good_starts[0] == doctest::Approx(0.5).epsilon(0.05));
  CHECK(good_starts[1] == doctest::Approx(1.5).epsilon(0.05));
  CHECK(starts_in(run, cut) == good_starts);
}

TEST_CASE("analyze: a file at a rate the detector cannot use is one line too") {
  test::TempDir dir;
  const std::string low = dir / "low.wav";
  test::write_sound(low, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 4000, 1, test::noise(1.0, 4000.0, 0.01));
  const Run run = run_analyze({low}, dir);
  CHECK(run.exit_code == kExitInputFailed);
  CHECK(run.err.starts_with("analyze: " + low + ": "));
  CHECK(std::count(run.err.begin(), run.err.end(), '\n') == 1);
}
