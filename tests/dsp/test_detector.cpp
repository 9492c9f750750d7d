#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <random>
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

dsp::DetectorConfig any_sound() {
  dsp::DetectorConfig c;
  c.min_confidence = 0.0;  // report every sound, bird-like or not
  return c;
}

// A trill of 40 ms notes sweeping 4.5 -> 3 kHz, 30 ms apart: a typical small song.
void add_song(std::vector<float>& x, double rate, double start_s, double end_s, double amplitude = 0.1,
              double f0_hz = 4500.0, double f1_hz = 3000.0) {
  test::add_trill(x, rate, f0_hz, f1_hz, 0.04, 0.03, amplitude, start_s, end_s);
}

}  // namespace

TEST_CASE("detector: a 3 kHz tone burst over noise is one sound at the right time and band") {
  const double rate = 48000.0;
  auto x = test::noise(3.0, rate, 0.01);
  test::add_tone(x, rate, 3000.0, 0.2, 1.0, 1.5);
  const auto sounds = detect(x, rate, x.size(), any_sound());
  REQUIRE(sounds.size() == 1);
  CHECK(sounds[0].start_s == doctest::Approx(1.0).epsilon(0.02));
  CHECK(sounds[0].end_s == doctest::Approx(1.5).epsilon(0.02));
  CHECK(sounds[0].peak_hz == doctest::Approx(3000.0).epsilon(0.02));
  CHECK(sounds[0].low_hz >= 2700.0);
  CHECK(sounds[0].high_hz <= 3300.0);
  CHECK(sounds[0].snr_db > 20.0);
  // A tone this steady (no pitch or level change in 0.5 s) is an alarm or a hum, not a
  // bird: it is found, but not reported with the default min_confidence.
  CHECK(sounds[0].confidence < 0.5);
  CHECK(detect(x, rate, x.size()).empty());
}

TEST_CASE("detector: a trill over noise is one confident bird sound at the right time and band") {
  const double rate = 48000.0;
  auto x = test::noise(3.0, rate, 0.01);
  add_song(x, rate, 1.0, 1.7);
  const auto sounds = detect(x, rate, x.size());
  REQUIRE(sounds.size() == 1);
  CHECK(sounds[0].start_s == doctest::Approx(1.0).epsilon(0.02));
  CHECK(sounds[0].end_s == doctest::Approx(1.66).epsilon(0.02));  // the last note ends at 1.66 s
  CHECK(sounds[0].low_hz >= 2700.0);
  CHECK(sounds[0].low_hz <= 3200.0);
  CHECK(sounds[0].high_hz >= 4300.0);
  CHECK(sounds[0].high_hz <= 4800.0);
  CHECK(sounds[0].peak_hz >= 3000.0);
  CHECK(sounds[0].peak_hz <= 4500.0);
  CHECK(sounds[0].snr_db > 30.0);
  CHECK(sounds[0].confidence > 0.9);
}

TEST_CASE("detector: stationary noise gives no sound") {
  const double rate = 44100.0;
  CHECK(detect(test::noise(10.0, rate, 0.05, 7), rate, 4096, any_sound()).empty());
  CHECK(detect(test::noise(10.0, rate, 0.0005, 8), rate, 4096, any_sound()).empty());
}

TEST_CASE("detector: one big chunk and many small chunks give the same sounds") {
  const double rate = 32000.0;
  auto x = test::noise(4.0, rate, 0.01, 3);
  add_song(x, rate, 0.5, 0.9);
  test::add_chirp(x, rate, 2500.0, 6000.0, 0.2, 2.0, 2.4);
  const auto whole = detect(x, rate, x.size(), any_sound());
  REQUIRE(whole.size() == 2);
  for (std::size_t chunk : {1, 100, 441, 4096}) {
    const auto small = detect(x, rate, chunk, any_sound());
    REQUIRE(whole.size() == small.size());
    for (std::size_t i = 0; i < whole.size(); ++i) {
      CHECK(whole[i].start_s == small[i].start_s);
      CHECK(whole[i].end_s == small[i].end_s);
      CHECK(whole[i].low_hz == small[i].low_hz);
      CHECK(whole[i].high_hz == small[i].high_hz);
      CHECK(whole[i].peak_hz == small[i].peak_hz);
      CHECK(whole[i].snr_db == small[i].snr_db);
      CHECK(whole[i].confidence == small[i].confidence);
    }
  }
}

