// Silences stderr while PortAudio probes and opens devices.
//
// PortAudio probes every ALSA device the configuration names (surround51, hdmi, a JACK
// server, PulseAudio ...) and ALSA and JACK print a hundred lines to stderr for those
// that do not exist; PortAudio itself prints "Expression ... failed" lines. PortAudio
// reports real failures through its return codes, which we turn into one clear line, so
// stderr points at /dev/null for those moments (at start-up, before other threads log).
// BIRDSONG_AUDIO_DEBUG=1 keeps the noise for debugging a sound setup.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

namespace birdsong {

class MutedStderr {
 public:
  MutedStderr() {
    if (std::getenv("BIRDSONG_AUDIO_DEBUG") != nullptr) return;
    std::cerr.flush();
    std::fflush(stderr);
    const int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null < 0) return;
    saved_ = ::fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 0);
    if (saved_ >= 0) ::dup2(null, STDERR_FILENO);
    ::close(null);
  }
  ~MutedStderr() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
  }
  MutedStderr(const MutedStderr&) = delete;
  MutedStderr& operator=(const MutedStderr&) = delete;

 private:
  int saved_ = -1;
};

}  // namespace birdsong
