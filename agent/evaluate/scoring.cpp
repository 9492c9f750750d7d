#include "agent/evaluate/scoring.hpp"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <limits>
#include <numeric>
#include <ostream>
#include <queue>
#include <sstream>
#include <stdexcept>

namespace birdsong {

double time_iou(TimeSpan a, TimeSpan b) {
  const double inter = std::max(0.0, std::min(a.end_s, b.end_s) - std::max(a.start_s, b.start_s));
  const double uni = (a.end_s - a.start_s) + (b.end_s - b.start_s) - inter;
  return uni > 0.0 ? inter / uni : 0.0;
}

namespace {

// Hopcroft-Karp: repeatedly finds a maximal set of shortest augmenting paths (BFS
// layers from free annotations, then DFS along them); O(E sqrt(V)).
class MaximumMatching {
 public:
  MaximumMatching(const std::vector<std::vector<std::size_t>>& adj, std::size_t right)
      : adj_(adj), match_left_(adj.size(), kFree), match_right_(right, kFree), layer_(adj.size()) {}

  std::vector<std::size_t> run() {
    while (bfs())
      for (std::size_t u = 0; u < adj_.size(); ++u)
        if (match_left_[u] == kFree) dfs(u);
    return match_left_;
  }
  static constexpr std::size_t kFree = std::numeric_limits<std::size_t>::max();

 private:
  bool bfs() {
    std::queue<std::size_t> queue;
    for (std::size_t u = 0; u < adj_.size(); ++u) {
      layer_[u] = match_left_[u] == kFree ? 0 : kFree;
      if (layer_[u] == 0) queue.push(u);
    }
    bool found = false;
    while (!queue.empty()) {
      const std::size_t u = queue.front();
      queue.pop();
      for (std::size_t v : adj_[u]) {
        const std::size_t w = match_right_[v];
        if (w == kFree) found = true;
        else if (layer_[w] == kFree) {
          layer_[w] = layer_[u] + 1;
          queue.push(w);
        }
      }
    }
    return found;
  }
  bool dfs(std::size_t u) {
    for (std::size_t v : adj_[u]) {
      const std::size_t w = match_right_[v];
      if (w == kFree || (layer_[w] == layer_[u] + 1 && dfs(w))) {
        match_left_[u] = v;
        match_right_[v] = u;
        return true;
      }
    }
    layer_[u] = kFree;  // no augmenting path through u in this phase
    return false;
  }

