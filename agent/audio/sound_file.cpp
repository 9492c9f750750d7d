#include "agent/audio/sound_file.hpp"

#include <sndfile.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace birdsong {

SoundFile::SoundFile(const std::string& path) : path_(path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw AudioError(path + ": " + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) throw AudioError(path + ": is a directory, not a recording");
  if (st.st_size == 0) throw AudioError(path + ": empty file");
  SF_INFO info{};
  file_ = sf_open(path.c_str(), SFM_READ, &info);
  if (file_ == nullptr) {
    const int code = sf_error(nullptr);
    std::string why = sf_error_number(code);
    if (code == SF_ERR_UNRECOGNISED_FORMAT) why = "not a recording libsndfile can read (" + why + ")";
    throw AudioError(path + ": " + why);
  }
  if (info.channels < 1 || info.samplerate < 1) {
    sf_close(file_);
    file_ = nullptr;
    throw AudioError(path + ": header declares " + std::to_string(info.channels) + " channels at " +
                     std::to_string(info.samplerate) + " Hz");
  }
  sample_rate_hz_ = info.samplerate;
  channels_ = info.channels;
  frames_ = info.frames >= 0 && info.frames < (int64_t{1} << 60) ? info.frames : -1;
  SF_FORMAT_INFO fi{};
  fi.format = info.format & SF_FORMAT_TYPEMASK;
  if (sf_command(nullptr, SFC_GET_FORMAT_INFO, &fi, sizeof fi) == 0 && fi.name) format_name_ = fi.name;
  // Integer formats: scale to -1..1; float files are read as they are.
  sf_command(file_, SFC_SET_NORM_FLOAT, nullptr, SF_TRUE);
}

SoundFile::~SoundFile() {
  if (file_ != nullptr) sf_close(file_);
}

std::size_t SoundFile::read(std::span<float> out) {
  if (out.empty()) return 0;
  const std::size_t ch = static_cast<std::size_t>(channels_);
  if (interleaved_.size() < out.size() * ch) interleaved_.resize(out.size() * ch);
  const sf_count_t got = sf_readf_float(file_, interleaved_.data(), static_cast<sf_count_t>(out.size()));
  const int err = sf_error(file_);
  if (got <= 0 && err != SF_ERR_NO_ERROR)
    throw AudioError(path_ + ": damaged after " + std::to_string(frames_read_) + " samples (" +
                     sf_strerror(file_) + ")");
  if (got <= 0) {
    if (frames_ > 0 && frames_read_ < frames_ * 9 / 10 && format_name_.find("MPEG") == std::string::npos)
      throw AudioError(path_ + ": truncated: header promises " + std::to_string(frames_) + " samples, only " +
                       std::to_string(frames_read_) + " present");
    return 0;
  }
  frames_read_ += got;
  const std::size_t n = static_cast<std::size_t>(got);
  if (ch == 1) {
    std::copy_n(interleaved_.data(), n, out.data());
  } else {
    const float inv = 1.0f / static_cast<float>(ch);
    for (std::size_t i = 0; i < n; ++i) {
      float sum = 0.0f;
      for (std::size_t c = 0; c < ch; ++c) sum += interleaved_[i * ch + c];
      out[i] = sum * inv;
    }
  }
  return n;
}

std::vector<float> read_whole_file(const std::string& path, double* sample_rate_hz) {
  SoundFile f(path);
  if (sample_rate_hz != nullptr) *sample_rate_hz = f.sample_rate_hz();
  std::vector<float> all;
  if (f.frames() > 0) all.reserve(static_cast<std::size_t>(f.frames()));
  std::vector<float> chunk(16384);
  while (std::size_t n = f.read(chunk)) all.insert(all.end(), chunk.begin(), chunk.begin() + static_cast<long>(n));
  return all;
}

}  // namespace birdsong
