// Live audio from a microphone through PortAudio.
//
// The PortAudio callback is the real-time side: it mixes the device's channels to mono
// (the average; a stereo pair of microphones then counts as one, with less uncorrelated
// noise) and copies the samples into the SampleRing. It allocates nothing, takes no
// lock and writes no log; it only counts: samples the full ring had to drop, and input
// overflows PortAudio reports. The analysis thread reads the ring and the counters.
#pragma once

#include <memory>

#include "agent/audio/audio_source.hpp"
#include "agent/audio/input_devices.hpp"
#include "agent/config.hpp"

namespace birdsong {

class Capture final : public AudioSource {
 public:
  // Opens (but does not start) the input [audio] device names at sample_rate_hz.
  // Throws NoSuchDevice when there is no such device, DeviceError when it cannot capture
  // as asked (rate, channels, busy).
  explicit Capture(const AudioConfig& config);
  ~Capture() override;
  Capture(const Capture&) = delete;
  Capture& operator=(const Capture&) = delete;

  double sample_rate_hz() const override { return sample_rate_hz_; }
  SampleRing& ring() override;
  std::string description() const override;
  void start() override;  // throws DeviceError
  void stop() override;
  bool finished() const override;
  std::optional<std::string> failure() const override;
  std::optional<std::chrono::system_clock::time_point> first_sample_time() const override;
  uint64_t input_overflows() const override;

  const InputDevice& device() const { return device_; }
  int channels() const { return channels_; }  // opened on the device, mixed to mono

  struct Shared;  // what the callback touches (public only for the callback in capture.cpp)

 private:
  PortAudioSession session_;
  InputDevice device_;
  double sample_rate_hz_ = 0.0;
  int channels_ = 0;
  int frames_per_buffer_ = 0;
  std::unique_ptr<Shared> shared_;
  void* stream_ = nullptr;  // PaStream
  bool running_ = false;
  bool failed_ = false;
};

}  // namespace birdsong
