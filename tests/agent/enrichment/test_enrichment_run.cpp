// Enrichment in the live pipeline: `run --replay` of the bundled garden recording with
// Open-Meteo and Wikipedia played by a local server (and Loki by the Loki test server),
// and the same with the servers gone.
#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "agent/audio/file_replay.hpp"
#include "agent/commands/commands.hpp"
#include "agent/enrichment/enrichment.hpp"
#include "agent/metrics/agent_metrics.hpp"
#include "agent/pipeline.hpp"
#include "tests/agent/audio_files.hpp"
#include "tests/agent/enrichment/enrichment_test_server.hpp"
#include "tests/agent/sinks/loki_test_server.hpp"

using namespace birdsong;
using namespace std::chrono_literals;

namespace {

const std::string kDemo = BIRDSONG_FIXTURES "/garden-demo.flac";

// A species pack learned (once per test run) from the fixtures the demo recording is made
// of, with this build's features, so that events name species.
const std::string& species_pack() {
  static test::TempDir dir;
  static const std::string path = [] {
    LearnCommandOptions o;
    o.manifest = BIRDSONG_FIXTURES "/manifest.csv";
    o.output = dir / "fixtures.pack";
    o.demo = true;
    std::ostringstream out, err;
    if (learn(o, out, err) != kExitOk) throw std::runtime_error("learn: " + err.str());
    return o.output;
  }();
  return path;
}

std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

std::string config_text(const std::string& weather_url, const std::string& wikipedia_url, const std::string& state_dir) {
  return "[station]\nid = \"garden\"\nlatitude = 51.4779\nlongitude = -0.0015\ncontact = \"birder@example.org\"\n"
         "[weather]\nbase_url = \"" + weather_url + "\"\ntimeout_s = 2\n"
         "[wikipedia]\nbase_url = \"" + wikipedia_url + "\"\ntimeout_s = 2\n"
         "[species]\nprofiles = \"" + species_pack() + "\"\n"
         "[outbox]\npath = \"" + state_dir + "/outbox.db\"\nsync = \"normal\"\n"
         "[metrics]\nenabled = false\n";
}

}  // namespace

TEST_CASE("enrichment: run --replay of the garden recording gives events with weather and species facts") {
  test::EnrichmentTestServer web;
  test::LokiTestServer loki;
  test::TempDir dir;
  RunOptions options;
  options.config = parse_config(config_text(web.open_meteo_url(), web.wikipedia_url(), dir / "state") +
                                    "[loki]\nurl = \"" + loki.url() + "\"\nbatch_wait_s = 0\n",
                                "test.toml");
  std::filesystem::create_directories(dir / "state");
  options.replay_file = kDemo;
  options.speed = 0;
  options.enrichment.wikipedia.min_interval = 5ms;  // the test's own server: no need to be slow

  std::atomic<bool> stop{false};
  std::ostringstream out, err;
  REQUIRE(run_agent(options, stop, out, err) == kExitOk);
  const auto events = json_lines(out.str());
  REQUIRE(events.size() >= 3);
  INFO(err.str());
  CHECK(err.str().find("run: weather from " + web.open_meteo_url() + "/forecast every 15 min\n") != std::string::npos);

  // The first observation is asked for at start; events emitted before its answer went
  // out without it, every later one has it.
  std::size_t with_weather = 0;
  for (const auto& e : events) {
    if (!e.contains("weather")) {
      CHECK(with_weather == 0);
      continue;
    }
    ++with_weather;
    CHECK(e["weather"]["time"] == "2026-05-01T05:15:00.000Z");
    CHECK(e["weather"]["temperature_c"] == 9.4);
    CHECK(e["weather"]["weather_code"] == 61);
    CHECK(e["weather"]["sunrise"] == "2026-05-01T04:31:00.000Z");
  }
  CHECK(with_weather >= events.size() / 2);
  CHECK(events.back().contains("weather"));
  const auto forecasts = web.requests("/v1/forecast");
  REQUIRE(forecasts.size() == 1);
  CHECK(forecasts[0].params.at("latitude") == "51.4779");
  CHECK(forecasts[0].user_agent.rfind("birdsong-agent/", 0) == 0);
  CHECK(forecasts[0].user_agent.find("birder@example.org") != std::string::npos);

  // The observation also went through the outbox to Loki, in a stream kind="weather".
  bool weather_in_loki = false;
  for (const auto& push : loki.pushes())
    for (const auto& stream : push.streams)
      if (stream.labels.at("kind") == "weather") {
        weather_in_loki = true;
        REQUIRE(stream.entries.size() == 1);
        const auto line = nlohmann::json::parse(stream.entries[0].line);
        CHECK(line["kind"] == "weather");
        CHECK(line["temperature_c"] == 9.4);
        CHECK(stream.entries[0].time_ns == 1777612500LL * 1000000000LL);  // 2026-05-01T05:15Z
      }
  CHECK(weather_in_loki);

  // Only species events get facts, and only species of events were looked up.
  std::set<std::string> heard;
  for (const auto& e : events) {
    if (e["species"].is_null()) CHECK_FALSE(e.contains("wikipedia"));
    else heard.insert(e["species"].get<std::string>());
  }
  REQUIRE_FALSE(heard.empty());
  // What the first run learned is in the cache next to the outbox (a look-up still in
  // flight when the replay ended was abandoned, and is not).
  std::set<std::string> cached;
  {
    WikipediaCache cache(dir / "state/wikipedia-cache.db");
    for (const auto& entry : cache.load("en")) {
      CHECK(heard.count(entry.name) == 1);
      CHECK(entry.found);
      cached.insert(entry.name);
    }
  }
  REQUIRE_FALSE(cached.empty());
  const std::size_t requests_before = web.requests("/api/rest_v1/page/summary/").size();

  // A second run: every species event of a cached species has its facts from the first
  // event on, and Wikipedia is not asked about those species again.
  std::ostringstream out2, err2;
  options.config.loki.reset();
  REQUIRE(run_agent(options, stop, out2, err2) == kExitOk);
  std::size_t from_cache = 0;
  for (const auto& e : json_lines(out2.str())) {
    if (e["species"].is_null() || !cached.count(e["species"].get<std::string>())) continue;
    ++from_cache;
    REQUIRE(e.contains("wikipedia"));
    CHECK(e["wikipedia"]["url"].get<std::string>().rfind("https://en.wikipedia.org/wiki/", 0) == 0);
    if (e["species"] == "Turdus merula") CHECK(e["wikipedia"]["title"] == "Common blackbird");
  }
  CHECK(from_cache >= 1);
  const auto all = web.requests("/api/rest_v1/page/summary/");
  for (std::size_t i = requests_before; i < all.size(); ++i)
    for (const std::string& name : cached) {
      std::string title = name;
      std::replace(title.begin(), title.end(), ' ', '_');
      CHECK(all[i].path != "/api/rest_v1/page/summary/" + title);
    }
}

