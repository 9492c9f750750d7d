#include "dsp/species_classifier.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace birdsong::dsp {

void validate(const SpeciesFeatureSetup& s) {
  validate(s.mel);
  validate(s.features);
  if (!(s.history_s >= 1.0 && s.history_s <= 600.0))
    throw std::invalid_argument("history_s: " + std::to_string(s.history_s) + ": expected 1..600 seconds");
  if (!(s.background_quantile > 0.0 && s.background_quantile < 1.0))
    throw std::invalid_argument("background_quantile: " + std::to_string(s.background_quantile) + ": expected 0..1");
  if (!(s.bout_gap_s >= 0.0 && s.bout_gap_s <= 60.0))
    throw std::invalid_argument("bout_gap_s: " + std::to_string(s.bout_gap_s) + ": expected 0..60 seconds");
  if (!(s.context_s >= 0.0 && s.context_s < s.history_s))
    throw std::invalid_argument("context_s: " + std::to_string(s.context_s) + ": expected 0 seconds up to history_s");
}

namespace {
constexpr double kBackgroundEvery_s = 4.0;

const SpeciesFeatureSetup& checked(const SpeciesFeatureSetup& s) {
  validate(s);
  return s;
}
}  // namespace

SoundHistory::SoundHistory(const SpectrumLayout& spectra, const SpeciesFeatureSetup& setup, FrameCodebook codebook)
    : setup_(checked(setup)), mel_(spectra, setup.mel), codebook_(std::move(codebook)) {
  validate(codebook_);
  if (!codebook_.empty() && codebook_.inputs != kPatchFrames * mel_.bands())
    throw std::invalid_argument("codebook: patches of " + std::to_string(codebook_.inputs) + " values, the mel gives " +
                                std::to_string(kPatchFrames * mel_.bands()));
  capacity_ = static_cast<std::size_t>(std::ceil(setup.history_s * mel_.frame_rate_hz())) + 2;
  const auto bands = static_cast<std::size_t>(mel_.bands());
  // Each ring holds every frame twice (slots k and k + capacity_), so any run of held
  // frames is one contiguous span: pools and the background read it in place.
  db_.assign(2 * capacity_ * bands, 0.0f);
  smoothed_.assign(2 * capacity_ * bands, 0.0f);
  peak_hz_.assign(2 * capacity_, 0.0f);
  block_smoothed_.reserve(capacity_ * bands);
  background_.assign(bands, 0.0f);
  column_.reserve(capacity_);
  window_db_.assign(bands, 2.0f);
  const auto K = static_cast<std::size_t>(codebook_.codes());
  code_slots_ = capacity_ / kCodedFrameEvery + 1;
  code_index_.reset(new uint16_t[code_slots_ * K]);
  code_value_.reset(new float[code_slots_ * K]);
  code_count_.assign(K > 0 ? code_slots_ : 0, 0);
  dense_.assign(K, 0.0f);
  seen_frame_.assign(code_slots_, -1);
  patch_.assign(static_cast<std::size_t>(kPatchFrames) * bands, 0);
}

// A held frame's codes (not known without a codebook, or for a frame that is not coded),
// computed the first time it is asked for with the background of that moment; its patch
// goes to the listener then.
SparseCodes SoundHistory::frame_codes(int64_t frame) {
  if (frame % kCodedFrameEvery != 0) return SparseCodes{};  // frame_codes.hpp
  const auto bands = static_cast<std::size_t>(mel_.bands());
  const std::size_t slot = static_cast<std::size_t>(frame / kCodedFrameEvery) % code_slots_;
  const std::size_t K = static_cast<std::size_t>(codebook_.codes());
  auto held = [&] {
    if (K == 0) return SparseCodes{};
    return SparseCodes{true, &code_index_[slot * K], &code_value_[slot * K], code_count_[slot]};
  };
  if (seen_frame_[slot] == frame) {
    if (listener_) listener_(frame, nullptr);
    return held();
  }
  seen_frame_[slot] = frame;
  const int64_t oldest = std::max<int64_t>(0, frames_ - static_cast<int64_t>(capacity_));
  auto at = [&](int64_t k) { return &db_[static_cast<std::size_t>(k) % capacity_ * bands]; };
  make_patch(at(frame > oldest ? frame - 1 : frame), at(frame), at(frame + 1 < frames_ ? frame + 1 : frame), background_,
             patch_.data());
  if (listener_) listener_(frame, patch_.data());
  if (K == 0) return held();
  codebook_.encode(patch_.data(), dense_.data());
  uint16_t n = 0;
  for (std::size_t k = 0; k < K; ++k)
    if (dense_[k] != 0.0f) {
      code_index_[slot * K + n] = static_cast<uint16_t>(k);
      code_value_[slot * K + n] = dense_[k];
      ++n;
    }
  code_count_[slot] = n;
  return held();
}

