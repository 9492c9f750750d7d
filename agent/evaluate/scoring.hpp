// Scores detected events against annotations, sound by sound.
//
// An event matches an annotation when the intersection over union (IoU) of their time
// spans is at least a threshold (0.3 by default, as in DCASE-style event evaluation).
// Matching is one-to-one and finds as many matches as possible: a maximum bipartite
// matching (Hopcroft-Karp) over the candidate pairs. Greedy matching by IoU is not
// enough: a long event that best fits one sound can take it from a short event that
// fits nothing else, while the long one also fits a second sound.
#pragma once

#include <cstddef>
#include <iosfwd>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "agent/evaluate/annotations.hpp"

namespace birdsong {

inline constexpr double kDefaultMinIou = 0.3;

struct TimeSpan {
  double start_s = 0.0;
  double end_s = 0.0;
};

// Intersection over union of two time spans, 0..1 (0 when both are empty).
double time_iou(TimeSpan a, TimeSpan b);

// Throws std::invalid_argument("--iou <v>: expected ...") unless 0 < min_iou <= 1.
void check_min_iou(double min_iou);

// A maximum one-to-one matching between annotations and events among the pairs whose
// IoU is at least `min_iou` (compared with 1e-9 tolerance, so that a written 0.3 is
// 0.3). Returns (annotation index, event index) pairs, sorted by annotation.
// Throws like check_min_iou.
std::vector<std::pair<std::size_t, std::size_t>> match_events(std::span<const TimeSpan> annotations,
                                                              std::span<const TimeSpan> events, double min_iou);

struct LabelCount {
  std::size_t annotations = 0;
  std::size_t matched = 0;
};

// How one recording scored. A recording without annotations contains no bird sound.
struct RecordingScore {
  std::string name;
  std::string path;
  double duration_s = 0.0;
  std::size_t annotations = 0;
  std::size_t events = 0;
  std::size_t matched = 0;
  std::map<std::string, LabelCount> labels;  // annotations and matches per label
};

RecordingScore score_recording(const AnnotatedRecording& recording, std::span<const TimeSpan> events,
                               double duration_s, double min_iou);

// Sums over a group of recordings (micro-averaged: every sound and event counts once).
struct ScoreTotals {
  std::size_t recordings = 0;
  double duration_s = 0.0;
  std::size_t annotations = 0;
  std::size_t events = 0;
  std::size_t matched = 0;
};
ScoreTotals sum_scores(std::span<const RecordingScore> scores);

// The figures users read; empty when undefined (no events: no precision ...).
std::optional<double> precision(const ScoreTotals& t);
std::optional<double> recall(const ScoreTotals& t);
std::optional<double> f1(const ScoreTotals& t);
std::optional<double> false_events_per_min(const ScoreTotals& t);
ScoreTotals totals_of(const RecordingScore& s);

struct Evaluation {
  double min_iou = kDefaultMinIou;
  std::vector<RecordingScore> recordings;
  std::vector<std::string> failures;  // one line per recording that could not be scored
};

// Annotated recordings (with sounds) and empty ones (declared without bird sound),
// totalled apart: P/R/F1 mean something only on the first, false events per minute on both.
ScoreTotals annotated_totals(const Evaluation& e);
ScoreTotals empty_totals(const Evaluation& e);
std::map<std::string, LabelCount> label_totals(const Evaluation& e);

// Keys in reading order (recordings, then totals), not sorted.
nlohmann::ordered_json to_json(const Evaluation& e);
void write_table(const Evaluation& e, std::ostream& out);

}  // namespace birdsong
