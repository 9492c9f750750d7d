#include "agent/audio/sound_file.hpp"

#include <fcntl.h>
#include <sndfile.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace birdsong {

namespace {

// libsndfile's messages end with a full stop and sometimes start with "Error : ".
std::string clean(std::string message) {
  if (message.rfind("Error : ", 0) == 0) message.erase(0, 8);
  while (!message.empty() && (message.back() == '.' || message.back() == '\n' || message.back() == ' '))
    message.pop_back();
  return message;
}

uint32_t big_endian_u32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// The size a chunk's header claims (not what is in the file), or nullopt if there is none.
std::optional<uint32_t> chunk_size(SNDFILE* f, const char (&id)[5]) {
  SF_CHUNK_INFO want{};
  std::memcpy(want.id, id, 4);
  want.id_size = 4;
  SF_CHUNK_ITERATOR* it = sf_get_chunk_iterator(f, &want);
  SF_CHUNK_INFO got{};
  if (it == nullptr || sf_get_chunk_size(it, &got) != SF_ERR_NO_ERROR) return std::nullopt;
  return got.datalen;
}

// WAV: the data chunk's size over the frame size, for codings with a fixed sample size.
// 0xFFFFFFFF is what streaming writers put there before they know the length.
int64_t wav_declared_frames(SNDFILE* f, const SF_INFO& info) {
  int bytes_per_sample = 0;
  switch (info.format & SF_FORMAT_SUBMASK) {
    case SF_FORMAT_PCM_S8: case SF_FORMAT_PCM_U8: case SF_FORMAT_ULAW: case SF_FORMAT_ALAW: bytes_per_sample = 1; break;
    case SF_FORMAT_PCM_16: bytes_per_sample = 2; break;
    case SF_FORMAT_PCM_24: bytes_per_sample = 3; break;
    case SF_FORMAT_PCM_32: case SF_FORMAT_FLOAT: bytes_per_sample = 4; break;
    case SF_FORMAT_DOUBLE: bytes_per_sample = 8; break;
    default: return -1;  // ADPCM, GSM ...: blocks, not samples
  }
  const auto size = chunk_size(f, "data");
  if (!size || *size == 0xFFFFFFFFu) return -1;
  return static_cast<int64_t>(*size) / (int64_t{bytes_per_sample} * info.channels);
}

// AIFF and AIFF-C: the COMM chunk states numSampleFrames (big-endian, at byte 2).
int64_t aiff_declared_frames(SNDFILE* f) {
  SF_CHUNK_INFO want{};
  std::memcpy(want.id, "COMM", 4);
  want.id_size = 4;
  SF_CHUNK_ITERATOR* it = sf_get_chunk_iterator(f, &want);
  SF_CHUNK_INFO comm{};
  if (it == nullptr || sf_get_chunk_size(it, &comm) != SF_ERR_NO_ERROR || comm.datalen < 18 || comm.datalen > 4096)
    return -1;
  std::vector<unsigned char> data(comm.datalen);
  comm.data = data.data();
  if (sf_get_chunk_data(it, &comm) != SF_ERR_NO_ERROR) return -1;
  return big_endian_u32(data.data() + 2);
}

// RFC 3533: the last page of an Ogg stream carries the end-of-stream flag (0x04). A
// file cut short (a full card, a crash) lacks it or ends inside a page, and libsndfile
// then decodes what is there without a word. Looks at the last page in the file.
bool ogg_ends_with_eos_page(int fd, int64_t file_size) {
  constexpr int64_t kMaxPageBytes = 27 + 255 + 255 * 255;
  const int64_t start = std::max<int64_t>(0, file_size - kMaxPageBytes - 4096);
  std::vector<unsigned char> tail(static_cast<std::size_t>(file_size - start));
  if (::pread(fd, tail.data(), tail.size(), start) != static_cast<ssize_t>(tail.size())) return false;
  for (std::size_t i = tail.size() >= 27 ? tail.size() - 27 + 1 : 0; i-- > 0;) {
    if (std::memcmp(&tail[i], "OggS", 4) != 0 || tail[i + 4] != 0) continue;
    const std::size_t segments = tail[i + 26];
    if (i + 27 + segments > tail.size()) return false;
    std::size_t body = 0;
    for (std::size_t s = 0; s < segments; ++s) body += tail[i + 27 + s];
    if (i + 27 + segments + body > tail.size()) return false;  // the last page is cut off
    return (tail[i + 5] & 0x04) != 0;
  }
  return false;
}

// MPEG audio starts with an ID3v2 tag or a frame sync (11 set bits).
bool looks_like_mpeg(int fd) {
  std::array<unsigned char, 3> head{};
  if (::pread(fd, head.data(), head.size(), 0) != 3) return false;
  return std::memcmp(head.data(), "ID3", 3) == 0 || (head[0] == 0xFF && (head[1] & 0xE0) == 0xE0);
}

}  // namespace

