// The detector's targets on real recordings (../shared/data, not shipped; the tests
// skip when it is absent): event F1 >= 0.85 on the annotated soundscapes, where an
// event matches an annotation when their time intersection-over-union is >= 0.3
// (one-to-one, as many matches as possible), and <= 0.5 false events per minute on
// the recordings of things that are not birds.
#include <doctest/doctest.h>
#include <sndfile.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "dsp/detector.hpp"

using namespace birdsong;
namespace fs = std::filesystem;

namespace {

struct Span {
  double start_s = 0.0, end_s = 0.0;
};

// The file mixed down to mono, through the detector in 4096-sample chunks.
std::vector<Span> detect_file(const fs::path& path, double& duration_s) {
  SF_INFO info{};
  SNDFILE* f = sf_open(path.c_str(), SFM_READ, &info);
  REQUIRE_MESSAGE(f != nullptr, path.string());
  dsp::Detector detector(info.samplerate, {});
  std::vector<float> frames(4096 * static_cast<std::size_t>(info.channels)), mono(4096);
  std::vector<dsp::Sound> sounds;
  sf_count_t total = 0;
  while (sf_count_t n = sf_readf_float(f, frames.data(), 4096)) {
    for (sf_count_t i = 0; i < n; ++i) {
      float sum = 0.0f;
      for (int c = 0; c < info.channels; ++c) sum += frames[static_cast<std::size_t>(i * info.channels + c)];
      mono[static_cast<std::size_t>(i)] = sum / static_cast<float>(info.channels);
    }
    detector.process(std::span<const float>(mono).first(static_cast<std::size_t>(n)), sounds);
    total += n;
  }
  sf_close(f);
  detector.flush(sounds);
  duration_s = static_cast<double>(total) / info.samplerate;
  std::vector<Span> spans;
  for (const auto& s : sounds) spans.push_back({s.start_s, s.end_s});
  return spans;
}

double iou(const Span& a, const Span& b) {
  const double inter = std::min(a.end_s, b.end_s) - std::max(a.start_s, b.start_s);
  return inter <= 0.0 ? 0.0 : inter / (std::max(a.end_s, b.end_s) - std::min(a.start_s, b.start_s));
}

// Maximum one-to-one matching (augmenting paths) of annotations to events.
int matches(const std::vector<Span>& annotations, const std::vector<Span>& events) {
  std::vector<int> owner(events.size(), -1);
  std::function<bool(std::size_t, std::vector<bool>&)> augment = [&](std::size_t a, std::vector<bool>& seen) {
    for (std::size_t e = 0; e < events.size(); ++e) {
      if (seen[e] || iou(annotations[a], events[e]) < 0.3) continue;
      seen[e] = true;
      if (owner[e] < 0 || augment(static_cast<std::size_t>(owner[e]), seen)) {
        owner[e] = static_cast<int>(a);
        return true;
      }
    }
    return false;
  };
  int n = 0;
  for (std::size_t a = 0; a < annotations.size(); ++a) {
    std::vector<bool> seen(events.size(), false);
    n += augment(a, seen) ? 1 : 0;
  }
  return n;
}

}  // namespace

TEST_CASE("detector: event F1 >= 0.85 on the annotated soundscapes") {
  const fs::path dir = fs::path(BIRDSONG_SHARED_DATA) / "soundscapes";
  if (!fs::exists(dir / "annotations.csv")) {
    MESSAGE("skipped: no " << (dir / "annotations.csv").string());
    return;
  }
  std::map<std::string, std::vector<Span>> annotations;
  std::ifstream csv(dir / "annotations.csv");
  std::string line;
  std::getline(csv, line);  // header: path,start_s,end_s,low_hz,high_hz,label
  while (std::getline(csv, line)) {
    std::istringstream fields(line);
    std::string path, start, end;
    std::getline(fields, path, ',');
    std::getline(fields, start, ',');
    std::getline(fields, end, ',');
    annotations[path].push_back({std::stod(start), std::stod(end)});
  }
  REQUIRE(annotations.size() == 5);
  int matched = 0, events = 0, annotated = 0;
  for (const auto& [path, spans] : annotations) {
    double duration_s = 0.0;
    const auto found = detect_file(dir / path, duration_s);
    const int m = matches(spans, found);
    MESSAGE(path << ": " << m << " of " << spans.size() << " annotations matched by " << found.size() << " events");
    matched += m;
    events += static_cast<int>(found.size());
    annotated += static_cast<int>(spans.size());
  }
  const double precision = static_cast<double>(matched) / events;
  const double recall = static_cast<double>(matched) / annotated;
  const double f1 = 2.0 * precision * recall / (precision + recall);
  MESSAGE("precision " << precision << ", recall " << recall << ", F1 " << f1);
  CHECK(f1 >= 0.85);
}

TEST_CASE("detector: at most 0.5 events per minute on sounds that are not birds") {
  const fs::path dir = fs::path(BIRDSONG_SHARED_DATA) / "negatives";
  if (!fs::exists(dir)) {
    MESSAGE("skipped: no " << dir.string());
    return;
  }
  int events = 0;
  double minutes = 0.0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const auto ext = entry.path().extension();
    if (ext != ".flac" && ext != ".ogg" && ext != ".wav") continue;
    double duration_s = 0.0;
    const auto found = detect_file(entry.path(), duration_s);
    if (!found.empty()) MESSAGE(entry.path().filename().string() << ": " << found.size() << " events");
    events += static_cast<int>(found.size());
    minutes += duration_s / 60.0;
  }
  REQUIRE(minutes > 4.0);
  MESSAGE(events << " events in " << minutes << " min");
  CHECK(events / minutes <= 0.5);
}
