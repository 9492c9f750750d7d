// Recordings in: WAV, FLAC, Ogg Vorbis/Opus, MP3 ... anything libsndfile reads,
// at any sample rate, mixed down to mono floats in -1..1.
#pragma once

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

typedef struct sf_private_tag SNDFILE;

namespace birdsong {

// "<path>: <reason>"
class AudioError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class SoundFile {
 public:
  // Throws AudioError naming the file and why it cannot be read.
  explicit SoundFile(const std::string& path);
  ~SoundFile();
  SoundFile(const SoundFile&) = delete;
  SoundFile& operator=(const SoundFile&) = delete;

  // Reads up to out.size() mono samples; returns how many (0 at the end).
  // Throws AudioError when the file turns out to be damaged part-way.
  std::size_t read(std::span<float> out);

  const std::string& path() const { return path_; }
  double sample_rate_hz() const { return sample_rate_hz_; }
  int channels() const { return channels_; }
  // Length as the header claims it; may be unknown (-1) for some streams.
  int64_t frames() const { return frames_; }
  double duration_s() const { return frames_ >= 0 ? static_cast<double>(frames_) / sample_rate_hz_ : -1.0; }
  std::string format_name() const { return format_name_; }

 private:
  std::string path_;
  SNDFILE* file_ = nullptr;
  double sample_rate_hz_ = 0.0;
  int channels_ = 0;
  int64_t frames_ = -1;
  int64_t frames_read_ = 0;
  std::string format_name_;
  std::vector<float> interleaved_;
};

// Reads a whole file into memory (tests, learning). Throws AudioError.
std::vector<float> read_whole_file(const std::string& path, double* sample_rate_hz = nullptr);

}  // namespace birdsong
