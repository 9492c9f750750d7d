#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "agent/audio/sound_file.hpp"
#include "tests/agent/audio_files.hpp"
#include "tests/signals.hpp"

using namespace birdsong;
using test::TempDir;

namespace {

// Reads a file whole, chunk by chunk, as analyze does.
std::vector<float> read_all(SoundFile& f, std::size_t chunk = 4096) {
  std::vector<float> all, buf(chunk);
  while (std::size_t n = f.read(buf)) all.insert(all.end(), buf.begin(), buf.begin() + static_cast<long>(n));
  return all;
}

// Reads until the damage shows; returns the good samples and the one-line message.
std::pair<std::vector<float>, std::string> read_until_damage(SoundFile& f) {
  std::vector<float> all, buf(4096);
  try {
    while (std::size_t n = f.read(buf)) all.insert(all.end(), buf.begin(), buf.begin() + static_cast<long>(n));
  } catch (const AudioError& e) {
    CHECK(f.read(buf) == 0);  // reported once; the file then reads as ended
    return {all, e.what()};
  }
  return {all, ""};
}

std::string open_error(const std::string& path) {
  try {
    SoundFile f(path);
  } catch (const AudioError& e) {
    return e.what();
  }
  return "";
}

// 1 s of a 1 kHz tone at amplitude 0.5, written in `format`.
std::string tone_file(const TempDir& dir, const std::string& name, int format, int rate_hz, double seconds = 1.0) {
  const std::string path = dir / name;
  test::write_sound(path, format, rate_hz, 1,
                    test::sine(static_cast<std::size_t>(seconds * rate_hz), rate_hz, 1000.0, 0.5));
  return path;
}

}  // namespace

TEST_CASE("sound file: a bundled fixture reads as mono at its own rate") {
  double rate = 0.0;
  const auto x = read_whole_file(BIRDSONG_FIXTURES "/Great_Tit.wav", &rate);
  CHECK(rate == 24000.0);
  CHECK(x.size() == 72000);
}

