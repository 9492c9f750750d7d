// Capture through real PortAudio and ALSA, from an ALSA device that plays a raw file
// (tests/agent/alsa_file_device.hpp): no sound card needed, so CI runs it.
#include <doctest/doctest.h>

#include <csignal>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "agent/audio/capture.hpp"
#include "agent/commands/commands.hpp"
#include "agent/pipeline.hpp"
#include "tests/agent/alsa_file_device.hpp"
#include "tests/signals.hpp"

using namespace birdsong;
using test::AlsaFileDevice;
using namespace std::chrono_literals;

namespace {

AudioConfig test_audio() {
  AudioConfig a;
  a.device = AlsaFileDevice::kName;
  a.sample_rate_hz = AlsaFileDevice::kRateHz;
  a.frames_per_buffer = 1024;
  a.ring_s = 10.0;
  return a;
}

// Reads `n` samples from a started source, or what came before `timeout`.
std::vector<float> read_samples(AudioSource& source, std::size_t n, std::chrono::seconds timeout) {
  std::vector<float> out(n);
  std::size_t got = 0;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (got < n && std::chrono::steady_clock::now() < deadline) {
    const std::size_t k = source.ring().read(std::span<float>(out).subspan(got));
    got += k;
    if (k == 0) std::this_thread::sleep_for(1ms);
  }
  out.resize(got);
  return out;
}

// A song over quiet noise, 3 s long: a trill of 40 ms notes sweeping 4.5 -> 3 kHz from
// 1.0 s, the last note ending at 1.66 s. (A steady tone is found but, not being
// bird-like, not reported.)
std::vector<float> song_signal() {
  auto x = test::noise(3.0, AlsaFileDevice::kRateHz, 0.01);
  test::add_trill(x, AlsaFileDevice::kRateHz, 4500.0, 3000.0, 0.04, 0.03, 0.1, 1.0, 1.7);
  return x;
}

// An output stream another thread may watch while it is written.
class WatchedBuffer : public std::streambuf {
 public:
  int lines() const { return lines_.load(); }
  std::string text() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return text_;
  }

 protected:
  int overflow(int c) override {
    if (c == traits_type::eof()) return traits_type::not_eof(c);
    const char ch = static_cast<char>(c);
    xsputn(&ch, 1);
    return c;
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    std::lock_guard<std::mutex> lock(mutex_);
    text_.append(s, static_cast<std::size_t>(n));
    lines_ += static_cast<int>(std::count(s, s + n, '\n'));
    return n;
  }

 private:
  mutable std::mutex mutex_;
  std::string text_;
  std::atomic<int> lines_{0};
};

}  // namespace

TEST_CASE("capture: samples from an ALSA device arrive intact, in order, mixed to mono") {
  AlsaFileDevice::install();
  constexpr std::size_t frames = 48000;
  std::vector<float> raw(frames * 2);
  std::vector<float> expected(frames);
  for (std::size_t i = 0; i < frames; ++i) {
    // Two different patterns, so a swapped, dropped or repeated sample shows.
    const auto left = static_cast<int16_t>(static_cast<int>((i * 37) % 60000) - 30000);
    const auto right = static_cast<int16_t>(static_cast<int>((i * 101) % 50000) - 25000);
    raw[2 * i] = static_cast<float>(left) / 32768.0f;
    raw[2 * i + 1] = static_cast<float>(right) / 32768.0f;
    expected[i] = (raw[2 * i] + raw[2 * i + 1]) * 0.5f;
  }
  AlsaFileDevice::set_samples(raw);

  Capture capture(test_audio());
  CHECK(capture.device().name == AlsaFileDevice::kName);
  CHECK(capture.device().host_api == "ALSA");
  CHECK(capture.channels() == 2);
  CHECK(capture.sample_rate_hz() == 48000.0);
  const auto before = std::chrono::system_clock::now();
  capture.start();
  const auto got = read_samples(capture, frames, 10s);
  capture.stop();
  REQUIRE(got.size() == frames);
  std::size_t first_difference = frames;
  for (std::size_t i = 0; i < frames && first_difference == frames; ++i)
    if (got[i] != expected[i]) first_difference = i;
  CHECK(first_difference == frames);
  REQUIRE(capture.first_sample_time().has_value());
  CHECK(*capture.first_sample_time() > before - 1s);
  CHECK(*capture.first_sample_time() <= std::chrono::system_clock::now());
  CHECK_FALSE(capture.failure().has_value());
}

