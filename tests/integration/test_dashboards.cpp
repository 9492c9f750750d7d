// The bundled Grafana dashboards (grafana/) against what the agent really exposes.
//
// Static checks, no servers: every dashboard parses, is a Grafana 10/11 dashboard
// (schemaVersion, known panel types, unique panel ids), references its data sources the
// way both installs need (provisioned: the fixed uids of grafana/provisioning/datasources;
// imported by hand: the __inputs), and asks Loki only for the stream labels the agent
// sends. The compose stack, the provisioning and the Alloy config refer to files and
// components that exist.
//
// Then the real thing: the agent replays tests/fixtures/garden-demo.flac with the demo
// species pack (so species labels exist), delivering to Loki (the test server) and MQTT
// (mosquitto), with weather enrichment from a local Open-Meteo-like server when the agent
// has it, while a real Prometheus (/usr/bin/prometheus) scrapes it. Every Prometheus query
// of every dashboard (panels, annotations, variables) is then run through Prometheus's HTTP
// API with the template variables set as Grafana would set them: none may fail, the core
// panels must return data, and every metric and label they name must be in the agent's
// exposition.
#include <doctest/doctest.h>
#include <httplib.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <ctime>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "tests/agent/audio_files.hpp"
#include "tests/agent/sinks/loki_test_server.hpp"
#include "tests/integration/processes.hpp"

using namespace birdsong;
using namespace birdsong::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr const char* kPrometheus = "/usr/bin/prometheus";
constexpr const char* kPromtool = "/usr/bin/promtool";
const std::string kGrafana = std::string(BIRDSONG_SOURCE_DIR) + "/grafana";
const std::string kDashboards = kGrafana + "/provisioning/dashboards/birdsong";

// Panel types of Grafana 10 and 11 core that these dashboards may use.
const std::set<std::string> kPanelTypes = {"timeseries", "barchart", "heatmap", "table",  "logs",           "stat",
                                           "gauge",      "piechart", "row",     "text",   "state-timeline", "bargauge"};
// Loki stream labels the agent sends (agent/sinks/loki_sink.cpp) and the kinds of stream.
const std::set<std::string> kStreamLabels = {"job", "station", "kind"};
const std::set<std::string> kKinds = {"detection", "weather", "agent"};

// Panels that must show data after the replay, by dashboard file and title. The weather
// panels are added when the agent has weather enrichment.
const std::map<std::string, std::set<std::string>> kCorePanels = {
    {"garden.json",
     {"Detections today", "Species heard today", "Stations listening", "Detections over time by species",
      "Top species today", "Top species this week", "Activity by hour of day", "Calls per hour: $species"}},
    {"agent-health.json",
     {"Agents up", "Uptime", "Agents", "Real-time factor", "Outbox backlog", "Audio level and noise floor",
      "Capture overruns and dropped audio", "Events detected", "Outbox backlog by sink", "Oldest waiting event by sink",
      "Outbox size", "Sent, failed, retried and rejected per sink", "Sinks up", "CPU", "Memory", "Open files"}}};
const std::map<std::string, std::set<std::string>> kWeatherPanels = {
    {"garden.json",
     {"Temperature", "Wind", "Sunrise and sunset", "Activity and temperature", "Activity and rain",
      "Activity and wind"}},
    {"agent-health.json", {"Enrichment requests by result"}}};

struct Dashboard {
  std::string file;  // garden.json
  json model;
};

std::vector<Dashboard> load_dashboards() {
  std::vector<Dashboard> out;
  for (const auto& entry : std::filesystem::directory_iterator(kDashboards))
    if (entry.path().extension() == ".json") {
      json j = json::parse(read_file(entry.path().string()), nullptr, false);
      INFO(entry.path().string());
      REQUIRE_MESSAGE(!j.is_discarded(), "not JSON: ", entry.path().string());
      out.push_back({entry.path().filename().string(), std::move(j)});
    }
  std::sort(out.begin(), out.end(), [](const Dashboard& a, const Dashboard& b) { return a.file < b.file; });
  return out;
}

// Every panel, rows' nested panels included, with the repeat row it belongs to ("" if none):
// in a dashboard's flat list a row's panels follow it up to the next row.
struct PanelRef {
  const json* panel;
  std::string repeat;
};
std::vector<PanelRef> all_panels(const json& dashboard) {
  static const json none = json::array();
  std::vector<PanelRef> out;
  std::string repeat;
  for (const json& p : dashboard.contains("panels") ? dashboard.at("panels") : none) {
    if (p.value("type", "") == "row") {
      repeat = p.value("repeat", "");
      out.push_back({&p, ""});
      for (const json& q : p.contains("panels") ? p.at("panels") : none) out.push_back({&q, repeat});
    } else {
      out.push_back({&p, repeat});
    }
  }
  return out;
}

// A query of a dashboard, with what Grafana needs to run it.
struct Query {
  std::string dashboard;
  std::string where;  // panel title, "annotation X" or "variable X"
  std::string datasource_type;
  std::string expr;
  std::string interval;  // the target's (or panel's) minimum step, "" for none
  bool instant = false;
  std::string repeat;  // the variable its row repeats over
};

std::string datasource_type(const json& target, const json& fallback) {
  if (target.contains("datasource") && target["datasource"].is_object())
    return target["datasource"].value("type", "");
  if (fallback.is_object()) return fallback.value("type", "");
  return "";
}