  const std::vector<std::vector<std::size_t>>& adj_;
  std::vector<std::size_t> match_left_, match_right_, layer_;
};

}  // namespace

void check_min_iou(double min_iou) {
  if (!(min_iou > 0.0 && min_iou <= 1.0)) {
    std::ostringstream msg;
    msg << "--iou " << min_iou << ": expected a number above 0 and at most 1";
    throw std::invalid_argument(msg.str());
  }
}

std::vector<std::pair<std::size_t, std::size_t>> match_events(std::span<const TimeSpan> annotations,
                                                              std::span<const TimeSpan> events, double min_iou) {
  check_min_iou(min_iou);
  // Candidates: events sorted by start; an event can only overlap an annotation if it
  // starts before the annotation ends and no earlier than the longest event before it.
  std::vector<std::size_t> by_start(events.size());
  std::iota(by_start.begin(), by_start.end(), std::size_t{0});
  std::sort(by_start.begin(), by_start.end(),
            [&](std::size_t a, std::size_t b) { return events[a].start_s < events[b].start_s; });
  double longest_s = 0.0;
  for (const TimeSpan& e : events) longest_s = std::max(longest_s, e.end_s - e.start_s);
  std::vector<std::vector<std::size_t>> adj(annotations.size());
  for (std::size_t a = 0; a < annotations.size(); ++a) {
    const double from_s = annotations[a].start_s - longest_s;
    auto it = std::lower_bound(by_start.begin(), by_start.end(), from_s,
                               [&](std::size_t e, double t) { return events[e].start_s < t; });
    for (; it != by_start.end() && events[*it].start_s < annotations[a].end_s; ++it)
      if (time_iou(annotations[a], events[*it]) >= min_iou - 1e-9) adj[a].push_back(*it);
  }
  const auto matched = MaximumMatching(adj, events.size()).run();
  std::vector<std::pair<std::size_t, std::size_t>> pairs;
  for (std::size_t a = 0; a < matched.size(); ++a)
    if (matched[a] != MaximumMatching::kFree) pairs.emplace_back(a, matched[a]);
  return pairs;
}

RecordingScore score_recording(const AnnotatedRecording& recording, std::span<const TimeSpan> events,
                               double duration_s, double min_iou) {
  std::vector<TimeSpan> spans;
  for (const Annotation& a : recording.annotations) spans.push_back({a.start_s, a.end_s});
  const auto pairs = match_events(spans, events, min_iou);
  RecordingScore s;
  s.name = recording.name;
  s.path = recording.audio.string();
  s.duration_s = duration_s;
  s.annotations = recording.annotations.size();
  s.events = events.size();
  s.matched = pairs.size();
  for (const Annotation& a : recording.annotations) ++s.labels[a.label].annotations;
  for (const auto& [a, e] : pairs) ++s.labels[recording.annotations[a].label].matched;
  return s;
}

ScoreTotals totals_of(const RecordingScore& s) { return {1, s.duration_s, s.annotations, s.events, s.matched}; }

ScoreTotals sum_scores(std::span<const RecordingScore> scores) {
  ScoreTotals t;
  for (const RecordingScore& s : scores) {
    ++t.recordings;
    t.duration_s += s.duration_s;
    t.annotations += s.annotations;
    t.events += s.events;
    t.matched += s.matched;
  }
  return t;
}

namespace {
std::optional<double> ratio(std::size_t num, std::size_t den) {
  if (den == 0) return std::nullopt;
  return static_cast<double>(num) / static_cast<double>(den);
}
}  // namespace

std::optional<double> precision(const ScoreTotals& t) { return ratio(t.matched, t.events); }
std::optional<double> recall(const ScoreTotals& t) { return ratio(t.matched, t.annotations); }
// The harmonic mean of precision and recall, written so that it is 0 (not undefined)
// when there are sounds but no events, or events but no sounds.
std::optional<double> f1(const ScoreTotals& t) { return ratio(2 * t.matched, t.annotations + t.events); }
std::optional<double> false_events_per_min(const ScoreTotals& t) {
  if (!(t.duration_s > 0.0)) return std::nullopt;
  return static_cast<double>(t.events - t.matched) / (t.duration_s / 60.0);
}

namespace {
std::vector<RecordingScore> select(const Evaluation& e, bool with_sounds) {
  std::vector<RecordingScore> out;
  for (const RecordingScore& s : e.recordings)
    if ((s.annotations > 0) == with_sounds) out.push_back(s);
  return out;
}
}  // namespace

ScoreTotals annotated_totals(const Evaluation& e) { return sum_scores(select(e, true)); }
ScoreTotals empty_totals(const Evaluation& e) { return sum_scores(select(e, false)); }

std::map<std::string, LabelCount> label_totals(const Evaluation& e) {
  std::map<std::string, LabelCount> out;
  for (const RecordingScore& s : e.recordings)
    for (const auto& [label, count] : s.labels) {
      out[label].annotations += count.annotations;
      out[label].matched += count.matched;
    }
  return out;
}

namespace {

double round_to(double v, int decimals) {
  const double scale = std::pow(10.0, decimals);
  return std::round(v * scale) / scale;
}

nlohmann::ordered_json number_or_null(std::optional<double> v, int decimals) {
  return v ? nlohmann::ordered_json(round_to(*v, decimals)) : nlohmann::ordered_json(nullptr);
}

// Appends the figures of `t` to the object `j`.
void add_totals(nlohmann::ordered_json& j, const ScoreTotals& t) {
  j["duration_s"] = round_to(t.duration_s, 3);
  j["annotations"] = t.annotations;
  j["events"] = t.events;
  j["matched"] = t.matched;
  j["false_events"] = t.events - t.matched;
  j["precision"] = number_or_null(precision(t), 4);
  j["recall"] = number_or_null(recall(t), 4);
  j["f1"] = number_or_null(f1(t), 4);
  j["false_per_min"] = number_or_null(false_events_per_min(t), 3);
}

nlohmann::ordered_json group_json(const ScoreTotals& t) {
  nlohmann::ordered_json j;
  j["recordings"] = t.recordings;
  add_totals(j, t);
  return j;
}

nlohmann::ordered_json labels_json(const std::map<std::string, LabelCount>& labels) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& [label, c] : labels)
    out.push_back({{"label", label},
                   {"annotations", c.annotations},
                   {"matched", c.matched},
                   {"recall", number_or_null(ratio(c.matched, c.annotations), 4)}});
  return out;
}

}  // namespace

