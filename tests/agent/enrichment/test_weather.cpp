// Open-Meteo: parsing its answers (written after the API's documented fields), and the
// poller against a local server that answers like it.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "agent/enrichment/http_client.hpp"
#include "agent/enrichment/weather.hpp"
#include "agent/event.hpp"
#include "agent/version.hpp"
#include "tests/agent/enrichment/enrichment_test_server.hpp"

using namespace birdsong;
using namespace std::chrono_literals;

namespace {

std::string parse_error(const std::string& text) {
  try {
    parse_open_meteo(text);
  } catch (const EnrichmentError& e) {
    return e.what();
  }
  return "no error";
}

StationConfig greenwich() {
  StationConfig s;
  s.id = "garden";
  s.latitude = 51.4779;
  s.longitude = -0.0015;
  s.contact = "birder@example.org";
  return s;
}

}  // namespace

TEST_CASE("weather: an Open-Meteo answer gives every current value, in UTC") {
  const WeatherObservation w = parse_open_meteo(test::open_meteo_sample("2026-05-01T06:15", 9.4));
  // Local 06:15 at UTC+1 (utc_offset_seconds = 3600) is 05:15 UTC.
  CHECK(format_utc(w.time) == "2026-05-01T05:15:00.000Z");
  CHECK(w.temperature_c == 9.4);
  CHECK(w.relative_humidity_percent == 87);
  CHECK(w.precipitation_mm == 0.2);
  CHECK(w.rain_mm == 0.1);
  CHECK(w.weather_code == 61);
  CHECK(w.cloud_cover_percent == 100);
  CHECK(w.pressure_hpa == 1012.6);
  CHECK(w.wind_speed_m_s == 3.4);
  CHECK(w.wind_direction_deg == 245);
  CHECK(w.is_day);
  REQUIRE(w.sunrise);
  REQUIRE(w.sunset);
  CHECK(format_utc(*w.sunrise) == "2026-05-01T04:31:00.000Z");
  CHECK(format_utc(*w.sunset) == "2026-05-01T19:24:00.000Z");

  const nlohmann::json j = to_json(w);
  CHECK(j["time"] == "2026-05-01T05:15:00.000Z");
  CHECK(j["temperature_c"] == 9.4);
  CHECK(j["wind_speed_m_s"] == 3.4);
  CHECK(j["is_day"] == true);
  CHECK(j["sunset"] == "2026-05-01T19:24:00.000Z");
}

TEST_CASE("weather: unixtime answers, night, and a polar day without sunrise are read") {
  const std::string text = R"({"latitude":78.22,"longitude":15.65,"utc_offset_seconds":7200,
    "current":{"time":1777600800,"interval":900,"temperature_2m":-3.5,"relative_humidity_2m":70,
      "precipitation":0.0,"rain":0.0,"weather_code":3,"cloud_cover":88,"pressure_msl":1003.1,
      "wind_speed_10m":7.9,"wind_direction_10m":90,"is_day":0},
    "daily":{"time":[1777586400],"sunrise":[null],"sunset":[null]}})";
  const WeatherObservation w = parse_open_meteo(text);
  CHECK(std::chrono::system_clock::to_time_t(w.time) == 1777600800);
  CHECK_FALSE(w.is_day);
  CHECK_FALSE(w.sunrise);
  CHECK(to_json(w)["sunrise"].is_null());
}

TEST_CASE("weather: bad answers give one clear error") {
  CHECK(parse_error("<html>502 Bad Gateway</html>") == "open-meteo: the answer is not JSON");
  CHECK(parse_error("[1,2]") == "open-meteo: the answer is not a JSON object");
  CHECK(parse_error(R"({"error":true,"reason":"Latitude must be in range of -90 to 90°. Given: 91.0."})") ==
        "open-meteo: Latitude must be in range of -90 to 90°. Given: 91.0.");
  CHECK(parse_error(R"({"latitude":51.5})") == "open-meteo: current: missing");
  nlohmann::json j = nlohmann::json::parse(test::open_meteo_sample());
  j["current"].erase("pressure_msl");
  CHECK(parse_error(j.dump()) == "open-meteo: current.pressure_msl: missing");
  j = nlohmann::json::parse(test::open_meteo_sample());
  j["current"]["temperature_2m"] = "warm";
  CHECK(parse_error(j.dump()) == "open-meteo: current.temperature_2m: not a number");
  j = nlohmann::json::parse(test::open_meteo_sample());
  j["current"]["time"] = "yesterday";
  CHECK(parse_error(j.dump()) == "open-meteo: current.time = \"yesterday\": expected YYYY-MM-DDTHH:MM");
}

TEST_CASE("weather: the request asks for every value, metres per second, the local day") {
  const std::string url = open_meteo_url("https://api.open-meteo.com/v1/", 51.4779, -0.0015);
  CHECK(url ==
        "https://api.open-meteo.com/v1/forecast?latitude=51.4779&longitude=-0.0015&current=temperature_2m,"
        "relative_humidity_2m,precipitation,rain,weather_code,cloud_cover,pressure_msl,wind_speed_10m,"
        "wind_direction_10m,is_day&daily=sunrise,sunset&wind_speed_unit=ms&timezone=auto&forecast_days=1");
}

TEST_CASE("weather: the weather record for the outbox has kind weather and the observation's time") {
  const WeatherObservation w = parse_open_meteo(test::open_meteo_sample());
  const OutboxRecord r = weather_outbox_record(w, greenwich());
  CHECK(r.kind == "weather");
  CHECK(r.time_ns == std::chrono::duration_cast<std::chrono::nanoseconds>(w.time.time_since_epoch()).count());
  const auto j = nlohmann::json::parse(r.payload);
  CHECK(j["kind"] == "weather");
  CHECK(j["schema"] == 1);
  CHECK(j["id"] == r.id);
  CHECK(j["station"] == "garden");
  CHECK(j["latitude"] == 51.4779);
  CHECK(j["temperature_c"] == 9.4);
}

