#include "dsp/species_model.hpp"

#include "dsp/dense_rows.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>

namespace birdsong::dsp {

namespace {
[[noreturn]] void bad(const std::string& what) { throw std::invalid_argument(what); }

// Adam's moments for one block of parameters (float for the hidden layer, double for
// the softmax regression, whose full-batch steps were always taken in double).
template <typename T>
struct Adam {
  std::vector<T> m, v;
  explicit Adam(std::size_t n) : m(n, T{0}), v(n, T{0}) {}
  // One step on `param` with gradient `grad` plus `l2` times the parameter.
  void step(std::vector<T>& param, const std::vector<T>& grad, double l2, double lr, int t) {
    const double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
    const double c1 = 1.0 - std::pow(beta1, t), c2 = 1.0 - std::pow(beta2, t);
    const auto step_size = static_cast<T>(lr * std::sqrt(c2) / c1);
    const auto b1 = static_cast<T>(beta1), b2 = static_cast<T>(beta2), l = static_cast<T>(l2);
    for (std::size_t k = 0; k < param.size(); ++k) {
      const T g = grad[k] + l * param[k];
      m[k] = b1 * m[k] + (T{1} - b1) * g;
      v[k] = b2 * v[k] + (T{1} - b2) * g * g;
      param[k] -= step_size * m[k] / (std::sqrt(v[k]) + static_cast<T>(eps));
    }
  }
};

// The hidden layer: units[k] = max(0, bias[k] + sum_j z[j] w[j][k]), with `w` feature-major
// (one row of units.size() weights per feature).
void rectified_units(std::span<const float> z, const float* w, std::span<const float> bias, std::span<float> units) {
  const std::size_t h = units.size();
  std::copy(bias.begin(), bias.end(), units.begin());
  add_rows(z.data(), z.size(), w, h, units.data());
  for (float& u : units) u = std::max(u, 0.0f);
}

// The output layer: out[c] = bias[c] + sum_j in[j] w[c][j], with `w` class-major (one row
// of in.size() weights per class), summed in double.
void linear_scores(std::span<const float> in, const float* w, std::span<const float> bias, std::span<float> out) {
  for (std::size_t c = 0; c < out.size(); ++c, w += in.size()) {
    double s = bias[c];
    for (std::size_t j = 0; j < in.size(); ++j) s += w[j] * in[j];
    out[c] = static_cast<float>(s);
  }
}

struct HiddenLayerModel {
  std::vector<float> hidden_weights, hidden_bias, weights, bias;
};

// One hidden layer of rectified linear units, then softmax; minibatch Adam on the
// weighted mean log-loss plus hidden_l2 on the weights (not the biases). `x` holds N
// standardised examples of F features; `weight` each example's weight, mean 1.
HiddenLayerModel train_hidden_layer(std::size_t C, std::size_t F, std::span<const float> x,
                                    std::span<const int> labels, std::span<const float> weight,
                                    const SpeciesTrainingOptions& o) {
  const std::size_t N = labels.size(), H = static_cast<std::size_t>(o.hidden);
  std::mt19937 rng(20261207);  // fixed: the same examples always learn the same pack
  auto init = [&rng](std::vector<float>& v, std::size_t fan_in, std::size_t fan_out) {
    const auto bound = static_cast<float>(std::sqrt(6.0 / static_cast<double>(fan_in + fan_out)));
    std::uniform_real_distribution<float> u(-bound, bound);
    for (float& w : v) w = u(rng);
  };
  HiddenLayerModel m{std::vector<float>(F * H), std::vector<float>(H), std::vector<float>(C * H), std::vector<float>(C)};
  init(m.hidden_weights, F, H);
  init(m.hidden_bias, F, H);
  init(m.weights, H, C);
  init(m.bias, H, C);
  std::vector<float> g_hidden_weights(F * H), g_hidden_bias(H), g_weights(C * H), g_bias(C);
  Adam<float> a_hidden_weights(F * H), a_hidden_bias(H), a_weights(C * H), a_bias(C);
  std::vector<float> units(H), back(H), p(C);
  std::vector<std::size_t> order(N);
  std::iota(order.begin(), order.end(), std::size_t{0});
  const double lr = 1e-3;
  int t = 0;
  for (int epoch = 0; epoch < o.epochs; ++epoch) {
    std::shuffle(order.begin(), order.end(), rng);
    for (std::size_t first = 0; first < N; first += SpeciesTrainingOptions::kMinibatch) {
      const std::size_t last = std::min(N, first + SpeciesTrainingOptions::kMinibatch);
      const auto batch = static_cast<float>(last - first);
      for (auto* g : {&g_hidden_weights, &g_hidden_bias, &g_weights, &g_bias}) std::fill(g->begin(), g->end(), 0.0f);
      for (std::size_t n = first; n < last; ++n) {
        const std::size_t i = order[n];
        const float* xi = &x[i * F];
        rectified_units({xi, F}, m.hidden_weights.data(), m.hidden_bias, units);
        linear_scores(units, m.weights.data(), m.bias, p);
        const float top = *std::max_element(p.begin(), p.end());
        float total = 0.0f;
        for (float& v : p) total += (v = std::exp(v - top));
        std::fill(back.begin(), back.end(), 0.0f);
        for (std::size_t c = 0; c < C; ++c) {
          const float g = weight[i] / batch * (p[c] / total - (static_cast<int>(c) == labels[i] ? 1.0f : 0.0f));
          g_bias[c] += g;
          float* gw = &g_weights[c * H];
          const float* w = &m.weights[c * H];
          for (std::size_t k = 0; k < H; ++k) {
            gw[k] += g * units[k];
            back[k] += g * w[k];
          }
        }
        for (std::size_t k = 0; k < H; ++k)
          if (units[k] <= 0.0f) back[k] = 0.0f;
        for (std::size_t k = 0; k < H; ++k) g_hidden_bias[k] += back[k];
        for (std::size_t j = 0; j < F; ++j) {
          const float v = xi[j];
          if (v == 0.0f) continue;
          float* gw = &g_hidden_weights[j * H];
          for (std::size_t k = 0; k < H; ++k) gw[k] += v * back[k];
        }
      }
      ++t;
      a_hidden_weights.step(m.hidden_weights, g_hidden_weights, o.hidden_l2, lr, t);
      a_hidden_bias.step(m.hidden_bias, g_hidden_bias, 0.0, lr, t);
      a_weights.step(m.weights, g_weights, o.hidden_l2, lr, t);
      a_bias.step(m.bias, g_bias, 0.0, lr, t);
    }
  }
  return m;
}

}  // namespace

void validate(const SpeciesTrainingOptions& o) {
  if (!(o.l2 >= 0.0 && o.l2 <= 100.0)) bad("l2: " + std::to_string(o.l2) + ": expected 0..100");
  if (o.iterations < 1 || o.iterations > 100000) bad("iterations: " + std::to_string(o.iterations) + ": expected 1..100000");
  if (!(o.learning_rate > 0.0 && o.learning_rate <= 10.0))
    bad("learning_rate: " + std::to_string(o.learning_rate) + ": expected 0..10");
  if (o.hidden < 0 || o.hidden > 4096) bad("hidden: " + std::to_string(o.hidden) + ": expected 0..4096");
  if (!(o.hidden_l2 >= 0.0 && o.hidden_l2 <= 100.0)) bad("hidden_l2: " + std::to_string(o.hidden_l2) + ": expected 0..100");
  if (o.epochs < 1 || o.epochs > 100000) bad("epochs: " + std::to_string(o.epochs) + ": expected 1..100000");
}

void softmax(std::span<float> v, double temperature) {
  if (v.empty()) return;
  const float top = *std::max_element(v.begin(), v.end());
  double total = 0.0;
  for (float& x : v) {
    x = static_cast<float>(std::exp((x - top) / temperature));
    total += x;
  }
  for (float& x : v) x = static_cast<float>(x / total);
}

SpeciesModel::SpeciesModel(int classes, std::vector<float> mean, std::vector<float> scale, std::vector<float> weights,
                           std::vector<float> bias, double temperature)
    : SpeciesModel(classes, std::move(mean), std::move(scale), {}, {}, std::move(weights), std::move(bias),
                   temperature) {}

SpeciesModel::SpeciesModel(int classes, std::vector<float> mean, std::vector<float> scale,
                           std::vector<float> hidden_weights, std::vector<float> hidden_bias,
                           std::vector<float> weights, std::vector<float> bias, double temperature)
    : classes_(classes), mean_(std::move(mean)), scale_(std::move(scale)), hidden_weights_(std::move(hidden_weights)),
      hidden_bias_(std::move(hidden_bias)), weights_(std::move(weights)), bias_(std::move(bias)) {
  const std::size_t f = mean_.size(), h = hidden_bias_.size(), inputs = h > 0 ? h : f;
  if (classes < 1) bad("classes: " + std::to_string(classes) + ": expected at least 1");
  if (f == 0 || scale_.size() != f || hidden_weights_.size() != f * h ||
      weights_.size() != inputs * static_cast<std::size_t>(classes) || bias_.size() != static_cast<std::size_t>(classes))
    bad("model sizes disagree: " + std::to_string(f) + " means, " + std::to_string(scale_.size()) + " scales, " +
        std::to_string(hidden_weights_.size()) + " hidden weights for " + std::to_string(h) + " hidden units, " +
        std::to_string(weights_.size()) + " weights, " + std::to_string(bias_.size()) + " biases for " +
        std::to_string(classes) + " classes");
  for (float s : scale_)
    if (!(s > 0.0f) || !std::isfinite(s)) bad("model scale: expected positive numbers");
  for (const auto* v : {&hidden_weights_, &hidden_bias_, &weights_, &bias_})
    for (float x : *v)
      if (!std::isfinite(x)) bad("model weights: expected finite numbers");
  set_temperature(temperature);
}

void SpeciesModel::set_temperature(double t) {
  if (!(t > 0.0 && t < 1000.0)) bad("temperature: " + std::to_string(t) + ": expected 0..1000");
  temperature_ = t;
}

void SpeciesModel::scores(std::span<const float> x, std::span<float> out) const {
  const std::size_t f = mean_.size(), h = hidden_bias_.size();
  if (x.size() != f || out.size() != static_cast<std::size_t>(classes_))
    bad("feature vector of " + std::to_string(x.size()) + " values, the model expects " + std::to_string(f));
  // Scratch kept per thread: no allocation per sound once the first has been scored.
  thread_local std::vector<float> z, units;
  z.resize(f);
  for (std::size_t j = 0; j < f; ++j) z[j] = standard_score(x[j], mean_[j], scale_[j]);
  if (h == 0) {
    linear_scores(z, weights_.data(), bias_, out);
    return;
  }
  units.resize(h);  // the hidden layer's units, rectified, are the inputs of the softmax
  rectified_units(z, hidden_weights_.data(), hidden_bias_, units);
  linear_scores(units, weights_.data(), bias_, out);
}

void SpeciesModel::predict(std::span<const float> x, std::span<float> p) const {
  scores(x, p);
  softmax(p, temperature_);
  if (!calibration_.probability.empty())
    for (float& v : p) v = std::min(1.0f, calibrated(v) + kCalibrationOrderSlope * v);
}

float SpeciesModel::calibrated(float p) const {
  const auto& xs = calibration_.probability;
  const auto& ys = calibration_.right;
  if (xs.empty()) return p;
  if (p <= xs.front()) return ys.front();
  if (p >= xs.back()) return ys.back();
  const auto k = static_cast<std::size_t>(std::upper_bound(xs.begin(), xs.end(), p) - xs.begin());
  const float t = (p - xs[k - 1]) / (xs[k] - xs[k - 1]);
  return ys[k - 1] + t * (ys[k] - ys[k - 1]);
}

void SpeciesModel::set_calibration(Calibration c) {
  if (c.probability.size() != c.right.size())
    bad("calibration: " + std::to_string(c.probability.size()) + " probabilities for " +
        std::to_string(c.right.size()) + " shares");
  for (std::size_t i = 0; i < c.probability.size(); ++i) {
    const float x = c.probability[i], y = c.right[i];
    if (!(x >= 0.0f && x <= 1.0f && y >= 0.0f && y <= 1.0f)) bad("calibration: a knot outside 0..1");
    if (i > 0 && !(x > c.probability[i - 1])) bad("calibration: probabilities not increasing");
    if (i > 0 && y < c.right[i - 1]) bad("calibration: shares decreasing");
  }
  calibration_ = std::move(c);
}

SpeciesModel::Calibration SpeciesModel::fit_calibration(std::span<const float> top, std::span<const uint8_t> right,
                                                        std::span<const float> weight, double min_block,
                                                        double prior) {
  Calibration c;
  min_block = std::max(min_block, 1e-6);
  prior = std::max(prior, 0.0);
  if (top.size() != right.size() || weight.size() != top.size()) return c;
  double total = 0;
  for (float w : weight) total += std::max(w, 0.0f);
  if (total < 2 * min_block) return c;
  std::vector<std::size_t> order(top.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return top[a] < top[b]; });
  struct Block {
    double p = 0, right = 0, n = 0;  // weighted sums of probability and of right, weight
  };
  // A step's share right, pulled toward 1/2 by the prior's pseudo-weight.
  auto share = [prior](const Block& b) { return (b.right + prior / 2.0) / (b.n + prior); };
  std::vector<Block> blocks;
  auto merge_with_next = [&](std::size_t a) {
    blocks[a].p += blocks[a + 1].p;
    blocks[a].right += blocks[a + 1].right;
    blocks[a].n += blocks[a + 1].n;
    blocks.erase(blocks.begin() + static_cast<std::ptrdiff_t>(a + 1));
  };
  // Pool adjacent violators: a step right at least as often as the next is merged with it.
  auto pool_violators = [&] {
    for (std::size_t k = 0; k + 1 < blocks.size();) {
      if (share(blocks[k]) >= share(blocks[k + 1])) {
        merge_with_next(k);
        if (k > 0) --k;
      } else {
        ++k;
      }
    }
  };
  for (std::size_t i : order)
    if (weight[i] > 0.0f) blocks.push_back({top[i] * weight[i], right[i] ? weight[i] : 0.0, weight[i]});
  pool_violators();
  // A step lighter than min_block joins the neighbour closer in share.
  for (;;) {
    std::size_t smallest = 0;
    for (std::size_t k = 1; k < blocks.size(); ++k)
      if (blocks[k].n < blocks[smallest].n) smallest = k;
    if (blocks.size() < 2 || blocks[smallest].n >= min_block) break;
    std::size_t a = smallest == 0 ? 0 : smallest - 1;
    if (smallest > 0 && smallest + 1 < blocks.size() &&
        share(blocks[smallest + 1]) - share(blocks[smallest]) < share(blocks[smallest]) - share(blocks[smallest - 1]))
      a = smallest;
    merge_with_next(a);
    // With a prior, a merged step's share need not lie between its parts': pool again.
    pool_violators();
  }
  for (const Block& b : blocks) {
    const auto x = static_cast<float>(b.p / b.n);
    if (!c.probability.empty() && !(x > c.probability.back())) continue;  // equal means: keep the first
    c.probability.push_back(x);
    c.right.push_back(static_cast<float>(share(b)));
  }
  if (c.probability.size() < 2) return {};
  return c;
}

