#include "dsp/species_features.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "dsp/max_of.hpp"

namespace birdsong::dsp {

namespace {
[[noreturn]] void bad(const char* key, double value, const std::string& expected) {
  throw std::invalid_argument(std::string(key) + ": " + std::to_string(value) + ": expected " + expected);
}
int bin_of(double x, double lo, double hi, int bins) {
  const int b = static_cast<int>(std::floor((x - lo) / (hi - lo) * bins));
  return std::clamp(b, 0, bins - 1);
}
}  // namespace

void validate(const SpeciesFeatureConfig& c) {
  if (!(c.min_excess_db >= 0.0 && c.min_excess_db <= 60.0)) bad("min_excess_db", c.min_excess_db, "0..60 dB");
  if (!(c.dynamic_range_db > 0.0 && c.dynamic_range_db <= 120.0))
    bad("dynamic_range_db", c.dynamic_range_db, "0..120 dB");
  if (!(c.min_pitch_hz > 0.0)) bad("min_pitch_hz", c.min_pitch_hz, "a frequency > 0");
  if (!(c.max_pitch_hz > c.min_pitch_hz)) bad("max_pitch_hz", c.max_pitch_hz, "a frequency above min_pitch_hz");
}

// Summed row by row from 0: the same operations in the same order in every band, so the
// inner bands are one loop the compiler can vectorise (this smoothing was most of the
// pooling time).
void smooth_frame(const float* before, const float* row, const float* after, std::size_t B, float* out) {
  if (B == 0) return;
  const float* rows[3];
  std::size_t n = 0;
  if (before != nullptr) rows[n++] = before;
  rows[n++] = row;
  if (after != nullptr) rows[n++] = after;
  auto edge = [&](std::size_t b) {
    const std::size_t ba = b > 0 ? b - 1 : b, bb = std::min(B - 1, b + 1);
    float sum = 0.0f;
    for (std::size_t r = 0; r < n; ++r)
      for (std::size_t c = ba; c <= bb; ++c) sum += rows[r][c];
    out[b] = sum / static_cast<float>(n * (bb - ba + 1));
  };
  edge(0);
  const float count = static_cast<float>(3 * n);
  auto add_row = [](float& sum, const float* r, std::size_t b) {
    sum += r[b - 1];
    sum += r[b];
    sum += r[b + 1];
  };
  const float* r0 = rows[0];
  const float* r1 = n > 1 ? rows[1] : rows[0];
  const float* r2 = n > 2 ? rows[2] : rows[0];
  if (n == 3) {
    for (std::size_t b = 1; b + 1 < B; ++b) {
      float sum = 0.0f;
      add_row(sum, r0, b);
      add_row(sum, r1, b);
      add_row(sum, r2, b);
      out[b] = sum / count;
    }
  } else {
    for (std::size_t b = 1; b + 1 < B; ++b) {
      float sum = 0.0f;
      add_row(sum, r0, b);
      if (n > 1) add_row(sum, r1, b);
      out[b] = sum / count;
    }
  }
  if (B > 1) edge(B - 1);
}

FeaturePool::FeaturePool(int bands, int codes)
    : bands_(bands),
      sum_excess_(static_cast<std::size_t>(bands)),
      sum_excess2_(static_cast<std::size_t>(bands)),
      sum_shape_(static_cast<std::size_t>(bands)),
      sum_change_(static_cast<std::size_t>(bands)),
      code_sum_(static_cast<std::size_t>(codes)),
      code_sum2_(static_cast<std::size_t>(codes)),
      code_max_(static_cast<std::size_t>(codes)) {}

void FeaturePool::clear() { *this = FeaturePool(bands_, codes()); }

void FeaturePool::reset_codes(int codes) {
  coded_ = 0;
  code_sum_.assign(static_cast<std::size_t>(codes), 0.0);
  code_sum2_.assign(static_cast<std::size_t>(codes), 0.0);
  code_max_.assign(static_cast<std::size_t>(codes), 0.0f);
}

// A code of 0 changes no sum and no maximum (they start at 0 and codes are >= 0), so
// both forms pool exactly the same; the sparse one skips the codes that are 0 (most).
void FeaturePool::add_codes(const float* codes) {
  ++coded_;
  for (std::size_t k = 0; k < code_max_.size(); ++k) {
    const float c = codes[k];
    if (c == 0.0f) continue;
    code_sum_[k] += c;
    code_sum2_[k] += static_cast<double>(c) * c;
    code_max_[k] = std::max(code_max_[k], c);
  }
}

void FeaturePool::add_codes(const SparseCodes& codes) {
  ++coded_;
  for (std::size_t i = 0; i < codes.count; ++i) {
    const std::size_t k = codes.index[i];
    const float c = codes.value[i];
    code_sum_[k] += c;
    code_sum2_[k] += static_cast<double>(c) * c;
    code_max_[k] = std::max(code_max_[k], c);
  }
}

void FeaturePool::add(const FeaturePool& o) {
  if (o.bands_ != bands_ || o.codes() != codes())
    throw std::invalid_argument("FeaturePool: adding a pool of another band or code count");
  frames_ += o.frames_;
  active_ += o.active_;
  moves_ += o.moves_;
  syllables_ += o.syllables_;
  seconds_ += o.seconds_;
  for (std::size_t b = 0; b < sum_excess_.size(); ++b) {
    sum_excess_[b] += o.sum_excess_[b];
    sum_excess2_[b] += o.sum_excess2_[b];
    sum_shape_[b] += o.sum_shape_[b];
    sum_change_[b] += o.sum_change_[b];
  }
  for (std::size_t i = 0; i < pitch_.size(); ++i) pitch_[i] += o.pitch_[i];
  for (std::size_t i = 0; i < pitch_move_.size(); ++i) pitch_move_[i] += o.pitch_move_[i];
  for (std::size_t i = 0; i < durations_.size(); ++i) durations_[i] += o.durations_[i];
  for (std::size_t i = 0; i < envelope_lag_.size(); ++i) envelope_lag_[i] += o.envelope_lag_[i];
  envelope_energy_ += o.envelope_energy_;
  sum_log_pitch_ += o.sum_log_pitch_;
  sum_log_pitch2_ += o.sum_log_pitch2_;
  sum_pitch_move_ += o.sum_pitch_move_;
  pitch_weight_ += o.pitch_weight_;
  coded_ += o.coded_;
  for (std::size_t k = 0; k < code_max_.size(); ++k) {
    code_sum_[k] += o.code_sum_[k];
    code_sum2_[k] += o.code_sum2_[k];
    code_max_[k] = std::max(code_max_[k], o.code_max_[k]);
  }
}

void FeaturePool::add(const MelBlock& blk, std::span<const float> background_db, const SpeciesFeatureConfig& cfg) {
  const auto B = static_cast<std::size_t>(bands_);
  if (blk.bands != bands_ || background_db.size() != B)
    throw std::invalid_argument("FeaturePool: block of " + std::to_string(blk.bands) + " bands, expected " +
                                std::to_string(bands_));
  const std::size_t n_all = blk.peak_hz.size();
  const std::size_t begin = std::min(blk.begin, n_all), end = std::min(blk.end, n_all);
  if (end <= begin) return;
  const std::size_t n = end - begin;
  frames_ += static_cast<int64_t>(n);
  seconds_ += static_cast<double>(n) / blk.frame_rate_hz;

  // Excess over the background, smoothed by a 3x3 (time x band) mean: a single frame's
  // band level scatters by several dB in noise, so activity and shape use the smoothed
  // map. The mean of (level - background) is the mean level minus the mean background of
  // the same bands, so smoothed levels (cached by SoundHistory) serve any background.
  const std::size_t c0 = begin > 0 ? begin - 1 : 0, c1 = std::min(n_all, end + 1);
  std::vector<float> zs(n * B), e(n), smoothed_background(B);
  smooth_frame(nullptr, background_db.data(), nullptr, B, smoothed_background.data());
  for (std::size_t t = begin; t < end; ++t) {
    float* out = &zs[(t - begin) * B];
    if (!blk.smoothed_db.empty()) {
      const float* cached = &blk.smoothed_db[t * B];
      for (std::size_t b = 0; b < B; ++b) out[b] = cached[b] - smoothed_background[b];
    } else {
      const float* before = t > c0 ? &blk.db[(t - 1) * B] : nullptr;
      const float* after = t + 1 < c1 ? &blk.db[(t + 1) * B] : nullptr;
      smooth_frame(before, &blk.db[t * B], after, B, out);
      for (std::size_t b = 0; b < B; ++b) out[b] -= smoothed_background[b];
    }
    e[t - begin] = max_of(out, B);
  }
  // The unsmoothed excess of frame t.
  auto excess = [&](std::size_t t, std::size_t b) { return blk.db[t * B + b] - background_db[b]; };
  const float loudest = *std::max_element(e.begin(), e.end());
  const float threshold =
      static_cast<float>(std::max(cfg.min_excess_db, static_cast<double>(loudest) - cfg.dynamic_range_db));

  const double lp0 = std::log2(cfg.min_pitch_hz), lp1 = std::log2(cfg.max_pitch_hz);
  auto log_pitch = [&](std::size_t t) {
    return std::log2(std::clamp(static_cast<double>(blk.peak_hz[t]), cfg.min_pitch_hz, cfg.max_pitch_hz));
  };
  std::vector<float> env(n);
  std::size_t run = 0;
  auto close_run = [&] {
    if (run == 0) return;
    const double d = static_cast<double>(run) / blk.frame_rate_hz;
    durations_[static_cast<std::size_t>(bin_of(std::log2(d), std::log2(0.008), std::log2(2.0), kDurationBins))] += 1;
    ++syllables_;
    run = 0;
  };
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t t = begin + i;
    env[i] = std::max(0.0f, e[i] - threshold);
    if (e[i] < threshold) {
      close_run();
      continue;
    }
    ++run;
    ++active_;
    if (blk.codes) {
      const SparseCodes c = blk.codes(t);
      if (c.known && !code_max_.empty()) add_codes(c);
    }
    const float* st = &zs[i * B];
    for (std::size_t b = 0; b < B; ++b) {
      const float z = excess(t, b);
      sum_excess_[b] += z;
      sum_excess2_[b] += static_cast<double>(z) * z;
      sum_shape_[b] += st[b] - e[i];
      // change from the previous frame (context frame when i == 0)
      const float prev = i > 0 ? zs[(i - 1) * B + b] : (t > c0 ? excess(t - 1, b) : st[b]);
      sum_change_[b] += std::abs(st[b] - prev);
    }
    const double lp = log_pitch(t);
    const double w = e[i];
    pitch_[static_cast<std::size_t>(bin_of(lp, lp0, lp1, kPitchBins))] += w;
    sum_log_pitch_ += lp * w;
    sum_log_pitch2_ += lp * lp * w;
    pitch_weight_ += w;
    if (i > 0 && e[i - 1] >= threshold) {
      // Frame-to-frame pitch movement in octaves; bird FM rarely exceeds 0.3 octave per
      // 16 ms, larger jumps (a new note) go to the outer bins.
      const double move = std::clamp(lp - log_pitch(t - 1), -1.0, 1.0);
      pitch_move_[static_cast<std::size_t>(bin_of(move, -kMaxPitchMove, kMaxPitchMove, kPitchMoveBins))] += 1;
      sum_pitch_move_ += std::abs(move);
      ++moves_;
    }
  }
  close_run();
  // One lag at a time, each sum in the order of i as always (the same result to the bit),
  // without a test per product.
  for (std::size_t i = 0; i < n; ++i) envelope_energy_ += static_cast<double>(env[i]) * env[i];
  for (std::size_t k = 0; k < kEnvelopeLags.size(); ++k) {
    const auto lag = static_cast<std::size_t>(kEnvelopeLags[k]);
    double sum = envelope_lag_[k];
    for (std::size_t i = 0; i + lag < n; ++i) sum += static_cast<double>(env[i]) * env[i + lag];
    envelope_lag_[k] = sum;
  }
}

