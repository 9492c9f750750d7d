#include "agent/delivery/backoff.hpp"

#include <algorithm>
#include <stdexcept>

namespace birdsong {

Backoff::Backoff(ms initial, ms max, uint64_t seed) : initial_(initial), max_(max), rng_(seed) {
  if (initial_.count() <= 0) throw std::invalid_argument("backoff: initial delay must be positive");
  if (max_ < initial_) throw std::invalid_argument("backoff: max delay must be at least the initial delay");
}

Backoff::ms Backoff::next(std::optional<ms> retry_after) {
  // initial * 2^failures, computed without overflow: stop doubling once past max.
  double base_ms = static_cast<double>(initial_.count());
  for (int i = 0; i < failures_ && base_ms < static_cast<double>(max_.count()); ++i) base_ms *= 2.0;
  base_ms = std::min(base_ms, static_cast<double>(max_.count()));
  ++failures_;

  std::uniform_real_distribution<double> spread(0.75, 1.25);
  const double jittered_ms = std::clamp(base_ms * spread(rng_), static_cast<double>(initial_.count()),
                                        static_cast<double>(max_.count()));
  ms delay(static_cast<ms::rep>(jittered_ms));
  if (retry_after) delay = std::max(delay, std::min(*retry_after, kMaxRetryAfter));
  return delay;
}

}  // namespace birdsong