TEST_CASE("detector: a sound is reported as soon as it ends, not at the end of the stream") {
  const double rate = 48000.0;
  auto x = test::noise(20.0, rate, 0.01);
  add_song(x, rate, 3.0, 3.3);
  dsp::Detector d(rate, {});
  std::vector<dsp::Sound> out;
  // Reported within merge_gap_s (0.16 s) and a few frames of the last note's end.
  d.process(std::span<const float>(x).first(static_cast<std::size_t>(3.2 * rate)), out);
  CHECK(out.empty());
  d.process(std::span<const float>(x).subspan(static_cast<std::size_t>(3.2 * rate), static_cast<std::size_t>(0.3 * rate)), out);
  CHECK(out.size() == 1);
  d.process(std::span<const float>(x).subspan(static_cast<std::size_t>(3.5 * rate)), out);
  d.flush(out);
  CHECK(out.size() == 1);
}

TEST_CASE("detector: a recording that begins with the bird has it found, the first 2 s wait for the floor") {
  // A clip cut around a call starts with it. A floor started on the first frames would
  // sit at the call's level and outline nothing; it is primed on the first 2 s instead.
  const double rate = 32000.0;
  // A call of notes at one pitch, repeated from the first sample.
  auto x = test::noise(1.5, rate, 0.01, 5);
  add_song(x, rate, 0.0, 1.2, 0.1, 3500.0, 3400.0);
  const auto sounds = detect(x, rate, 4096);  // shorter than the priming: flush() judges it
  REQUIRE(sounds.size() == 1);
  CHECK(sounds[0].start_s < 0.05);
  CHECK(sounds[0].end_s == doctest::Approx(1.2).epsilon(0.05));

  // In a stream, sounds of the first 2 s come out when the priming ends, in order.
  auto y = test::noise(4.0, rate, 0.01, 6);
  add_song(y, rate, 0.2, 0.6);
  add_song(y, rate, 1.0, 1.4);
  dsp::Detector d(rate, {});
  std::vector<dsp::Sound> out;
  d.process(std::span<const float>(y).first(static_cast<std::size_t>(1.9 * rate)), out);
  CHECK(out.empty());
  d.process(std::span<const float>(y).subspan(static_cast<std::size_t>(1.9 * rate), static_cast<std::size_t>(0.2 * rate)), out);
  REQUIRE(out.size() == 2);
  CHECK(out[0].start_s < out[1].start_s);
}

