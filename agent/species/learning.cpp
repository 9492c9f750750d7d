#include "agent/species/learning.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <stdexcept>

#include "agent/audio/sound_file.hpp"
#include "agent/species/identification.hpp"
#include "agent/version.hpp"

namespace birdsong {

dsp::SpeciesFeatureSetup feature_setup_for(const dsp::DetectorConfig& detector, double context_s) {
  dsp::SpeciesFeatureSetup setup;
  setup.mel.frame_s = detector.frame_s;
  setup.context_s = context_s;
  setup.history_s = std::max(setup.history_s, context_s + 10.0);
  dsp::validate(setup);
  return setup;
}

RecordingSounds extract_sounds(const ManifestEntry& entry, const dsp::DetectorConfig& detector_config,
                               const dsp::SpeciesFeatureSetup& setup) {
  SoundFile file(entry.path, DecoderNotes::captured);
  // Every sound the classifier will judge with the pack, however bird-like.
  dsp::Detector detector(file.sample_rate_hz(), detector_config_with_profiles(detector_config));
  dsp::SoundHistory history(detector.spectrum_layout(), setup);
  detector.listen([&history](int64_t frame, std::span<const float> power) { history.add_spectrum(frame, power); });
  RecordingSounds r;
  // Each pool's active frames go to `runs`; each frame's patch, the first time, to r.
  std::vector<std::pair<int32_t, int32_t>> runs;
  history.listen_active([&](int64_t frame, const uint8_t* patch) {
    const auto f = static_cast<int32_t>(frame);
    if (!runs.empty() && runs.back().second + 1 == f)
      runs.back().second = f;
    else
      runs.emplace_back(f, f);
    if (patch == nullptr) return;
    if (r.patch_of_frame.size() <= static_cast<std::size_t>(f)) r.patch_of_frame.resize(static_cast<std::size_t>(f) + 1, -1);
    const std::size_t values = static_cast<std::size_t>(dsp::kPatchFrames * history.bands());
    r.patch_of_frame[static_cast<std::size_t>(f)] = static_cast<int32_t>(r.patches.size() / values);
    r.patches.insert(r.patches.end(), patch, patch + values);
  });
  // Takes a pool from the history (`take_pool`) and records its active frames in `active`.
  auto pooled = [&](auto take_pool, std::vector<std::vector<std::pair<int32_t, int32_t>>>& active) {
    runs.clear();
    dsp::FeaturePool p = take_pool();
    active.push_back(runs);
    return p;
  };
  r.path = entry.path;
  r.label = entry.label;
  r.common_name = entry.common_name;
  const double from_s = entry.start_s.value_or(0.0), to_s = entry.end_s.value_or(1e300);
  std::vector<float> chunk(8192);
  std::vector<dsp::Sound> sounds;
  // Fallback when the detector hears nothing: 5 s windows, so that `none` audio the
  // current detector ignores still teaches the model what is not a bird.
  const double window_s = 5.0;
  std::vector<dsp::FeaturePool> windows;
  std::vector<dsp::Sound> window_times;
  std::vector<std::vector<std::pair<int32_t, int32_t>>> window_active;
  double next_window_s = std::max(window_s, from_s + window_s);
  int64_t samples = 0;
  auto take = [&] {
    for (const dsp::Sound& s : sounds) {
      if (s.end_s < from_s || s.start_s > to_s) continue;
      r.sounds.push_back(s);
      r.pools.push_back(pooled([&] { return history.sound_pool(s.start_s, s.end_s); }, r.active));
    }
    sounds.clear();
  };
  auto take_windows = [&](double now_s, bool last) {
    while (now_s >= next_window_s || (last && now_s > next_window_s - window_s + 0.5)) {
      dsp::Sound w;
      w.start_s = next_window_s - window_s;
      w.end_s = std::min(next_window_s, now_s);
      if (w.start_s < to_s) {
        window_times.push_back(w);
        windows.push_back(pooled([&] { return history.pool(w.start_s, w.end_s); }, window_active));
      }
      next_window_s += window_s;
      if (last) break;
    }
  };
  while (std::size_t n = file.read(chunk)) {
    const std::span<const float> part(chunk.data(), n);
    detector.process(part, sounds);
    take();
    samples += static_cast<int64_t>(n);
    take_windows(static_cast<double>(samples) / file.sample_rate_hz(), false);
  }
  detector.flush(sounds);
  take();
  r.audio_s = static_cast<double>(samples) / file.sample_rate_hz();
  take_windows(r.audio_s, true);
  if (r.sounds.empty()) {
    r.sounds = window_times;
    r.pools = windows;
    r.active = window_active;
    r.whole_windows = true;
  }
  return r;
}

std::vector<dsp::FeaturePool> coded_pools(const RecordingSounds& r, const dsp::FrameCodebook& codebook) {
  if (codebook.empty()) return r.pools;
  if (!r.pools.empty() && codebook.inputs != dsp::kPatchFrames * r.pools.front().bands())
    throw std::invalid_argument("codebook: patches of " + std::to_string(codebook.inputs) + " values, the recording's have " +
                                std::to_string(dsp::kPatchFrames * r.pools.front().bands()));
  const auto K = static_cast<std::size_t>(codebook.codes()), values = static_cast<std::size_t>(codebook.inputs);
  const std::size_t n = r.patches.size() / values;
  std::vector<float> codes(n * K);
  for (std::size_t i = 0; i < n; ++i) codebook.encode(&r.patches[i * values], &codes[i * K]);
  std::vector<dsp::FeaturePool> out = r.pools;
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i].reset_codes(codebook.codes());
    for (const auto& [first, last] : r.active[i])
      for (int32_t f = first; f <= last; ++f)
        out[i].add_codes(&codes[static_cast<std::size_t>(r.patch_of_frame[static_cast<std::size_t>(f)]) * K]);
  }
  return out;
}