std::vector<float> FeaturePool::vector() const {
  std::vector<float> v(static_cast<std::size_t>(size(bands_, codes())), 0.0f);
  if (active_ == 0) return v;
  const double a = static_cast<double>(active_);
  std::size_t k = 0;
  for (std::size_t b = 0; b < sum_excess_.size(); ++b) v[k++] = static_cast<float>(sum_excess_[b] / a);
  for (std::size_t b = 0; b < sum_excess_.size(); ++b) {
    const double m = sum_excess_[b] / a;
    v[k++] = static_cast<float>(std::sqrt(std::max(0.0, sum_excess2_[b] / a - m * m)));
  }
  for (std::size_t b = 0; b < sum_shape_.size(); ++b) v[k++] = static_cast<float>(sum_shape_[b] / a);
  for (std::size_t b = 0; b < sum_change_.size(); ++b) v[k++] = static_cast<float>(sum_change_[b] / a);
  auto histogram = [&](const auto& h) {
    double total = 0.0;
    for (double x : h) total += x;
    for (double x : h) v[k++] = static_cast<float>(total > 0.0 ? x / total : 0.0);
  };
  histogram(pitch_);
  histogram(pitch_move_);
  for (double x : envelope_lag_) v[k++] = static_cast<float>(envelope_energy_ > 0.0 ? x / envelope_energy_ : 0.0);
  histogram(durations_);
  const double pm = pitch_weight_ > 0.0 ? sum_log_pitch_ / pitch_weight_ : 0.0;
  v[k++] = static_cast<float>(a / static_cast<double>(frames_));
  v[k++] = static_cast<float>(pm);
  v[k++] = static_cast<float>(pitch_weight_ > 0.0 ? std::sqrt(std::max(0.0, sum_log_pitch2_ / pitch_weight_ - pm * pm)) : 0.0);
  v[k++] = static_cast<float>(moves_ > 0 ? sum_pitch_move_ / static_cast<double>(moves_) : 0.0);
  v[k++] = static_cast<float>(seconds_ > 0.0 ? static_cast<double>(syllables_) / seconds_ : 0.0);
  const double coded = static_cast<double>(std::max<int64_t>(1, coded_));
  for (std::size_t c = 0; c < code_max_.size(); ++c) {
    const double m = code_sum_[c] / coded;
    v[k++] = static_cast<float>(m);
    v[k++] = static_cast<float>(std::sqrt(std::max(0.0, code_sum2_[c] / coded - m * m)));
    v[k++] = code_max_[c];
  }
  return v;
}

}  // namespace birdsong::dsp
