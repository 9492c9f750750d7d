#include <doctest/doctest.h>

#include <algorithm>
#include <set>

#include "agent/delivery/backoff.hpp"

using namespace birdsong;
using namespace std::chrono_literals;
using ms = std::chrono::milliseconds;

TEST_CASE("backoff: delays double from 1 s to 60 s, each within +-25 % and never outside 1..60 s") {
  for (uint64_t seed = 1; seed <= 50; ++seed) {
    Backoff b(1s, 60s, seed);
    for (int n = 0; n < 12; ++n) {
      const double base_ms = std::min(60000.0, 1000.0 * static_cast<double>(1 << n));
      const ms d = b.next();
      CAPTURE(seed);
      CAPTURE(n);
      CHECK(d >= ms(static_cast<int64_t>(std::max(1000.0, 0.75 * base_ms))));
      CHECK(d <= ms(static_cast<int64_t>(std::min(60000.0, 1.25 * base_ms))));
    }
    CHECK(b.failures() == 12);
  }
}

TEST_CASE("backoff: jitter spreads agents that failed together") {
  std::set<int64_t> third_delays;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    Backoff b(1s, 60s, seed);
    b.next();
    b.next();
    third_delays.insert(b.next().count());  // about 4 s
  }
  CHECK(third_delays.size() >= 15);  // 20 agents, (almost) all at different moments
  CHECK(*third_delays.begin() >= 3000);
  CHECK(*third_delays.rbegin() <= 5000);
}

TEST_CASE("backoff: a success starts the sequence again") {
  Backoff b(1s, 60s, 7);
  for (int i = 0; i < 8; ++i) b.next();
  CHECK(b.next() >= 45s);
  b.reset();
  CHECK(b.failures() == 0);
  const ms d = b.next();
  CHECK(d >= 1s);
  CHECK(d <= 1250ms);
}

TEST_CASE("backoff: the server's Retry-After is honoured when longer, within reason") {
  Backoff b(1s, 60s, 3);
  CHECK(b.next(ms(120000)) == ms(120000));     // longer than the backoff: honoured
  const ms short_wish = b.next(ms(10));        // shorter: the backoff (about 2 s) wins
  CHECK(short_wish >= 1500ms);
  CHECK(b.next(std::chrono::hours(24)) == Backoff::kMaxRetryAfter);  // a bogus day: capped
}

TEST_CASE("backoff: bad bounds are refused") {
  CHECK_THROWS_AS(Backoff(0ms, 60s), std::invalid_argument);
  CHECK_THROWS_AS(Backoff(2s, 1s), std::invalid_argument);
}