std::vector<RecordingSounds> extract_all(const std::vector<ManifestEntry>& entries,
                                         const dsp::DetectorConfig& detector, const dsp::SpeciesFeatureSetup& setup,
                                         const LearnProgress& progress, std::vector<std::string>& failed) {
  std::vector<RecordingSounds> out;
  int done = 0;
  for (const ManifestEntry& e : entries) {
    try {
      out.push_back(extract_sounds(e, detector, setup));
    } catch (const AudioError& err) {
      failed.push_back(err.what());
    } catch (const std::invalid_argument& err) {
      failed.push_back(e.path + ": " + err.what());
    }
    ++done;
    if (progress) progress(done, static_cast<int>(entries.size()), e.path);
  }
  return out;
}

namespace {

struct Examples {
  std::vector<float> x;
  std::vector<int> y;
  std::vector<float> w;
  int n = 0;
  void add(const dsp::FeaturePool& pool, int label, float weight) {
    if (pool.active_frames() == 0 || weight <= 0.0f) return;
    const auto v = pool.vector();
    x.insert(x.end(), v.begin(), v.end());
    y.push_back(label);
    w.push_back(weight);
    ++n;
  }
};

// The three scales of one recording (see learning.hpp), each a third of its weight.
void add_recording(const RecordingSounds& r, int label, double bout_gap_s, int max_sounds, Examples& ex) {
  std::vector<std::size_t> usable;
  for (std::size_t i = 0; i < r.pools.size(); ++i)
    if (r.pools[i].active_frames() > 0) usable.push_back(i);
  if (usable.empty()) return;
  const int bands = r.pools[usable[0]].bands(), codes = r.pools[usable[0]].codes();
  // Single sounds: the loudest ones when there are many (they are the recordist's bird).
  std::vector<std::size_t> chosen = usable;
  if (static_cast<int>(chosen.size()) > max_sounds) {
    std::sort(chosen.begin(), chosen.end(),
              [&](std::size_t a, std::size_t b) { return r.sounds[a].snr_db > r.sounds[b].snr_db; });
    chosen.resize(static_cast<std::size_t>(max_sounds));
  }
  for (std::size_t i : chosen) ex.add(r.pools[i], label, static_cast<float>(1.0 / 3.0 / static_cast<double>(chosen.size())));
  // Bouts and the whole recording.
  std::vector<dsp::FeaturePool> bouts;
  dsp::FeaturePool whole(bands, codes), bout(bands, codes);
  double bout_end = -1e300;
  for (std::size_t i : usable) {
    whole.add(r.pools[i]);
    if (r.sounds[i].start_s - bout_end > bout_gap_s && bout.frames() > 0) {
      bouts.push_back(bout);
      bout.clear();
    }
    bout.add(r.pools[i]);
    bout_end = std::max(bout_end, r.sounds[i].end_s);
  }
  if (bout.frames() > 0) bouts.push_back(bout);
  for (const auto& b : bouts) ex.add(b, label, static_cast<float>(1.0 / 3.0 / static_cast<double>(bouts.size())));
  ex.add(whole, label, 1.0f / 3.0f);
}

struct Labels {
  std::vector<SpeciesClass> classes;
  std::map<std::string, int> index;
};

Labels collect_labels(const std::vector<RecordingSounds>& recs) {
  Labels l;
  for (const auto& r : recs) {
    bool any = false;
    for (const auto& p : r.pools) any = any || p.active_frames() > 0;
    if (!any) continue;
    auto it = l.index.find(r.label);
    if (it == l.index.end()) {
      it = l.index.emplace(r.label, static_cast<int>(l.classes.size())).first;
      SpeciesClass c;
      c.label = r.label;
      c.common_name = r.common_name;
      l.classes.push_back(c);
    }
    SpeciesClass& c = l.classes[static_cast<std::size_t>(it->second)];
    if (c.common_name.empty()) c.common_name = r.common_name;
    ++c.recordings;
    for (std::size_t i = 0; i < r.pools.size(); ++i)
      if (r.pools[i].active_frames() > 0) {
        ++c.sounds;
        c.seconds += r.sounds[i].end_s - r.sounds[i].start_s;
      }
  }
  return l;
}

dsp::SpeciesModel fit(const std::vector<const RecordingSounds*>& recs, const Labels& labels,
                      const LearnOptions& o, int feature_count) {
  Examples ex;
  for (const auto* r : recs)
    add_recording(*r, labels.index.at(r->label), o.features.bout_gap_s, o.max_sounds_per_recording, ex);
  return dsp::SpeciesModel::train(static_cast<int>(labels.classes.size()), feature_count, ex.x, ex.y, ex.w,
                                  o.training);
}

// Calibration from held-out recordings (fold k holds every k-th recording of each
// label): the temperature, then the curve from the softmax probability to the share of
// sounds given a species that were right (the probability of "none" is never reported).
// The held-out sounds of one recording share a weight of 1 in the curve, however many
// there are: they are right or wrong together, and a long song would otherwise make its
// own step.
void calibrate(dsp::SpeciesModel& model, const std::vector<const RecordingSounds*>& usable, const Labels& labels,
               const LearnOptions& o, int feature_count) {
  if (o.calibration_folds < 2) return;
  const auto C = labels.classes.size();
  std::vector<float> scores;
  std::vector<int> truth;
  std::vector<std::size_t> recording_of;      // per held-out sound: its recording
  std::vector<int> sounds_of(usable.size());  // per recording: its held-out sounds
  std::map<std::string, int> seen;
  std::vector<int> fold(usable.size());
  for (std::size_t i = 0; i < usable.size(); ++i) fold[i] = seen[usable[i]->label]++ % o.calibration_folds;
  for (int k = 0; k < o.calibration_folds; ++k) {
    std::vector<const RecordingSounds*> train;
    std::map<std::string, int> train_labels;
    for (std::size_t i = 0; i < usable.size(); ++i)
      if (fold[i] != k) {
        train.push_back(usable[i]);
        ++train_labels[usable[i]->label];
      }
    // A label with one recording cannot be held out and learned at once: such tiny
    // sets (the demo pack) keep temperature 1 and no curve.
    if (train_labels.size() < C) continue;
    const dsp::SpeciesModel m = fit(train, labels, o, feature_count);
    std::vector<float> s(C);
    for (std::size_t i = 0; i < usable.size(); ++i) {
      if (fold[i] != k) continue;
      // Score what the live classifier scores: each sound with its bout so far.
      dsp::Bout bout(o.features.bout_gap_s);
      const RecordingSounds& r = *usable[i];
      for (std::size_t j = 0; j < r.pools.size(); ++j) {
        const auto& pool = bout.add(r.sounds[j].start_s, r.sounds[j].end_s, r.pools[j]);
        if (pool.active_frames() == 0) continue;
        m.scores(pool.vector(), s);
        scores.insert(scores.end(), s.begin(), s.end());
        truth.push_back(labels.index.at(r.label));
        recording_of.push_back(i);
        ++sounds_of[i];
      }
    }
  }
  model.set_temperature(dsp::SpeciesModel::fit_temperature(static_cast<int>(C), scores, truth));
  const auto none = labels.index.find(kNoneLabel);
  std::vector<float> top, weight, p(C);
  std::vector<uint8_t> right;
  for (std::size_t i = 0; i < truth.size(); ++i) {
    std::copy_n(scores.begin() + static_cast<std::ptrdiff_t>(i * C), C, p.begin());
    dsp::softmax(p, model.temperature());
    const auto best = static_cast<int>(std::max_element(p.begin(), p.end()) - p.begin());
    if (none != labels.index.end() && best == none->second) continue;
    top.push_back(p[static_cast<std::size_t>(best)]);
    right.push_back(best == truth[i] ? 1 : 0);
    weight.push_back(1.0f / static_cast<float>(sounds_of[recording_of[i]]));
  }
  model.set_calibration(dsp::SpeciesModel::fit_calibration(top, right, weight, kCalibrationStepRecordings,
                                                             kCalibrationPriorRecordings));
}

}  // namespace

