// Species classification: the stage after the detector.
//
//   Detector: spectra -> MelSpectrogram -> history of frames (-> FrameCodebook codes) --+
//   Detector -> Sound (start_s, end_s) ------------------------------------------------+-> FeaturePool -> Bout -> SpeciesModel
//
// SoundHistory listens to the detector's spectra (Detector::listen) and keeps the last
// few seconds of log-mel frames in a preallocated ring. When the detector reports a
// sound, its frames (and those of the context_s before it) are pooled into features against the background level of each
// band (a low quantile of the history). Consecutive sounds less than bout_gap_s apart
// are treated as one bout of one bird: their pools add up, so the tenth syllable of a
// song is classified with the evidence of the nine before it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "dsp/detector.hpp"
#include "dsp/frame_codes.hpp"
#include "dsp/mel_spectrogram.hpp"
#include "dsp/species_features.hpp"
#include "dsp/species_model.hpp"

namespace birdsong::dsp {

struct SpeciesFeatureSetup {
  MelConfig mel;
  SpeciesFeatureConfig features;
  double history_s = 20.0;           // frames kept: the longest sound plus background around it
  double background_quantile = 0.2;  // a band's background level: this quantile of its history
  double bout_gap_s = 3.0;           // sounds closer than this are one bout
  // A sound is judged with the context_s of audio before it: a lone call of 0.2 s says
  // little, the bird's other calls and song in the seconds before it say much more
  // (5-fold cross-validation on 20 Puerto Rico species: clip accuracy about +0.05 at
  // 10 s). Frames pooled are those that stand out from the background, as for the sound.
  double context_s = 10.0;
};

void validate(const SpeciesFeatureSetup& setup);

class SoundHistory {
 public:
  // Reads spectra laid out as `spectra` (Detector::spectrum_layout()); pools the codes of
  // `codebook` too unless it is empty. Throws std::invalid_argument naming the bad
  // parameter.
  SoundHistory(const SpectrumLayout& spectra, const SpeciesFeatureSetup& setup, FrameCodebook codebook = {});

  // Learning (before there is a codebook): called for every coded active frame
  // (kCodedFrameEvery) of every pool, with the frame's patch (make_patch) the first time, null after; a frame's patch is
  // taken once, with the background of that moment, as its codes are when classifying.
  using ActiveFrameListener = std::function<void(int64_t frame, const uint8_t* patch)>;
  void listen_active(ActiveFrameListener listener) { listener_ = std::move(listener); }

  // Feeds each spectrum the detector computes, as it computes it (Detector::listen), so
  // the history covers every sound the detector reports.
  void add_spectrum(int64_t frame, std::span<const float> power);
  // The features of the sound between start_s and end_s (seconds from the first
  // sample); only the part still in the history counts.
  FeaturePool pool(double start_s, double end_s);
  // The features a detected sound is classified with: the sound and the context_s
  // before it (SpeciesFeatureSetup::context_s).
  FeaturePool sound_pool(double start_s, double end_s) { return pool(start_s - setup_.context_s, end_s); }

  const SpeciesFeatureSetup& setup() const { return setup_; }
  int bands() const { return mel_.bands(); }
  int codes() const { return codebook_.codes(); }
  // Each band's background level as the last pool() computed it, and the frames the
  // history holds (the newest ones).
  const std::vector<float>& background_db() const { return background_; }
  int64_t frames_held() const { return std::min<int64_t>(frames_, static_cast<int64_t>(capacity_)); }

 private:
  SpeciesFeatureSetup setup_;
  MelSpectrogram mel_;
  std::size_t capacity_;
  // Rings of capacity_ frames, each frame stored twice (slots k and k + capacity_) so
  // that any run of held frames is contiguous.
  std::vector<float> db_;        // 2 capacity_ x bands
  std::vector<float> smoothed_;  // each frame's 3x3 mean (smooth_frame), once its next frame is in
  std::vector<float> peak_hz_;   // 2 capacity_
  int64_t frames_ = 0;          // frames computed so far
  int64_t background_frames_ = 0;  // frames_ when background_ was computed
  void update_background(int64_t oldest, std::size_t held, std::size_t q);
  std::vector<float> window_db_;  // half-width of each band's selection window around its background
  // Codes of each held frame, computed the first time a pool finds it active (ring of
  // capacity_ slots; seen_frame_ says which frame a slot holds, -1: none).
  // Codes are kept sparse (most are 0): coded frame f has slot
  // (f / kCodedFrameEvery) % code_slots_, which holds code_count_[slot] pairs in code_index_
  // and code_value_ from slot x codes(). Left uninitialised: a slot is read only after
  // it is written, and zeroing them cost more than coding a short file.
  FrameCodebook codebook_;
  std::size_t code_slots_ = 0;
  std::unique_ptr<uint16_t[]> code_index_;
  std::unique_ptr<float[]> code_value_;
  std::vector<uint16_t> code_count_;
  std::vector<float> dense_;
  std::vector<int64_t> seen_frame_;  // per slot: the frame it holds, -1: none
  std::vector<uint8_t> patch_;
  ActiveFrameListener listener_;
  SparseCodes frame_codes(int64_t frame);
  // scratch, reused between sounds
  std::vector<float> block_smoothed_, background_, column_;
};

// Groups consecutive sounds into bouts and sums their features.
class Bout {
 public:
  explicit Bout(double gap_s) : gap_s_(gap_s) {}
  // Adds a sound; returns the pool of the bout it belongs to (a new one when it starts
  // more than gap_s after the last sound ended).
  const FeaturePool& add(double start_s, double end_s, const FeaturePool& sound);
  int sounds() const { return sounds_; }

 private:
  double gap_s_;
  std::optional<double> end_s_;
  FeaturePool pool_;
  int sounds_ = 0;
};

// What the model says about one sound (with its bout).
struct SpeciesScores {
  int best = -1;                    // class index, -1: nothing to classify (no active frame)
  float probability = 0.0f;         // calibrated probability of `best`
  std::vector<float> probabilities;  // all classes
};

class SpeciesClassifier {
 public:
  // Throws std::invalid_argument when the model does not fit the features, or the
  // features cannot be made from these spectra (Detector::spectrum_layout()).
  SpeciesClassifier(const SpectrumLayout& spectra, const SpeciesFeatureSetup& setup, SpeciesModel model,
                    FrameCodebook codebook = {});

  void add_spectrum(int64_t frame, std::span<const float> power) { features_.add_spectrum(frame, power); }
  SpeciesScores classify(const Sound& sound);

  const SpeciesModel& model() const { return model_; }

 private:
  SoundHistory features_;
  Bout bout_;
  SpeciesModel model_;
};

}  // namespace birdsong::dsp
