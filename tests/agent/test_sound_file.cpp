#include <doctest/doctest.h>

#include "agent/audio/sound_file.hpp"

using namespace birdsong;

TEST_CASE("sound file: a bundled fixture reads as mono at its own rate") {
  double rate = 0.0;
  const auto x = read_whole_file(BIRDSONG_FIXTURES "/Great_Tit.wav", &rate);
  CHECK(rate == 24000.0);
  CHECK(x.size() == 72000);
}

TEST_CASE("sound file: a missing file is named with the reason") {
  CHECK_THROWS_WITH_AS(SoundFile("/nonexistent/x.wav"), "/nonexistent/x.wav: No such file or directory",
                       AudioError);
}