// Where libmpg123's notes go while they are captured: an anonymous in-memory file.
class SoundFile::NotesBuffer {
 public:
  NotesBuffer() : fd_(::memfd_create("birdsong-decoder-notes", MFD_CLOEXEC)) {}
  ~NotesBuffer() {
    if (fd_ >= 0) ::close(fd_);
  }
  NotesBuffer(const NotesBuffer&) = delete;
  NotesBuffer& operator=(const NotesBuffer&) = delete;

  // Points stderr (fd 2) at the buffer while alive.
  class Redirect {
   public:
    explicit Redirect(const NotesBuffer* notes) {
      if (notes == nullptr || notes->fd_ < 0) return;
      std::fflush(stderr);
      saved_ = ::fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 0);
      if (saved_ >= 0 && ::dup2(notes->fd_, STDERR_FILENO) < 0) {
        ::close(saved_);
        saved_ = -1;
      }
    }
    ~Redirect() {
      if (saved_ < 0) return;
      std::fflush(stderr);
      ::dup2(saved_, STDERR_FILENO);
      ::close(saved_);
    }
    Redirect(const Redirect&) = delete;
    Redirect& operator=(const Redirect&) = delete;

   private:
    int saved_ = -1;
  };

  // The first line written since the last call, without mpg123's "Note: " and the like.
  std::string take_first_line() {
    if (fd_ < 0) return {};
    std::array<char, 512> text{};
    const ssize_t n = ::pread(fd_, text.data(), text.size(), 0);
    if (n <= 0) return {};
    if (::ftruncate(fd_, 0) == 0) ::lseek(fd_, 0, SEEK_SET);  // fd 2 shares this offset
    std::string line(text.data(), static_cast<std::size_t>(n));
    line = line.substr(0, line.find('\n'));
    for (const char* prefix : {"] error: ", "] warning: ", "Note: ", "Warning: ", "Error: "}) {
      const auto at = line.find(prefix);
      if (at != std::string::npos && at < 80) {
        line.erase(0, at + std::strlen(prefix));
        break;
      }
    }
    return clean(line);
  }

 private:
  int fd_ = -1;
};

void SoundFile::Closer::operator()(SNDFILE* f) const { sf_close(f); }

void SoundFile::fail(const std::string& reason) const { throw AudioError(path_ + ": " + reason); }

