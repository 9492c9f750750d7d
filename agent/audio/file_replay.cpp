#include "agent/audio/file_replay.hpp"

#include <cmath>
#include <sstream>
#include <stdexcept>

#include "agent/audio/recording_time.hpp"

namespace birdsong {

namespace {

std::size_t ring_samples(const AudioConfig& config, double sample_rate_hz) {
  return static_cast<std::size_t>(std::ceil(config.ring_s * sample_rate_hz));
}

double checked_speed(double speed) {
  if (!(speed >= 0.0) || !std::isfinite(speed)) {
    std::ostringstream s;
    s << "--speed " << speed << ": expected 0 (as fast as possible) or a positive factor (1: real time)";
    throw std::invalid_argument(s.str());
  }
  return speed;
}

}  // namespace

FileReplay::FileReplay(const std::string& path, double speed, const AudioConfig& config)
    : file_(path),
      speed_(checked_speed(speed)),
      buffer_samples_(static_cast<std::size_t>(config.frames_per_buffer)),
      ring_(ring_samples(config, file_.sample_rate_hz())) {}

FileReplay::~FileReplay() { stop(); }

std::string FileReplay::description() const {
  std::ostringstream s;
  s << "replaying " << file_.path() << " (" << file_.sample_rate_hz() << " Hz";
  if (file_.duration_s() >= 0) s << ", " << file_.duration_s() << " s";
  s << ") ";
  if (speed_ > 0)
    s << "at speed " << speed_;
  else
    s << "as fast as possible";
  return s.str();
}

void FileReplay::start() {
  if (producer_.joinable()) return;
  first_sample_ = recording_start_time(file_).value_or(std::chrono::system_clock::now());
  producer_ = std::thread([this] { produce(); });
}

void FileReplay::stop() {
  stop_.store(true);
  if (producer_.joinable()) producer_.join();
}

std::optional<std::string> FileReplay::failure() const {
  if (!finished() || failure_.empty()) return std::nullopt;
  return failure_;
}

void FileReplay::sleep_until(std::chrono::steady_clock::time_point deadline) const {
  constexpr auto step = std::chrono::milliseconds(50);
  while (!stop_.load(std::memory_order_relaxed)) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(deadline - now, step));
  }
}

void FileReplay::produce() {
  std::vector<float> buffer(buffer_samples_);
  const auto t0 = std::chrono::steady_clock::now();
  uint64_t position = 0;  // samples produced so far
  try {
    while (!stop_.load(std::memory_order_relaxed)) {
      const std::size_t n = file_.read(buffer);
      if (n == 0) break;
      std::span<const float> rest(buffer.data(), n);
      position += n;
      if (speed_ > 0) {
        // A device hands over a buffer once its last sample has been recorded.
        const double due_s = static_cast<double>(position) / (file_.sample_rate_hz() * speed_);
        sleep_until(t0 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                             std::chrono::duration<double>(due_s)));
        ring_.write_or_drop(rest);
        continue;
      }
      while (!rest.empty() && !stop_.load(std::memory_order_relaxed)) {
        rest = rest.subspan(ring_.write_some(rest));
        if (!rest.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
    }
  } catch (const AudioError& e) {
    failure_ = e.what();
  }
  done_.store(true, std::memory_order_release);
}

}  // namespace birdsong
