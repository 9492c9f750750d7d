// Weather at the station from Open-Meteo's forecast API (open-meteo.com/en/docs): the
// "current" conditions, which Open-Meteo updates every 15 minutes, and today's sunrise
// and sunset, for [station] latitude/longitude.
//
//   GET <base_url>/forecast?latitude=..&longitude=..&current=temperature_2m,...
//       &daily=sunrise,sunset&wind_speed_unit=ms&timezone=auto&forecast_days=1
//   {"utc_offset_seconds":3600, "current":{"time":"2026-05-01T06:00","temperature_2m":9.4,...},
//    "daily":{"time":["2026-05-01"],"sunrise":["2026-05-01T05:31"],"sunset":["2026-05-01T20:41"]}}
//
// timezone=auto makes "today" the station's local day; times come in local time without
// an offset and are turned into UTC with utc_offset_seconds. An error is HTTP 400 with
// {"error":true,"reason":"..."}.
//
// Politeness: the free tier allows 10,000 calls a day and one request at a time per
// address. WeatherPoller makes one request at a time, every [weather] interval_minutes
// (at least 15: the data does not change faster), after a failure again after 1 minute,
// doubling up to the interval.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

#include "agent/config.hpp"
#include "agent/delivery/sink.hpp"

namespace birdsong {

class HttpClient;

class EnrichmentError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct WeatherObservation {
  std::chrono::system_clock::time_point time;  // when Open-Meteo's current values apply (UTC)
  double temperature_c = 0;                    // at 2 m
  double relative_humidity_percent = 0;        // at 2 m
  double precipitation_mm = 0;                 // rain + showers + snow, the preceding 15 min
  double rain_mm = 0;                          // rain from large-scale systems, the preceding 15 min
  int weather_code = 0;                        // WMO code: 0 clear ... 61 rain ... 95 thunderstorm
  double cloud_cover_percent = 0;
  double pressure_hpa = 0;                     // reduced to mean sea level
  double wind_speed_m_s = 0;                   // at 10 m
  double wind_direction_deg = 0;               // at 10 m, where the wind comes from
  bool is_day = false;
  std::optional<std::chrono::system_clock::time_point> sunrise;  // today's, local day (UTC)
  std::optional<std::chrono::system_clock::time_point> sunset;
};

// The request URL for a place.
std::string open_meteo_url(const std::string& base_url, double latitude_deg, double longitude_deg);
// Parses Open-Meteo's answer. Throws EnrichmentError naming what is wrong (not JSON, an
// error answer with its reason, a missing or mistyped field).
WeatherObservation parse_open_meteo(std::string_view json);
// The `weather` object of an event (and of a weather record).
nlohmann::json to_json(const WeatherObservation& w);
// The outbox record payload of kind "weather": schema, id, station, place and to_json(w).
nlohmann::json weather_record_json(const WeatherObservation& w, const std::string& id, const std::string& station,
                                   double latitude_deg, double longitude_deg);
// The outbox record of an observation: kind "weather" (Loki's kind label, MQTT topic
// <prefix>/<station>/weather), a new id, time_ns the observation's time.
OutboxRecord weather_outbox_record(const WeatherObservation& w, const StationConfig& station);

struct WeatherStats {
  std::atomic<uint64_t> requests_ok{0};
  std::atomic<uint64_t> requests_error{0};
};

// Fetches the weather on its own thread: at start(), then every interval. latest() is
// what an event gets: never waits for the network.
class WeatherPoller {
 public:
  using Listener = std::function<void(const WeatherObservation&)>;
  // Throws std::invalid_argument without latitude/longitude. `interval` overrides
  // [weather] interval_minutes (tests); `on_new` is called on the poller's thread for
  // each observation whose time differs from the previous one.
  WeatherPoller(const WeatherConfig& config, const StationConfig& station, Listener on_new = {},
                std::optional<std::chrono::milliseconds> interval = std::nullopt);
  ~WeatherPoller();  // stop()
  WeatherPoller(const WeatherPoller&) = delete;
  WeatherPoller& operator=(const WeatherPoller&) = delete;

  void start();
  // Ends the thread, abandoning a request in flight.
  void stop();

  std::shared_ptr<const WeatherObservation> latest() const;
  const WeatherStats& stats() const { return stats_; }
  const std::string& url() const { return url_; }

 private:
  void loop();
  // One request; true when an observation came.
  bool poll();

  std::string url_;
  Listener on_new_;
  std::chrono::milliseconds interval_;
  std::unique_ptr<HttpClient> http_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::shared_ptr<const WeatherObservation> latest_;
  std::atomic<bool> stopping_{false};
  bool failing_ = false;  // log once per series of failures
  std::thread thread_;
  WeatherStats stats_;
};

}  // namespace birdsong
