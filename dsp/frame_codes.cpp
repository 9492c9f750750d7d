#include "dsp/frame_codes.hpp"

#include "dsp/dense_rows.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>

namespace birdsong::dsp {

namespace {

// One frame of a patch. Rounded in integers, then clipped: GCC vectorises that (clipping
// the float first, it did not: 15 instructions a value). The same bytes for any excess
// within +-500 million dB; levels here are dB of float powers, within a few hundred.
void patch_frame(const float* __restrict row, const float* __restrict background_db, std::size_t bands,
                 uint8_t* __restrict out) {
  for (std::size_t b = 0; b < bands; ++b) {
    const auto steps = static_cast<int32_t>((row[b] - background_db[b]) / kPatchStepDb + 0.5f);
    out[b] = static_cast<uint8_t>(steps < 0 ? 0 : steps > 255 ? 255 : steps);
  }
}

}  // namespace

void make_patch(const float* before, const float* row, const float* after, std::span<const float> background_db,
                uint8_t* out) {
  const std::size_t B = background_db.size();
  for (const float* r : {before, row, after}) {
    patch_frame(r, background_db.data(), B, out);
    out += B;
  }
}

// The two products keep their sums in registers (dense_rows.hpp).
void FrameCodebook::encode(const uint8_t* patch, float* out) const {
  const auto I = static_cast<std::size_t>(inputs), D = static_cast<std::size_t>(dims()),
             K = static_cast<std::size_t>(codes());
  thread_local std::vector<float> centred, whitened;  // allocated once per thread
  centred.resize(I);
  for (std::size_t i = 0; i < I; ++i) centred[i] = static_cast<float>(patch[i]) * kPatchStepDb - mean[i];
  whitened.assign(D, 0.0f);
  add_rows(centred.data(), I, whitening.data(), D, whitened.data());
  float norm2 = 0.0f;
  for (float z : whitened) norm2 += z * z;
  const float inv = 1.0f / (std::sqrt(norm2) + 1e-8f);
  for (float& z : whitened) z *= inv;
  std::fill_n(out, K, 0.0f);
  add_rows(whitened.data(), D, centroids.data(), K, out);
  for (std::size_t k = 0; k < K; ++k) out[k] = std::max(0.0f, out[k] - alpha);
}

void validate(const FrameCodebook& cb) {
  auto fail = [](const std::string& what) { throw std::invalid_argument("frame codebook: " + what); };
  if (cb.inputs == 0 && cb.whitening.empty() && cb.centroids.empty() && cb.mean.empty()) return;  // no codes
  if (cb.inputs <= 0 || cb.inputs % kPatchFrames != 0)
    fail("inputs " + std::to_string(cb.inputs) + ": expected a positive multiple of " + std::to_string(kPatchFrames));
  if (cb.mean.size() != static_cast<std::size_t>(cb.inputs))
    fail("mean has " + std::to_string(cb.mean.size()) + " values, expected " + std::to_string(cb.inputs));
  if (cb.whitening.empty() || cb.whitening.size() % static_cast<std::size_t>(cb.inputs) != 0 ||
      cb.dims() > cb.inputs)
    fail("whitening has " + std::to_string(cb.whitening.size()) + " values, expected inputs x dims (dims <= inputs)");
  if (cb.centroids.empty() || cb.centroids.size() % static_cast<std::size_t>(cb.dims()) != 0)
    fail("centroids has " + std::to_string(cb.centroids.size()) + " values, expected dims x codes");
  if (cb.codes() > kMaxCodes) fail(std::to_string(cb.codes()) + " codes: expected at most " + std::to_string(kMaxCodes));
  if (!(cb.alpha >= 0.0f && cb.alpha < 1.0f)) fail("alpha " + std::to_string(cb.alpha) + ": expected 0..1");
  for (const auto* v : {&cb.mean, &cb.whitening, &cb.centroids})
    if (!std::all_of(v->begin(), v->end(), [](float x) { return std::isfinite(x); })) fail("a value is not finite");
}

namespace {

// Eigen-decomposition of a symmetric n x n matrix (row-major, destroyed) by cyclic
// Jacobi rotations: slow for large n, exact enough and short for the 120 x 120
// covariance of patches. Returns the eigenvalues; `vectors` gets them as columns.
std::vector<double> symmetric_eigen(std::vector<double>& a, std::size_t n, std::vector<double>& vectors) {
  vectors.assign(n * n, 0.0);
  for (std::size_t i = 0; i < n; ++i) vectors[i * n + i] = 1.0;
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0.0, total = 0.0;
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < n; ++j) (i == j ? total : off) += a[i * n + j] * a[i * n + j];
    if (off <= 1e-22 * (total + off)) break;
    for (std::size_t p = 0; p + 1 < n; ++p)
      for (std::size_t q = p + 1; q < n; ++q) {
        const double apq = a[p * n + q];
        if (std::abs(apq) < 1e-300) continue;
        const double theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
        const double t = (theta >= 0 ? 1.0 : -1.0) / (std::abs(theta) + std::sqrt(theta * theta + 1.0));
        const double c = 1.0 / std::sqrt(t * t + 1.0), s = t * c;
        for (std::size_t k = 0; k < n; ++k) {  // columns p, q
          const double akp = a[k * n + p], akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (std::size_t k = 0; k < n; ++k) {  // rows p, q
          const double apk = a[p * n + k], aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (std::size_t k = 0; k < n; ++k) {
          const double vkp = vectors[k * n + p], vkq = vectors[k * n + q];
          vectors[k * n + p] = c * vkp - s * vkq;
          vectors[k * n + q] = s * vkp + c * vkq;
        }
      }
  }
  std::vector<double> values(n);
  for (std::size_t i = 0; i < n; ++i) values[i] = a[i * n + i];
  return values;
}

}  // namespace

FrameCodebook learn_codebook(std::span<const uint8_t> patches, int inputs, const CodebookOptions& o) {
  FrameCodebook cb;
  if (inputs <= 0 || inputs % kPatchFrames != 0)
    throw std::invalid_argument("learn_codebook: " + std::to_string(inputs) + " inputs per patch");
  if (o.codes < 0 || o.codes > kMaxCodes)
    throw std::invalid_argument("codes: " + std::to_string(o.codes) + ": expected 0.." + std::to_string(kMaxCodes));
  if (!(o.kept_variance > 0.0 && o.kept_variance <= 1.0))
    throw std::invalid_argument("kept_variance: " + std::to_string(o.kept_variance) + ": expected 0..1");
  const auto I = static_cast<std::size_t>(inputs);
  const std::size_t n = patches.size() / I;
  if (o.codes == 0 || n == 0) return cb;

  // Mean and covariance, in dB.
  std::vector<double> mean(I, 0.0), cov(I * I, 0.0), x(I);
  for (std::size_t p = 0; p < n; ++p)
    for (std::size_t i = 0; i < I; ++i) mean[i] += patches[p * I + i] * static_cast<double>(kPatchStepDb);
  for (double& m : mean) m /= static_cast<double>(n);
  for (std::size_t p = 0; p < n; ++p) {
    for (std::size_t i = 0; i < I; ++i) x[i] = patches[p * I + i] * static_cast<double>(kPatchStepDb) - mean[i];
    for (std::size_t i = 0; i < I; ++i)
      for (std::size_t j = i; j < I; ++j) cov[i * I + j] += x[i] * x[j];
  }
  for (std::size_t i = 0; i < I; ++i)
    for (std::size_t j = i; j < I; ++j) cov[j * I + i] = cov[i * I + j] /= static_cast<double>(std::max<std::size_t>(1, n - 1));

  // Principal axes, largest first; keep those that hold kept_variance of the variance.
  std::vector<double> vectors;
  const std::vector<double> values = symmetric_eigen(cov, I, vectors);
  std::vector<std::size_t> order(I);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return values[a] > values[b]; });
  double total = 0.0;
  for (double v : values) total += std::max(0.0, v);
  const double largest = std::max(0.0, values[order[0]]);
  if (!(largest > 0.0)) return cb;  // every patch the same: nothing to tell apart
  std::size_t D = 0;
  for (double kept = 0.0; D < I && kept < o.kept_variance * total;) kept += std::max(0.0, values[order[D++]]);
  // Each axis over the square root of its variance, plus a floor (1e-4 of the largest)
  // so that the faintest kept axes are not blown up from noise.
  cb.inputs = inputs;
  cb.alpha = o.alpha;
  cb.mean.assign(mean.begin(), mean.end());
  cb.whitening.assign(I * D, 0.0f);
  for (std::size_t d = 0; d < D; ++d) {
    const double scale = 1.0 / std::sqrt(std::max(0.0, values[order[d]]) + 1e-4 * largest);
    for (std::size_t i = 0; i < I; ++i) cb.whitening[i * D + d] = static_cast<float>(vectors[i * I + order[d]] * scale);
  }

  // The whitened patches, unit length.
  std::vector<float> z(n * D, 0.0f), centred(I);
  for (std::size_t p = 0; p < n; ++p) {
    float* zp = &z[p * D];
    for (std::size_t i = 0; i < I; ++i) centred[i] = static_cast<float>(patches[p * I + i]) * kPatchStepDb - cb.mean[i];
    add_rows(centred.data(), I, cb.whitening.data(), D, zp);
    float norm2 = 0.0f;
    for (std::size_t d = 0; d < D; ++d) norm2 += zp[d] * zp[d];
    const float inv = 1.0f / (std::sqrt(norm2) + 1e-8f);
    for (std::size_t d = 0; d < D; ++d) zp[d] *= inv;
  }

  // Spherical k-means: each patch joins the centroid it has the largest cosine with, each
  // centroid becomes its members' normalised sum. Starts from distinct random patches; a
  // centroid left without members restarts at the patch worst served.
  const std::size_t K = std::min(static_cast<std::size_t>(o.codes), n);
  std::mt19937 rng(o.seed);
  std::vector<std::size_t> pick(n);
  std::iota(pick.begin(), pick.end(), 0);
  std::shuffle(pick.begin(), pick.end(), rng);
  // The centroids as encode() reads them (dims x codes): the cosines of a patch with all
  // centroids are then one vectorised loop per dimension.
  std::vector<float>& ct = cb.centroids;
  ct.assign(D * K, 0.0f);
  for (std::size_t k = 0; k < K; ++k)
    for (std::size_t d = 0; d < D; ++d) ct[d * K + k] = z[pick[k] * D + d];
  std::vector<std::size_t> member(n, K);
  std::vector<float> best(n), sums(K * D), dots(K);
  std::vector<std::size_t> counts(K);
  for (int it = 0; it < std::max(1, o.iterations); ++it) {
    bool moved = false;
    for (std::size_t p = 0; p < n; ++p) {
      const float* zp = &z[p * D];
      std::fill(dots.begin(), dots.end(), 0.0f);
      add_rows(zp, D, ct.data(), K, dots.data());
      const auto arg = static_cast<std::size_t>(std::max_element(dots.begin(), dots.end()) - dots.begin());
      moved = moved || member[p] != arg;
      member[p] = arg;
      best[p] = dots[arg];
    }
    if (!moved) break;
    std::fill(sums.begin(), sums.end(), 0.0f);
    std::fill(counts.begin(), counts.end(), 0);
    for (std::size_t p = 0; p < n; ++p) {
      ++counts[member[p]];
      for (std::size_t d = 0; d < D; ++d) sums[member[p] * D + d] += z[p * D + d];
    }
    for (std::size_t k = 0; k < K; ++k) {
      const float* sk = &sums[k * D];
      if (counts[k] == 0) {
        const auto worst = static_cast<std::size_t>(std::min_element(best.begin(), best.end()) - best.begin());
        sk = &z[worst * D];
        best[worst] = 2.0f;
      }
      float norm2 = 0.0f;
      for (std::size_t d = 0; d < D; ++d) norm2 += sk[d] * sk[d];
      const float inv = norm2 > 0.0f ? 1.0f / std::sqrt(norm2) : 0.0f;
      for (std::size_t d = 0; d < D; ++d) ct[d * K + k] = sk[d] * inv;
    }
  }
  return cb;
}

}  // namespace birdsong::dsp
