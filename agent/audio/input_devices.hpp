// Audio inputs as PortAudio sees them, and choosing one from [audio] device.
#pragma once

#include <iosfwd>
#include <stdexcept>
#include <string>
#include <vector>

namespace birdsong {

struct InputDevice {
  int index = -1;                     // PortAudio's device index (stable until hardware changes)
  std::string name;                   // e.g. "USB PnP Sound Device: Audio (hw:1,0)"
  std::string host_api;               // ALSA, JACK, ...
  int max_input_channels = 0;
  double default_sample_rate_hz = 0.0;
};

// "audio: <what went wrong>": PortAudio failed, or the device cannot do what was asked.
class DeviceError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// [audio] device names no input device. Carries the devices there are, so the user
// sees the choices next to the error.
class NoSuchDevice : public DeviceError {
 public:
  NoSuchDevice(const std::string& message, std::vector<InputDevice> devices)
      : DeviceError(message), devices_(std::move(devices)) {}
  const std::vector<InputDevice>& devices() const { return devices_; }

 private:
  std::vector<InputDevice> devices_;
};

// PortAudio is initialised while one of these lives (PortAudio counts nested sessions).
// Throws DeviceError when PortAudio cannot start.
class PortAudioSession {
 public:
  PortAudioSession();
  ~PortAudioSession();
  PortAudioSession(const PortAudioSession&) = delete;
  PortAudioSession& operator=(const PortAudioSession&) = delete;
};

// Devices with at least one input channel, in PortAudio's order.
std::vector<InputDevice> list_input_devices(const PortAudioSession& session);

// The device `spec` names: empty is the system's default input, digits are an index,
// anything else a name compared case-insensitively: an exact match wins, otherwise the
// one device whose name contains it. Throws NoSuchDevice when none (or several) match.
InputDevice find_input_device(const PortAudioSession& session, const std::string& spec);

// A header line, then one tab-separated line per device:
// index, name, host API, max input channels, default sample rate.
void write_device_table(const std::vector<InputDevice>& devices, std::ostream& out);

}  // namespace birdsong
