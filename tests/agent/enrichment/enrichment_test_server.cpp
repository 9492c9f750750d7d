#include "tests/agent/enrichment/enrichment_test_server.hpp"

#include <httplib.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

namespace birdsong::test {

namespace {

using nlohmann::json;

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, sep);) out.push_back(item);
  return out;
}

// Open-Meteo's parameter checks, the ones the agent relies on.
std::string forecast_problem(const httplib::Request& req) {
  for (const char* key : {"latitude", "longitude", "current", "daily", "wind_speed_unit", "timezone"})
    if (!req.has_param(key)) return std::string("Parameter '") + key + "' is missing";
  try {
    std::size_t used = 0;
    const double lat = std::stod(req.get_param_value("latitude"), &used);
    if (lat < -90 || lat > 90) return "Latitude must be in range of -90 to 90°.";
    const double lon = std::stod(req.get_param_value("longitude"), &used);
    if (lon < -180 || lon > 180) return "Longitude must be in range of -180 to 180°.";
  } catch (const std::exception&) {
    return "Cannot initialize Float from invalid String value";
  }
  const std::set<std::string> known = {"temperature_2m", "relative_humidity_2m", "precipitation", "rain",
                                       "weather_code", "cloud_cover", "pressure_msl", "wind_speed_10m",
                                       "wind_direction_10m", "is_day"};
  for (const std::string& v : split(req.get_param_value("current"), ','))
    if (!known.count(v)) return "Cannot initialize ForecastVariable from invalid String value " + v;
  if (split(req.get_param_value("current"), ',').size() != known.size()) return "current: not every variable asked";
  if (req.get_param_value("daily") != "sunrise,sunset") return "daily: expected sunrise,sunset";
  if (req.get_param_value("wind_speed_unit") != "ms") return "wind_speed_unit: expected ms";
  return "";
}

json summary(const std::string& title, const std::string& description, const std::string& extract,
             const std::string& qid) {
  std::string path = title;
  for (char& c : path)
    if (c == ' ') c = '_';
  return json{{"type", "standard"},
              {"title", title},
              {"displaytitle", "<span class=\"mw-page-title-main\">" + title + "</span>"},
              {"namespace", {{"id", 0}, {"text", ""}}},
              {"wikibase_item", qid},
              {"titles", {{"canonical", path}, {"normalized", title}, {"display", title}}},
              {"pageid", 1234567},
              {"thumbnail",
               {{"source", "https://upload.wikimedia.org/wikipedia/commons/thumb/a/a9/" + path + ".jpg/320px-" + path + ".jpg"},
                {"width", 320},
                {"height", 240}}},
              {"lang", "en"},
              {"dir", "ltr"},
              {"revision", "1221234567"},
              {"tid", "8d3c5f10-0000-11ef-a000-000000000000"},
              {"timestamp", "2026-04-20T10:00:00Z"},
              {"description", description},
              {"description_source", "local"},
              {"content_urls",
               {{"desktop",
                 {{"page", "https://en.wikipedia.org/wiki/" + path},
                  {"revisions", "https://en.wikipedia.org/wiki/" + path + "?action=history"},
                  {"edit", "https://en.wikipedia.org/wiki/" + path + "?action=edit"},
                  {"talk", "https://en.wikipedia.org/wiki/Talk:" + path}}},
                {"mobile", {{"page", "https://en.m.wikipedia.org/wiki/" + path}}}}},
              {"extract", extract},
              {"extract_html", "<p>" + extract + "</p>"}};
}

}  // namespace

std::string open_meteo_sample(const std::string& current_time, double temperature_c) {
  return json{{"latitude", 51.48},
              {"longitude", 0.0},
              {"generationtime_ms", 0.0469},
              {"utc_offset_seconds", 3600},
              {"timezone", "Europe/London"},
              {"timezone_abbreviation", "GMT+1"},
              {"elevation", 7.0},
              {"current_units",
               {{"time", "iso8601"}, {"interval", "seconds"}, {"temperature_2m", "°C"},
                {"relative_humidity_2m", "%"}, {"precipitation", "mm"}, {"rain", "mm"}, {"weather_code", "wmo code"},
                {"cloud_cover", "%"}, {"pressure_msl", "hPa"}, {"wind_speed_10m", "m/s"},
                {"wind_direction_10m", "°"}, {"is_day", ""}}},
              {"current",
               {{"time", current_time},
                {"interval", 900},
                {"temperature_2m", temperature_c},
                {"relative_humidity_2m", 87},
                {"precipitation", 0.2},
                {"rain", 0.1},
                {"weather_code", 61},
                {"cloud_cover", 100},
                {"pressure_msl", 1012.6},
                {"wind_speed_10m", 3.4},
                {"wind_direction_10m", 245},
                {"is_day", 1}}},
              {"daily_units", {{"time", "iso8601"}, {"sunrise", "iso8601"}, {"sunset", "iso8601"}}},
              {"daily", {{"time", {"2026-05-01"}}, {"sunrise", {"2026-05-01T05:31"}}, {"sunset", {"2026-05-01T20:24"}}}}}
      .dump();
}