std::vector<Query> queries_of(const Dashboard& d) {
  std::vector<Query> out;
  for (const PanelRef& ref : all_panels(d.model)) {
    const json& p = *ref.panel;
    const json panel_ds = p.value("datasource", json());
    for (const json& t : p.value("targets", json::array())) {
      Query q{d.file, p.value("title", ""), datasource_type(t, panel_ds), t.value("expr", ""),
              t.value("interval", p.value("interval", "")), t.value("instant", false), ref.repeat};
      if (q.datasource_type == "loki") q.instant = t.value("queryType", "") == "instant";
      out.push_back(q);
    }
  }
  for (const json& a : d.model["annotations"].value("list", json::array())) {
    if (a.value("builtIn", 0) == 1) continue;
    const json& target = a.contains("target") ? a["target"] : a;
    out.push_back({d.file, "annotation " + a.value("name", ""), datasource_type(target, a.value("datasource", json())),
                   target.value("expr", a.value("expr", "")), "", false, ""});
  }
  for (const json& v : d.model["templating"].value("list", json::array())) {
    if (v.value("type", "") != "query") continue;
    const std::string expr = v["query"].is_object() ? v["query"].value("query", "") : v.value("query", "");
    out.push_back({d.file, "variable " + v.value("name", ""), datasource_type(v, json()), expr, "", true, ""});
  }
  return out;
}

// Seconds of a Grafana/Prometheus duration such as "15s", "5m", "1h", "1d".
double seconds_of(const std::string& duration) {
  static const std::regex form(R"((\d+)(ms|s|m|h|d|w))");
  std::smatch m;
  if (!std::regex_match(duration, m, form)) throw std::runtime_error("not a duration: " + duration);
  const double n = std::stod(m[1]);
  const std::string unit = m[2];
  return n * (unit == "ms" ? 0.001 : unit == "s" ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : unit == "d" ? 86400 : 604800);
}

std::string duration_of(double seconds) { return std::to_string(static_cast<long>(seconds)) + "s"; }

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
  return s;
}

// Grafana's interpolation of a query: the dashboard's variables (longest names first, so
// $species is not taken for $spec...), then the built-in intervals. `step_s` is the step
// Grafana would use; its datasource's scrape interval is 15 s (provisioning).
std::string interpolate(std::string expr, const std::map<std::string, std::string>& vars, double step_s) {
  std::vector<std::pair<std::string, std::string>> ordered(vars.begin(), vars.end());
  std::sort(ordered.begin(), ordered.end(), [](auto& a, auto& b) { return a.first.size() > b.first.size(); });
  constexpr double kScrape_s = 15;
  expr = replace_all(expr, "$__rate_interval", duration_of(std::max(step_s + kScrape_s, 4 * kScrape_s)));
  expr = replace_all(expr, "$__interval_ms", std::to_string(static_cast<long>(step_s * 1000)));
  expr = replace_all(expr, "$__interval", duration_of(step_s));
  expr = replace_all(expr, "$__range_s", "3600");
  expr = replace_all(expr, "$__range", "1h");
  for (const auto& [name, value] : ordered) {
    expr = replace_all(expr, "${" + name + "}", value);
    expr = replace_all(expr, "$" + name, value);
  }
  return expr;
}

// --- PromQL: the metrics and labels a query names ------------------------------------------

std::set<std::string> metrics_named(const std::string& expr) {
  static const std::regex name(R"(\b((birdsong|process)_[a-z0-9_]+|up)\b)");
  std::set<std::string> out;
  for (std::sregex_iterator it(expr.begin(), expr.end(), name), end; it != end; ++it) out.insert((*it)[1]);
  return out;
}

// metric -> labels used in its selectors ("" for a selector without a metric name).
std::map<std::string, std::set<std::string>> selector_labels(const std::string& expr) {
  static const std::regex selector(R"(([a-zA-Z_:][a-zA-Z0-9_:]*)?\{([^}]*)\})");
  static const std::regex matcher(R"(([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=))");
  std::map<std::string, std::set<std::string>> out;
  for (std::sregex_iterator it(expr.begin(), expr.end(), selector), end; it != end; ++it) {
    const std::string body = (*it)[2];
    auto& labels = out[(*it)[1]];
    for (std::sregex_iterator m(body.begin(), body.end(), matcher); m != end; ++m) labels.insert((*m)[1]);
  }
  return out;
}

// Labels in by/without/on/ignoring/group_left/group_right clauses.
std::set<std::string> grouping_labels(const std::string& expr) {
  static const std::regex clause(R"(\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\))");
  static const std::regex label(R"([a-zA-Z_][a-zA-Z0-9_]*)");
  std::set<std::string> out;
  for (std::sregex_iterator it(expr.begin(), expr.end(), clause), end; it != end; ++it) {
    const std::string list = (*it)[2];
    for (std::sregex_iterator l(list.begin(), list.end(), label); l != end; ++l) out.insert((*l)[0]);
  }
  return out;
}

// Labels a query makes itself: count_values("x", ...) and label_replace(..., "x", ...).
std::set<std::string> labels_made(const std::string& expr) {
  static const std::regex made(R"re((count_values\(\s*"(\w+)")|(,\s*"(\w+)"\s*,\s*"[^"]*"\s*,\s*"\w+"\s*,\s*"[^"]*"\s*\)))re");
  std::set<std::string> out;
  for (std::sregex_iterator it(expr.begin(), expr.end(), made), end; it != end; ++it)
    out.insert((*it)[2].matched ? (*it)[2].str() : (*it)[4].str());
  return out;
}