SpeciesModel SpeciesModel::train(int classes, int feature_count, std::span<const float> features,
                                 std::span<const int> labels, std::span<const float> example_weights,
                                 const SpeciesTrainingOptions& o) {
  validate(o);
  if (classes < 2) bad("training needs at least 2 classes, got " + std::to_string(classes));
  const auto F = static_cast<std::size_t>(feature_count), C = static_cast<std::size_t>(classes);
  const std::size_t N = labels.size();
  if (N == 0) bad("no training examples");
  if (features.size() != N * F || example_weights.size() != N)
    bad("training data sizes disagree: " + std::to_string(features.size()) + " values for " + std::to_string(N) +
        " examples of " + std::to_string(F) + " features");
  for (int l : labels)
    if (l < 0 || l >= classes) bad("class index " + std::to_string(l) + " out of range");

  // Standardise each feature with its weighted mean and spread.
  double wsum = 0.0;
  for (float w : example_weights) wsum += w;
  if (!(wsum > 0.0)) bad("training example weights add up to zero");
  std::vector<float> mean(F, 0.0f), scale(F, 1.0f);
  for (std::size_t j = 0; j < F; ++j) {
    double m = 0.0, m2 = 0.0;
    for (std::size_t i = 0; i < N; ++i) {
      const double v = features[i * F + j];
      m += example_weights[i] * v;
      m2 += example_weights[i] * v * v;
    }
    m /= wsum;
    const double sd = std::sqrt(std::max(0.0, m2 / wsum - m * m));
    mean[j] = static_cast<float>(m);
    scale[j] = static_cast<float>(sd > 1e-6 ? sd : 1.0);
  }
  std::vector<float> x(N * F);
  for (std::size_t i = 0; i < N; ++i)
    for (std::size_t j = 0; j < F; ++j) x[i * F + j] = standard_score(features[i * F + j], mean[j], scale[j]);

  if (o.hidden > 0) {
    std::vector<float> weight(N);
    for (std::size_t i = 0; i < N; ++i) weight[i] = static_cast<float>(example_weights[i] * static_cast<double>(N) / wsum);
    HiddenLayerModel m = train_hidden_layer(C, F, x, labels, weight, o);
    return SpeciesModel(classes, std::move(mean), std::move(scale), std::move(m.hidden_weights),
                        std::move(m.hidden_bias), std::move(m.weights), std::move(m.bias), 1.0);
  }

  // Full-batch gradient descent with Adam steps on the weighted mean log-loss + L2.
  std::vector<double> W(C * F, 0.0), b(C, 0.0), gW(C * F), gb(C), p(C);
  Adam<double> a_W(C * F), a_b(C);
  const double lr = o.learning_rate * 0.1;
  for (int it = 1; it <= o.iterations; ++it) {
    std::fill(gW.begin(), gW.end(), 0.0);
    std::fill(gb.begin(), gb.end(), 0.0);
    for (std::size_t i = 0; i < N; ++i) {
      const float* xi = &x[i * F];
      double top = -1e300;
      for (std::size_t c = 0; c < C; ++c) {
        double s = b[c];
        const double* w = &W[c * F];
        for (std::size_t j = 0; j < F; ++j) s += w[j] * xi[j];
        p[c] = s;
        top = std::max(top, s);
      }
      double total = 0.0;
      for (double& v : p) total += (v = std::exp(v - top));
      const double wi = example_weights[i] / wsum;
      for (std::size_t c = 0; c < C; ++c) {
        const double g = wi * (p[c] / total - (static_cast<int>(c) == labels[i] ? 1.0 : 0.0));
        gb[c] += g;
        double* gw = &gW[c * F];
        for (std::size_t j = 0; j < F; ++j) gw[j] += g * xi[j];
      }
    }
    a_W.step(W, gW, o.l2, lr, it);
    a_b.step(b, gb, 0.0, lr, it);
  }
  return SpeciesModel(classes, std::move(mean), std::move(scale), std::vector<float>(W.begin(), W.end()),
                      std::vector<float>(b.begin(), b.end()), 1.0);
}