TEST_CASE("weather: the poller asks Open-Meteo politely and keeps the latest observation") {
  test::EnrichmentTestServer server;
  WeatherConfig config;
  config.base_url = server.open_meteo_url();
  std::mutex mutex;
  std::vector<WeatherObservation> seen;
  WeatherPoller poller(config, greenwich(), [&](const WeatherObservation& w) {
    std::lock_guard lock(mutex);
    seen.push_back(w);
  }, 300ms);
  CHECK(poller.latest() == nullptr);
  poller.start();
  for (int i = 0; i < 500 && poller.stats().requests_ok.load() < 3; ++i) std::this_thread::sleep_for(10ms);
  poller.stop();
  const uint64_t ok = poller.stats().requests_ok.load();
  REQUIRE(ok >= 3);

  // The server may have seen one more, abandoned by stop().
  auto requests = server.requests("/v1/forecast");
  REQUIRE(requests.size() >= ok);
  requests.resize(ok);
  for (const auto& r : requests) {
    CHECK(r.answered == 200);
    CHECK(r.user_agent.rfind(std::string("birdsong-agent/") + kVersion + " (birder@example.org; " + kHomepageUrl + ")", 0) == 0);
    CHECK(r.params.at("latitude") == "51.4779");
    CHECK(r.params.at("longitude") == "-0.0015");
    CHECK(r.params.at("wind_speed_unit") == "ms");
    CHECK(r.params.at("daily") == "sunrise,sunset");
  }
  // One at a time, `interval` apart (the first at start).
  for (std::size_t i = 1; i < requests.size(); ++i) CHECK(requests[i].received - requests[i - 1].received >= 280ms);
  CHECK(poller.stats().requests_error.load() == 0);
  const auto latest = poller.latest();
  REQUIRE(latest);
  std::lock_guard lock(mutex);
  CHECK(seen.size() == ok);  // each answer is a new quarter hour
  CHECK(seen.back().time == latest->time);
  CHECK(format_utc(seen.front().time) == "2026-05-01T05:15:00.000Z");
}

TEST_CASE("weather: errors are counted, nothing is kept, and stop() does not wait for a slow server") {
  test::EnrichmentTestServer server;
  WeatherConfig config;
  config.base_url = server.open_meteo_url();
  server.set_weather_status(503);
  {
    WeatherPoller poller(config, greenwich(), {}, 200ms);
    poller.start();
    REQUIRE(server.wait_for("/v1/forecast", 1, 5s));
    // The server has seen the request; the poller counts the error once the answer is
    // read, which under qemu on a busy machine took more than a fixed 50 ms (CI, arm64).
    for (int i = 0; i < 500 && poller.stats().requests_error.load() == 0; ++i) std::this_thread::sleep_for(10ms);
    poller.stop();
    CHECK(poller.stats().requests_error.load() >= 1);
    CHECK(poller.stats().requests_ok.load() == 0);
    CHECK(poller.latest() == nullptr);
  }
  server.set_weather_status(200);
  server.set_delay(2s);
  config.timeout_s = 10.0;
  WeatherPoller slow(config, greenwich(), {}, 200ms);
  slow.start();
  std::this_thread::sleep_for(200ms);  // the request is in flight
  const auto t0 = std::chrono::steady_clock::now();
  slow.stop();
  // libcurl looks at the cancel flag about once a second while it waits.
  CHECK(std::chrono::steady_clock::now() - t0 < 1500ms);
  CHECK(slow.stats().requests_ok.load() == 0);
  server.set_delay(0ms);
}

TEST_CASE("weather: a server that is not there is an error, not a crash") {
  int port = 0;
  {
    test::EnrichmentTestServer gone;
    port = gone.port();
  }
  WeatherConfig config;
  config.base_url = "http://127.0.0.1:" + std::to_string(port) + "/v1";
  WeatherPoller poller(config, greenwich(), {}, 200ms);
  poller.start();
  for (int i = 0; i < 200 && poller.stats().requests_error.load() == 0; ++i) std::this_thread::sleep_for(10ms);
  poller.stop();
  CHECK(poller.stats().requests_error.load() >= 1);
  CHECK(poller.latest() == nullptr);
}

TEST_CASE("weather: url_escape keeps unreserved characters and encodes the rest") {
  CHECK(url_escape("Turdus_merula") == "Turdus_merula");
  CHECK(url_escape("Poecile montanus/x?y") == "Poecile%20montanus%2Fx%3Fy");
  CHECK(url_escape("Émile") == "%C3%89mile");
}

TEST_CASE("weather: implausible numbers are refused, not converted") {
  nlohmann::json j = nlohmann::json::parse(test::open_meteo_sample());
  j["current"]["time"] = 1e300;
  CHECK(parse_error(j.dump()) == "open-meteo: current.time: not a plausible Unix time");
  j = nlohmann::json::parse(test::open_meteo_sample());
  j["current"]["weather_code"] = 1e12;
  CHECK(parse_error(j.dump()) == "open-meteo: current.weather_code: not a WMO code (0..99)");
  j = nlohmann::json::parse(test::open_meteo_sample());
  j["utc_offset_seconds"] = 999999999;
  CHECK(parse_error(j.dump()) == "open-meteo: utc_offset_seconds: out of range");
  j = nlohmann::json::parse(test::open_meteo_sample());
  j["error"] = "yes";  // not Open-Meteo's boolean: ignored, the rest is read
  CHECK(parse_error(j.dump()) == "no error");
}