// The agent's exposition: metric name -> its label names.
std::map<std::string, std::set<std::string>> parse_exposition(const std::string& text) {
  static const std::regex sample(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s)");
  static const std::regex label(R"(([a-zA-Z_][a-zA-Z0-9_]*)=")");
  std::map<std::string, std::set<std::string>> out;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (line.empty() || line[0] == '#' || !std::regex_search(line, m, sample)) continue;
    auto& labels = out[m[1]];
    const std::string body = m[3];
    for (std::sregex_iterator l(body.begin(), body.end(), label), end; l != end; ++l) labels.insert((*l)[1]);
  }
  return out;
}

// --- LogQL: the stream selector ---------------------------------------------------------------

// The label matchers of every stream selector {...} of a LogQL query (the parts between
// braces that are not Go templates {{ }} of line_format / label_format).
std::vector<std::vector<std::tuple<std::string, std::string, std::string>>> stream_selectors(const std::string& expr) {
  static const std::regex matcher(R"ml(\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*)ml");
  std::vector<std::vector<std::tuple<std::string, std::string, std::string>>> out;
  for (std::size_t i = 0; i < expr.size(); ++i) {
    if (expr[i] == '`') {  // a raw string (templates): skip it
      i = expr.find('`', i + 1);
      if (i == std::string::npos) break;
      continue;
    }
    if (expr[i] != '{') continue;
    const std::size_t close = expr.find('}', i);
    const std::string body = expr.substr(i + 1, close - i - 1);
    std::vector<std::tuple<std::string, std::string, std::string>> matchers;
    std::stringstream parts(body);
    for (std::string part; std::getline(parts, part, ',');) {
      std::smatch m;
      if (std::regex_match(part, m, matcher)) matchers.emplace_back(m[1], m[2], m[3]);
      else matchers.emplace_back("?" + part, "", "");
    }
    out.push_back(matchers);
    i = close;
  }
  return out;
}

// --- the provisioning files -------------------------------------------------------------------

// The data sources of the provisioning file, as (uid, type) pairs: a small reader of the
// YAML list this repository writes (`- name:` items with `type:` and `uid:` keys).
std::map<std::string, std::string> provisioned_datasources(const std::string& yaml) {
  std::map<std::string, std::string> out;
  std::string uid, type;
  auto flush = [&] {
    if (!uid.empty()) out[uid] = type;
    uid.clear();
    type.clear();
  };
  static const std::regex key(R"(^\s*-?\s*(name|type|uid):\s*(.*\S)\s*$)");
  std::istringstream lines(yaml);
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (!std::regex_match(line, m, key)) continue;
    if (m[1] == "name") flush();
    else if (m[1] == "type") type = m[2];
    else uid = m[2];
  }
  flush();
  return out;
}

// The event fields a LogQL query reads: the paths of `| json a, b="x.y"` parameters and
// the .names its line_format templates use (on `| json` without parameters: top level).
std::set<std::string> event_fields_read(const std::string& expr) {
  static const std::regex json_stage(R"(\|\s*json\s+([^|`\[]+))");
  static const std::regex param(R"re(\s*(\w+)\s*(=\s*"([^"]+)")?\s*)re");
  static const std::regex template_field(R"(\{\{[^}]*?\.(\w+))");
  std::set<std::string> out;
  for (std::sregex_iterator it(expr.begin(), expr.end(), json_stage), end; it != end; ++it) {
    std::stringstream params((*it)[1].str());
    for (std::string p; std::getline(params, p, ',');) {
      std::smatch m;
      if (std::regex_match(p, m, param)) out.insert(m[3].matched ? m[3].str() : m[1].str());
    }
  }
  const std::size_t format = expr.find("line_format");
  if (format != std::string::npos) {
    const std::string templ = expr.substr(format);
    for (std::sregex_iterator it(templ.begin(), templ.end(), template_field), end; it != end; ++it) out.insert((*it)[1]);
  }
  return out;
}

// The value at a dotted path of an event, or null.
json at_path(const json& event, const std::string& path) {
  const json* node = &event;
  std::stringstream parts(path);
  for (std::string part; std::getline(parts, part, '.');) {
    if (!node->is_object() || !node->contains(part)) return nullptr;
    node = &(*node)[part];
  }
  return *node;
}

// --- servers -------------------------------------------------------------------------------------

int metrics_port_from(const std::string& stderr_text) {
  std::smatch m;
  static const std::regex line(R"(metrics: serving http://127\.0\.0\.1:(\d+)/metrics)");
  return std::regex_search(stderr_text, m, line) ? std::stoi(m[1]) : 0;
}

// Prometheus's answer to an instant query at `time_s`: {"status": ..., "data"/"error": ...}.
json instant_query(int port, const std::string& promql, double time_s) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(2, 0);
  client.set_read_timeout(10, 0);
  char t[32];
  std::snprintf(t, sizeof t, "%.3f", time_s);
  auto res = client.Post("/api/v1/query", httplib::Params{{"query", promql}, {"time", t}});
  if (!res) return {{"status", "error"}, {"error", "no answer"}};
  json j = json::parse(res->body, nullptr, false);
  if (j.is_discarded()) return {{"status", "error"}, {"error", res->body}};
  return j;
}

