// A recording fed to the live pipeline as if a microphone were hearing it.
//
// A producer thread reads the file (SoundFile: any format, mixed to mono, at the file's
// own rate) and writes it into the ring in buffers of [audio] frames_per_buffer samples,
// paced like a device: speed 1 is real time, 2 twice as fast. At speed > 0 a full ring
// drops samples exactly as the capture callback would; at speed 0 (as fast as the
// analysis goes) the producer waits for space instead, so nothing is lost.
//
// Time: the first sample is at the recording's start time when the file says it
// (recording_start_time: Broadcast WAV or a recorder's file name), so replayed events
// carry the same times as `analyze` gives them; otherwise at the wall clock when the
// replay starts, as if the sound were live.
#pragma once

#include <atomic>
#include <thread>

#include "agent/audio/audio_source.hpp"
#include "agent/audio/sound_file.hpp"
#include "agent/config.hpp"

namespace birdsong {

class FileReplay final : public AudioSource {
 public:
  // Throws AudioError naming the file when it cannot be read, std::invalid_argument
  // when speed is negative.
  FileReplay(const std::string& path, double speed, const AudioConfig& config);
  ~FileReplay() override;
  FileReplay(const FileReplay&) = delete;
  FileReplay& operator=(const FileReplay&) = delete;

  double sample_rate_hz() const override { return file_.sample_rate_hz(); }
  SampleRing& ring() override { return ring_; }
  std::string description() const override;
  void start() override;
  void stop() override;
  bool finished() const override { return done_.load(std::memory_order_acquire); }
  std::optional<std::string> failure() const override;
  std::optional<std::chrono::system_clock::time_point> first_sample_time() const override { return first_sample_; }
  std::optional<std::string> file() const override { return file_.path(); }

 private:
  void produce();
  // Waits until `deadline`, in short steps so stop() is not kept waiting at low speeds.
  void sleep_until(std::chrono::steady_clock::time_point deadline) const;

  SoundFile file_;
  const double speed_;
  const std::size_t buffer_samples_;
  SampleRing ring_;
  std::optional<std::chrono::system_clock::time_point> first_sample_;
  std::thread producer_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> done_{false};
  std::string failure_;  // written by the producer before done_ is set
};

}  // namespace birdsong
