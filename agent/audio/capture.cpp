#include "agent/audio/capture.hpp"

#include <portaudio.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <sstream>

#include "agent/audio/muted_stderr.hpp"

namespace birdsong {

struct Capture::Shared {
  Shared(std::size_t ring_samples, int channels_, double sample_rate_hz_)
      : ring(ring_samples), channels(channels_), sample_rate_hz(sample_rate_hz_) {}
  SampleRing ring;
  const int channels;
  const double sample_rate_hz;
  std::atomic<int64_t> first_sample_ns{0};  // system_clock; 0 until the first callback
  std::atomic<uint64_t> input_overflows{0};
};

namespace {

using Clock = std::chrono::system_clock;

// The real-time callback: count, mix to mono, copy into the ring, return. Reading the
// clock (a vDSO call) on the first callback is the only thing beyond copying.
int on_audio(const void* input, void* /*output*/, unsigned long frames, const PaStreamCallbackTimeInfo* time_info,
             PaStreamCallbackFlags status, void* user) noexcept {
  auto& s = *static_cast<Capture::Shared*>(user);
  if ((status & paInputOverflow) != 0 || input == nullptr) s.input_overflows.fetch_add(1, std::memory_order_relaxed);
  if (input == nullptr) return paContinue;
  if (s.first_sample_ns.load(std::memory_order_relaxed) == 0) {
    // This buffer's first sample reached the converter `age` ago: PortAudio's own
    // timestamps when they are sane, else one buffer's duration.
    double age_s = time_info ? time_info->currentTime - time_info->inputBufferAdcTime : 0.0;
    if (!(age_s > 0.0 && age_s < 1.0)) age_s = static_cast<double>(frames) / s.sample_rate_hz;
    const int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
    s.first_sample_ns.store(now_ns - static_cast<int64_t>(age_s * 1e9), std::memory_order_release);
  }
  const auto* in = static_cast<const float*>(input);
  if (s.channels == 1) {
    s.ring.write_or_drop(std::span<const float>(in, frames));
    return paContinue;
  }
  // Mix interleaved frames to mono through a small buffer on the stack.
  const auto ch = static_cast<std::size_t>(s.channels);
  const float inv = 1.0f / static_cast<float>(s.channels);
  float mono[256];
  for (std::size_t done = 0; done < frames;) {
    const std::size_t n = std::min<std::size_t>(std::size(mono), frames - done);
    for (std::size_t i = 0; i < n; ++i) {
      float sum = 0.0f;
      for (std::size_t c = 0; c < ch; ++c) sum += in[(done + i) * ch + c];
      mono[i] = sum * inv;
    }
    s.ring.write_or_drop(std::span<const float>(mono, n));
    done += n;
  }
  return paContinue;
}

PaStreamParameters input_parameters(const InputDevice& device, int channels) {
  PaStreamParameters p{};
  p.device = device.index;
  p.channelCount = channels;
  p.sampleFormat = paFloat32;
  // The high-latency (large) buffers: a bird does not mind 100 ms, a busy Pi Zero does mind xruns.
  p.suggestedLatency = Pa_GetDeviceInfo(device.index)->defaultHighInputLatency;
  return p;
}

std::string device_label(const InputDevice& d) { return "\"" + d.name + "\" (" + d.host_api + ")"; }

}  // namespace

Capture::Capture(const AudioConfig& config)
    : sample_rate_hz_(config.sample_rate_hz), frames_per_buffer_(config.frames_per_buffer) {
  device_ = find_input_device(session_, config.device);
  // Mono when the device offers only that; otherwise two channels, mixed. More are not
  // asked for: ALSA plugin devices claim up to 128 "channels" of the same signal.
  std::vector<int> candidates = {std::min(device_.max_input_channels, 2), 1, device_.max_input_channels};
  PaError err = paNoError;
  {
    MutedStderr muted;
    for (int ch : candidates) {
      const PaStreamParameters p = input_parameters(device_, ch);
      err = Pa_IsFormatSupported(&p, nullptr, sample_rate_hz_);
      if (err == paFormatIsSupported) {
        channels_ = ch;
        break;
      }
    }
  }
  if (channels_ == 0)
    throw DeviceError("audio: " + device_label(device_) + " cannot capture " +
                      std::to_string(std::min(device_.max_input_channels, 2)) + " channels of 32-bit float at " +
                      std::to_string(static_cast<long>(sample_rate_hz_)) + " Hz: " + Pa_GetErrorText(err));

  const auto ring_samples = static_cast<std::size_t>(std::ceil(config.ring_s * sample_rate_hz_));
  shared_ = std::make_unique<Shared>(ring_samples, channels_, sample_rate_hz_);
  const PaStreamParameters p = input_parameters(device_, channels_);
  {
    MutedStderr muted;
    err = Pa_OpenStream(&stream_, &p, nullptr, sample_rate_hz_, static_cast<unsigned long>(frames_per_buffer_),
                        paNoFlag, on_audio, shared_.get());
  }
  if (err != paNoError) throw DeviceError("audio: " + device_label(device_) + ": cannot open: " + Pa_GetErrorText(err));
}

Capture::~Capture() {
  if (stream_ == nullptr) return;
  stop();
  Pa_CloseStream(stream_);
}

SampleRing& Capture::ring() { return shared_->ring; }

std::string Capture::description() const {
  std::ostringstream s;
  s << "capturing from " << device_label(device_) << " at " << sample_rate_hz_ << " Hz, " << channels_
    << (channels_ == 1 ? " channel" : " channels mixed to mono") << ", " << frames_per_buffer_
    << " frames per buffer";
  return s.str();
}

void Capture::start() {
  if (running_) return;
  const PaError err = Pa_StartStream(stream_);
  if (err != paNoError) throw DeviceError("audio: " + device_label(device_) + ": cannot start: " + Pa_GetErrorText(err));
  running_ = true;
}

void Capture::stop() {
  if (!running_) return;
  failed_ = Pa_IsStreamActive(stream_) != 1;  // it stopped before we asked
  running_ = false;
  // Returns after the last callback has finished: nothing writes the ring after this.
  Pa_StopStream(stream_);
}

bool Capture::finished() const { return running_ && Pa_IsStreamActive(stream_) != 1; }

std::optional<std::string> Capture::failure() const {
  if (!failed_ && !finished()) return std::nullopt;
  return "capture: " + device_label(device_) + " stopped delivering audio (unplugged or failed)";
}

std::optional<Clock::time_point> Capture::first_sample_time() const {
  const int64_t ns = shared_->first_sample_ns.load(std::memory_order_acquire);
  if (ns == 0) return std::nullopt;
  return Clock::time_point(std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(ns)));
}

uint64_t Capture::input_overflows() const { return shared_->input_overflows.load(std::memory_order_relaxed); }

}  // namespace birdsong
