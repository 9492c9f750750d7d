// A real ALSA capture device without a sound card, for tests of the capture path.
//
// ALSA's `file` plugin, given an `infile`, returns that file's bytes as captured audio,
// on top of the `null` device, which needs no hardware. PortAudio opens it in the format
// it asks for (32-bit float, 2 channels here), so the raw file holds exactly that.
// The device is untimed: it delivers audio as fast as it is read, so tests take
// milliseconds, not seconds.
//
// Two quirks of alsa-lib 1.2.8 shape the tests. No `plug` may sit in front: the plug
// reads the file plugin through mmap and commits less than it asked for, and the file
// plugin then skips the infile data it had already read (whole periods go missing).
// And past the end of the infile, mmap reads leave the buffer as it was: the device
// repeats its last periods. So signals end with enough silence for what the test needs.
//
// ALSA reads ~/.asoundrc (alsa.conf includes it), so install() points HOME at a
// temporary directory holding one, for the rest of the process. ALSA caches its
// configuration, which is why that directory, and the raw file's path in it, never
// change: set_samples() only rewrites the file, which the plugin opens with the device.
#pragma once

#include <string>
#include <vector>

namespace birdsong::test {

struct AlsaFileDevice {
  static constexpr const char* kName = "birdsong_test";
  static constexpr int kChannels = 2;
  static constexpr double kRateHz = 48000.0;

  // Writes the configuration (once per process) and sets HOME.
  static void install();
  // What the device captures when it is next opened: interleaved stereo frames.
  static void set_samples(const std::vector<float>& interleaved);
  // The same signal on both channels.
  static void set_mono(const std::vector<float>& samples);
  static std::string directory();
};

}  // namespace birdsong::test
