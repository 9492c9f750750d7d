// Recordings made at test time, in a temporary directory, with libsndfile itself, and
// ways to damage them the way cards, crashes and copies do.
#pragma once

#include <sndfile.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <numbers>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace birdsong::test {

// A fresh directory, removed with everything in it at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "birdsong-test-XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = templ;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Writes interleaved samples; `format` is libsndfile's, e.g. SF_FORMAT_WAV | SF_FORMAT_PCM_16.
inline void write_sound(const std::string& path, int format, int rate_hz, int channels,
                        const std::vector<float>& interleaved, const SF_BROADCAST_INFO* bext = nullptr) {
  SF_INFO info{};
  info.samplerate = rate_hz;
  info.channels = channels;
  info.format = format;
  SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
  if (f == nullptr) throw std::runtime_error(path + ": cannot write: " + sf_strerror(nullptr));
  if (bext != nullptr)
    sf_command(f, SFC_SET_BROADCAST_INFO, const_cast<SF_BROADCAST_INFO*>(bext), sizeof *bext);
  const auto frames = static_cast<sf_count_t>(interleaved.size() / static_cast<std::size_t>(channels));
  const sf_count_t written = sf_writef_float(f, interleaved.data(), frames);
  sf_close(f);
  if (written != frames) throw std::runtime_error(path + ": short write");
}

// A sine of `freq_hz` at `amplitude`, starting at phase 0.
inline std::vector<float> sine(std::size_t samples, double rate_hz, double freq_hz, double amplitude) {
  std::vector<float> x(samples);
  for (std::size_t i = 0; i < samples; ++i)
    x[i] = static_cast<float>(amplitude * std::sin(2.0 * std::numbers::pi * freq_hz * static_cast<double>(i) / rate_hz));
  return x;
}

// The amplitude of the `freq_hz` component of x[from, to): |DFT| at that frequency,
// over a whole number of periods so the estimate is exact for a pure tone.
inline double amplitude_at(const std::vector<float>& x, double rate_hz, double freq_hz, std::size_t from, std::size_t to) {
  const double period = rate_hz / freq_hz;
  const auto periods = std::floor(static_cast<double>(to - from) / period);
  to = from + static_cast<std::size_t>(std::llround(periods * period));
  double re = 0.0, im = 0.0;
  for (std::size_t i = from; i < to; ++i) {
    const double w = 2.0 * std::numbers::pi * freq_hz * static_cast<double>(i) / rate_hz;
    re += x[i] * std::cos(w);
    im += x[i] * std::sin(w);
  }
  return 2.0 * std::hypot(re, im) / static_cast<double>(to - from);
}

inline double rms(const std::vector<float>& x, std::size_t from, std::size_t to) {
  double sum = 0.0;
  for (std::size_t i = from; i < to; ++i) sum += double{x[i]} * x[i];
  return std::sqrt(sum / static_cast<double>(to - from));
}

inline std::vector<unsigned char> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_bytes(const std::string& path, const std::vector<unsigned char>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// The first `keep` bytes of `from`, as a card that filled up mid-recording leaves it.
inline void write_truncated(const std::string& from, const std::string& to, std::size_t keep) {
  auto bytes = file_bytes(from);
  bytes.resize(std::min(keep, bytes.size()));
  write_bytes(to, bytes);
}

// `from` with bytes [begin_fraction, end_fraction) of its length overwritten by noise.
inline void write_corrupted(const std::string& from, const std::string& to, double begin_fraction,
                            double end_fraction, uint32_t seed = 1) {
  auto bytes = file_bytes(from);
  std::mt19937 rng(seed);
  const auto a = static_cast<std::size_t>(begin_fraction * static_cast<double>(bytes.size()));
  const auto b = static_cast<std::size_t>(end_fraction * static_cast<double>(bytes.size()));
  for (std::size_t i = a; i < b; ++i) bytes[i] = static_cast<unsigned char>(rng() & 0xFF);
  write_bytes(to, bytes);
}

}  // namespace birdsong::test
