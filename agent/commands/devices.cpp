// `devices`: the audio inputs PortAudio offers, to choose [audio] device from.
#include <iostream>

#include "agent/audio/input_devices.hpp"
#include "agent/commands/commands.hpp"

namespace birdsong {

int list_devices(std::ostream& out, std::ostream& err) {
  try {
    PortAudioSession session;
    const std::vector<InputDevice> devices = list_input_devices(session);
    write_device_table(devices, out);
    if (devices.empty()) err << "devices: PortAudio finds no audio input\n";
    return kExitOk;
  } catch (const DeviceError& e) {
    err << e.what() << '\n';
    return kExitUsage;
  }
}

Command add_devices_command(CLI::App& app) {
  Command c;
  c.app = app.add_subcommand("devices", "List audio input devices (index, name, host API, channels, rate) on stdout");
  c.run = [] { return list_devices(std::cout, std::cerr); };
  return c;
}

}  // namespace birdsong