TEST_CASE("enrichment: with the servers down, events go out at once without the missing parts, counted") {
  int port = 0;
  {
    test::EnrichmentTestServer gone;
    port = gone.port();
  }
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  test::TempDir dir;
  const Config config = parse_config(config_text(base + "/v1", base + "/api/rest_v1", dir / ""), "test.toml");
  FileReplay replay(kDemo, 0.0, config.audio);
  std::ostringstream log;
  Pipeline pipeline(config, replay.sample_rate_hz(), log);
  auto enrichment = Enrichment::from_config(config);
  REQUIRE(enrichment);
  pipeline.set_enrichment(enrichment.get());
  AgentMetrics metrics("garden");
  metrics.watch(*enrichment);
  std::vector<Event> events;
  pipeline.add_sink([&](const Event& e) { events.push_back(e); });
  enrichment->start();
  std::atomic<bool> stop{false};
  pipeline.run(replay, stop);
  enrichment->stop();

  REQUIRE(!events.empty());
  std::size_t species_events = 0;
  for (const Event& e : events) {
    CHECK(e.weather == nullptr);
    CHECK(e.wikipedia == nullptr);
    CHECK_FALSE(to_json(e).contains("weather"));
    species_events += e.species ? 1 : 0;
  }
  CHECK(species_events >= 1);
  CHECK(enrichment->weather_missing() == events.size());
  CHECK(enrichment->wikipedia_missing() == species_events);
  const std::string text = metrics.registry().scrape();
  CHECK(text.find("birdsong_enrichment_missing_total{source=\"weather\"} " + std::to_string(events.size()) + "\n") !=
        std::string::npos);
  CHECK(text.find("birdsong_enrichment_missing_total{source=\"wikipedia\"} " + std::to_string(species_events) + "\n") !=
        std::string::npos);
  CHECK(text.find("birdsong_enrichment_requests_total{source=\"weather\",result=\"error\"} 1\n") != std::string::npos);
  CHECK(text.find("birdsong_enrichment_requests_total{source=\"weather\",result=\"ok\"} 0\n") != std::string::npos);
  CHECK(text.find("birdsong_weather_temperature_celsius") == std::string::npos);  // no observation yet
}