SoundFile::SoundFile(const std::string& path, DecoderNotes notes) : path_(path) {
  // Opened here rather than by libsndfile, so errno names what went wrong.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(std::strerror(errno));
  struct stat st {};
  const int stat_errno = ::fstat(fd, &st) == 0 ? 0 : errno;
  const int64_t file_size = stat_errno == 0 && S_ISREG(st.st_mode) ? st.st_size : -1;
  const char* refusal = stat_errno != 0        ? std::strerror(stat_errno)
                        : S_ISDIR(st.st_mode) ? std::strerror(EISDIR)
                        : file_size == 0      ? "empty file"
                                              : nullptr;
  if (refusal != nullptr) {
    ::close(fd);
    fail(refusal);
  }
  if (notes == DecoderNotes::captured && looks_like_mpeg(fd)) notes_ = std::make_unique<NotesBuffer>();

  SF_INFO info{};
  {
    const NotesBuffer::Redirect quiet(notes_.get());
    file_.reset(sf_open_fd(fd, SFM_READ, &info, SF_TRUE));  // closes fd, also on failure
  }
  if (!file_) {
    const int code = sf_error(nullptr);
    if (code == SF_ERR_UNRECOGNISED_FORMAT) fail("not a recognised audio format");
    fail("unreadable: " + clean(sf_strerror(nullptr)));
  }
  if (info.channels < 1 || info.samplerate < 1)
    fail("header declares " + std::to_string(info.channels) + " channels at " + std::to_string(info.samplerate) +
         " Hz");
  sample_rate_hz_ = info.samplerate;
  channels_ = info.channels;
  major_format_ = info.format & SF_FORMAT_TYPEMASK;
  frames_ = info.frames >= 0 && info.frames != SF_COUNT_MAX ? info.frames : -1;
  SF_FORMAT_INFO fi{};
  fi.format = major_format_;
  if (sf_command(nullptr, SFC_GET_FORMAT_INFO, &fi, sizeof fi) == 0 && fi.name) format_name_ = fi.name;

  switch (major_format_) {
    case SF_FORMAT_WAV:
    case SF_FORMAT_WAVEX: declared_frames_ = wav_declared_frames(file_.get(), info); break;
    case SF_FORMAT_AIFF: declared_frames_ = aiff_declared_frames(file_.get()); break;
    case SF_FORMAT_FLAC: declared_frames_ = info.frames > 0 ? info.frames : -1; break;  // 0: encoder did not know
    case SF_FORMAT_OGG:
      declared_frames_ = frames_;
      // libsndfile owns fd now; pread leaves its file position alone.
      ogg_unterminated_ = file_size > 0 && !ogg_ends_with_eos_page(fd, file_size);
      break;
    default: break;  // MP3: the length is an estimate; others: libsndfile's own checks
  }
  if (major_format_ != SF_FORMAT_MPEG) notes_.reset();
  take_decoder_note();  // e.g. the Xing header disagreeing with the file size

  SF_BROADCAST_INFO bext{};
  if (sf_command(file_.get(), SFC_GET_BROADCAST_INFO, &bext, sizeof bext) == SF_TRUE)
    origination_ = BroadcastOrigination{
        std::string(bext.origination_date, strnlen(bext.origination_date, sizeof bext.origination_date)),
        std::string(bext.origination_time, strnlen(bext.origination_time, sizeof bext.origination_time))};

  // Integer formats: scale to -1..1; float files are read as they are.
  sf_command(file_.get(), SFC_SET_NORM_FLOAT, nullptr, SF_TRUE);
}

SoundFile::~SoundFile() = default;

void SoundFile::take_decoder_note() {
  if (!notes_) return;
  std::string note = notes_->take_first_line();
  if (decoder_note_.empty()) decoder_note_ = std::move(note);
}

std::optional<std::string> SoundFile::damage() const {
  const std::string read = std::to_string(frames_read_);
  if (!decode_error_.empty() || !decoder_note_.empty()) {
    if (decoder_note_.find("Xing stream size off") != std::string::npos && decode_error_.empty())
      return "truncated or damaged: the MPEG stream is not the size its Xing header declares";
    const std::string why = decoder_note_.empty() ? decode_error_ : "mpg123: " + decoder_note_;
    if (decode_error_.empty()) return "damaged MPEG stream (" + why + ")";
    return "damaged: decoding stopped after " + read + " samples (" + why + ")";
  }
  if (declared_frames_ >= 0 && frames_read_ < declared_frames_) {
    const std::string declared = std::to_string(declared_frames_);
    if (major_format_ == SF_FORMAT_WAV || major_format_ == SF_FORMAT_WAVEX || major_format_ == SF_FORMAT_AIFF)
      return "truncated: header declares " + declared + " samples, file holds " + read;
    return "damaged: stream declares " + declared + " samples, only " + read + " decode";
  }
  if (ogg_unterminated_) return "truncated: the Ogg stream ends without its end-of-stream page after " + read + " samples";
  if (frames_read_ == 0) return "no audio samples";
  return std::nullopt;
}

std::size_t SoundFile::read(std::span<float> out) {
  if (out.empty() || at_end_) return 0;
  const std::size_t ch = static_cast<std::size_t>(channels_);
  if (interleaved_.size() < out.size() * ch) interleaved_.resize(out.size() * ch);
  sf_count_t got = 0;
  {
    const NotesBuffer::Redirect quiet(notes_.get());
    got = sf_readf_float(file_.get(), interleaved_.data(), static_cast<sf_count_t>(out.size()));
  }
  take_decoder_note();
  // libsndfile clears the error at the start of each call, so keep the first one now.
  if (sf_error(file_.get()) != SF_ERR_NO_ERROR && decode_error_.empty())
    decode_error_ = clean(sf_strerror(file_.get()));
  if (got <= 0) {
    at_end_ = true;
    if (const auto why = damage()) fail(*why);
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
