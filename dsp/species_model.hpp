// Species model: which species a feature vector (dsp/species_features.hpp) belongs to.
//
// A multinomial logistic regression (softmax of linear scores) over standardised
// features: one weight per feature and class, a few thousand numbers for twenty
// species, microseconds per prediction. Class "none" is an ordinary class learned
// from non-bird audio, so rain or music can win over every species. Probabilities
// are calibrated by a temperature (scores / T) fitted on examples the model did not
// learn from: of the sounds given 0.9, about nine in ten should be right.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace birdsong::dsp {

struct SpeciesTrainingOptions {
  double l2 = 0.05;          // weight decay (per example); more = simpler boundaries
  int iterations = 400;      // full-batch gradient steps
  double learning_rate = 0.5;
};

void validate(const SpeciesTrainingOptions& options);

class SpeciesModel {
 public:
  SpeciesModel() = default;
  // Builds a model from stored parameters; throws std::invalid_argument when the
  // sizes do not agree (a damaged pack).
  SpeciesModel(int classes, std::vector<float> mean, std::vector<float> scale, std::vector<float> weights,
               std::vector<float> bias, double temperature);

  // Learns from examples (rows of `features`, one class index each, a weight each).
  // Throws std::invalid_argument when there are no examples, sizes disagree or a
  // class index is out of range.
  static SpeciesModel train(int classes, int feature_count, std::span<const float> features,
                            std::span<const int> labels, std::span<const float> weights,
                            const SpeciesTrainingOptions& options);

  // Class probabilities for one feature vector (written to `probabilities`, classes()).
  void predict(std::span<const float> features, std::span<float> probabilities) const;
  // Raw scores (before temperature and softmax), for calibration.
  void scores(std::span<const float> features, std::span<float> out) const;

  // Chooses the temperature that maximises the likelihood of held-out examples.
  // `scores` are rows of classes() raw scores, `labels` their true classes.
  static double fit_temperature(int classes, std::span<const float> scores, std::span<const int> labels);

  int classes() const { return classes_; }
  int feature_count() const { return static_cast<int>(mean_.size()); }
  double temperature() const { return temperature_; }
  void set_temperature(double t);
  const std::vector<float>& mean() const { return mean_; }
  const std::vector<float>& scale() const { return scale_; }
  const std::vector<float>& weights() const { return weights_; }  // classes x features
  const std::vector<float>& bias() const { return bias_; }

 private:
  int classes_ = 0;
  std::vector<float> mean_, scale_, weights_, bias_;
  double temperature_ = 1.0;
};

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