TEST_CASE("detector: bad configuration names the key") {
  dsp::DetectorConfig c;
  c.max_hz = 500.0;
  CHECK_THROWS_WITH_AS(dsp::Detector(48000.0, c), doctest::Contains("max_hz"), std::invalid_argument);
  c = {};
  c.threshold_db = -1.0;
  CHECK_THROWS_WITH_AS(dsp::Detector(48000.0, c), doctest::Contains("threshold_db"), std::invalid_argument);
  c = {};
  c.min_snr_db = -3.0;
  CHECK_THROWS_WITH_AS(dsp::Detector(48000.0, c), doctest::Contains("min_snr_db"), std::invalid_argument);
  c = {};
  c.min_confidence = 1.5;
  CHECK_THROWS_WITH_AS(dsp::Detector(48000.0, c), doctest::Contains("min_confidence"), std::invalid_argument);
  c = {};
  c.min_hz = 30000.0;
  c.max_hz = 40000.0;
  CHECK_THROWS_WITH_AS(dsp::Detector(48000.0, c), doctest::Contains("min_hz"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(dsp::Detector(1000.0, {}), doctest::Contains("sample_rate_hz"), std::invalid_argument);
}

TEST_CASE("detector: two birds singing at once in different bands are two sounds") {
  const double rate = 44100.0;
  auto x = test::noise(4.0, rate, 0.01, 5);
  add_song(x, rate, 1.0, 2.5, 0.1, 3500.0, 2500.0);  // a low trill, 1.5 s
  add_song(x, rate, 1.6, 2.0, 0.1, 9000.0, 7000.0);  // a high one inside it
  auto sounds = detect(x, rate, x.size());
  // Each is reported when it ends: the high one first.
  std::sort(sounds.begin(), sounds.end(), [](const auto& a, const auto& b) { return a.start_s < b.start_s; });
  REQUIRE(sounds.size() == 2);
  CHECK(sounds[0].start_s == doctest::Approx(1.0).epsilon(0.02));
  CHECK(sounds[0].end_s == doctest::Approx(2.44).epsilon(0.02));
  CHECK(sounds[0].high_hz < 4000.0);
  CHECK(sounds[1].start_s == doctest::Approx(1.6).epsilon(0.02));
  CHECK(sounds[1].end_s == doctest::Approx(1.95).epsilon(0.02));
  CHECK(sounds[1].low_hz > 6500.0);
}

TEST_CASE("detector: a fast chirp is one bird-like sound") {
  const double rate = 48000.0;
  auto x = test::noise(2.0, rate, 0.01, 11);
  test::add_chirp(x, rate, 8000.0, 3000.0, 0.2, 0.8, 0.9);  // 50 kHz/s, like a spinetail call
  const auto sounds = detect(x, rate, 4800);
  REQUIRE(sounds.size() == 1);
  CHECK(sounds[0].start_s == doctest::Approx(0.8).epsilon(0.02));
  CHECK(sounds[0].end_s == doctest::Approx(0.9).epsilon(0.05));
  CHECK(sounds[0].low_hz <= 3300.0);
  CHECK(sounds[0].high_hz >= 7500.0);
  CHECK(sounds[0].confidence > 0.5);
}

TEST_CASE("detector: the same song is found at 22050, 44100 and 48000 Hz") {
  for (double rate : {22050.0, 44100.0, 48000.0}) {
    CAPTURE(rate);
    auto x = test::noise(3.0, rate, 0.01, 2);
    add_song(x, rate, 1.0, 1.7);
    const auto sounds = detect(x, rate, 1000);
    REQUIRE(sounds.size() == 1);
    CHECK(sounds[0].start_s == doctest::Approx(1.0).epsilon(0.02));
    CHECK(sounds[0].end_s == doctest::Approx(1.66).epsilon(0.02));
    CHECK(sounds[0].confidence > 0.9);
  }
}

TEST_CASE("detector: the band is clamped below Nyquist at low sample rates") {
  const double rate = 8000.0;  // default max_hz 12 kHz is far above Nyquist
  auto x = test::noise(3.0, rate, 0.01, 4);
  add_song(x, rate, 1.0, 1.7, 0.3, 3500.0, 2000.0);  // louder: 8 ms frames, wide bins
  const auto sounds = detect(x, rate, x.size());
  REQUIRE(sounds.size() == 1);
  CHECK(sounds[0].start_s == doctest::Approx(1.0).epsilon(0.03));
  CHECK(sounds[0].high_hz <= 0.95 * 4000.0);
}

TEST_CASE("detector: a sustained rising noise is absorbed by the floor and a song over it is still found") {
  const double rate = 32000.0;
  auto x = test::noise(30.0, rate, 0.0005, 9);
  // Rain-like band noise, 2-6 kHz, fading in over 2 s from 2 s and then staying put,
  // 25 dB above the quiet background before it.
  std::mt19937 rng(10);
  std::normal_distribution<float> white(0.0f, 1.0f);
  std::vector<float> band(x.size());
  double s1 = 0.0, s2 = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    // A two-pole band-pass made of two one-pole filters: high-pass at 2 kHz, low-pass at 6 kHz.
    const float w = white(rng);
    const double a_hi = std::exp(-2.0 * std::numbers::pi * 2000.0 / rate);
    const double a_lo = std::exp(-2.0 * std::numbers::pi * 6000.0 / rate);
    const double hp = w - s1;
    s1 = a_hi * s1 + (1.0 - a_hi) * w;
    s2 = a_lo * s2 + (1.0 - a_lo) * hp;
    const double t = static_cast<double>(i) / rate;
    const double gain = std::clamp((t - 2.0) / 2.0, 0.0, 1.0);
    band[i] = static_cast<float>(0.02 * gain * s2);
  }
  for (std::size_t i = 0; i < x.size(); ++i) x[i] += band[i];
  add_song(x, rate, 20.0, 20.7, 0.2);  // in the band of the noise, ~33 dB above it
  const auto sounds = detect(x, rate, 2048, any_sound());
  // Whatever the onset of the noise gave, it is over before 10 s: the noise is floor.
  for (const auto& s : sounds) CHECK((s.end_s < 10.0 || s.start_s > 19.9));
  const auto late = std::count_if(sounds.begin(), sounds.end(), [](const auto& s) { return s.start_s > 19.9; });
  REQUIRE(late == 1);
  const auto& song = sounds.back();
  CHECK(song.start_s == doctest::Approx(20.0).epsilon(0.002));
  CHECK(song.end_s == doctest::Approx(20.66).epsilon(0.002));
  CHECK(song.confidence > 0.5);
}

TEST_CASE("detector: clicks, a steady hum and a harmonic low voice are not birds") {
  const double rate = 44100.0;
  auto x = test::noise(8.0, rate, 0.005, 12);
  // Typing: 3 ms broadband clicks, 5 per second for 2 s.
  std::mt19937 rng(13);
  std::normal_distribution<float> white(0.0f, 0.5f);
  for (double t = 0.5; t < 2.5; t += 0.2)
    for (std::size_t i = 0; i < static_cast<std::size_t>(0.003 * rate); ++i)
      x[static_cast<std::size_t>(t * rate) + i] += white(rng);
  // A hum at 1.5 kHz for 1.5 s.
  test::add_tone(x, rate, 1500.0, 0.1, 3.0, 4.5);
  // A bark-like voice: 400 Hz fundamental and 12 harmonics, gliding up 10%, 0.3 s.
  for (int h = 1; h <= 12; ++h) test::add_chirp(x, rate, 400.0 * h, 440.0 * h, 0.1 / h, 5.5, 5.8);
  for (const auto& s : detect(x, rate, 4096)) {
    CAPTURE(s.start_s);
    CAPTURE(s.confidence);
    FAIL_CHECK("a sound that is not a bird was reported");
  }
}

TEST_CASE("detector: statistics follow the in-band level and floor") {
  const double rate = 48000.0;
  // White noise of rms 0.01: 1e-4 of power spread evenly up to 24 kHz, so the band
  // 1-12 kHz holds 11/24 of it: -43.4 dBFS (a full-scale sine is 0 dBFS).
  auto x = test::noise(6.0, rate, 0.01, 21);
  dsp::Detector d(rate, {});
  std::vector<dsp::Sound> out;
  d.process(x, out);
  const double band_dbfs = 10.0 * std::log10(1e-4 * 11.0 / 24.0 * 2.0);  // sine power is amplitude^2 / 2
  CHECK(d.stats().frames == static_cast<int64_t>((x.size() - 512) / 256 + 1));
  CHECK(d.stats().level_dbfs == doctest::Approx(band_dbfs).epsilon(0.05));
  // The floor is a low quantile of the smoothed noise: a little under the level.
  CHECK(d.stats().noise_floor_dbfs < d.stats().level_dbfs + 1.0);
  CHECK(d.stats().noise_floor_dbfs > band_dbfs - 4.0);
}
