// Species model: which species a feature vector (dsp/species_features.hpp) belongs to.
//
// A small neural network over standardised features: one hidden layer of rectified
// linear units, then a softmax over the classes; 128 units and twenty species are about
// 33 000 numbers (130 kB), some 33 000 multiply-adds per sound. With `hidden = 0` it is a
// multinomial logistic regression (softmax of linear scores of the features), the model
// of packs learned before 2026-12-07. The hidden layer lets a feature count differently
// with the others (a trill is telling at one pitch, not at another): measured by 5-fold
// cross-validation on 20 species, three shuffles of the folds (README, Species profiles).
// Class "none" is an ordinary class learned
// from non-bird audio, so rain or music can win over every species. Probabilities
// are calibrated on examples the model did not learn from, in two steps: a temperature
// (scores / T) for the softmax, then a monotone curve from the softmax probability to the
// share of held-out sounds that were right at it (isotonic regression), so that of the
// sounds given 0.9, about nine in ten should be right. The temperature alone could not do
// that: measured by 5-fold cross-validation on 20 species (two shuffles of the folds),
// sounds given 0.2-0.7 were right 5-30 points more often than they were told, those given
// 0.9-1.0 less often (68-74 %).
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace birdsong::dsp {

struct SpeciesTrainingOptions {
  int hidden = 128;          // units of the hidden layer; 0: softmax regression on the features
  // Softmax regression (hidden = 0):
  double l2 = 0.05;          // weight decay (per example); more = simpler boundaries
  int iterations = 400;      // full-batch gradient steps
  double learning_rate = 0.5;
  // Hidden layer: Adam steps on minibatches of kMinibatch examples, shuffled each epoch
  // with a fixed seed (the same examples learn the same pack).
  double hidden_l2 = 0.005;  // weight decay on the weighted mean log-loss
  int epochs = 200;          // passes over the examples
  static constexpr int kMinibatch = 200;
};

void validate(const SpeciesTrainingOptions& options);

class SpeciesModel {
 public:
  SpeciesModel() = default;
  // Builds a model from stored parameters; throws std::invalid_argument when the
  // sizes do not agree (a damaged pack).
  SpeciesModel(int classes, std::vector<float> mean, std::vector<float> scale, std::vector<float> weights,
               std::vector<float> bias, double temperature);
  // The same with a hidden layer: `hidden_weights` is features x units (feature-major),
  // `hidden_bias` one per unit, and `weights` classes x units.
  SpeciesModel(int classes, std::vector<float> mean, std::vector<float> scale, std::vector<float> hidden_weights,
               std::vector<float> hidden_bias, std::vector<float> weights, std::vector<float> bias,
               double temperature);

  // Learns from examples (rows of `features`, one class index each, a weight each).
  // Throws std::invalid_argument when there are no examples, sizes disagree or a
  // class index is out of range.
  static SpeciesModel train(int classes, int feature_count, std::span<const float> features,
                            std::span<const int> labels, std::span<const float> weights,
                            const SpeciesTrainingOptions& options);

  // Calibrated class probabilities for one feature vector (written to `probabilities`,
  // classes()): the calibration curve plus kCalibrationOrderSlope times the softmax
  // probability, so that they keep the model's order strictly; with a curve they need
  // not sum to 1.
  void predict(std::span<const float> features, std::span<float> probabilities) const;
  // Raw scores (before temperature and softmax), for calibration.
  void scores(std::span<const float> features, std::span<float> out) const;

  // Chooses the temperature that maximises the likelihood of held-out examples.
  // `scores` are rows of classes() raw scores, `labels` their true classes.
  static double fit_temperature(int classes, std::span<const float> scores, std::span<const int> labels);

  // The calibration curve: knots (softmax probability -> share right), probabilities
  // strictly increasing, shares non-decreasing, all within 0..1; linear between knots and
  // flat beyond the ends. Empty: the softmax probability as it is.
  struct Calibration {
    std::vector<float> probability, right;
  };
  // Weighted pool-adjacent-violators fit on held-out predictions (each sound's top
  // softmax probability, whether that class was the truth, and its weight); neighbouring
  // steps are then merged until each weighs at least `min_block`, so no knot rests on a
  // handful. Each step's share right counts `prior` more weight, half right and half
  // wrong, so that a step of five recordings all right says 6/7, not certainty. Returns
  // an empty curve when the weights add up to less than 2 * min_block, or when one step
  // is all there is.
  static Calibration fit_calibration(std::span<const float> top_probability, std::span<const uint8_t> right,
                                     std::span<const float> weight, double min_block, double prior = 0.0);
  const Calibration& calibration() const { return calibration_; }
  // Throws std::invalid_argument when the knots break the rules above (a damaged pack).
  void set_calibration(Calibration c);
  // The curve applied to one softmax probability.
  float calibrated(float probability) const;

  int classes() const { return classes_; }
  int feature_count() const { return static_cast<int>(mean_.size()); }
  double temperature() const { return temperature_; }
  void set_temperature(double t);
  const std::vector<float>& mean() const { return mean_; }
  const std::vector<float>& scale() const { return scale_; }
  int hidden() const { return static_cast<int>(hidden_bias_.size()); }  // 0: no hidden layer
  const std::vector<float>& hidden_weights() const { return hidden_weights_; }  // features x hidden()
  const std::vector<float>& hidden_bias() const { return hidden_bias_; }
  const std::vector<float>& weights() const { return weights_; }  // classes x (hidden() or features)
  const std::vector<float>& bias() const { return bias_; }

 private:
  int classes_ = 0;
  std::vector<float> mean_, scale_, hidden_weights_, hidden_bias_, weights_, bias_;
  double temperature_ = 1.0;
  Calibration calibration_;
};

// The curve is flat below its first knot, above its last and across steps that pool
// adjacent violators, and there two probabilities the model tells apart would be equal:
// the species chosen for a sound would then be the one listed first in the pack, and a
// recording's strongest sound the earliest. This small slope on top of the curve breaks
// such ties in the model's order and moves no confidence by more than 0.001. Measured
// (5-fold cross-validation on 20 species, three shuffles): clip accuracy on the bird
// recordings +0.005 to +0.011.
inline constexpr float kCalibrationOrderSlope = 1e-3f;

// A feature in standard deviations from its training mean, limited to +-kMaxStandardScore.
// A linear model extrapolates without bound: a sound unlike anything learned (an
// insect at the top of the pitch range, 40 standard deviations out on one feature)
// would otherwise get a near-certain species from that one feature alone. Measured
// before the limit (5-fold cross-validation, 20 species): events more than 15 standard
// deviations out on some feature were given 0.98 on average and were right 1 % of the
// time.
inline constexpr float kMaxStandardScore = 4.0f;
inline float standard_score(float x, float mean, float scale) {
  return std::clamp((x - mean) / scale, -kMaxStandardScore, kMaxStandardScore);
}

// Softmax of scores / temperature, in place.
void softmax(std::span<float> values, double temperature);

}  // namespace birdsong::dsp