ProfilePack learn_pack(const std::vector<RecordingSounds>& recs, const LearnOptions& o) {
  dsp::validate(o.features);
  const Labels labels = collect_labels(recs);
  if (labels.classes.size() < 2)
    throw std::invalid_argument("learning needs recordings of at least two labels with detected sounds, got " +
                                std::to_string(labels.classes.size()));
  std::vector<const RecordingSounds*> heard;
  for (const auto& r : recs)
    if (labels.index.count(r.label)) heard.push_back(&r);

  // The codebook, from a sample of each training recording's patches (so that a long
  // recording does not make the words of its own bird); then every pool gets its codes.
  // The calibration folds below reuse it: it learns no labels, only what patches look like.
  ProfilePack pack;
  if (o.codebook.codes > 0) {
    const auto values = static_cast<std::size_t>(dsp::kPatchFrames * o.features.mel.bands);
    std::vector<uint8_t> sample;
    std::mt19937 rng(o.codebook.seed);
    for (const auto* r : heard) {
      std::vector<std::size_t> idx(r->patches.size() / values);
      std::iota(idx.begin(), idx.end(), 0);
      std::shuffle(idx.begin(), idx.end(), rng);
      idx.resize(std::min(idx.size(), static_cast<std::size_t>(std::max(0, o.patches_per_recording))));
      for (std::size_t i : idx) sample.insert(sample.end(), &r->patches[i * values], &r->patches[i * values] + values);
    }
    pack.codebook = dsp::learn_codebook(sample, static_cast<int>(values), o.codebook);
  }
  std::vector<RecordingSounds> coded;
  coded.reserve(heard.size());
  for (const auto* r : heard) {
    RecordingSounds c;
    c.path = r->path;
    c.label = r->label;
    c.common_name = r->common_name;
    c.audio_s = r->audio_s;
    c.sounds = r->sounds;
    c.pools = coded_pools(*r, pack.codebook);
    c.whole_windows = r->whole_windows;
    coded.push_back(std::move(c));
  }
  std::vector<const RecordingSounds*> usable;
  for (const auto& r : coded) usable.push_back(&r);
  const int F = dsp::FeaturePool::size(o.features.mel.bands, pack.codebook.codes());

  pack.model = fit(usable, labels, o, F);

  calibrate(pack.model, usable, labels, o, F);

  pack.description = o.description;
  pack.demo = o.demo;
  pack.created_by = std::string("birdsong-agent ") + kVersion;
  pack.features = o.features;
  pack.classes = labels.classes;
  for (auto& c : pack.classes) c.threshold = o.threshold;
  for (const auto* r : usable) {
    ++pack.training.recordings;
    pack.training.audio_s += r->audio_s;
    pack.training.sounds += static_cast<int>(r->pools.size());
  }
  Examples count;
  for (const auto* r : usable)
    add_recording(*r, labels.index.at(r->label), o.features.bout_gap_s, o.max_sounds_per_recording, count);
  pack.training.examples = count.n;
  pack.training.hidden = o.training.hidden;
  pack.training.l2 = o.training.hidden > 0 ? o.training.hidden_l2 : o.training.l2;
  pack.training.iterations = o.training.hidden > 0 ? o.training.epochs : o.training.iterations;
  return pack;
}

std::vector<ClassifiedSound> classify_sounds(const ProfilePack& pack, const RecordingSounds& r) {
  std::vector<ClassifiedSound> out;
  if (r.whole_windows) return out;  // the detector heard nothing: no event to classify
  dsp::Bout bout(pack.features.bout_gap_s);
  std::vector<float> p(static_cast<std::size_t>(pack.model.classes()));
  const std::vector<dsp::FeaturePool> pools = coded_pools(r, pack.codebook);
  for (std::size_t i = 0; i < pools.size(); ++i) {
    ClassifiedSound c;
    c.start_s = r.sounds[i].start_s;
    c.end_s = r.sounds[i].end_s;
    const auto& pool = bout.add(c.start_s, c.end_s, pools[i]);
    if (pool.active_frames() > 0) {
      pack.model.predict(pool.vector(), p);
      const auto best = std::max_element(p.begin(), p.end());
      c.best = static_cast<int>(best - p.begin());
      c.probability = *best;
    }
    out.push_back(c);
  }
  return out;
}

}  // namespace birdsong
