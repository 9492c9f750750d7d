#include <doctest/doctest.h>

#include <cstring>
#include <string>

#include "agent/audio/recording_time.hpp"
#include "agent/audio/sound_file.hpp"
#include "agent/event.hpp"
#include "tests/agent/audio_files.hpp"

using namespace birdsong;

namespace {

// The time as ISO-8601 UTC text, or "none".
std::string utc(const std::optional<RecordingTime>& t) { return t ? format_utc(*t) : "none"; }

std::string from_name(const std::string& name) { return utc(start_time_from_file_name(name)); }

SF_BROADCAST_INFO bext(const char* date, const char* time) {
  SF_BROADCAST_INFO b{};
  std::memcpy(b.origination_date, date, std::min(std::strlen(date), sizeof b.origination_date));
  std::memcpy(b.origination_time, time, std::min(std::strlen(time), sizeof b.origination_time));
  return b;
}

}  // namespace

TEST_CASE("recording time: recorder file names") {
  CHECK(from_name("20240501_051203.WAV") == "2024-05-01T05:12:03.000Z");                   // AudioMoth
  CHECK(from_name("/cards/moth3/20231231_235959.WAV") == "2023-12-31T23:59:59.000Z");
  CHECK(from_name("SM4_20240501_051203.wav") == "2024-05-01T05:12:03.000Z");                // Song Meter
  CHECK(from_name("S4A01234_20240501_051203.wav") == "2024-05-01T05:12:03.000Z");
  CHECK(from_name("Turdus_merula-79-2024-05-01-birdnet-05:12:03.mp3") == "2024-05-01T05:12:03.000Z");  // BirdNET-Pi
  CHECK(from_name("2024-05-01-birdnet-05:12:03.wav") == "2024-05-01T05:12:03.000Z");
  CHECK(from_name("garden 2024-05-01T05:12:03.flac") == "2024-05-01T05:12:03.000Z");       // ISO 8601
  CHECK(from_name("20240501T051203.flac") == "2024-05-01T05:12:03.000Z");
  CHECK(from_name("2024-05-01_05-12-03.ogg") == "2024-05-01T05:12:03.000Z");
  CHECK(from_name("2024-02-29T00:00:00Z.wav") == "2024-02-29T00:00:00.000Z");
}

TEST_CASE("recording time: an ISO offset in the name is turned into UTC") {
  CHECK(from_name("2024-05-01T07:12:03+02:00.wav") == "2024-05-01T05:12:03.000Z");
  CHECK(from_name("2024-05-01T00:12:03-0500.wav") == "2024-05-01T05:12:03.000Z");
  CHECK(from_name("2024-01-01T01:00:00+05:30.wav") == "2023-12-31T19:30:00.000Z");
}

TEST_CASE("recording time: names without a valid date and time give none") {
  CHECK(from_name("recording.wav") == "none");
  CHECK(from_name("2024-02-30T05:12:03.wav") == "none");   // no 30 February
  CHECK(from_name("20230229_120000.WAV") == "none");       // 2023 is no leap year
  CHECK(from_name("20240501_241203.WAV") == "none");       // hour 24
  CHECK(from_name("20240501_056003.WAV") == "none");       // minute 60
  CHECK(from_name("20241301_051203.WAV") == "none");       // month 13
  CHECK(from_name("120240501_051203.WAV") == "none");      // part of a longer number
  CHECK(from_name("20240501_0512031.WAV") == "none");
  CHECK(from_name("2024-0501T05:12:03.wav") == "none");    // mixed separators
  CHECK(from_name("/2024-05-01_05-12-03/take1.wav") == "none");  // only the file's own name counts
}

TEST_CASE("recording time: Broadcast WAV origination fields") {
  CHECK(utc(start_time_from_bext("2024-05-01", "05:12:03")) == "2024-05-01T05:12:03.000Z");
  CHECK(utc(start_time_from_bext("2024:05:01", "05-12-03")) == "2024-05-01T05:12:03.000Z");  // any separator
  CHECK(utc(start_time_from_bext("2024-02-30", "05:12:03")) == "none");
  CHECK(utc(start_time_from_bext("2024-05-01", "25:00:00")) == "none");
  CHECK(utc(start_time_from_bext("", "")) == "none");
  CHECK(utc(start_time_from_bext("0000-00-00", "00:00:00")) == "none");
  CHECK(utc(start_time_from_bext("2024-5-1", "05:12:03")) == "none");
}

TEST_CASE("recording time: a Broadcast WAV written with libsndfile is read, and wins over the name") {
  test::TempDir dir;
  const auto silence = std::vector<float>(800, 0.0f);
  const int wav = SF_FORMAT_WAV | SF_FORMAT_PCM_16;

  const auto good = bext("2024-05-01", "05:12:03");
  test::write_sound(dir / "20230101_000000.wav", wav, 8000, 1, silence, &good);
  SoundFile with_bext(dir / "20230101_000000.wav");
  REQUIRE(with_bext.broadcast_origination());
  CHECK(with_bext.broadcast_origination()->date == "2024-05-01");
  CHECK(with_bext.broadcast_origination()->time == "05:12:03");
  CHECK(utc(recording_start_time(with_bext)) == "2024-05-01T05:12:03.000Z");

  // An impossible date in bext: the name is the next source.
  const auto bad = bext("2024-02-30", "05:12:03");
  test::write_sound(dir / "20230101_000000_bad.wav", wav, 8000, 1, silence, &bad);
  SoundFile bad_bext(dir / "20230101_000000_bad.wav");
  CHECK(utc(recording_start_time(bad_bext)) == "2023-01-01T00:00:00.000Z");

  // No bext at all.
  test::write_sound(dir / "SM4_20240501_051203.wav", wav, 8000, 1, silence);
  SoundFile plain(dir / "SM4_20240501_051203.wav");
  CHECK_FALSE(plain.broadcast_origination());
  CHECK(utc(recording_start_time(plain)) == "2024-05-01T05:12:03.000Z");

  test::write_sound(dir / "take.flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 8000, 1, silence);
  SoundFile nothing(dir / "take.flac");
  CHECK(utc(recording_start_time(nothing)) == "none");
}