void SoundHistory::add_spectrum(int64_t spectrum, std::span<const float> power) {
  const auto bands = static_cast<std::size_t>(mel_.bands());
  mel_.add_spectrum(spectrum, power, [&](int64_t frame, std::span<const float> band_db, float peak_hz) {
    const std::size_t slot = static_cast<std::size_t>(frame) % capacity_;
    for (const std::size_t s : {slot, slot + capacity_}) {
      std::copy(band_db.begin(), band_db.end(), db_.begin() + static_cast<std::ptrdiff_t>(s * bands));
      peak_hz_[s] = peak_hz;
    }
    frames_ = frame + 1;
    // The previous frame now has both neighbours: smooth it once here rather than in
    // every pool that holds it (10 s of context per sound: each frame about 8 times).
    if (frame >= 1) {
      auto at = [&](int64_t k) { return &db_[static_cast<std::size_t>(k) % capacity_ * bands]; };
      const std::size_t prev = static_cast<std::size_t>(frame - 1) % capacity_;
      float* out = &smoothed_[prev * bands];
      smooth_frame(frame >= 2 ? at(frame - 2) : nullptr, at(frame - 1), at(frame), bands, out);
      std::copy_n(out, bands, &smoothed_[(prev + capacity_) * bands]);
    }
  });
}

// Each band's background is the q-th smallest of its `held` values: exact, the same
// value a full selection gives. Selecting among all of them every second was most of the
// pooling time, and the level moves little in a second. So one branch-free pass over the
// ring counts, in each band, the values below a window around the previous level and
// gathers those inside it; when the q-th value falls inside, it is selected from the few
// gathered. Otherwise (the first time, or the level moved out of the window) the band is
// selected from in full and its window widened; a window that gathers many is narrowed.
void SoundHistory::update_background(int64_t oldest, std::size_t held, std::size_t q) {
  const auto bands = static_cast<std::size_t>(mel_.bands());
  const bool previous = background_frames_ > 0;
  column_.resize(held);
  const std::size_t start = static_cast<std::size_t>(oldest) % capacity_;  // then `held` slots on
  for (std::size_t b = 0; b < bands; ++b) {
    std::size_t n = held, k = q;
    bool inside_window = false;
    if (previous) {
      const float lo = background_[b] - window_db_[b], hi = background_[b] + window_db_[b];
      std::size_t below = 0, inside = 0;
      auto scan = [&](std::size_t from, std::size_t count) {
        const float* v = &db_[from * bands + b];  // strided: the ring (200 kB) stays in cache
        for (std::size_t i = 0; i < count; ++i, v += bands) {
          const float x = *v;
          below += static_cast<std::size_t>(x < lo);
          column_[inside] = x;
          inside += static_cast<std::size_t>(x >= lo) & static_cast<std::size_t>(x <= hi);  // no branch
        }
      };
      scan(start, held);
      inside_window = below <= q && q < below + inside;
      if (inside_window) {
        n = inside;
        k = q - below;
        if (n > held / 8) window_db_[b] = std::max(0.05f, window_db_[b] * 0.75f);
      } else {
        window_db_[b] = std::min(60.0f, window_db_[b] * 2.0f);
      }
    }
    if (!inside_window)
      for (std::size_t i = 0; i < held; ++i) column_[i] = db_[(start + i) * bands + b];
    const auto nth = column_.begin() + static_cast<std::ptrdiff_t>(k);
    std::nth_element(column_.begin(), nth, column_.begin() + static_cast<std::ptrdiff_t>(n));
    background_[b] = *nth;
  }
}