TEST_CASE("enrichment: a server that never answers does not delay the replay") {
  test::EnrichmentTestServer web;
  test::TempDir dir;
  Config config = parse_config(config_text(web.open_meteo_url(), web.wikipedia_url(), dir / ""), "test.toml");
  config.weather.timeout_s = 30;
  config.wikipedia.timeout_s = 30;
  const auto replay_s = [&](bool enrich) {
    RunOptions options;
    options.config = config;
    options.config.weather.enabled = enrich;
    options.config.wikipedia.enabled = enrich;
    options.replay_file = kDemo;
    options.speed = 0;
    std::atomic<bool> stop{false};
    std::ostringstream out, err;
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(run_agent(options, stop, out, err) == kExitOk);
    return std::make_pair(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                          json_lines(out.str()).size());
  };
  const auto [plain_s, plain_events] = replay_s(false);
  web.set_delay(3s);
  const auto [enriched_s, enriched_events] = replay_s(true);
  MESSAGE("replay without enrichment ", plain_s, " s, with a silent server ", enriched_s, " s");
  CHECK(enriched_events == plain_events);
  // Only the shutdown waits for libcurl to notice it is cancelled (about a second at most).
  CHECK(enriched_s < plain_s + 1.5);
}

TEST_CASE("enrichment: the weather gauges appear with the first observation") {
  test::EnrichmentTestServer web;
  Config config;
  config.station.latitude = 51.4779;
  config.station.longitude = -0.0015;
  config.weather.enabled = true;
  config.weather.base_url = web.open_meteo_url();
  config.wikipedia.enabled = false;
  EnrichmentOptions options;
  options.weather_interval = 10min;
  Enrichment enrichment(config, {}, options);
  AgentMetrics metrics("garden");
  metrics.watch(enrichment);
  enrichment.start();
  REQUIRE(web.wait_for("/v1/forecast", 1, 5s));
  for (int i = 0; i < 100 && !enrichment.weather()->latest(); ++i) std::this_thread::sleep_for(10ms);
  Event e;
  enrichment.enrich(e);
  REQUIRE(e.weather);
  CHECK(to_json(e)["weather"]["pressure_hpa"] == 1012.6);
  const std::string text = metrics.registry().scrape();
  for (const char* line : {"birdsong_weather_temperature_celsius 9.4\n", "birdsong_weather_relative_humidity_percent 87\n",
                           "birdsong_weather_precipitation_mm 0.2\n", "birdsong_weather_rain_mm 0.1\n",
                           "birdsong_weather_code 61\n", "birdsong_weather_cloud_cover_percent 100\n",
                           "birdsong_weather_pressure_hpa 1012.6\n",
                           "birdsong_weather_wind_speed_meters_per_second 3.4\n",
                           "birdsong_weather_wind_direction_degrees 245\n", "birdsong_weather_is_day 1\n",
                           "birdsong_weather_sunrise_timestamp_seconds 1777609860\n",
                           "birdsong_weather_sunset_timestamp_seconds 1777663440\n",
                           "birdsong_weather_observation_timestamp_seconds 1777612500\n",
                           "birdsong_enrichment_requests_total{source=\"weather\",result=\"ok\"} 1\n",
                           "birdsong_enrichment_missing_total{source=\"weather\"} 0\n"})
    CHECK_MESSAGE(text.find(line) != std::string::npos, line);
  CHECK(text.find("source=\"wikipedia\"") == std::string::npos);  // off
}

TEST_CASE("enrichment: enrich() is a memory look-up, cheap beside detection") {
  test::EnrichmentTestServer web;
  test::TempDir dir;
  Config config = parse_config(config_text(web.open_meteo_url(), web.wikipedia_url(), dir / ""), "test.toml");
  EnrichmentOptions options;
  options.wikipedia.min_interval = 1ms;
  Enrichment enrichment(config, {}, options);
  enrichment.start();
  Event e;
  e.species = "Parus major";
  for (int i = 0; i < 300 && !(e.weather && e.wikipedia); ++i) {
    std::this_thread::sleep_for(10ms);
    enrichment.enrich(e);
  }
  REQUIRE(e.weather);
  REQUIRE(e.wikipedia);
  const std::size_t plain_bytes = [&] {
    Event bare = e;
    bare.weather.reset();
    bare.wikipedia.reset();
    return to_json(bare).dump().size();
  }();
  const std::size_t enriched_bytes = to_json(e).dump().size();

  constexpr int kCalls = 100000;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kCalls; ++i) enrichment.enrich(e);
  const double per_call_us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / kCalls;
  MESSAGE("enrich(): ", per_call_us, " us per event; event JSON ", plain_bytes, " -> ", enriched_bytes, " bytes");
  CHECK(per_call_us < 20.0);  // a detection takes milliseconds of analysis
  CHECK(web.requests("/api/rest_v1/page/summary/").size() == 1);  // 100000 look-ups, one request
}