// The values Grafana's query_result() variable gives: each result as
// `name{label="value", ...} value timestamp`, then the variable's regex (first group).
std::vector<std::string> query_result_values(const json& result, const std::string& grafana_regex) {
  const std::string pattern = grafana_regex.substr(1, grafana_regex.rfind('/') - 1);
  const std::regex re(pattern);
  std::vector<std::string> values;
  for (const json& r : result) {
    std::string text = r["metric"].value("__name__", "") + "{";
    bool first = true;
    for (const auto& [k, v] : r["metric"].items()) {
      if (k == "__name__") continue;
      text += (first ? "" : ", ") + k + "=\"" + v.get<std::string>() + "\"";
      first = false;
    }
    text += "} " + r["value"][1].get<std::string>();
    std::smatch m;
    if (std::regex_search(text, m, re)) values.push_back(m[1]);
  }
  return values;
}

// The web services enrichment reads, on loopback. /v1/...: an Open-Meteo-like forecast
// API answering current conditions and today's sunrise and sunset, in the units and time
// format the request asks for, as Open-Meteo does. /wiki/page/summary/<title>: Wikipedia's
// page summary of a species, with a thumbnail and the article's URL.
class EnrichmentServer {
 public:
  EnrichmentServer() {
    server_.Get(R"(/wiki/page/summary/(.+))", [this](const httplib::Request& req, httplib::Response& res) {
      ++requests_;
      const std::string title = req.matches[1];
      std::string page = title;
      std::replace(page.begin(), page.end(), ' ', '_');
      const json body = {{"type", "standard"},
                         {"title", title},
                         {"description", "Species of bird"},
                         {"extract", title + " is a bird of gardens."},
                         {"thumbnail", {{"source", "http://127.0.0.1:" + std::to_string(port_) + "/thumb/" + page + ".jpg"},
                                        {"width", 320},
                                        {"height", 240}}},
                         {"content_urls", {{"desktop", {{"page", "https://en.wikipedia.org/wiki/" + page}}}}},
                         {"wikibase_item", "Q1"}};
      res.set_content(body.dump(), "application/json");
    });
    server_.Get(R"(/v1/.*)", [this](const httplib::Request& req, httplib::Response& res) {
      ++requests_;
      const bool unixtime = req.get_param_value("timeformat") == "unixtime";
      const bool ms = req.get_param_value("wind_speed_unit") == "ms" || req.get_param_value("windspeed_unit") == "ms";
      const std::time_t now = std::time(nullptr);
      const std::time_t midnight = now - now % 86400;
      auto when = [&](std::time_t t) -> json {
        if (unixtime) return t;
        char s[32];
        std::strftime(s, sizeof s, "%Y-%m-%dT%H:%M", std::gmtime(&t));
        return s;
      };
      const double wind_ms = 3.5;
      json current = {{"time", when(now - now % 900)}, {"interval", 900},
                      {"temperature_2m", 11.5},        {"relative_humidity_2m", 81},
                      {"apparent_temperature", 9.8},  {"is_day", 1},
                      {"precipitation", 0.4},         {"rain", 0.4},
                      {"showers", 0.0},               {"snowfall", 0.0},
                      {"weather_code", 61},           {"cloud_cover", 90},
                      {"pressure_msl", 1013.2},       {"surface_pressure", 1009.8},
                      {"wind_speed_10m", ms ? wind_ms : wind_ms * 3.6},
                      {"wind_direction_10m", 240},    {"wind_gusts_10m", ms ? 7.0 : 25.2}};
      json body = {{"latitude", 51.48},
                   {"longitude", 0.0},
                   {"utc_offset_seconds", 0},
                   {"timezone", "GMT"},
                   {"timezone_abbreviation", "GMT"},
                   {"elevation", 10.0},
                   {"current_units", {{"temperature_2m", "°C"}, {"wind_speed_10m", ms ? "m/s" : "km/h"},
                                      {"precipitation", "mm"}, {"rain", "mm"}, {"pressure_msl", "hPa"}}},
                   {"current", current},
                   {"daily_units", {{"sunrise", unixtime ? "unixtime" : "iso8601"}, {"sunset", unixtime ? "unixtime" : "iso8601"}}},
                   {"daily",
                    {{"time", json::array({when(midnight)})},
                     {"sunrise", json::array({when(midnight + 6 * 3600 + 50 * 60)})},
                     {"sunset", json::array({when(midnight + 17 * 3600 + 10 * 60)})}}}};
      res.set_content(body.dump(), "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~EnrichmentServer() {
    server_.stop();
    thread_.join();
  }
  std::string weather_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }
  std::string wikipedia_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/wiki"; }
  int requests() const { return requests_.load(); }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<int> requests_{0};
};

// True when this agent accepts the configuration section `section` (enrichment came later
// than the dashboards): check-config passes with it.
bool agent_accepts(const TempDir& dir, const std::string& section) {
  const std::string config = dir / "check.toml";
  std::ofstream(config) << "[station]\nid = \"garden\"\nlatitude = 51.48\nlongitude = 0.0\n" << section;
  const std::string cmd =
      std::string(BIRDSONG_AGENT_EXE) + " check-config " + config + " > " + (dir / "check.out") + " 2>&1";
  return std::system(cmd.c_str()) == 0;
}

}  // namespace

TEST_CASE("grafana: dashboards are Grafana 10/11 JSON with unique panel ids, provisioned data sources and agent stream labels") {
  const std::vector<Dashboard> dashboards = load_dashboards();
  REQUIRE(dashboards.size() == 2);
  const std::map<std::string, std::string> datasources =
      provisioned_datasources(read_file(kGrafana + "/provisioning/datasources/birdsong.yaml"));
  REQUIRE(datasources == std::map<std::string, std::string>{{"birdsong-loki", "loki"}, {"birdsong-prometheus", "prometheus"}});

  std::set<std::string> uids;
  for (const Dashboard& d : dashboards) {
    INFO("dashboard ", d.file);
    const json& m = d.model;
    CHECK(m["schemaVersion"] == 39);
    CHECK(uids.insert(m.value("uid", "")).second);
    CHECK(!m.value("title", "").empty());

    // Panels: known types, unique ids, on the 24-column grid.
    std::set<int> ids;
    for (const PanelRef& ref : all_panels(m)) {
      const json& p = *ref.panel;
      INFO("panel ", p.value("title", ""));
      CHECK(kPanelTypes.count(p.value("type", "")) == 1);
      CHECK(ids.insert(p.value("id", -1)).second);
      const json& g = p["gridPos"];
      CHECK(g["x"].get<int>() + g["w"].get<int>() <= 24);
      CHECK(g["h"].get<int>() >= 1);
      if (p.value("type", "") != "row") CHECK(p.contains("targets"));
    }

    // Data sources: panels and queries say ${DS_PROMETHEUS} or ${DS_LOKI}; the dashboard's
    // hidden data-source variables of those names default to the provisioned uids, and
    // __inputs offers them to Grafana's import.
    std::map<std::string, std::string> variable_uid;  // DS_PROMETHEUS -> birdsong-prometheus
    for (const json& v : m["templating"]["list"])
      if (v.value("type", "") == "datasource") {
        variable_uid[v["name"]] = v["current"]["value"];
        CHECK(datasources.count(v["current"]["value"]) == 1);
        CHECK(datasources.at(v["current"]["value"]) == v["query"]);
      }
    std::map<std::string, std::string> input_plugin;
    for (const json& in : m["__inputs"]) input_plugin[in["name"]] = in["pluginId"];
    std::function<void(const json&)> check_refs = [&](const json& node) {
      if (node.is_object()) {
        if (node.contains("datasource") && node["datasource"].is_object()) {
          const std::string type = node["datasource"].value("type", "");
          const std::string uid = node["datasource"].value("uid", "");
          INFO("datasource ", node["datasource"].dump());
          if (type == "grafana") {
            CHECK(uid == "-- Grafana --");
          } else {
            std::smatch var;
            REQUIRE(std::regex_match(uid, var, std::regex(R"(\$\{(DS_[A-Z]+)\})")));
            CHECK(input_plugin[var[1]] == type);
            REQUIRE(variable_uid.count(var[1]) == 1);
            CHECK(datasources.at(variable_uid[var[1]]) == type);
          }
        }
        for (const auto& [key, value] : node.items()) check_refs(value);
      } else if (node.is_array()) {
        for (const json& value : node) check_refs(value);
      }
    };
    check_refs(m);

    // Every $variable a query or a repeat uses is the dashboard's or one of Grafana's.
    std::set<std::string> variables = {"__interval", "__interval_ms", "__rate_interval", "__range", "__range_s",
                                       "__range_ms"};
    for (const json& v : m["templating"]["list"]) variables.insert(v["name"].get<std::string>());
    static const std::regex use(R"(\$\{?([A-Za-z_]\w*))");
    for (const Query& q : queries_of(d))
      for (std::sregex_iterator it(q.expr.begin(), q.expr.end(), use), end; it != end; ++it)
        CHECK_MESSAGE(variables.count((*it)[1]) == 1, q.where, " uses $", (*it)[1].str(), ", which is not defined");
    for (const PanelRef& ref : all_panels(m))
      if (ref.panel->contains("repeat")) {
        const std::string name = ref.panel->at("repeat");
        const auto v = std::find_if(m["templating"]["list"].begin(), m["templating"]["list"].end(),
                                    [&](const json& x) { return x.value("name", "") == name; });
        REQUIRE_MESSAGE(v != m["templating"]["list"].end(), "repeat over an undefined variable ", name);
        CHECK((v->value("multi", false) || v->value("includeAll", false)));
      }

    // Loki: only the agent's stream labels, and always its job.
    for (const Query& q : queries_of(d)) {
      if (q.datasource_type != "loki") continue;
      INFO(q.where, ": ", q.expr);
      const auto selectors = stream_selectors(q.expr);
      CHECK(!selectors.empty());
      for (const auto& matchers : selectors) {
        bool job = false;
        for (const auto& [label, op, value] : matchers) {
          CHECK_MESSAGE(kStreamLabels.count(label) == 1, "the agent sends no stream label ", label);
          if (label == "job") job = op == "=" && value == "birdsong-agent";
          if (label == "kind") CHECK((op == "=" && kKinds.count(value) == 1));
        }
        CHECK(job);
      }
    }
  }
}

TEST_CASE("grafana: compose stack, provisioning paths and the Alloy config refer to what exists") {
  const std::string compose = read_file(kGrafana + "/compose.yaml");
  REQUIRE(!compose.empty());
  // Every file or folder the stack mounts is in the repository.
  static const std::regex mount(R"(-\s+(\./[^:\s]+):)");
  int mounts = 0;
  for (std::sregex_iterator it(compose.begin(), compose.end(), mount), end; it != end; ++it, ++mounts)
    CHECK_MESSAGE(std::filesystem::exists(kGrafana + "/" + (*it)[1].str()), (*it)[1].str());
  CHECK(mounts >= 4);
  // Grafana gets the provisioning where the dashboard provider looks for the JSON files.
  CHECK(compose.find("./provisioning:/etc/grafana/provisioning") != std::string::npos);
  const std::string provider = read_file(kGrafana + "/provisioning/dashboards/birdsong.yaml");
  CHECK(provider.find("path: /etc/grafana/provisioning/dashboards/birdsong\n") != std::string::npos);
  CHECK(compose.find("/etc/grafana/provisioning/dashboards/birdsong/garden.json") != std::string::npos);
  // The data sources point at the compose services.
  const std::string ds = read_file(kGrafana + "/provisioning/datasources/birdsong.yaml");
  CHECK(ds.find("url: http://prometheus:9090") != std::string::npos);
  CHECK(ds.find("url: http://loki:3100") != std::string::npos);
  for (const char* service : {"\n  grafana:", "\n  prometheus:", "\n  loki:", "\n  mosquitto:"})
    CHECK_MESSAGE(compose.find(service) != std::string::npos, service);

  // Prometheus accepts the stack's scrape configuration.
  if (std::filesystem::exists(kPromtool)) {
    TempDir dir;
    const std::string cmd = std::string(kPromtool) + " check config " + kGrafana + "/compose/prometheus.yml > " +
                            (dir / "out.txt") + " 2>&1";
    CHECK_MESSAGE(std::system(cmd.c_str()) == 0, read_file(dir / "out.txt"));
  }

  // Alloy: balanced blocks, every component it references is declared, credentials come
  // from files, and it scrapes the agent's default metrics address.
  const std::string alloy = read_file(kGrafana + "/alloy/config.alloy");
  std::string code;  // without // comments
  {
    std::istringstream lines(alloy);
    for (std::string line; std::getline(lines, line);) code += line.substr(0, line.find("//")) + "\n";
  }
  CHECK(std::count(code.begin(), code.end(), '{') == std::count(code.begin(), code.end(), '}'));
  std::set<std::string> declared;
  static const std::regex block(R"re(\b(local\.file|prometheus\.scrape|prometheus\.remote_write)\s+"(\w+)"\s*\{)re");
  for (std::sregex_iterator it(code.begin(), code.end(), block), end; it != end; ++it)
    declared.insert((*it)[1].str() + "." + (*it)[2].str());
  CHECK(declared.count("prometheus.scrape.birdsong") == 1);
  static const std::regex reference(R"(\b(local\.file|prometheus\.remote_write)\.(\w+)\.(content|receiver)\b)");
  int references = 0;
  for (std::sregex_iterator it(code.begin(), code.end(), reference), end; it != end; ++it, ++references)
    CHECK_MESSAGE(declared.count((*it)[1].str() + "." + (*it)[2].str()) == 1, (*it)[0].str());
  CHECK(references >= 4);
  CHECK(code.find("password = local.file.") != std::string::npos);
  CHECK(code.find("\"127.0.0.1:9808\"") != std::string::npos);  // [metrics] listen's default
}

TEST_CASE("grafana: every Prometheus query of the dashboards runs against a replay through the agent") {
  REQUIRE_MESSAGE(std::filesystem::exists(kPrometheus),
                  "Debian package prometheus is needed (setup.sh installs it with the test packages)");
  const std::vector<Dashboard> dashboards = load_dashboards();
  TempDir dir;
  LokiTestServer loki;
  EnrichmentServer web;
  const std::string weather_section = "[weather]\nenabled = true\nbase_url = \"" + web.weather_url() + "\"\n";
  const std::string wikipedia_section = "[wikipedia]\nenabled = true\nbase_url = \"" + web.wikipedia_url() +
                                        "\"\ncache_path = \"" + (dir / "wikipedia.db") + "\"\n";
  // Enrichment is part of the agent: the weather and Wikipedia panels must have data.
  REQUIRE_MESSAGE(agent_accepts(dir, weather_section), "the agent refused [weather]: ", read_file(dir / "check.out"));
  REQUIRE_MESSAGE(agent_accepts(dir, wikipedia_section), "the agent refused [wikipedia]: ", read_file(dir / "check.out"));

  // The agent, its metrics on a port chosen here so that Prometheus can be scraping it
  // before the replay starts: increase() needs a sample from before the first detection.
  const int agent_port = free_port();
  const std::string config = dir / "agent.toml";
  {
    std::ofstream c(config);
    c << "[station]\nid = \"garden\"\n";
    c << "latitude = 51.48\nlongitude = 0.0\n";
    c << "[species]\nprofiles = \"" << BIRDSONG_SOURCE_DIR << "/profiles/demo.pack\"\n"
      << "[metrics]\nlisten = \"127.0.0.1:" << agent_port << "\"\n"
      << "[loki]\nurl = \"" << loki.url() << "\"\nbatch_wait_s = 0.1\n"
      << "[outbox]\npath = \"" << (dir / "outbox.db") << "\"\n";
    c << weather_section << wikipedia_section;
  }
#ifdef BIRDSONG_WITH_MQTT
  std::filesystem::create_directories(dir / "mosquitto");
  Mosquitto mosquitto(dir / "mosquitto");
  std::ofstream(config, std::ios::app) << "[mqtt]\nurl = \"" << mosquitto.url() << "\"\n";
#endif

  // Prometheus scraping the agent every 200 ms (a free port; another if it was taken).
  std::ofstream(dir / "prometheus.yml") << "global:\n  scrape_interval: 200ms\n  scrape_timeout: 200ms\n"
                                        << "scrape_configs:\n  - job_name: birdsong\n    static_configs:\n"
                                        << "      - targets: ['127.0.0.1:" << agent_port << "']\n";
  std::unique_ptr<Process> prometheus;
  int prometheus_port = 0;
  for (int attempt = 0; attempt < 3 && !prometheus; ++attempt) {
    prometheus_port = free_port();
    prometheus = std::make_unique<Process>(
        std::vector<std::string>{kPrometheus, "--config.file=" + (dir / "prometheus.yml"),
                                 "--storage.tsdb.path=" + (dir / "tsdb"),
                                 "--web.listen-address=127.0.0.1:" + std::to_string(prometheus_port)},
        dir / "prometheus.out", dir / "prometheus.err");
    if (!eventually([&] { return port_open(prometheus_port) || !prometheus->running(); }, 30s) ||
        !prometheus->running())
      prometheus.reset();
  }
  REQUIRE_MESSAGE(prometheus, read_file(dir / "prometheus.err"));
  auto now_s = [] { return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(); };
  REQUIRE_MESSAGE(eventually([&] { return instant_query(prometheus_port, "up", now_s()).value("status", "") == "success"; }, 30s),
                  read_file(dir / "prometheus.err"));

  // The replay at four times real time (8 s; the first detection comes after 4 s):
  // Prometheus, scraping every 200 ms, sees the counters rise.
  Process agent({BIRDSONG_AGENT_EXE, "run", "--config", config, "--replay",
                 std::string(BIRDSONG_SOURCE_DIR) + "/tests/fixtures/garden-demo.flac", "--speed", "4", "--linger-s", "120"},
                dir / "agent.out", dir / "agent.err");
  REQUIRE_MESSAGE(eventually([&] { return metrics_port_from(read_file(dir / "agent.err")) == agent_port; }, 20s),
                  read_file(dir / "agent.err"));
  REQUIRE_MESSAGE(eventually([&] { return read_file(dir / "agent.err").find("end of input") != std::string::npos; }, 60s),
                  read_file(dir / "agent.err"));

  // What the agent printed: its events, and the species it named.
  std::vector<json> events;
  std::set<std::string> species_heard;
  {
    std::istringstream lines(read_file(dir / "agent.out"));
    for (std::string line; std::getline(lines, line);)
      if (!line.empty()) {
        events.push_back(json::parse(line));
        if (events.back()["species"].is_string()) species_heard.insert(events.back()["species"]);
      }
  }
  REQUIRE(!events.empty());
  REQUIRE_MESSAGE(!species_heard.empty(), "the demo pack named no species in the demo recording");
  // Loki: every detection arrives, in streams labelled only as the dashboards select them.
  auto detection_lines = [&loki] {
    std::vector<json> lines;
    for (const LokiPush& push : loki.pushes())
      if (push.answered / 100 == 2)
        for (const LokiStream& stream : push.streams)
          if (stream.labels.count("kind") == 1 && stream.labels.at("kind") == "detection")
            for (const LokiEntry& e : stream.entries) lines.push_back(json::parse(e.line));
    return lines;
  };
  REQUIRE_MESSAGE(eventually([&] { return detection_lines().size() == events.size(); }, 30s),
                  detection_lines().size(), " of ", events.size(), " detections reached Loki");
  for (const LokiPush& push : loki.pushes())
    for (const LokiStream& stream : push.streams) {
      for (const auto& [label, value] : stream.labels) CHECK_MESSAGE(kStreamLabels.count(label) == 1, label);
      CHECK(stream.labels.size() == kStreamLabels.size());
      CHECK(kKinds.count(stream.labels.at("kind")) == 1);
      CHECK(stream.labels.at("job") == "birdsong-agent");
      CHECK(stream.labels.at("station") == "garden");
    }
  // The event fields the dashboards' LogQL reads are in the events the agent pushed.
  const std::vector<json> pushed = detection_lines();
  for (const Dashboard& d : dashboards)
    for (const Query& q : queries_of(d)) {
      if (q.datasource_type != "loki") continue;
      for (const std::string& field : event_fields_read(q.expr)) {
        const bool found = std::any_of(pushed.begin(), pushed.end(), [&](const json& e) {
          const json v = at_path(e, field);
          return !v.is_null();
        });
        CHECK_MESSAGE(found, d.file, ": ", q.where, " reads the event field ", field, ", which no pushed event has");
      }
    }
  const std::string total = "sum(birdsong_detections_total)";
  CHECK_MESSAGE(eventually([&] {
                  const json r = instant_query(prometheus_port, total, now_s());
                  return r["data"]["result"].size() == 1 &&
                         r["data"]["result"][0]["value"][1] == std::to_string(events.size());
                }, 20s),
                "Prometheus never saw all ", events.size(), " detections");
  CHECK_MESSAGE(eventually([&] {
                    return !instant_query(prometheus_port, "birdsong_weather_temperature_celsius", now_s())["data"]["result"].empty();
                  }, 30s),
                  "no weather observation reached Prometheus; the enrichment server had ", web.requests(), " requests");

  // Every metric and label the dashboards name is in the agent's exposition.
  httplib::Client client("127.0.0.1", agent_port);
  auto exposition_res = client.Get("/metrics");
  REQUIRE(exposition_res);
  const auto exposition = parse_exposition(exposition_res->body);
  std::set<std::string> exposed_labels = {"job", "instance"};  // Prometheus adds them to every series
  for (const auto& [metric, labels] : exposition) exposed_labels.insert(labels.begin(), labels.end());
  auto optional_metric = [&](const std::string& metric) {
#ifndef BIRDSONG_WITH_MQTT
    if (metric == "birdsong_mqtt_connected") return true;
#endif
    return metric == "up";  // made by Prometheus
  };

  // Variables as Grafana sets them: station from its label_values() query, species from
  // its query_result(); the rest at their defaults.
  std::map<std::string, std::string> vars = {{"min_confidence", "0"}, {"utc_offset_h", "0"}};
  {
    httplib::Client p("127.0.0.1", prometheus_port);
    auto res = p.Get("/api/v1/label/station/values", httplib::Params{{"match[]", "birdsong_build_info"}}, httplib::Headers{});
    REQUIRE(res);
    const json stations = json::parse(res->body)["data"];
    CHECK(stations == json::array({"garden"}));
    vars["station"] = stations.empty() ? "garden" : stations[0].get<std::string>();
  }
  std::vector<std::string> species_values;
  for (const Dashboard& d : dashboards)
    for (const json& v : d.model["templating"]["list"])
      if (v.value("name", "") == "species") {
        const std::string expr = v["query"]["query"];
        REQUIRE(expr.rfind("query_result(", 0) == 0);
        const std::string inner = expr.substr(13, expr.size() - 14);
        const json r = instant_query(prometheus_port, interpolate(inner, vars, 15), now_s());
        REQUIRE_MESSAGE(r.value("status", "") == "success", r.dump());
        species_values = query_result_values(r["data"]["result"], v["regex"]);
      }
  REQUIRE(!species_values.empty());
  for (const std::string& s : species_values) CHECK_MESSAGE(species_heard.count(s) == 1, s, " was not printed by the agent");

  int ran = 0, with_data = 0;
  std::map<std::string, std::set<std::string>> panels_with_data;  // file -> titles
  for (const Dashboard& d : dashboards) {
    for (const Query& q : queries_of(d)) {
      if (q.datasource_type != "prometheus") continue;
      INFO(d.file, ": ", q.where, ": ", q.expr);
      std::string expr = q.expr;
      if (q.where.rfind("variable ", 0) == 0) {
        if (expr.rfind("query_result(", 0) == 0) expr = expr.substr(13, expr.size() - 14);
        static const std::regex label_values(R"(label_values\((.*),\s*(\w+)\))");
        std::smatch m;
        if (std::regex_match(expr, m, label_values)) expr = m[1];  // the series it lists the label of
      }
      // Names and labels, before interpolation (labels only where every metric is exposed).
      bool all_exposed = true;
      for (const std::string& metric : metrics_named(expr)) {
        CHECK_MESSAGE((exposition.count(metric) == 1 || optional_metric(metric)), "not exposed by the agent: ", metric);
        all_exposed = all_exposed && (exposition.count(metric) == 1 || metric == "up");
      }
      for (const auto& [metric, labels] : selector_labels(expr))
        for (const std::string& label : labels) {
          if (!metric.empty() && exposition.count(metric) == 0 && optional_metric(metric)) continue;
          const bool known = metric.empty() || optional_metric(metric) ? exposed_labels.count(label) == 1
                                                                       : exposition.count(metric) == 1 &&
                                                                             (exposition.at(metric).count(label) == 1 ||
                                                                              label == "job" || label == "instance");
          CHECK_MESSAGE(known, metric, " has no label ", label);
        }
      const std::set<std::string> made = labels_made(expr);
      for (const std::string& label : grouping_labels(expr))
        if (all_exposed)
          CHECK_MESSAGE((exposed_labels.count(label) == 1 || made.count(label) == 1), "no series has the label ", label);

      // Run it where Grafana would: a range panel's last step is `now` rounded down to its step.
      const double step_s = q.interval.empty() ? 15 : seconds_of(q.interval);
      auto query_vars = vars;
      query_vars["species"] = q.repeat == "species" ? species_values.front() : ".*";
      const std::string promql = interpolate(expr, query_vars, step_s);
      const double now = now_s();
      // Panels with a minimum step (5m, 1h, 1d) look ahead one step from `now` rounded down
      // to it, as Grafana aligns them; the others' last step is within one step of `now`.
      const double at = q.interval.empty() ? now : std::floor(now / step_s) * step_s;
      const json r = instant_query(prometheus_port, promql, at);
      ++ran;
      CHECK_MESSAGE(r.value("status", "") == "success", promql, " -> ", r.dump());
      if (r.value("status", "") == "success" && !r["data"]["result"].empty()) {
        ++with_data;
        panels_with_data[d.file].insert(q.where);
      }
    }
  }
  for (const auto& [file, titles] : kCorePanels)
    for (const std::string& title : titles) CHECK_MESSAGE(panels_with_data[file].count(title) == 1, file, ": no data in ", title);
  for (const auto& [file, titles] : kWeatherPanels)
    for (const std::string& title : titles) CHECK_MESSAGE(panels_with_data[file].count(title) == 1, file, ": no data in ", title);
  MESSAGE(ran, " Prometheus queries ran, ", with_data, " returned data; ", events.size(), " events, ",
          species_heard.size(), " species");
  CHECK(ran >= 40);

  agent.signal(SIGTERM);
  CHECK(agent.wait(20s));
  CHECK(WEXITSTATUS(agent.exit_status()) == 0);
  prometheus->signal(SIGTERM);
  CHECK(prometheus->wait(30s));
}
