#include <doctest/doctest.h>

#include <stdexcept>

#include "dsp/noise_floor.hpp"
#include "dsp/stft.hpp"
#include "tests/signals.hpp"

using namespace birdsong;

TEST_CASE("stft: a full-scale sine reads 0 dBFS in its bin") {
  const double rate = 48000.0;
  dsp::Stft stft(rate, 1024, 512);
  std::vector<float> x(48000, 0.0f);
  test::add_tone(x, rate, 3000.0, 1.0, 0.0, 1.0);  // 3000 Hz = bin 64 exactly
  int frames = 0;
  stft.process(x, [&](int64_t frame, std::span<const float> power) {
    ++frames;
    if (frame < 5 || frame > 80) return;
    std::size_t peak = 0;
    for (std::size_t b = 0; b < power.size(); ++b)
      if (power[b] > power[peak]) peak = b;
    CHECK(peak == 64);
    CHECK(dsp::power_to_db(power[peak]) == doctest::Approx(0.0).epsilon(0.05));
  });
  CHECK(frames == (48000 - 1024) / 512 + 1);
}

TEST_CASE("stft: frame times are frame centres") {
  dsp::Stft stft(32000.0, 512, 256);
  CHECK(stft.time_s(0) == doctest::Approx(256.0 / 32000.0));
  CHECK(stft.time_s(10) == doctest::Approx((10 * 256 + 256) / 32000.0));
  CHECK(stft.bin_hz() == doctest::Approx(62.5));
}

TEST_CASE("stft: chunking does not change the frames") {
  const double rate = 22050.0;
  auto x = test::noise(1.0, rate, 0.1);
  dsp::Stft whole(rate, 256, 128), pieces(rate, 256, 128);
  std::vector<float> a, b;
  whole.process(x, [&](int64_t, std::span<const float> p) { a.insert(a.end(), p.begin(), p.end()); });
  for (std::size_t i = 0; i < x.size(); i += 37)
    pieces.process(std::span<const float>(x).subspan(i, std::min<std::size_t>(37, x.size() - i)),
                   [&](int64_t, std::span<const float> p) { b.insert(b.end(), p.begin(), p.end()); });
  REQUIRE(a.size() == b.size());
  CHECK(a == b);
}

TEST_CASE("stft: bad parameters are refused by name") {
  CHECK_THROWS_WITH_AS(dsp::Stft(0.0, 512, 256), doctest::Contains("sample_rate_hz"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(dsp::Stft(48000.0, 511, 256), doctest::Contains("fft_size"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(dsp::Stft(48000.0, 512, 0), doctest::Contains("hop_samples"), std::invalid_argument);
  CHECK(dsp::fft_size_for(48000.0, 0.0213) == 1024);
  CHECK(dsp::fft_size_for(24000.0, 0.0213) == 512);
}