TEST_CASE("capture: the live pipeline finds a song the device plays, at the right time") {
  AlsaFileDevice::install();
  AlsaFileDevice::set_mono(song_signal());
  Capture capture(test_audio());
  Config config;
  std::ostringstream log;
  Pipeline pipeline(config, capture.sample_rate_hz(), log);
  std::vector<Event> events;
  std::atomic<bool> stop{false};
  pipeline.add_sink([&](const Event& e) {
    events.push_back(e);
    stop = true;  // flushes and returns, as on SIGINT
  });
  std::thread watchdog([&] {
    for (int i = 0; i < 200 && !stop; ++i) std::this_thread::sleep_for(100ms);
    stop = true;
  });
  pipeline.run(capture, stop);
  watchdog.join();

  REQUIRE(events.size() == 1);
  const Event& e = events[0];
  CHECK(e.sound.start_s == doctest::Approx(1.0).epsilon(0.02));
  CHECK(e.sound.end_s == doctest::Approx(1.66).epsilon(0.02));
  CHECK(e.sound.low_hz >= 2700.0);
  CHECK(e.sound.high_hz <= 4800.0);
  CHECK(e.station == "garden");
  CHECK_FALSE(e.file.has_value());
  // Event time = the first sample's wall-clock time + the sound's position (no overrun
  // came before it: the ring holds 10 s, the song ends within 2 s).
  REQUIRE(e.time.has_value());
  REQUIRE(capture.first_sample_time().has_value());
  const std::chrono::duration<double> offset = *e.time - *capture.first_sample_time();
  CHECK(offset.count() == doctest::Approx(e.sound.start_s).epsilon(1e-6));
  CHECK(pipeline.stats().samples.load() >= 80000);  // at least up to where the song is known to have ended
}

TEST_CASE("devices: the ALSA file device is listed with its host API and channels") {
  AlsaFileDevice::install();
  std::ostringstream out, err;
  CHECK(list_devices(out, err) == kExitOk);
  const std::string table = out.str();
  CHECK(table.rfind("index\tname\thost_api\tmax_input_channels\tdefault_sample_rate_hz\n", 0) == 0);
  CHECK(table.find(std::string("\t") + AlsaFileDevice::kName + "\tALSA\t") != std::string::npos);
  CHECK(err.str().empty());
}

TEST_CASE("devices: found by name in any case, by index, and refused with the list when missing") {
  AlsaFileDevice::install();
  PortAudioSession session;
  const InputDevice by_name = find_input_device(session, "BIRDSONG_test");
  CHECK(by_name.name == AlsaFileDevice::kName);
  CHECK(find_input_device(session, std::to_string(by_name.index)).name == AlsaFileDevice::kName);
  CHECK_THROWS_WITH_AS(find_input_device(session, "no-such-microphone"),
                       "audio: [audio] device = \"no-such-microphone\": no input device has that name; "
                       "input devices are",
                       NoSuchDevice);
  CHECK_THROWS_AS(find_input_device(session, "9999"), NoSuchDevice);
}

TEST_CASE("run: a missing device gives one error line, then the devices there are, and exit 2") {
  AlsaFileDevice::install();
  RunOptions options;
  options.config.audio = test_audio();
  options.config.audio.device = "no-such-microphone";
  options.config.metrics.enabled = false;  // tests run in parallel: no fixed port
  std::atomic<bool> stop{false};
  std::ostringstream out, err;
  CHECK(run_agent(options, stop, out, err) == kExitUsage);
  CHECK(out.str().empty());
  const std::string text = err.str();
  const std::string first_line = text.substr(0, text.find('\n'));
  CHECK(first_line ==
        "audio: [audio] device = \"no-such-microphone\": no input device has that name; input devices are");
  CHECK(text.find(std::string("\t") + AlsaFileDevice::kName + "\tALSA\t") != std::string::npos);
}

TEST_CASE("run: the live agent prints each event as a JSON line and stops cleanly on SIGINT") {
  AlsaFileDevice::install();
  AlsaFileDevice::set_mono(song_signal());
  RunOptions options;
  options.config.audio = test_audio();
  options.config.station.id = "test-station";
  options.config.metrics.enabled = false;
  WatchedBuffer out_buffer;
  std::ostream out(&out_buffer);
  std::ostringstream err;
  const std::atomic<bool>& stop = stop_on_signals();
  std::thread interrupter([&] {
    for (int i = 0; i < 200 && out_buffer.lines() == 0; ++i) std::this_thread::sleep_for(100ms);
    std::raise(SIGINT);  // the real handler, as a Ctrl-C would
  });
  const int rc = run_agent(options, stop, out, err);
  interrupter.join();
  CHECK(rc == kExitOk);
  CHECK(stop.load());

  std::istringstream lines(out_buffer.text());
  std::vector<nlohmann::json> events;
  for (std::string line; std::getline(lines, line);) events.push_back(nlohmann::json::parse(line));
  REQUIRE(events.size() == 1);
  CHECK(events[0]["schema"] == 1);
  CHECK(events[0]["station"] == "test-station");
  CHECK(events[0]["start_s"].get<double>() == doctest::Approx(1.0).epsilon(0.02));
  CHECK(events[0]["end_s"].get<double>() == doctest::Approx(1.66).epsilon(0.02));
  CHECK(events[0]["time"].is_string());
  CHECK_FALSE(events[0].contains("file"));
  const std::string log = err.str();
  CHECK(log.find("run: capturing from \"birdsong_test\" (ALSA) at 48000 Hz, 2 channels mixed to mono") !=
        std::string::npos);
  CHECK(log.find("run: stopped after ") != std::string::npos);
}
