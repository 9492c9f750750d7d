// Frame codes: what a short stretch of spectrum looks like, in words learned from the
// recordings themselves (unsupervised feature learning, after Coates & Ng 2011 and
// Stowell & Plumbley 2014, "Automatic large-scale classification of bird sounds is
// strongly improved by unsupervised feature learning").
//
// A patch is three consecutive log-mel frames of excess over each band's background,
// clipped at 0 and kept in quarter-dB steps (0 to 63.75 dB, one byte each), around each
// frame that some pool finds active. `learn` takes patches of the
// training recordings' sounds, whitens them (PCA, keeping kept_variance of the variance)
// and clusters the whitened, unit-length patches with spherical k-means. A patch's codes
// are its cosine with each centroid, less `alpha`, rectified: most are 0, a few say which
// learned shapes (a note's onset, a harmonic stack, a steep sweep...) the patch
// resembles. FeaturePool pools their mean, spread and maximum with the summary features.
//
// Cost: coding a patch takes inputs x dims + dims x codes multiply-adds (120 x ~57 +
// ~57 x 256, about 21 000), once for each frame that some pool finds active. Measured
// accuracy and CPU are in README.md (Species profiles, Performance).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace birdsong::dsp {

// Frames per patch and the step of a patch value.
inline constexpr int kPatchFrames = 3;
// Every kCodedFrameEvery-th frame (its index a multiple of it) is coded. Every third frame
// (patches tiling the spectrogram) cost a third as much, but measured (5-fold
// cross-validation, 256 codes, seed 1) it kept +0.01 of the +0.06 bird-recording accuracy
// that coding every frame gave: the maximum and spread of a code need every frame.
inline constexpr int kCodedFrameEvery = 1;
inline constexpr float kPatchStepDb = 0.25f;
// At most this many codes (a code's index fits 16 bits with room to spare).
inline constexpr int kMaxCodes = 4096;

// The patch around frame `row` (neither neighbour may be null: pass the frame itself at
// an edge): each band's excess over `background_db`, clipped to 0..63.75 dB, in quarter
// dB. Writes kPatchFrames x bands bytes, frame-major.
void make_patch(const float* before, const float* row, const float* after, std::span<const float> background_db,
                uint8_t* out);

struct FrameCodebook {
  int inputs = 0;               // values per patch (kPatchFrames x bands)
  float alpha = 0.25f;          // codes are max(0, cosine - alpha)
  std::vector<float> mean;      // inputs: the patches' mean, in dB
  // Both matrices are laid out for encode(), whose loops then run along rows (vectorised):
  std::vector<float> whitening; // inputs x dims: the kept principal axes, each over the square root of its variance
  std::vector<float> centroids; // dims x codes: column k is centroid k, unit length

  int dims() const { return inputs > 0 ? static_cast<int>(whitening.size()) / inputs : 0; }
  int codes() const { return dims() > 0 ? static_cast<int>(centroids.size()) / dims() : 0; }
  bool empty() const { return codes() == 0; }

  // The codes of one patch (inputs bytes as make_patch writes them), codes() values.
  void encode(const uint8_t* patch, float* codes) const;
};

// Throws std::invalid_argument naming what does not fit (sizes, more than kMaxCodes
// codes, non-finite values, alpha outside 0..1).
void validate(const FrameCodebook& codebook);

struct CodebookOptions {
  // 0: no codebook, the default: the one setting measured to name clearly more
  // recordings (256 codes on every frame) costs more CPU than the 20 % classification may
  // add (README, Species profiles and Performance).
  int codes = 0;
  double kept_variance = 0.99;   // share of the patches' variance the principal axes kept hold
  float alpha = 0.25f;
  int iterations = 30;           // of spherical k-means
  uint32_t seed = 20261207;      // fixed: the same patches always learn the same codebook
};

// Learns a codebook from `patches` (n x inputs bytes). Fewer patches than codes: one code
// per patch. No patch: an empty codebook.
FrameCodebook learn_codebook(std::span<const uint8_t> patches, int inputs, const CodebookOptions& options);

}  // namespace birdsong::dsp
