#include "tests/agent/alsa_file_device.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace birdsong::test {

namespace {

std::string make_directory() {
  std::string dir = (std::filesystem::temp_directory_path() / "birdsong-alsa-XXXXXX").string();
  if (::mkdtemp(dir.data()) == nullptr) throw std::runtime_error("cannot create a directory for the ALSA test device");
  return dir;
}

std::string raw_path() { return AlsaFileDevice::directory() + "/capture.raw"; }

}  // namespace

std::string AlsaFileDevice::directory() {
  // Removed when the process ends.
  struct TempDir {
    std::string path = make_directory();
    ~TempDir() {
      std::error_code ignored;
      std::filesystem::remove_all(path, ignored);
    }
  };
  static const TempDir dir;
  return dir.path;
}

void AlsaFileDevice::install() {
  static const bool installed = [] {
    std::ofstream rc(directory() + "/.asoundrc");
    rc << "# birdsong-agent tests: a capture device that plays " << raw_path() << "\n"
       << "pcm." << kName << " {\n"
       << "  type file\n"
       << "  slave.pcm \"null\"\n"
       << "  file \"/dev/null\"\n"
       << "  infile \"" << raw_path() << "\"\n"
       << "  format \"raw\"\n"
       << "  hint { show on description \"birdsong-agent test: capture plays a raw file\" }\n"
       << "}\n";
    if (!rc) throw std::runtime_error("cannot write " + directory() + "/.asoundrc");
    ::setenv("HOME", directory().c_str(), 1);
    set_samples({});
    return true;
  }();
  (void)installed;
}

void AlsaFileDevice::set_samples(const std::vector<float>& interleaved) {
  // Raw 32-bit float in the host's byte order, which PortAudio asks for and the device
  // hands over unconverted (the test hosts are little-endian, as ALSA's FLOAT_LE).
  std::ofstream raw(raw_path(), std::ios::binary | std::ios::trunc);
  raw.write(reinterpret_cast<const char*>(interleaved.data()),
            static_cast<std::streamsize>(interleaved.size() * sizeof(float)));
  if (!raw) throw std::runtime_error("cannot write " + raw_path());
}

void AlsaFileDevice::set_mono(const std::vector<float>& samples) {
  std::vector<float> interleaved;
  interleaved.reserve(samples.size() * kChannels);
  for (float s : samples)
    for (int c = 0; c < kChannels; ++c) interleaved.push_back(s);
  set_samples(interleaved);
}

}  // namespace birdsong::test
