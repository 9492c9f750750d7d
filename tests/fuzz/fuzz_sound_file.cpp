// libFuzzer: recordings (WAV, FLAC, Ogg, MP3 ... through libsndfile and SoundFile's own
// damage checks). The input is the file; it is read to the end through an in-memory
// file (memfd), and either read or refused with one AudioError line.
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "agent/audio/sound_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const int fd = ::memfd_create("fuzz-recording", 0);
  if (fd < 0) return 0;
  std::size_t written = 0;
  while (written < size) {
    const ssize_t n = ::write(fd, data + written, size - written);
    if (n <= 0) break;
    written += static_cast<std::size_t>(n);
  }
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  try {
    birdsong::SoundFile file(path, birdsong::DecoderNotes::captured);
    std::array<float, 4096> buffer{};
    // At most 2^22 samples: a header may declare hours of audio that a tiny file cannot hold.
    for (std::size_t total = 0; total < (1u << 22);) {
      const std::size_t n = file.read(buffer);
      if (n == 0) break;
      total += n;
    }
  } catch (const birdsong::AudioError&) {
  }
  ::close(fd);
  return 0;
}
