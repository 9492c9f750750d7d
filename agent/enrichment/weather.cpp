#include "agent/enrichment/weather.hpp"

#include <cmath>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <sstream>

#include "agent/enrichment/http_client.hpp"
#include "agent/event.hpp"

namespace birdsong {

namespace {

using nlohmann::json;

constexpr const char* kCurrentFields =
    "temperature_2m,relative_humidity_2m,precipitation,rain,weather_code,cloud_cover,pressure_msl,"
    "wind_speed_10m,wind_direction_10m,is_day";
constexpr auto kFirstRetry = std::chrono::minutes(1);

double round_to(double v, int decimals) {
  const double scale = std::pow(10.0, decimals);
  return std::round(v * scale) / scale;
}

// Open-Meteo's local ISO-8601 time without offset ("2026-05-01T05:31", seconds optional)
// or, with timeformat=unixtime, Unix seconds; `offset_s` turns local time into UTC.
std::chrono::system_clock::time_point parse_time(const json& v, int64_t offset_s, const std::string& field) {
  if (v.is_number()) {
    const double unix_s = v.get<double>();
    // Up to 2100: system_clock counts nanoseconds in 64 bits, which end in 2262.
    if (!(unix_s >= 0.0 && unix_s < 4102444800.0))
      throw EnrichmentError("open-meteo: " + field + ": not a plausible Unix time");
    return std::chrono::system_clock::from_time_t(static_cast<std::time_t>(unix_s));
  }
  if (!v.is_string()) throw EnrichmentError("open-meteo: " + field + ": expected a time");
  const std::string s = v.get<std::string>();
  std::tm tm{};
  int sec = 0;
  char extra = 0;
  const int n = std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                            &tm.tm_min, &sec, &extra);
  if ((n != 5 && n != 6) || tm.tm_year < 1970 || tm.tm_year > 2100 || tm.tm_mon < 1 || tm.tm_mon > 12 ||
      tm.tm_mday < 1 || tm.tm_mday > 31 ||
      tm.tm_hour > 23 || tm.tm_min > 59 || sec < 0 || sec > 60)
    throw EnrichmentError("open-meteo: " + field + " = \"" + s + "\": expected YYYY-MM-DDTHH:MM");
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  tm.tm_sec = sec;
  return std::chrono::system_clock::from_time_t(timegm(&tm) - static_cast<std::time_t>(offset_s));
}

double number(const json& object, const char* key, const std::string& where) {
  const auto it = object.find(key);
  if (it == object.end() || !it->is_number())
    throw EnrichmentError("open-meteo: " + where + "." + key + ": " + (it == object.end() ? "missing" : "not a number"));
  return it->get<double>();
}

std::string number_text(double v) {
  std::ostringstream s;
  s.precision(7);
  s << v;
  return s.str();
}

}  // namespace

std::string open_meteo_url(const std::string& base_url, double latitude_deg, double longitude_deg) {
  std::string base = base_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + "/forecast?latitude=" + number_text(latitude_deg) + "&longitude=" + number_text(longitude_deg) +
         "&current=" + kCurrentFields + "&daily=sunrise,sunset&wind_speed_unit=ms&timezone=auto&forecast_days=1";
}

WeatherObservation parse_open_meteo(std::string_view text) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception&) {  // parse_error, and out_of_range for a number like 1e999
    throw EnrichmentError("open-meteo: the answer is not JSON");
  }
  if (!j.is_object()) throw EnrichmentError("open-meteo: the answer is not a JSON object");
  if (const auto error = j.find("error"); error != j.end() && error->is_boolean() && error->get<bool>()) {
    const auto reason = j.find("reason");
    throw EnrichmentError("open-meteo: " + (reason != j.end() && reason->is_string() ? reason->get<std::string>()
                                                                                     : std::string("error without a reason")));
  }
  const auto current = j.find("current");
  if (current == j.end() || !current->is_object()) throw EnrichmentError("open-meteo: current: missing");
  const auto offset_it = j.find("utc_offset_seconds");
  const int64_t offset_s = offset_it != j.end() && offset_it->is_number_integer() ? offset_it->get<int64_t>() : 0;
  if (offset_s < -18 * 3600 || offset_s > 18 * 3600) throw EnrichmentError("open-meteo: utc_offset_seconds: out of range");
  const json& c = *current;
  WeatherObservation w;
  if (!c.contains("time")) throw EnrichmentError("open-meteo: current.time: missing");
  w.time = parse_time(c["time"], offset_s, "current.time");
  w.temperature_c = number(c, "temperature_2m", "current");
  w.relative_humidity_percent = number(c, "relative_humidity_2m", "current");
  w.precipitation_mm = number(c, "precipitation", "current");
  w.rain_mm = number(c, "rain", "current");
  const double code = number(c, "weather_code", "current");
  if (!(code >= 0.0 && code <= 99.0)) throw EnrichmentError("open-meteo: current.weather_code: not a WMO code (0..99)");
  w.weather_code = static_cast<int>(code);
  w.cloud_cover_percent = number(c, "cloud_cover", "current");
  w.pressure_hpa = number(c, "pressure_msl", "current");
  w.wind_speed_m_s = number(c, "wind_speed_10m", "current");
  w.wind_direction_deg = number(c, "wind_direction_10m", "current");
  w.is_day = number(c, "is_day", "current") != 0.0;
  // Sunrise and sunset are a bonus: near the poles a day has none (Open-Meteo then gives
  // null or the day's start), so their absence is not an error.
  const auto daily = j.find("daily");
  if (daily != j.end() && daily->is_object()) {
    for (auto [key, out] : {std::pair{"sunrise", &w.sunrise}, std::pair{"sunset", &w.sunset}}) {
      const auto list = daily->find(key);
      if (list != daily->end() && list->is_array() && !list->empty() && !(*list)[0].is_null())
        *out = parse_time((*list)[0], offset_s, std::string("daily.") + key + "[0]");
    }
  }
  return w;
}