nlohmann::ordered_json to_json(const Evaluation& e) {
  nlohmann::ordered_json j;
  j["iou"] = e.min_iou;
  j["recordings"] = nlohmann::ordered_json::array();
  for (const RecordingScore& s : e.recordings) {
    nlohmann::ordered_json r;
    r["name"] = s.name;
    r["path"] = s.path;
    add_totals(r, totals_of(s));
    r["labels"] = labels_json(s.labels);
    j["recordings"].push_back(std::move(r));
  }
  j["annotated"] = group_json(annotated_totals(e));
  j["empty"] = group_json(empty_totals(e));
  j["labels"] = labels_json(label_totals(e));
  j["failed"] = e.failures;
  return j;
}

namespace {

// Fixed-width columns; "-" where a figure is undefined.
std::string fixed(std::optional<double> v, int decimals) {
  if (!v) return "-";
  std::ostringstream s;
  s << std::fixed << std::setprecision(decimals) << *v;
  return s.str();
}

void write_row(std::ostream& out, std::size_t name_width, const std::string& name, const ScoreTotals& t) {
  out << std::left << std::setw(static_cast<int>(name_width)) << name << std::right << std::setw(10)
      << fixed(t.duration_s, 1) << std::setw(8) << t.annotations << std::setw(8) << t.events << std::setw(9)
      << t.matched << std::setw(11) << fixed(precision(t), 3) << std::setw(8) << fixed(recall(t), 3)
      << std::setw(7) << fixed(f1(t), 3) << std::setw(11) << fixed(false_events_per_min(t), 1) << '\n';
}

std::string group_name(const char* what, const ScoreTotals& t) {
  return std::string(what) + " (" + std::to_string(t.recordings) + (t.recordings == 1 ? " recording)" : " recordings)");
}

}  // namespace

void write_table(const Evaluation& e, std::ostream& out) {
  const ScoreTotals annotated = annotated_totals(e);
  const ScoreTotals empty = empty_totals(e);
  const std::string annotated_name = group_name("all with sounds", annotated);
  const std::string empty_name = group_name("all without sounds", empty);
  std::size_t width = std::max<std::size_t>({std::string("recording").size(), annotated_name.size(), empty_name.size()});
  for (const RecordingScore& s : e.recordings) width = std::max(width, s.name.size());
  width += 2;

  out << std::left << std::setw(static_cast<int>(width)) << "recording" << std::right << std::setw(10) << "seconds"
      << std::setw(8) << "sounds" << std::setw(8) << "events" << std::setw(9) << "matched" << std::setw(11)
      << "precision" << std::setw(8) << "recall" << std::setw(7) << "F1" << std::setw(11) << "false/min" << '\n';
  for (const RecordingScore& s : e.recordings) write_row(out, width, s.name, totals_of(s));
  out << std::string(width + 72, '-') << '\n';
  if (annotated.recordings > 0) write_row(out, width, annotated_name, annotated);
  if (empty.recordings > 0) write_row(out, width, empty_name, empty);
  out << "(events match sounds one-to-one when their time IoU >= " << e.min_iou << ")\n";

  const auto labels = label_totals(e);
  if (!labels.empty()) {
    std::size_t label_width = std::string("label").size();
    for (const auto& [label, c] : labels) label_width = std::max(label_width, label.size());
    label_width += 2;
    out << '\n' << std::left << std::setw(static_cast<int>(label_width)) << "label" << std::right << std::setw(8)
        << "sounds" << std::setw(9) << "matched" << std::setw(8) << "recall" << '\n';
    for (const auto& [label, c] : labels)
      out << std::left << std::setw(static_cast<int>(label_width)) << (label.empty() ? "(no label)" : label)
          << std::right << std::setw(8) << c.annotations << std::setw(9) << c.matched << std::setw(8)
          << fixed(ratio(c.matched, c.annotations), 3) << '\n';
  }
  for (const std::string& f : e.failures) out << "not scored: " << f << '\n';
}

}  // namespace birdsong