double SpeciesModel::fit_temperature(int classes, std::span<const float> scores, std::span<const int> labels) {
  const auto C = static_cast<std::size_t>(classes);
  if (labels.empty() || scores.size() != labels.size() * C) return 1.0;
  auto nll = [&](double t) {
    double total = 0.0;
    for (std::size_t i = 0; i < labels.size(); ++i) {
      const float* s = &scores[i * C];
      const double top = *std::max_element(s, s + C);
      double z = 0.0;
      for (std::size_t c = 0; c < C; ++c) z += std::exp((s[c] - top) / t);
      total += -((s[static_cast<std::size_t>(labels[i])] - top) / t - std::log(z));
    }
    return total;
  };
  // The likelihood is unimodal in log T: golden-section search on 0.05..50.
  double lo = std::log(0.05), hi = std::log(50.0);
  const double g = (std::sqrt(5.0) - 1.0) / 2.0;
  double a = hi - g * (hi - lo), bb = lo + g * (hi - lo);
  double fa = nll(std::exp(a)), fb = nll(std::exp(bb));
  for (int i = 0; i < 60; ++i) {
    if (fa < fb) {
      hi = bb; bb = a; fb = fa; a = hi - g * (hi - lo); fa = nll(std::exp(a));
    } else {
      lo = a; a = bb; fa = fb; bb = lo + g * (hi - lo); fb = nll(std::exp(bb));
    }
  }
  return std::exp((lo + hi) / 2.0);
}

}  // namespace birdsong::dsp
