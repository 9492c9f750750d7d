#include <doctest/doctest.h>

#include "agent/species/manifest.hpp"
#include "tests/agent/audio_files.hpp"

using namespace birdsong;

TEST_CASE("manifest: path,label with optional columns, paths relative to the manifest") {
  test::TempDir dir;
  test::write_sound(dir / "a.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 24000, 1, std::vector<float>(2400));
  const auto rows = parse_manifest(
      "path,label,common_name,quality,start_s,end_s\n"
      "a.wav,Parus major,Great Tit,A,1.5,3\n"
      "\"a.wav\",none,\"rain, heavy\",B,,\n",
      "m.csv", dir / "");
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].path == dir / "a.wav");
  CHECK(rows[0].label == "Parus major");
  CHECK(rows[0].common_name == "Great Tit");
  CHECK(*rows[0].start_s == 1.5);
  CHECK(*rows[0].end_s == 3.0);
  CHECK(rows[1].label == "none");
  CHECK(rows[1].common_name == "rain, heavy");
  CHECK_FALSE(rows[1].start_s.has_value());
  CHECK(rows[1].line == 3);
}

TEST_CASE("manifest: errors are one line naming the manifest, the line and the problem") {
  test::TempDir dir;
  test::write_sound(dir / "a.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 24000, 1, std::vector<float>(2400));
  auto message = [&](const std::string& text) {
    try {
      parse_manifest(text, "m.csv", dir / "");
    } catch (const ManifestError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(message("path,label\nmissing.wav,Parus major\n") == "m.csv:2: missing.wav: no such audio file");
  CHECK(message("path,species\na.wav,Parus major\n") == "m.csv:1: header has no 'label' column (columns: path,species)");
  CHECK(message("") == "m.csv: empty manifest: expected a header row with path,label");
  CHECK(message("path,label\n") == "m.csv: empty manifest: no recordings after the header");
  CHECK(message("path,label\na.wav,\n") ==
        "m.csv:2: a.wav: empty label (a scientific name, or none for non-bird audio)");
  CHECK(message("path,label,start_s\na.wav,none,soon\n") == "m.csv:2: start_s = soon: expected seconds >= 0");
  CHECK_THROWS_WITH_AS(read_manifest(dir / "nope.csv"), doctest::Contains("nope.csv: cannot open manifest"),
                       ManifestError);
}
