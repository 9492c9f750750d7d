// Exponential backoff with jitter: how long a sink waits before its next attempt.
//
// The n-th consecutive failure waits about initial * 2^n, at most `max`. Each delay is
// spread by +-25 % (then clamped to [initial, max]) so that many agents cut off by the
// same broker restart do not all knock again at the same instant ("Exponential Backoff
// And Jitter", AWS Architecture Blog, 2015). With the defaults the delays run
// 1, 2, 4, 8, 16, 32, 60, 60 ... seconds, each jittered.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>

namespace birdsong {

class Backoff {
 public:
  using ms = std::chrono::milliseconds;

  // Throws std::invalid_argument unless 0 < initial <= max.
  explicit Backoff(ms initial = std::chrono::seconds(1), ms max = std::chrono::seconds(60),
                   uint64_t seed = std::random_device{}());

  // The delay before the next attempt, after one more failure. A server's own wish
  // (Retry-After) is honoured when it asks for longer, up to kMaxRetryAfter: a bogus
  // header must not park a sink for a day.
  ms next(std::optional<ms> retry_after = std::nullopt);
  // After a success: the next failure starts again from `initial`.
  void reset() { failures_ = 0; }
  // Consecutive failures since the last reset().
  int failures() const { return failures_; }

  static constexpr ms kMaxRetryAfter = std::chrono::minutes(10);

 private:
  ms initial_;
  ms max_;
  int failures_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace birdsong
