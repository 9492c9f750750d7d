#include "agent/species/clip_evaluation.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <ostream>
#include <random>
#include <set>
#include <span>

namespace birdsong {

namespace {

// The clip as scored with each policy, from the same class probabilities.
std::vector<ClipResult> score_with(const ProfilePack& pack, std::span<const SpeciesPolicy> policies,
                                   const RecordingSounds& r) {
  ClipResult blank;
  blank.path = r.path;
  blank.truth = r.label;
  blank.audio_s = r.audio_s;
  blank.predicted = kUnidentified;
  std::vector<ClipResult> out(policies.size(), blank);
  if (r.whole_windows) return out;  // the detector heard nothing
  dsp::Bout bout(pack.features.bout_gap_s);
  std::vector<float> p(static_cast<std::size_t>(pack.model.classes()));
  // As analyze does it (SpeciesIdentifier): every sound joins the bout; it is an event
  // when reported().
  const std::vector<dsp::FeaturePool> pools = coded_pools(r, pack.codebook);
  for (std::size_t i = 0; i < pools.size(); ++i) {
    const auto& pool = bout.add(r.sounds[i].start_s, r.sounds[i].end_s, pools[i]);
    if (pool.active_frames() > 0) pack.model.predict(pool.vector(), p);
    for (std::size_t k = 0; k < policies.size(); ++k) {
      ClipResult& c = out[k];
      float confidence = 0.0f;
      const int s = pool.active_frames() > 0 ? choose_species(pack, policies[k], p, confidence) : -1;
      if (!reported(policies[k], r.sounds[i].confidence, s, confidence)) continue;
      ++c.events;
      if (s < 0) continue;
      ++c.species_events;
      c.species_event_confidence.emplace_back(confidence, pack.classes[static_cast<std::size_t>(s)].label == r.label);
      if (confidence > c.confidence) {
        c.confidence = confidence;
        c.predicted = pack.classes[static_cast<std::size_t>(s)].label;
      }
    }
  }
  return out;
}

}  // namespace

ClipResult score_clip(const ProfilePack& pack, const SpeciesPolicy& policy, const RecordingSounds& r) {
  std::vector<SpeciesPolicy> policies{policy};
  for (double t : kSweep) {
    SpeciesPolicy swept = policy;
    std::fill(swept.threshold.begin(), swept.threshold.end(), t);
    policies.push_back(swept);
  }
  std::vector<ClipResult> scored = score_with(pack, policies, r);
  ClipResult c = scored[0];
  c.swept.assign(scored.begin() + 1, scored.end());
  return c;
}

std::vector<ClipResult> cross_validate(const std::vector<RecordingSounds>& recs, int folds, const LearnOptions& o,
                                       const SpeciesConfig& settings, double bird_gate,
                                       const std::function<void(int, int)>& progress, unsigned seed) {
  if (folds < 2) throw std::invalid_argument("--cross-validate: " + std::to_string(folds) + ": expected 2 or more folds");
  // Stratified by label, by recording: shuffle each label's recordings with a fixed
  // seed, then deal them round-robin into the folds.
  std::map<std::string, std::vector<std::size_t>> by_label;
  for (std::size_t i = 0; i < recs.size(); ++i) by_label[recs[i].label].push_back(i);
  std::vector<int> fold(recs.size());
  std::mt19937 rng(seed);
  int offset = 0;
  for (auto& [label, idx] : by_label) {
    std::shuffle(idx.begin(), idx.end(), rng);
    for (std::size_t k = 0; k < idx.size(); ++k) fold[idx[k]] = static_cast<int>((k + static_cast<std::size_t>(offset)) % folds);
    offset += static_cast<int>(idx.size());
  }
  std::vector<ClipResult> out;
  for (int k = 0; k < folds; ++k) {
    if (progress) progress(k + 1, folds);
    std::vector<RecordingSounds> train;
    for (std::size_t i = 0; i < recs.size(); ++i)
      if (fold[i] != k) train.push_back(recs[i]);
    const ProfilePack pack = learn_pack(train, o);
    const SpeciesPolicy policy = resolve_policy(pack, settings, bird_gate);
    for (std::size_t i = 0; i < recs.size(); ++i)
      if (fold[i] == k) {
        ClipResult c = score_clip(pack, policy, recs[i]);
        c.fold = k;
        out.push_back(c);
      }
  }
  return out;
}

ClipReport summarize(const std::vector<ClipResult>& results, const std::string& split) {
  ClipReport r;
  r.split = split;
  r.clips = static_cast<int>(results.size());
  std::set<std::string> truths, columns;
  for (const auto& c : results) {
    truths.insert(c.truth);
    columns.insert(c.truth);
    columns.insert(c.predicted);
  }
  r.columns.assign(columns.begin(), columns.end());
  std::map<std::string, std::size_t> col;
  for (std::size_t i = 0; i < r.columns.size(); ++i) col[r.columns[i]] = i;
  int correct = 0;
  std::map<std::string, LabelScore> score;
  for (const auto& t : truths) score[t].label = t;
  std::vector<std::string> rows(truths.begin(), truths.end());
  std::map<std::string, std::size_t> row;
  for (std::size_t i = 0; i < rows.size(); ++i) row[rows[i]] = i;
  r.confusion.assign(rows.size(), std::vector<int>(r.columns.size(), 0));
  for (const auto& c : results) {
    // A `none` recording is right when no species is reported in it.
    const bool ok = c.predicted == c.truth || (c.truth == kNoneLabel && c.predicted == kUnidentified);
    correct += ok;
    ++score[c.truth].support;
    if (ok) ++score[c.truth].correct;
    const std::string as = c.truth == kNoneLabel && c.predicted == kUnidentified ? std::string(kNoneLabel) : c.predicted;
    if (score.count(as)) ++score[as].predicted;
    ++r.confusion[row[c.truth]][col[as]];
    for (const auto& [confidence, right] : c.species_event_confidence) {
      const auto bin = static_cast<std::size_t>(std::clamp(static_cast<int>(confidence * 10.0f), 0, 9));
      ++r.calibration_events[bin];
      r.calibration_right[bin] += right;
      r.calibration_confidence[bin] += confidence;
    }
    if (c.truth == kNoneLabel) {
      r.none_minutes += c.audio_s / 60.0;
      r.none_species_events += c.species_events;
    }
  }
  r.accuracy = results.empty() ? 0.0 : static_cast<double>(correct) / static_cast<double>(results.size());
  int species_clips = 0, species_correct = 0;
  for (const auto& [label, s] : score)
    if (label != kNoneLabel) {
      species_clips += s.support;
      species_correct += s.correct;
    }
  r.species_accuracy = species_clips > 0 ? static_cast<double>(species_correct) / species_clips : 0.0;
  double f1_sum = 0.0;
  for (auto& [label, s] : score) {
    s.precision = s.predicted > 0 ? static_cast<double>(s.correct) / s.predicted : 0.0;
    s.recall = s.support > 0 ? static_cast<double>(s.correct) / s.support : 0.0;
    s.f1 = s.precision + s.recall > 0.0 ? 2.0 * s.precision * s.recall / (s.precision + s.recall) : 0.0;
    f1_sum += s.f1;
    r.labels.push_back(s);
  }
  r.macro_f1 = r.labels.empty() ? 0.0 : f1_sum / static_cast<double>(r.labels.size());
  int events = 0;
  for (std::size_t k = 0; k < r.calibration_events.size(); ++k)
    if (const int n = r.calibration_events[k]; n > 0) {
      events += n;
      r.calibration_error += std::fabs(r.calibration_confidence[k] - r.calibration_right[k]);
    }
  if (events > 0) r.calibration_error /= events;
  const bool swept = !results.empty() && std::all_of(results.begin(), results.end(), [](const ClipResult& c) {
    return c.swept.size() == std::size(kSweep);
  });
  for (std::size_t k = 0; swept && k < std::size(kSweep); ++k) {
    std::vector<ClipResult> at;
    for (const auto& c : results) at.push_back(c.swept[k]);
    const ClipReport a = summarize(at, split);
    SweepRow w;
    w.min_confidence = kSweep[k];
    w.accuracy = a.accuracy;
    w.species_accuracy = a.species_accuracy;
    w.macro_f1 = a.macro_f1;
    for (std::size_t b = 0; b < a.calibration_events.size(); ++b) {
      w.species_events += a.calibration_events[b];
      w.species_events_right += a.calibration_right[b];
    }
    w.none_species_events_per_minute = a.none_species_events_per_minute();
    r.sweep.push_back(w);
  }
  return r;
}

void print_report(const ClipReport& r, std::ostream& out) {
  char line[256];
  out << "clips: " << r.clips << " (" << r.split << ")\n";
  std::snprintf(line, sizeof line, "accuracy: %.3f (recordings of species: %.3f)\nmacro-F1: %.3f\n", r.accuracy,
                r.species_accuracy, r.macro_f1);
  out << line;
  if (r.none_minutes > 0.0) {
    std::snprintf(line, sizeof line, "none recordings: %d species events in %.1f min = %.2f per minute\n",
                  r.none_species_events, r.none_minutes, r.none_species_events_per_minute());
    out << line;
  }
  out << "\ncalibration (species events by confidence, share naming the recording's label):\n";
  for (std::size_t k = 0; k < r.calibration_events.size(); ++k)
    if (r.calibration_events[k] > 0) {
      std::snprintf(line, sizeof line, "  %.1f-%.1f: %5d events, mean confidence %.2f, %.2f right\n",
                    0.1 * static_cast<double>(k), 0.1 * static_cast<double>(k + 1), r.calibration_events[k],
                    r.calibration_confidence[k] / r.calibration_events[k],
                    static_cast<double>(r.calibration_right[k]) / r.calibration_events[k]);
      out << line;
    }
  std::snprintf(line, sizeof line, "  calibration error: %.3f (mean gap between confidence and share right)\n",
                r.calibration_error);
  out << line;
  if (!r.sweep.empty()) {
    out << "\nwith every species threshold at min_confidence:\n";
    std::snprintf(line, sizeof line, "  %14s %8s %11s %8s %20s %15s\n", "min_confidence", "accuracy", "of species",
                  "macro-F1", "species events", "none per min");
    out << line;
    for (const auto& w : r.sweep) {
      std::snprintf(line, sizeof line, "  %14.1f %8.3f %11.3f %8.3f %8d, %3.0f%% right %15.2f\n", w.min_confidence,
                    w.accuracy, w.species_accuracy, w.macro_f1, w.species_events,
                    w.species_events > 0 ? 100.0 * w.species_events_right / w.species_events : 0.0,
                    w.none_species_events_per_minute);
      out << line;
    }
  }
  out << "\nper label:\n";
  std::snprintf(line, sizeof line, "  %-32s %7s %9s %7s %6s\n", "label", "clips", "precision", "recall", "F1");
  out << line;
  for (const auto& s : r.labels) {
    std::snprintf(line, sizeof line, "  %-32.32s %7d %9.2f %7.2f %6.2f\n", s.label.c_str(), s.support, s.precision,
                  s.recall, s.f1);
    out << line;
  }
  out << "\nconfusion (rows: true label, columns: reported label):\n";
  out << "  " << std::string(6, ' ');
  for (std::size_t j = 0; j < r.columns.size(); ++j) {
    std::snprintf(line, sizeof line, "%4zu", j + 1);
    out << line;
  }
  out << '\n';
  for (std::size_t i = 0; i < r.confusion.size(); ++i) {
    std::size_t col = 0;
    for (std::size_t j = 0; j < r.columns.size(); ++j)
      if (r.columns[j] == r.labels[i].label) col = j + 1;
    std::snprintf(line, sizeof line, "  %4zu: ", col);
    out << line;
    for (int v : r.confusion[i]) {
      if (v == 0) out << "   .";
      else {
        std::snprintf(line, sizeof line, "%4d", v);
        out << line;
      }
    }
    out << '\n';
  }
  out << "columns:\n";
  for (std::size_t j = 0; j < r.columns.size(); ++j) out << "  " << j + 1 << " " << r.columns[j] << '\n';
}

nlohmann::json to_json(const ClipReport& r, const std::vector<ClipResult>& results) {
  nlohmann::json j;
  j["split"] = r.split;
  j["clips"] = r.clips;
  j["accuracy"] = r.accuracy;
  j["species_accuracy"] = r.species_accuracy;
  j["macro_f1"] = r.macro_f1;
  j["none_minutes"] = r.none_minutes;
  j["none_species_events"] = r.none_species_events;
  j["none_species_events_per_minute"] = r.none_species_events_per_minute();
  nlohmann::json labels = nlohmann::json::array();
  for (const auto& s : r.labels)
    labels.push_back({{"label", s.label}, {"clips", s.support}, {"predicted", s.predicted}, {"correct", s.correct},
                      {"precision", s.precision}, {"recall", s.recall}, {"f1", s.f1}});
  j["labels"] = labels;
  nlohmann::json calibration = nlohmann::json::array();
  for (std::size_t k = 0; k < r.calibration_events.size(); ++k)
    calibration.push_back({{"from", 0.1 * static_cast<double>(k)}, {"to", 0.1 * static_cast<double>(k + 1)},
                           {"events", r.calibration_events[k]}, {"right", r.calibration_right[k]},
                           {"mean_confidence", r.calibration_events[k] > 0
                                                   ? r.calibration_confidence[k] / r.calibration_events[k]
                                                   : 0.0}});
  j["calibration"] = calibration;
  j["calibration_error"] = r.calibration_error;
  nlohmann::json sweep = nlohmann::json::array();
  for (const auto& w : r.sweep)
    sweep.push_back({{"min_confidence", w.min_confidence}, {"accuracy", w.accuracy},
                     {"species_accuracy", w.species_accuracy}, {"macro_f1", w.macro_f1},
                     {"species_events", w.species_events}, {"species_events_right", w.species_events_right},
                     {"none_species_events_per_minute", w.none_species_events_per_minute}});
  j["threshold_sweep"] = sweep;
  j["confusion"] = {{"columns", r.columns}, {"rows", nlohmann::json::array()}, {"counts", r.confusion}};
  for (const auto& s : r.labels) j["confusion"]["rows"].push_back(s.label);
  nlohmann::json clips = nlohmann::json::array();
  for (const auto& c : results)
    clips.push_back({{"path", c.path}, {"truth", c.truth}, {"predicted", c.predicted}, {"confidence", c.confidence},
                     {"events", c.events}, {"species_events", c.species_events}, {"audio_s", c.audio_s},
                     {"fold", c.fold}});
  j["recordings"] = clips;
  return j;
}

}  // namespace birdsong