FeaturePool SoundHistory::pool(double start_s, double end_s) {
  const auto bands = static_cast<std::size_t>(mel_.bands());
  FeaturePool out(mel_.bands(), codebook_.codes());
  if (frames_ == 0) return out;
  const int64_t oldest = std::max<int64_t>(0, frames_ - static_cast<int64_t>(capacity_));
  // Frame k is centred at time_s(k): the sound holds the frames centred inside it.
  const double t0 = mel_.time_s(0), rate = mel_.frame_rate_hz();
  int64_t first = static_cast<int64_t>(std::ceil((start_s - t0) * rate));
  int64_t last = static_cast<int64_t>(std::floor((end_s - t0) * rate));  // inclusive
  first = std::max(first, oldest);
  last = std::min(last, frames_ - 1);
  if (last < first) return out;

  // Background: a low quantile of each band over the whole history. It moves slowly, so
  // it is recomputed at most once every kBackgroundEvery_s of new audio (songs bring many
  // sounds a second; recomputing it every second was a seventh of analyze's time with a
  // pack). Every 4 s, a fifth of the history it is taken over, cross-validated accuracy
  // moved by less than another shuffle of the folds moves it (README, Performance).
  const std::size_t held = static_cast<std::size_t>(frames_ - oldest);
  const auto q = static_cast<std::size_t>(setup_.background_quantile * static_cast<double>(held - 1));
  const bool fresh = background_frames_ > 0 && frames_ - background_frames_ < static_cast<int64_t>(kBackgroundEvery_s * rate) &&
                     background_frames_ >= std::min<int64_t>(frames_, static_cast<int64_t>(capacity_) / 2);
  if (!fresh) {
    update_background(oldest, held, q);
    background_frames_ = frames_;
  }

  // The sound and one frame of context each side, read in place from the rings. The
  // sound's smoothed frames come from the cache where the block holds the same neighbours
  // the cache was smoothed with: all of them, unless the sound reaches the newest frame
  // (not smoothed yet) or the oldest held one after the ring has wrapped (its cached
  // mean has a neighbour the block lacks). Those are smoothed here as FeaturePool would.
  const int64_t c0 = std::max(oldest, first - 1), c1 = std::min(frames_ - 1, last + 1);
  const std::size_t s0 = static_cast<std::size_t>(c0) % capacity_, rows = static_cast<std::size_t>(c1 - c0 + 1);
  const std::span<const float> block_db(&db_[s0 * bands], rows * bands);
  std::span<const float> block_smoothed(&smoothed_[s0 * bands], rows * bands);
  if (!((first > c0 || c0 == 0) && last < c1)) {
    block_smoothed_.resize(rows * bands);
    for (int64_t k = first; k <= last; ++k) {
      const std::size_t i = static_cast<std::size_t>(k - c0) * bands;
      if (k > c0 && k < c1) {
        std::copy_n(&block_smoothed[i], bands, &block_smoothed_[i]);
      } else {
        const float* row = &block_db[i];
        smooth_frame(k > c0 ? row - bands : nullptr, row, k < c1 ? row + bands : nullptr, bands, &block_smoothed_[i]);
      }
    }
    block_smoothed = block_smoothed_;
  }
  MelBlock block;
  block.bands = mel_.bands();
  block.frame_rate_hz = rate;
  block.db = block_db;
  block.peak_hz = std::span<const float>(&peak_hz_[s0], rows);
  block.smoothed_db = block_smoothed;
  block.begin = static_cast<std::size_t>(first - c0);
  block.end = static_cast<std::size_t>(last - c0 + 1);
  if (!codebook_.empty() || listener_) block.codes = [this, c0](std::size_t t) { return frame_codes(c0 + static_cast<int64_t>(t)); };
  out.add(block, background_, setup_.features);
  return out;
}

const FeaturePool& Bout::add(double start_s, double end_s, const FeaturePool& sound) {
  if (!end_s_ || start_s - *end_s_ > gap_s_ || pool_.bands() != sound.bands() || pool_.codes() != sound.codes()) {
    pool_ = sound;
    sounds_ = 1;
    end_s_ = end_s;
  } else {
    pool_.add(sound);
    ++sounds_;
    end_s_ = std::max(*end_s_, end_s);
  }
  return pool_;
}

SpeciesClassifier::SpeciesClassifier(const SpectrumLayout& spectra, const SpeciesFeatureSetup& setup,
                                     SpeciesModel model, FrameCodebook codebook)
    : features_(spectra, setup, std::move(codebook)), bout_(setup.bout_gap_s), model_(std::move(model)) {
  const int features = FeaturePool::size(features_.bands(), features_.codes());
  if (model_.feature_count() != features)
    throw std::invalid_argument("model: expects " + std::to_string(model_.feature_count()) +
                                " features, the feature setup gives " + std::to_string(features));
}

SpeciesScores SpeciesClassifier::classify(const Sound& sound) {
  SpeciesScores out;
  const FeaturePool& bout = bout_.add(sound.start_s, sound.end_s, features_.sound_pool(sound.start_s, sound.end_s));
  if (bout.active_frames() == 0) return out;
  out.probabilities.resize(static_cast<std::size_t>(model_.classes()));
  model_.predict(bout.vector(), out.probabilities);
  const auto best = std::max_element(out.probabilities.begin(), out.probabilities.end());
  out.best = static_cast<int>(best - out.probabilities.begin());
  out.probability = *best;
  return out;
}

}  // namespace birdsong::dsp
