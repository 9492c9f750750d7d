// Species features: what a stretch of bird sound looks like, as one fixed-length vector.
//
// Input is a block of log-mel frames (dsp/mel_spectrogram.hpp) and the background
// level of each band. Each frame becomes its excess over the background; frames loud
// enough (within `dynamic_range_db` of the loudest, and at least `min_excess_db` over
// the background) are "active": the syllables. Over the active frames we keep sums of
//   - spectral shape: mean and spread of each band's excess, the shape relative to
//     the frame's loudest band, and how fast each band changes (timbre, harmonics);
//   - the peak-frequency track: a histogram of the pitch (loudness-weighted, in
//     octaves), a histogram of its frame-to-frame movement (whistle, sweep, trill);
//   - rhythm: the autocorrelation of the loudness envelope at lags from 16 ms to 1 s
//     (syllable repetition rate), a histogram of syllable durations, onsets per second.
// With a codebook (dsp/frame_codes.hpp), the codes of the active frames too: their
// mean, spread and maximum over the stretch.
// Sums add up, so a song bout is the sum of its syllables' pools (FeaturePool::add),
// and vector() turns the sums into means and histograms.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

namespace birdsong::dsp {

// Changes whenever the meaning of any feature changes: a profile pack learned with
// another version cannot be used. Version 2: a sound is pooled with the context_s of
// audio before it (dsp/species_classifier.hpp). Version 3: the mel is made from the
// detector's spectra (dsp/mel_spectrogram.hpp). Version 4: the codes of a learned
// codebook follow the summary features (dsp/frame_codes.hpp). Without a codebook the
// features are exactly those of version 3, and a pack without one says version 3.
inline constexpr int kSpeciesFeatureVersion = 4;
inline constexpr int kSpeciesFeatureVersionWithoutCodes = 3;

struct SpeciesFeatureConfig {
  double min_excess_db = 6.0;       // a frame this far over the background may be active
  double dynamic_range_db = 15.0;   // ... when it is within this of the loudest frame
  double min_pitch_hz = 300.0;      // range of the pitch histogram (octave-spaced bins)
  double max_pitch_hz = 11000.0;
};

void validate(const SpeciesFeatureConfig& config);

// The codes of one frame that are not 0 (most are: dsp/frame_codes.hpp): code index[i]
// has value[i]. `known` is false when the frame has no codes (yet).
struct SparseCodes {
  bool known = false;
  const uint16_t* index = nullptr;
  const float* value = nullptr;
  std::size_t count = 0;
};

// Log-mel frames of one stretch of audio. Frames [begin, end) are the sound; the
// frames around them only serve as context for smoothing.
struct MelBlock {
  int bands = 0;
  double frame_rate_hz = 0.0;
  std::span<const float> db;       // frames x bands, frame-major
  std::span<const float> peak_hz;  // one per frame
  std::size_t begin = 0;
  std::size_t end = 0;
  // Optional: db already smoothed by smooth_frame (frames x bands, as db), for frames
  // [begin, end) at least. Empty: the block's frames are smoothed here.
  std::span<const float> smoothed_db;
  // Optional: called once for each active frame t (an index into the block) of each
  // pool; returns the frame's codes.
  std::function<SparseCodes(std::size_t t)> codes;
};

// The 3x3 (time x band) mean around one frame: `row` is the frame, `before` and `after`
// its neighbours in time (either may be null: the mean is then of the rows there are);
// bands at the edges average the two or three bands there are. Writes `bands` values.
void smooth_frame(const float* before, const float* row, const float* after, std::size_t bands, float* out);

class FeaturePool {
 public:
  static constexpr int kPitchBins = 40;
  static constexpr int kPitchMoveBins = 9;
  static constexpr double kMaxPitchMove = 0.3;  // octaves per frame, range of the movement histogram
  static constexpr int kDurationBins = 8;
  static constexpr std::array<int, 12> kEnvelopeLags = {1, 2, 3, 4, 6, 8, 11, 16, 23, 32, 45, 63};
  static constexpr int kScalars = 5;
  // Features of a pool of `bands` bands and `codes` codes per frame.
  static int size(int bands, int codes = 0) {
    return 4 * bands + kPitchBins + kPitchMoveBins + static_cast<int>(kEnvelopeLags.size()) + kDurationBins +
           kScalars + 3 * codes;
  }

  explicit FeaturePool(int bands = 0, int codes = 0);

  // Adds one stretch of sound. `background_db` holds each band's background level.
  void add(const MelBlock& block, std::span<const float> background_db, const SpeciesFeatureConfig& config);
  // Adds another pool (the next syllable of a bout).
  void add(const FeaturePool& other);
  // Adds the codes of one active frame: all codes() values, or those that are not 0.
  void add_codes(const float* codes);
  void add_codes(const SparseCodes& codes);
  // Forgets the codes pooled so far and pools `codes` per frame from now on.
  void reset_codes(int codes);
  void clear();

  int bands() const { return bands_; }
  int codes() const { return static_cast<int>(code_max_.size()); }
  int64_t active_frames() const { return active_; }
  int64_t frames() const { return frames_; }
  double seconds() const { return seconds_; }
  // The feature vector, size(bands(), codes()) values; all zero when no frame was active.
  std::vector<float> vector() const;

 private:
  int bands_;
  int64_t frames_ = 0;
  int64_t active_ = 0;
  int64_t moves_ = 0;
  int64_t syllables_ = 0;
  double seconds_ = 0.0;
  std::vector<double> sum_excess_, sum_excess2_, sum_shape_, sum_change_;
  std::array<double, kPitchBins> pitch_{};
  std::array<double, kPitchMoveBins> pitch_move_{};
  std::array<double, kDurationBins> durations_{};
  std::array<double, 12> envelope_lag_{};
  double envelope_energy_ = 0.0;
  double sum_log_pitch_ = 0.0, sum_log_pitch2_ = 0.0, sum_pitch_move_ = 0.0, pitch_weight_ = 0.0;
  int64_t coded_ = 0;  // frames whose codes were added
  std::vector<double> code_sum_, code_sum2_;
  std::vector<float> code_max_;
};

}  // namespace birdsong::dsp
