// Recordings in: WAV, FLAC, Ogg Vorbis/Opus, MP3 ... anything libsndfile reads,
// at any sample rate, mixed down to mono floats in -1..1.
//
// A damaged recording is never read short in silence. libsndfile reads what is there
// and, for a WAV or AIFF cut off in its data, quietly shortens the length, so SoundFile
// compares what comes out with the length the file itself declares where that length is
// exact (WAV/AIFF header, FLAC STREAMINFO, the last Ogg page, which must carry the
// end-of-stream flag). MP3 declares no exact length: there, decoder errors and the
// decoder's notes about damaged frames are what tell. Damage found at the end is thrown
// by the read() that reaches it, after every good sample has been delivered, so a caller
// keeps what it made of them.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

typedef struct sf_private_tag SNDFILE;

namespace birdsong {

// "<path>: <reason>", one line.
class AudioError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The origination fields of a Broadcast WAV `bext` chunk (EBU Tech 3285) as written,
// e.g. "2024-05-01" and "05:12:03"; recording_time.hpp interprets them.
struct BroadcastOrigination {
  std::string date;
  std::string time;
};

// libmpg123, which libsndfile uses for MP3, prints notes about damaged frames straight
// to stderr, and libsndfile has no switch to stop it. `captured` swaps the process's
// stderr for a buffer around each libsndfile call on an MP3 stream and turns the notes
// into the one AudioError line; it is for single-threaded callers only (analyze), as
// another thread's log lines would land in the buffer too. `to_stderr` leaves them be.
enum class DecoderNotes { to_stderr, captured };

class SoundFile {
 public:
  // Throws AudioError naming the file and why it cannot be read.
  explicit SoundFile(const std::string& path, DecoderNotes notes = DecoderNotes::to_stderr);
  ~SoundFile();
  SoundFile(const SoundFile&) = delete;
  SoundFile& operator=(const SoundFile&) = delete;

  // Reads up to out.size() mono samples; returns how many, 0 at the end. Throws
  // AudioError from the call that reaches the end of a truncated or damaged file, once.
  std::size_t read(std::span<float> out);

  const std::string& path() const { return path_; }
  double sample_rate_hz() const { return sample_rate_hz_; }
  int channels() const { return channels_; }
  // Length as libsndfile gives it (an estimate for MP3); -1 when unknown.
  int64_t frames() const { return frames_; }
  double duration_s() const { return frames_ >= 0 ? static_cast<double>(frames_) / sample_rate_hz_ : -1.0; }
  int64_t frames_read() const { return frames_read_; }
  const std::string& format_name() const { return format_name_; }
  const std::optional<BroadcastOrigination>& broadcast_origination() const { return origination_; }

 private:
  struct Closer {
    void operator()(SNDFILE* f) const;
  };
  class NotesBuffer;

  [[noreturn]] void fail(const std::string& reason) const;
  // Why the stream ended early, if it did.
  std::optional<std::string> damage() const;
  void take_decoder_note();

  std::string path_;
  std::unique_ptr<NotesBuffer> notes_;  // set only while capturing MP3 decoder notes
  std::unique_ptr<SNDFILE, Closer> file_;
  double sample_rate_hz_ = 0.0;
  int channels_ = 0;
  int major_format_ = 0;
  int64_t frames_ = -1;
  int64_t declared_frames_ = -1;  // the exact length the file declares; -1: it does not
  bool ogg_unterminated_ = false;
  int64_t frames_read_ = 0;
  bool at_end_ = false;
  std::string decode_error_;  // first libsndfile error while reading
  std::string decoder_note_;  // first note libmpg123 printed
  std::string format_name_;
  std::optional<BroadcastOrigination> origination_;
  std::vector<float> interleaved_;
};

// Reads a whole file into memory (tests, learning). Throws AudioError.
std::vector<float> read_whole_file(const std::string& path, double* sample_rate_hz = nullptr);

}  // namespace birdsong