TEST_CASE("sound file: every format libsndfile reads here brings a tone back at its rate, length and level") {
  struct Case {
    const char* name;
    int format;
    int rate_hz;
    double amplitude_tolerance;  // 0.5 written; lossy codecs change it a little
  };
  const Case cases[] = {
      {"pcm16.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 44100, 1e-4},
      {"pcm24.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_24, 96000, 1e-6},
      {"pcm8.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_U8, 8000, 5e-3},
      {"float.wav", SF_FORMAT_WAV | SF_FORMAT_FLOAT, 22050, 1e-6},
      {"pcm16.aiff", SF_FORMAT_AIFF | SF_FORMAT_PCM_16, 16000, 1e-4},
      {"pcm16.flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 32000, 1e-4},
      {"vorbis.ogg", SF_FORMAT_OGG | SF_FORMAT_VORBIS, 32000, 0.02},
      {"opus.opus", SF_FORMAT_OGG | SF_FORMAT_OPUS, 48000, 0.02},
      {"layer3.mp3", SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III, 44100, 0.02},
  };
  TempDir dir;
  for (const Case& c : cases) {
    CAPTURE(c.name);
    const std::string path = tone_file(dir, c.name, c.format, c.rate_hz);
    SoundFile f(path, DecoderNotes::captured);
    CHECK(f.sample_rate_hz() == c.rate_hz);
    CHECK(f.channels() == 1);
    const auto x = read_all(f);
    REQUIRE(x.size() == static_cast<std::size_t>(c.rate_hz));  // exactly 1 s, codec delays removed
    // The middle half, away from codec start-up and end effects.
    const std::size_t from = x.size() / 4, to = 3 * x.size() / 4;
    CHECK(test::amplitude_at(x, c.rate_hz, 1000.0, from, to) == doctest::Approx(0.5).epsilon(c.amplitude_tolerance / 0.5));
    CHECK(test::amplitude_at(x, c.rate_hz, 1500.0, from, to) < 0.01);
    CHECK(test::rms(x, from, to) == doctest::Approx(0.5 / std::sqrt(2.0)).epsilon(0.02));
  }
}

TEST_CASE("sound file: channels are averaged to mono") {
  TempDir dir;
  const double rate = 16000.0;
  const auto s = test::sine(1600, rate, 440.0, 0.25);
  std::vector<float> opposite, equal;
  for (float v : s) {
    opposite.insert(opposite.end(), {v, -v});
    equal.insert(equal.end(), {v, v});
  }
  test::write_sound(dir / "opposite.wav", SF_FORMAT_WAV | SF_FORMAT_FLOAT, 16000, 2, opposite);
  test::write_sound(dir / "equal.wav", SF_FORMAT_WAV | SF_FORMAT_FLOAT, 16000, 2, equal);
  SoundFile o(dir / "opposite.wav");
  CHECK(o.channels() == 2);
  const auto mixed_opposite = read_all(o, 333);
  REQUIRE(mixed_opposite.size() == s.size());
  for (float v : mixed_opposite) REQUIRE(v == 0.0f);
  SoundFile e(dir / "equal.wav");
  const auto mixed_equal = read_all(e, 333);
  REQUIRE(mixed_equal.size() == s.size());
  for (std::size_t i = 0; i < s.size(); ++i) REQUIRE(mixed_equal[i] == s[i]);
}

TEST_CASE("sound file: the MP3 soundscape from the shared data reads whole") {
  const std::string path = BIRDSONG_SHARED_DATA "/soundscapes/XC13738.mp3";
  if (!std::filesystem::exists(path)) {
    MESSAGE("skipped: " << path << " is absent (shared data not installed)");
    return;
  }
  SoundFile f(path, DecoderNotes::captured);
  CHECK(f.sample_rate_hz() == 44100.0);
  const auto x = read_all(f);
  CHECK(static_cast<double>(x.size()) / 44100.0 == doctest::Approx(54.9).epsilon(0.005));  // README: 54.9 s
  CHECK(test::rms(x, 0, x.size()) > 0.01);
}

TEST_CASE("sound file: files that cannot be opened give one line naming the file and the reason") {
  TempDir dir;
  CHECK(open_error(dir / "missing.wav") == dir / "missing.wav" + ": No such file or directory");

  std::filesystem::create_directory(dir / "folder.wav");
  CHECK(open_error(dir / "folder.wav") == dir / "folder.wav" + ": Is a directory");

  test::write_bytes(dir / "empty.wav", {});
  CHECK(open_error(dir / "empty.wav") == dir / "empty.wav" + ": empty file");

  const std::string text = "This is a shopping list, not a recording.\n";
  test::write_bytes(dir / "notes.wav", std::vector<unsigned char>(text.begin(), text.end()));
  CHECK(open_error(dir / "notes.wav") == dir / "notes.wav" + ": not a recognised audio format");

  // A WAV whose first 44 bytes (RIFF header, fmt chunk) were overwritten.
  const std::string good = tone_file(dir, "good.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 8000);
  auto bytes = test::file_bytes(good);
  for (std::size_t i = 0; i < 44; ++i) bytes[i] = static_cast<unsigned char>(i * 37 + 11);
  test::write_bytes(dir / "garbage.wav", bytes);
  CHECK(open_error(dir / "garbage.wav") == dir / "garbage.wav" + ": not a recognised audio format");

  // RIFF/WAVE intact but the fmt chunk mangled.
  bytes = test::file_bytes(good);
  for (std::size_t i = 20; i < 36; ++i) bytes[i] = 0xFF;
  test::write_bytes(dir / "badfmt.wav", bytes);
  CHECK(open_error(dir / "badfmt.wav") ==
        dir / "badfmt.wav" + ": unreadable: Error in WAV/W64/RF64 file. Malformed 'fmt ' chunk");

  test::write_truncated(good, dir / "header_cut.wav", 30);
  CHECK(open_error(dir / "header_cut.wav") ==
        dir / "header_cut.wav" + ": unreadable: Error in WAV file. No 'data' chunk marker");
}

TEST_CASE("sound file: a file the user may not read says so") {
  if (::geteuid() == 0) {
    MESSAGE("skipped: running as root, which may read any file");
    return;
  }
  TempDir dir;
  const std::string path = tone_file(dir, "locked.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 8000);
  ::chmod(path.c_str(), 0);
  CHECK(open_error(path) == path + ": Permission denied");
}

TEST_CASE("sound file: a WAV or AIFF cut off in its data delivers what is there, then says it is truncated") {
  TempDir dir;
  // 1 s at 8 kHz, 16-bit mono: a 44-byte WAV header, then 16000 bytes of samples.
  const std::string wav = tone_file(dir, "full.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 8000);
  test::write_truncated(wav, dir / "cut.wav", 44 + 2 * 3000 + 1);  // 3000 samples and a half
  SoundFile cut(dir / "cut.wav");
  const auto [samples, why] = read_until_damage(cut);
  CHECK(samples.size() == 3000);
  CHECK(why == dir / "cut.wav" + ": truncated: header declares 8000 samples, file holds 3000");
  const auto full = read_whole_file(wav);
  for (std::size_t i = 0; i < samples.size(); ++i) REQUIRE(samples[i] == full[i]);

  test::write_truncated(wav, dir / "no_samples.wav", 44);
  SoundFile none(dir / "no_samples.wav");
  CHECK(read_until_damage(none).second == dir / "no_samples.wav" + ": truncated: header declares 8000 samples, file holds 0");

  // AIFF: 54 bytes of header (FORM, COMM, SSND with offset and block size) at 16 kHz.
  const std::string aiff = tone_file(dir, "full.aiff", SF_FORMAT_AIFF | SF_FORMAT_PCM_16, 16000);
  test::write_truncated(aiff, dir / "cut.aiff", 54 + 2 * 5000);
  SoundFile cut_aiff(dir / "cut.aiff");
  const auto [aiff_samples, aiff_why] = read_until_damage(cut_aiff);
  CHECK(aiff_samples.size() == 5000);
  CHECK(aiff_why == dir / "cut.aiff" + ": truncated: header declares 16000 samples, file holds 5000");
}

TEST_CASE("sound file: WAV data sizes that mean 'not known' or 'nothing'") {
  TempDir dir;
  const std::string wav = tone_file(dir, "full.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 8000);
  auto bytes = test::file_bytes(wav);
  REQUIRE(std::string(bytes.begin() + 36, bytes.begin() + 40) == "data");
  // Streaming writers that cannot seek back leave 0xFFFFFFFF: read to the end of the file.
  std::fill(bytes.begin() + 40, bytes.begin() + 44, 0xFF);
  test::write_bytes(dir / "streamed.wav", bytes);
  SoundFile streamed(dir / "streamed.wav");
  CHECK(read_all(streamed).size() == 8000);
  // A recorder that died before writing the size leaves 0: libsndfile then reads nothing.
  std::fill(bytes.begin() + 40, bytes.begin() + 44, 0x00);
  test::write_bytes(dir / "unfinished.wav", bytes);
  SoundFile unfinished(dir / "unfinished.wav");
  CHECK(read_until_damage(unfinished).second == dir / "unfinished.wav" + ": no audio samples");
}

TEST_CASE("sound file: a FLAC cut off or corrupted mid-stream reports the decoder's error after the good part") {
  TempDir dir;
  const std::string flac = tone_file(dir, "full.flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 32000, 3.0);
  test::write_truncated(flac, dir / "cut.flac", test::file_bytes(flac).size() / 2);
  SoundFile cut(dir / "cut.flac");
  const auto [cut_samples, cut_why] = read_until_damage(cut);
  CHECK(cut_samples.size() > 30000);
  CHECK(cut_samples.size() < 66000);
  CHECK(cut_why == dir / "cut.flac" + ": damaged: decoding stopped after " + std::to_string(cut_samples.size()) +
                       " samples (flac decoder lost sync)");

  test::write_corrupted(flac, dir / "noisy.flac", 0.4, 0.6);
  SoundFile noisy(dir / "noisy.flac");
  const auto [noisy_samples, noisy_why] = read_until_damage(noisy);
  CHECK(noisy_samples.size() > 20000);
  CHECK(noisy_samples.size() < 96000);
  CHECK(noisy_why == dir / "noisy.flac" + ": damaged: decoding stopped after " +
                         std::to_string(noisy_samples.size()) + " samples (flac decoder lost sync)");
}

TEST_CASE("sound file: an Ogg stream cut off or corrupted reports it after the good part") {
  TempDir dir;
  // Noise, so the Vorbis stream spans many pages.
  const double rate = 32000.0;
  test::write_sound(dir / "full.ogg", SF_FORMAT_OGG | SF_FORMAT_VORBIS, 32000, 1, test::noise(4.0, rate, 0.2));
  const auto bytes = test::file_bytes(dir / "full.ogg");
  SoundFile full(dir / "full.ogg");
  CHECK(read_all(full).size() == 128000);

  test::write_truncated(dir / "full.ogg", dir / "mid_page.ogg", bytes.size() / 2);
  SoundFile mid_page(dir / "mid_page.ogg");
  const auto [mid_samples, mid_why] = read_until_damage(mid_page);
  CHECK(mid_samples.size() > 20000);
  CHECK(mid_why == dir / "mid_page.ogg" + ": truncated: the Ogg stream ends without its end-of-stream page after " +
                       std::to_string(mid_samples.size()) + " samples");

  // Cut exactly where a page starts: every page left is whole, only the last is missing.
  std::size_t page = bytes.size() / 2;
  while (std::string(bytes.begin() + static_cast<long>(page), bytes.begin() + static_cast<long>(page) + 4) != "OggS") ++page;
  test::write_truncated(dir / "full.ogg", dir / "at_page.ogg", page);
  SoundFile at_page(dir / "at_page.ogg");
  const auto [page_samples, page_why] = read_until_damage(at_page);
  CHECK(page_samples.size() > 20000);
  CHECK(page_why == dir / "at_page.ogg" + ": truncated: the Ogg stream ends without its end-of-stream page after " +
                        std::to_string(page_samples.size()) + " samples");

  // Opus at 48 kHz with its middle overwritten: fewer samples come out than the stream declares.
  test::write_sound(dir / "full.opus", SF_FORMAT_OGG | SF_FORMAT_OPUS, 48000, 1, test::noise(3.0, 48000.0, 0.2));
  test::write_corrupted(dir / "full.opus", dir / "noisy.opus", 0.4, 0.6);
  SoundFile noisy(dir / "noisy.opus");
  const auto [opus_samples, opus_why] = read_until_damage(noisy);
  CHECK(opus_samples.size() < 144000);
  CHECK(opus_why == dir / "noisy.opus" + ": damaged: stream declares 144000 samples, only " +
                        std::to_string(opus_samples.size()) + " decode");
}

TEST_CASE("sound file: a damaged MP3 is reported in one line with the decoder's note") {
  TempDir dir;
  const std::string mp3 = tone_file(dir, "full.mp3", SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III, 44100, 3.0);
  test::write_corrupted(mp3, dir / "noisy.mp3", 0.4, 0.6);
  SoundFile noisy(dir / "noisy.mp3", DecoderNotes::captured);
  const auto [samples, why] = read_until_damage(noisy);
  CHECK(samples.size() > 20000);
  CHECK(samples.size() < 132300);
  CHECK(why.starts_with(dir / "noisy.mp3" + ": damaged: decoding stopped after " + std::to_string(samples.size()) +
                        " samples (mpg123: "));
  CHECK(why.find('\n') == std::string::npos);

  // libsndfile's LAME encoder writes a Xing header with the stream's size.
  test::write_truncated(mp3, dir / "cut.mp3", test::file_bytes(mp3).size() / 2);
  SoundFile cut(dir / "cut.mp3", DecoderNotes::captured);
  const auto [cut_samples, cut_why] = read_until_damage(cut);
  CHECK(cut_samples.size() > 50000);
  CHECK(cut_why == dir / "cut.mp3" + ": truncated or damaged: the MPEG stream is not the size its Xing header declares");
}
