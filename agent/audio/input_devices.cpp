#include "agent/audio/input_devices.hpp"

#include <portaudio.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <ostream>

#include "agent/audio/muted_stderr.hpp"

namespace birdsong {

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
}

std::string names_of(const std::vector<InputDevice>& devices) {
  std::string s;
  for (const InputDevice& d : devices) s += (s.empty() ? "" : ", ") + std::to_string(d.index) + " \"" + d.name + "\"";
  return s;
}

}  // namespace

PortAudioSession::PortAudioSession() {
  // PortAudio's JACK host API would otherwise start a JACK server if one is installed:
  // seconds of delay and a daemon nobody asked for. A running server is still used.
  ::setenv("JACK_NO_START_SERVER", "1", 0);
  PaError err;
  {
    MutedStderr muted;
    err = Pa_Initialize();
  }
  if (err != paNoError) throw DeviceError(std::string("audio: PortAudio cannot start: ") + Pa_GetErrorText(err));
}

PortAudioSession::~PortAudioSession() { Pa_Terminate(); }

std::vector<InputDevice> list_input_devices(const PortAudioSession&) {
  std::vector<InputDevice> out;
  const int count = Pa_GetDeviceCount();
  for (int i = 0; i < count; ++i) {
    const PaDeviceInfo* info = Pa_GetDeviceInfo(i);
    if (info == nullptr || info->maxInputChannels < 1) continue;
    const PaHostApiInfo* api = Pa_GetHostApiInfo(info->hostApi);
    out.push_back({i, info->name ? info->name : "", api && api->name ? api->name : "?", info->maxInputChannels,
                   info->defaultSampleRate});
  }
  return out;
}

InputDevice find_input_device(const PortAudioSession& session, const std::string& spec) {
  std::vector<InputDevice> devices = list_input_devices(session);
  const std::string key = "audio: [audio] device = \"" + spec + "\": ";
  if (spec.empty()) {
    const PaDeviceIndex def = Pa_GetDefaultInputDevice();
    for (const InputDevice& d : devices)
      if (d.index == def) return d;
    throw NoSuchDevice("audio: there is no default input device; set [audio] device to one of these",
                       std::move(devices));
  }
  if (all_digits(spec)) {
    for (const InputDevice& d : devices)
      if (std::to_string(d.index) == spec) return d;
    throw NoSuchDevice(key + "no input device has that index; input devices are", std::move(devices));
  }
  const std::string wanted = lower(spec);
  std::vector<InputDevice> matches;
  for (const InputDevice& d : devices) {
    if (lower(d.name) == wanted) return d;
    if (lower(d.name).find(wanted) != std::string::npos) matches.push_back(d);
  }
  if (matches.size() == 1) return matches.front();
  if (matches.empty()) throw NoSuchDevice(key + "no input device has that name; input devices are", std::move(devices));
  throw NoSuchDevice(key + "names several input devices (" + names_of(matches) + "); give more of the name or the index",
                     std::move(devices));
}

void write_device_table(const std::vector<InputDevice>& devices, std::ostream& out) {
  out << "index\tname\thost_api\tmax_input_channels\tdefault_sample_rate_hz\n";
  for (const InputDevice& d : devices)
    out << d.index << '\t' << d.name << '\t' << d.host_api << '\t' << d.max_input_channels << '\t'
        << d.default_sample_rate_hz << '\n';
}

}  // namespace birdsong