json to_json(const WeatherObservation& w) {
  const auto time_or_null = [](const std::optional<std::chrono::system_clock::time_point>& t) {
    return t ? json(format_utc(*t)) : json(nullptr);
  };
  return json{{"time", format_utc(w.time)},
              {"temperature_c", round_to(w.temperature_c, 1)},
              {"relative_humidity_percent", round_to(w.relative_humidity_percent, 0)},
              {"precipitation_mm", round_to(w.precipitation_mm, 2)},
              {"rain_mm", round_to(w.rain_mm, 2)},
              {"weather_code", w.weather_code},
              {"cloud_cover_percent", round_to(w.cloud_cover_percent, 0)},
              {"pressure_hpa", round_to(w.pressure_hpa, 1)},
              {"wind_speed_m_s", round_to(w.wind_speed_m_s, 1)},
              {"wind_direction_deg", round_to(w.wind_direction_deg, 0)},
              {"is_day", w.is_day},
              {"sunrise", time_or_null(w.sunrise)},
              {"sunset", time_or_null(w.sunset)}};
}

json weather_record_json(const WeatherObservation& w, const std::string& id, const std::string& station,
                         double latitude_deg, double longitude_deg) {
  json j = to_json(w);
  j["schema"] = kEventSchema;
  j["kind"] = "weather";
  j["id"] = id;
  j["station"] = station;
  j["latitude"] = latitude_deg;
  j["longitude"] = longitude_deg;
  j["source"] = "open-meteo";
  return j;
}

OutboxRecord weather_outbox_record(const WeatherObservation& w, const StationConfig& station) {
  OutboxRecord r;
  r.id = new_event_id();
  r.kind = "weather";
  r.time_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(w.time.time_since_epoch()).count();
  r.payload = weather_record_json(w, r.id, station.id, station.latitude.value_or(0.0), station.longitude.value_or(0.0)).dump();
  return r;
}

WeatherPoller::WeatherPoller(const WeatherConfig& config, const StationConfig& station, Listener on_new,
                             std::optional<std::chrono::milliseconds> interval)
    : on_new_(std::move(on_new)),
      interval_(interval.value_or(std::chrono::minutes(config.interval_minutes))) {
  if (!station.latitude || !station.longitude)
    throw std::invalid_argument("weather: [station] latitude and longitude are needed");
  url_ = open_meteo_url(config.base_url, *station.latitude, *station.longitude);
  http_ = std::make_unique<HttpClient>(enrichment_user_agent(station.contact), config.timeout_s);
}

WeatherPoller::~WeatherPoller() { stop(); }

void WeatherPoller::start() {
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { loop(); });
}

void WeatherPoller::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<const WeatherObservation> WeatherPoller::latest() const {
  std::lock_guard lock(mutex_);
  return latest_;
}

void WeatherPoller::loop() {
  std::chrono::milliseconds retry = std::chrono::duration_cast<std::chrono::milliseconds>(kFirstRetry);
  while (!stopping_) {
    std::chrono::milliseconds wait = interval_;
    if (poll()) {
      retry = std::chrono::duration_cast<std::chrono::milliseconds>(kFirstRetry);
    } else {
      wait = std::min(retry, interval_);
      retry = std::min(retry * 2, interval_);
    }
    std::unique_lock lock(mutex_);
    wake_.wait_for(lock, wait, [this] { return stopping_.load(); });
  }
}

bool WeatherPoller::poll() {
  const HttpResponse r = http_->get(url_, &stopping_);
  if (stopping_) return false;
  std::string problem;
  WeatherObservation w;
  if (!r.answered()) {
    problem = r.error;
  } else {
    try {
      w = parse_open_meteo(r.body);
      if (r.status != 200) problem = "HTTP " + std::to_string(r.status);
    } catch (const EnrichmentError& e) {
      problem = (r.status != 200 ? "HTTP " + std::to_string(r.status) + ": " : std::string()) + e.what();
    }
  }
  if (!problem.empty()) {
    stats_.requests_error.fetch_add(1);
    if (!failing_) std::cerr << "weather: " << problem << "; events go out without weather until it works\n";
    failing_ = true;
    return false;
  }
  stats_.requests_ok.fetch_add(1);
  if (failing_) std::cerr << "weather: working again\n";
  failing_ = false;
  auto observation = std::make_shared<const WeatherObservation>(w);
  bool is_new = false;
  {
    std::lock_guard lock(mutex_);
    is_new = !latest_ || latest_->time != observation->time;
    latest_ = observation;
  }
  if (is_new && on_new_) on_new_(*observation);
  return true;
}

}  // namespace birdsong
