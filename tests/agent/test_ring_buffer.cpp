#include <doctest/doctest.h>

#include <numeric>
#include <thread>
#include <vector>

#include "agent/audio/ring_buffer.hpp"

using namespace birdsong;

namespace {
// 0, 1, 2 ... as floats: every value up to 2^24 is exact, so order and loss show.
std::vector<float> ramp(std::size_t n, std::size_t from = 0) {
  std::vector<float> v(n);
  std::iota(v.begin(), v.end(), static_cast<float>(from));
  return v;
}
}  // namespace

TEST_CASE("ring: samples come out in order, across the wrap-around") {
  SampleRing ring(8);
  CHECK(ring.capacity() == 8);
  std::vector<float> out(8);
  const auto first = ramp(6);
  CHECK(ring.write_or_drop(first) == 6);
  CHECK(ring.readable() == 6);
  CHECK(ring.read(out) == 6);
  CHECK(std::vector<float>(out.begin(), out.begin() + 6) == first);
  // Positions 6..11: the copy wraps past the end of the buffer, both ways.
  const auto second = ramp(6, 100);
  CHECK(ring.write_or_drop(second) == 6);
  CHECK(ring.read(std::span<float>(out).first(4)) == 4);
  CHECK(ring.read(std::span<float>(out).subspan(4)) == 2);
  CHECK(std::vector<float>(out.begin(), out.begin() + 6) == second);
  CHECK(ring.readable() == 0);
  CHECK(ring.read(out) == 0);
  CHECK(ring.dropped_samples() == 0);
}

TEST_CASE("ring: a full ring keeps the oldest samples and counts the dropped ones") {
  SampleRing ring(100);
  CHECK(ring.write_or_drop(ramp(64)) == 64);
  CHECK(ring.write_or_drop(ramp(64, 64)) == 36);
  CHECK(ring.dropped_samples() == 28);
  CHECK(ring.write_or_drop(ramp(5, 128)) == 0);
  CHECK(ring.dropped_samples() == 33);
  // write_some() stores what fits and leaves the rest to the caller: nothing counted.
  CHECK(ring.write_some(ramp(5, 128)) == 0);
  CHECK(ring.dropped_samples() == 33);
  std::vector<float> out(200);
  CHECK(ring.read(out) == 100);
  CHECK(std::vector<float>(out.begin(), out.begin() + 100) == ramp(100));
}

TEST_CASE("ring: a zero capacity is refused") {
  CHECK_THROWS_WITH_AS(SampleRing(0), "ring capacity: 0 samples: expected at least 1", std::invalid_argument);
}

TEST_CASE("ring: a producer and a consumer thread pass a million samples without loss") {
  // A small ring of an odd size, so the threads wrap around thousands of times and
  // meet the full and the empty ring often.
  constexpr std::size_t total = 1'000'000;
  SampleRing ring(1000);
  const auto samples = ramp(total);
  std::thread producer([&] {
    std::span<const float> rest(samples);
    std::size_t chunk = 1;
    while (!rest.empty()) {
      const std::size_t n = ring.write_some(rest.first(std::min(chunk, rest.size())));
      rest = rest.subspan(n);
      chunk = chunk % 700 + 1;  // 1..700 samples per write
      if (n == 0) std::this_thread::yield();
    }
  });
  std::vector<float> received;
  received.reserve(total);
  std::vector<float> buffer(333);
  while (received.size() < total) {
    const std::size_t n = ring.read(std::span<float>(buffer).first(received.size() % 333 + 1));
    received.insert(received.end(), buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(n));
    if (n == 0) std::this_thread::yield();
  }
  producer.join();
  CHECK(received == samples);
  CHECK(ring.dropped_samples() == 0);
  CHECK(ring.readable() == 0);
}

TEST_CASE("ring: when the consumer falls behind, what arrives is in order and the rest is counted") {
  constexpr std::size_t chunk = 256;
  constexpr std::size_t total = 800 * chunk;
  SampleRing ring(2048);
  std::atomic<bool> done{false};
  std::thread producer([&] {
    // A callback that never waits: every 256 samples, whether there is room or not.
    for (std::size_t i = 0; i < total; i += chunk) {
      ring.write_or_drop(ramp(chunk, i));
      if (i % (16 * chunk) == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    done = true;
  });
  std::vector<float> received;
  std::vector<float> buffer(512);
  for (;;) {
    const bool finished = done.load();
    while (const std::size_t n = ring.read(buffer))
      received.insert(received.end(), buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(n));
    if (finished) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // a slow analysis
  }
  producer.join();
  REQUIRE(ring.dropped_samples() > 0);  // the test is about overruns: make sure there were some
  CHECK(received.size() + ring.dropped_samples() == total);
  // Samples that arrive are intact and in order; only whole tails of writes are missing.
  bool increasing = true;
  for (std::size_t i = 1; i < received.size(); ++i) increasing = increasing && received[i] > received[i - 1];
  CHECK(increasing);
  CHECK(received.front() == 0.0f);
}