EnrichmentTestServer::EnrichmentTestServer() : server_(std::make_unique<httplib::Server>()) {
  server_->new_task_queue = [] { return new httplib::ThreadPool(4); };
  server_->Get("/v1/forecast", [this](const httplib::Request& req, httplib::Response& res) {
    SeenRequest seen{req.path, {}, req.get_header_value("User-Agent"), 0, std::chrono::steady_clock::now()};
    for (const auto& [k, v] : req.params) seen.params[k] = v;
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_.load()));
    const std::string problem = forecast_problem(req);
    if (!problem.empty() || weather_status_ != 200) {
      res.status = problem.empty() ? weather_status_.load() : 400;
      res.set_content(json{{"error", true}, {"reason", problem.empty() ? "Internal error" : problem}}.dump(),
                      "application/json");
    } else {
      // Each answer is a new quarter hour: 06:15, 06:30, ... local time.
      const int n = forecasts_++;
      char time[32];
      std::snprintf(time, sizeof time, "2026-05-01T%02d:%02d", 6 + (15 + 15 * n) / 60, (15 + 15 * n) % 60);
      res.set_content(open_meteo_sample(time, 9.4 + 0.1 * n), "application/json; charset=utf-8");
    }
    seen.answered = res.status == -1 ? 200 : res.status;  // httplib sets 200 after the handler
    record(std::move(seen));
  });
  server_->Get(R"(/api/rest_v1/page/summary/(.+))", [this](const httplib::Request& req, httplib::Response& res) {
    SeenRequest seen{req.path, {}, req.get_header_value("User-Agent"), 0, std::chrono::steady_clock::now()};
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_.load()));
    const std::string title = req.matches[1];  // httplib has decoded %xx
    const auto answer_json = [&](const json& j) {
      res.set_content(j.dump(), "application/json; charset=utf-8; profile=\"https://www.mediawiki.org/wiki/Specs/Summary/1.4.2\"");
    };
    if (seen.user_agent.empty()) {
      res.status = 403;
      res.set_content("Please set a user-agent and respect our robot policy https://w.wiki/4wJS.", "text/plain");
    } else if (title == "Turdus_merula") {
      res.status = 302;
      res.set_header("Location", "Common_blackbird");
    } else if (title == "Common_blackbird") {
      answer_json(summary("Common blackbird", "Species of bird",
                          "The common blackbird is a species of true thrush. It is also called the Eurasian "
                          "blackbird, or simply the blackbird where this does not lead to confusion.",
                          "Q25234"));
    } else if (title == "Parus_major") {
      answer_json(summary("Great tit", "Species of bird",
                          "The great tit is a passerine bird in the tit family Paridae.", "Q25485"));
    } else if (title == "Mercury") {
      json d = summary("Mercury", "Topics referred to by the same term", "Mercury usually refers to:", "Q302");
      d["type"] = "disambiguation";
      d.erase("thumbnail");
      answer_json(d);
    } else if (title.find('_') != std::string::npos && title.find("Nonexistent") == std::string::npos &&
               std::isupper(static_cast<unsigned char>(title[0]))) {
      std::string name = title;
      for (char& c : name)
        if (c == '_') c = ' ';
      answer_json(summary(name, "Species of bird", name + " is a species of bird.", "Q1"));
    } else {
      res.status = 404;
      answer_json(json{{"type", "https://mediawiki.org/wiki/HyperSwitch/errors/not_found"},
                       {"title", "Not found."},
                       {"method", "get"},
                       {"detail", "Page or revision not found."},
                       {"uri", "/en.wikipedia.org/v1/page/summary/" + title}});
    }
    seen.answered = res.status == -1 ? 200 : res.status;  // httplib sets 200 after the handler
    record(std::move(seen));
  });
  port_ = server_->bind_to_any_port("127.0.0.1");
  if (port_ <= 0) throw std::runtime_error("EnrichmentTestServer: cannot bind a loopback port");
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  for (int i = 0; i < 5000 && !server_->is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

EnrichmentTestServer::~EnrichmentTestServer() { stop(); }

void EnrichmentTestServer::stop() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

void EnrichmentTestServer::record(SeenRequest r) {
  std::lock_guard lock(mutex_);
  requests_.push_back(std::move(r));
  changed_.notify_all();
}

std::vector<SeenRequest> EnrichmentTestServer::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

std::vector<SeenRequest> EnrichmentTestServer::requests(const std::string& prefix) const {
  std::vector<SeenRequest> out;
  for (const SeenRequest& r : requests())
    if (r.path.rfind(prefix, 0) == 0) out.push_back(r);
  return out;
}

bool EnrichmentTestServer::wait_for(const std::string& prefix, std::size_t n, std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(mutex_);
  return changed_.wait_until(lock, deadline, [&] {
    std::size_t c = 0;
    for (const SeenRequest& r : requests_) c += r.path.rfind(prefix, 0) == 0 ? 1 : 0;
    return c >= n;
  });
}

}  // namespace birdsong::test
