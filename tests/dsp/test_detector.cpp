#include <doctest/doctest.h>

#include <stdexcept>

#include "dsp/detector.hpp"
#include "tests/signals.hpp"

using namespace birdsong;

namespace {
std::vector<dsp::Sound> detect(const std::vector<float>& x, double rate, std::size_t chunk,
                               const dsp::DetectorConfig& config = {}) {
  dsp::Detector d(rate, config);
  std::vector<dsp::Sound> out;
  for (std::size_t i = 0; i < x.size(); i += chunk)
    d.process(std::span<const float>(x).subspan(i, std::min(chunk, x.size() - i)), out);
  d.flush(out);
  return out;
}
}  // namespace

TEST_CASE("detector: a 3 kHz tone burst over noise is one sound at the right time and band") {
  const double rate = 48000.0;
  auto x = test::noise(3.0, rate, 0.01);
  test::add_tone(x, rate, 3000.0, 0.2, 1.0, 1.5);
  const auto sounds = detect(x, rate, x.size());
  REQUIRE(sounds.size() == 1);
  CHECK(sounds[0].start_s == doctest::Approx(1.0).epsilon(0.02));
  CHECK(sounds[0].end_s == doctest::Approx(1.5).epsilon(0.02));
  CHECK(sounds[0].peak_hz == doctest::Approx(3000.0).epsilon(0.02));
  CHECK(sounds[0].low_hz >= 2700.0);
  CHECK(sounds[0].high_hz <= 3300.0);
  CHECK(sounds[0].snr_db > 20.0);
}

TEST_CASE("detector: stationary noise gives no sound") {
  const double rate = 44100.0;
  CHECK(detect(test::noise(10.0, rate, 0.05, 7), rate, 4096).empty());
}

TEST_CASE("detector: one big chunk and many small chunks give the same sounds") {
  const double rate = 32000.0;
  auto x = test::noise(4.0, rate, 0.01, 3);
  test::add_tone(x, rate, 4000.0, 0.2, 0.5, 0.8);
  test::add_chirp(x, rate, 2500.0, 6000.0, 0.2, 2.0, 2.4);
  const auto whole = detect(x, rate, x.size());
  const auto small = detect(x, rate, 100);
  REQUIRE(whole.size() == small.size());
  REQUIRE(whole.size() == 2);
  for (std::size_t i = 0; i < whole.size(); ++i) {
    CHECK(whole[i].start_s == small[i].start_s);
    CHECK(whole[i].end_s == small[i].end_s);
    CHECK(whole[i].peak_hz == small[i].peak_hz);
    CHECK(whole[i].confidence == small[i].confidence);
  }
}

TEST_CASE("detector: a sound is reported as soon as it ends, not at the end of the stream") {
  const double rate = 48000.0;
  auto x = test::noise(20.0, rate, 0.01);
  test::add_tone(x, rate, 5000.0, 0.2, 1.0, 1.3);
  dsp::Detector d(rate, {});
  std::vector<dsp::Sound> out;
  const std::size_t upto = static_cast<std::size_t>(3.0 * rate);  // 1.7 s after the sound
  d.process(std::span<const float>(x).first(upto), out);
  CHECK(out.size() == 1);
}

TEST_CASE("detector: bad configuration names the key") {
  dsp::DetectorConfig c;
  c.max_hz = 500.0;
  CHECK_THROWS_WITH_AS(dsp::Detector(48000.0, c), doctest::Contains("max_hz"), std::invalid_argument);
  c = {};
  c.threshold_db = -1.0;
  CHECK_THROWS_WITH_AS(dsp::Detector(48000.0, c), doctest::Contains("threshold_db"), std::invalid_argument);
}
