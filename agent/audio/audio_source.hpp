// Where the live pipeline's audio comes from: a microphone (Capture) or a recording
// played back as if it were one (FileReplay). Both fill a SampleRing from their own
// thread; the pipeline reads it, so replay exercises exactly the live code path.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "agent/audio/ring_buffer.hpp"

namespace birdsong {

class AudioSource {
 public:
  virtual ~AudioSource() = default;

  virtual double sample_rate_hz() const = 0;
  // The ring the source fills (mono); the pipeline is its only reader.
  virtual SampleRing& ring() = 0;
  // One line for the log: what is being listened to, and how.
  virtual std::string description() const = 0;

  // Start and stop producing. stop() returns once the producer has written its last
  // sample, so the ring can then be drained completely.
  virtual void start() = 0;
  virtual void stop() = 0;
  // True once no more samples will come: the end of a recording, or a failure.
  virtual bool finished() const = 0;
  // Why the source finished early (device gone, recording damaged); empty if it did not.
  virtual std::optional<std::string> failure() const = 0;

  // UTC time of the first sample, once it is known (live: the first callback).
  virtual std::optional<std::chrono::system_clock::time_point> first_sample_time() const = 0;
  // The recording, when replaying one (events then name it).
  virtual std::optional<std::string> file() const { return std::nullopt; }
  // Times the device reported lost input before it reached us (PortAudio input overflow).
  virtual uint64_t input_overflows() const { return 0; }
};

}  // namespace birdsong
