// The largest of a run of floats, for the per-frame loops of the species features.
#pragma once

#include <algorithm>
#include <cstddef>

namespace birdsong::dsp {

// The largest of x[0..n), n >= 1, by four independent running maxima: one chain of
// dependent max operations was a third of the pooling time. The result is exact (the
// maximum does not depend on the order it is taken in).
inline float max_of(const float* x, std::size_t n) {
  float m[4] = {x[0], x[0], x[0], x[0]};
  std::size_t i = 1;
  for (; i + 4 <= n; i += 4)
    for (std::size_t j = 0; j < 4; ++j) m[j] = std::max(m[j], x[i + j]);
  for (; i < n; ++i) m[0] = std::max(m[0], x[i]);
  return std::max(std::max(m[0], m[1]), std::max(m[2], m[3]));
}

}  // namespace birdsong::dsp
