#include <doctest/doctest.h>

#include <set>

#include "agent/event.hpp"

using namespace birdsong;

TEST_CASE("event: schema v1 fields") {
  Event e;
  e.id = new_event_id();
  e.station = "garden";
  e.time = std::chrono::sys_days{std::chrono::year{2026} / 5 / 1} + std::chrono::hours{5} +
           std::chrono::milliseconds{250};
  e.file = "dawn.wav";
  e.sound = {1.0, 1.5, 2500.0, 4100.0, 3000.0, 24.25, 0.91};
  const auto j = to_json(e);
  CHECK(j["schema"] == 1);
  CHECK(j["time"] == "2026-05-01T05:00:00.250Z");
  CHECK(j["file"] == "dawn.wav");
  CHECK(j["start_s"] == 1.0);
  CHECK(j["peak_hz"] == 3000.0);
  CHECK(j["snr_db"].get<double>() == doctest::Approx(24.3));
  CHECK(j["species"].is_null());
  CHECK(j["common_name"].is_null());
  CHECK(j["confidence"].get<double>() == doctest::Approx(0.91));
  for (const char* key : {"schema", "id", "station", "time", "file", "start_s", "end_s", "low_hz", "high_hz",
                          "peak_hz", "snr_db", "species", "common_name", "confidence"})
    CHECK_MESSAGE(j.contains(key), key);
}

TEST_CASE("event: ids are unique, UUIDv7-shaped and ordered") {
  std::set<std::string> seen;
  std::string last;
  for (int i = 0; i < 10000; ++i) {
    const std::string id = new_event_id();
    REQUIRE(id.size() == 36);
    CHECK(id[14] == '7');
    CHECK(seen.insert(id).second);
    CHECK(id > last);
    last = id;
  }
}
