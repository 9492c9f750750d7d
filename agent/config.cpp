#include "agent/config.hpp"

#include <charconv>
#include <fstream>
#include <set>
#include <sstream>
#include <toml++/toml.h>

namespace birdsong {

namespace {

// Reads one table, remembering which keys were used so that unknown ones (typos)
// are reported instead of being silently ignored.
class TableReader {
 public:
  TableReader(const toml::table* table, std::string section, const std::string& origin)
      : table_(table), section_(std::move(section)), origin_(origin) {}

  [[noreturn]] void fail(const std::string& key, const std::string& value, const std::string& expected) const {
    throw ConfigError(origin_ + ": [" + section_ + "] " + key + " = " + value + ": expected " + expected);
  }

  void number(const std::string& key, double& out, double lo, double hi, const std::string& unit = "") {
    const toml::node* n = find(key);
    if (n == nullptr) return;
    std::optional<double> v = n->value<double>();
    if (!v || !(*v >= lo && *v <= hi)) {
      std::ostringstream want;
      want << "a number from " << lo << " to " << hi << (unit.empty() ? "" : " " + unit);
      fail(key, text(*n), want.str());
    }
    out = *v;
  }
  void number(const std::string& key, std::optional<double>& out, double lo, double hi, const std::string& unit) {
    if (find(key) == nullptr) return;
    double v = 0.0;
    number(key, v, lo, hi, unit);
    out = v;
  }
  void integer(const std::string& key, int& out, int lo, int hi) {
    const toml::node* n = find(key);
    if (n == nullptr) return;
    std::optional<int64_t> v = n->is_integer() ? n->value<int64_t>() : std::nullopt;
    if (!v || *v < lo || *v > hi)
      fail(key, text(*n), "a whole number from " + std::to_string(lo) + " to " + std::to_string(hi));
    out = static_cast<int>(*v);
  }
  void string(const std::string& key, std::string& out, bool allow_empty = true) {
    const toml::node* n = find(key);
    if (n == nullptr) return;
    if (!n->is_string() || (!allow_empty && n->as_string()->get().empty()))
      fail(key, text(*n), allow_empty ? "a string" : "a non-empty string");
    out = n->as_string()->get();
  }
  void boolean(const std::string& key, bool& out) {
    const toml::node* n = find(key);
    if (n == nullptr) return;
    if (!n->is_boolean()) fail(key, text(*n), "true or false");
    out = n->as_boolean()->get();
  }
  // A list of strings, e.g. include = ["Turdus merula", "Parus major"].
  void strings(const std::string& key, std::vector<std::string>& out) {
    const toml::node* n = find(key);
    if (n == nullptr) return;
    const toml::array* a = n->as_array();
    if (a == nullptr) fail(key, text(*n), "a list of strings");
    for (const toml::node& item : *a) {
      if (!item.is_string()) fail(key, text(*n), "a list of strings");
      out.push_back(item.as_string()->get());
    }
  }
  // A sub-table of named values, e.g. thresholds = { "Turdus merula" = 0.7 }.
  template <class OnEntry>
  void table(const std::string& key, OnEntry&& on_entry) {
    const toml::node* n = find(key);
    if (n == nullptr) return;
    const toml::table* t = n->as_table();
    if (t == nullptr) fail(key, text(*n), "a table of names and values");
    for (const auto& [k, v] : *t) on_entry(std::string(k.str()), v);
  }
  // A device may be given by name or by index.
  void string_or_index(const std::string& key, std::string& out) {
    const toml::node* n = find(key);
    if (n == nullptr) return;
    if (n->is_integer() && n->as_integer()->get() >= 0) out = std::to_string(n->as_integer()->get());
    else if (n->is_string()) out = n->as_string()->get();
    else fail(key, text(*n), "a device name or a device index >= 0");
  }
  void finish() const {
    if (table_ == nullptr) return;
    for (const auto& [k, v] : *table_)
      if (!used_.count(std::string(k.str())))
        throw ConfigError(origin_ + ": [" + section_ + "] " + std::string(k.str()) + ": unknown key");
  }

  static std::string text_of(const toml::node& n) { return text(n); }

 private:
  const toml::node* find(const std::string& key) {
    used_.insert(key);
    return table_ != nullptr ? table_->get(key) : nullptr;
  }
  // The value as the user wrote it. toml++ prints a float with 17 digits, so -0.1 would
  // come back as -0.10000000000000001; the shortest text that reads back as the same
  // number is what the user typed.
  static std::string text(const toml::node& n) {
    if (const auto* f = n.as_floating_point()) {
      char buf[32];
      const auto r = std::to_chars(buf, buf + sizeof buf, f->get());
      std::string out(buf, r.ptr);
      if (out.find_first_of(".eEn") == std::string::npos) out += ".0";  // 2.0 stays a float, not 2
      return out;
    }
    std::ostringstream s;
    n.visit([&](auto&& v) { s << v; });
    return s.str();
  }
  const toml::table* table_;
  std::string section_;
  const std::string& origin_;
  std::set<std::string> used_;
};

// [loki]: present means "push events to Loki"; url is then required.
LokiConfig parse_loki(const toml::table* table, const std::string& origin) {
  TableReader r(table, "loki", origin);
  LokiConfig l;
  r.string("url", l.url, false);
  r.string("tenant", l.tenant);
  r.string("username", l.username);
  r.string("password_file", l.password_file);
  r.string("ca_file", l.ca_file);
  r.integer("batch_max_records", l.batch_max_records, 1, 100000);
  r.integer("batch_max_bytes", l.batch_max_bytes, 1024, 64 * 1024 * 1024);
  r.number("batch_wait_s", l.batch_wait_s, 0.0, 60.0, "seconds");
  r.number("timeout_s", l.timeout_s, 0.1, 300.0, "seconds");
  r.finish();
  if (l.url.empty()) throw ConfigError(origin + ": [loki] url: missing (e.g. \"http://localhost:3100\")");
  if (l.url.rfind("http://", 0) != 0 && l.url.rfind("https://", 0) != 0)
    r.fail("url", "\"" + l.url + "\"", "an http:// or https:// URL");
  if (l.username.empty() != l.password_file.empty())
    r.fail(l.username.empty() ? "password_file" : "username",
           "\"" + (l.username.empty() ? l.password_file : l.username) + "\"",
           "username and password_file together (basic auth) or neither");
  return l;
}

// [species]: the profile pack and what to report from it. Species names are checked
// against the pack when it is loaded (agent/species/identification.cpp).
SpeciesConfig parse_species(const toml::table* table, const std::string& origin) {
  TableReader r(table, "species", origin);
  SpeciesConfig s;
  r.string("profiles", s.profiles);
  r.number("min_confidence", s.min_confidence, 0.0, 1.0, "");
  r.number("rescue_confidence", s.rescue_confidence, 0.0, 1.0);
  r.table("thresholds", [&](const std::string& name, const toml::node& n) {
    std::optional<double> v = n.value<double>();
    if (!v || !(*v >= 0.0 && *v <= 1.0)) r.fail("thresholds." + name, TableReader::text_of(n), "a probability from 0 to 1");
    s.thresholds[name] = *v;
  });
  r.strings("include", s.include);
  r.strings("exclude", s.exclude);
  r.finish();
  return s;
}

// [metrics] listen = "host:port", "[v6 address]:port".
MetricsConfig parse_metrics(const toml::table* table, const std::string& origin) {
  TableReader r(table, "metrics", origin);
  MetricsConfig m;
  r.boolean("enabled", m.enabled);
  std::string listen = m.host + ":" + std::to_string(m.port);
  r.string("listen", listen);
  r.finish();
  const auto bad = [&] { r.fail("listen", "\"" + listen + "\"", "host:port, e.g. \"127.0.0.1:9808\""); };
  const std::size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size()) bad();
  std::string host = listen.substr(0, colon);
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') bad();
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string::npos) {
    bad();  // a bare IPv6 address is ambiguous: it must be in brackets
  }
  const std::string port = listen.substr(colon + 1);
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) > 65535)
    bad();
  m.host = host;
  m.port = std::stoi(port);
  return m;
}

// [outbox]: where events wait for the sinks, and how much of them may wait.
OutboxConfig parse_outbox(const toml::table* table, const std::string& origin) {
  TableReader r(table, "outbox", origin);
  OutboxConfig o;
  r.string("path", o.path);
  r.integer("max_records", o.max_records, 100, 100000000);
  r.integer("max_bytes", o.max_bytes, 1000000, 2000000000);
  r.number("max_age_days", o.max_age_days, 0.01, 3650.0, "days");
  std::string sync = o.sync_full ? "full" : "normal";
  r.string("sync", sync);
  r.finish();
  if (sync != "full" && sync != "normal") r.fail("sync", "\"" + sync + "\"", "\"full\" or \"normal\"");
  o.sync_full = sync == "full";
  return o;
}

// A topic prefix: levels separated by '/', no wildcards, no empty level.
bool valid_topic_prefix(const std::string& prefix) {
  if (prefix.empty() || prefix.front() == '/' || prefix.back() == '/' || prefix.find("//") != std::string::npos)
    return false;
  return prefix.find_first_of("+#") == std::string::npos;
}

// [mqtt]: present means "publish events over MQTT"; url is then required.
MqttConfig parse_mqtt(const toml::table* table, const std::string& origin) {
  TableReader r(table, "mqtt", origin);
  MqttConfig m;
  r.string("url", m.url, false);
  r.string("username", m.username);
  r.string("password_file", m.password_file);
  r.string("ca_file", m.ca_file);
  r.boolean("tls_verify", m.tls_verify);
  r.string("topic_prefix", m.topic_prefix);
  r.string("client_id", m.client_id);
  r.integer("qos", m.qos, 1, 2);
  r.boolean("discovery", m.discovery);
  r.string("discovery_prefix", m.discovery_prefix);
  r.number("timeout_s", m.timeout_s, 1.0, 300.0, "seconds");
  r.integer("keepalive_s", m.keepalive_s, 5, 3600);
  r.finish();
  if (m.url.empty()) throw ConfigError(origin + ": [mqtt] url: missing (e.g. \"mqtt://localhost:1883\")");
  const bool tls = m.url.rfind("mqtts://", 0) == 0;
  if (!tls && m.url.rfind("mqtt://", 0) != 0)
    r.fail("url", "\"" + m.url + "\"", "mqtt://host[:port] or mqtts://host[:port]");
  const std::string authority = m.url.substr(tls ? 8 : 7);
  const std::size_t colon = authority.rfind(':');
  const std::string host = authority.substr(0, colon);
  const std::string port = colon == std::string::npos ? "" : authority.substr(colon + 1);
  const bool port_ok = colon == std::string::npos ||
                       (!port.empty() && port.size() <= 5 && port.find_first_not_of("0123456789") == std::string::npos &&
                        std::stoi(port) >= 1 && std::stoi(port) <= 65535);
  if (host.empty() || host.find_first_of("/?#@ ") != std::string::npos || !port_ok)
    r.fail("url", "\"" + m.url + "\"", "mqtt://host[:port] or mqtts://host[:port], no path");
  if (!valid_topic_prefix(m.topic_prefix))
    r.fail("topic_prefix", "\"" + m.topic_prefix + "\"", "topic levels separated by '/', without + or #");
  if (!valid_topic_prefix(m.discovery_prefix))
    r.fail("discovery_prefix", "\"" + m.discovery_prefix + "\"", "topic levels separated by '/', without + or #");
  if (m.username.empty() && !m.password_file.empty())
    r.fail("password_file", "\"" + m.password_file + "\"", "a username too (MQTT sends no password without one)");
  if (!tls && (!m.ca_file.empty() || !m.tls_verify))
    r.fail(m.ca_file.empty() ? "tls_verify" : "ca_file", m.ca_file.empty() ? "false" : "\"" + m.ca_file + "\"",
           "an mqtts:// url (TLS options do nothing without TLS)");
  return m;
}

bool http_url(const std::string& url) { return url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0; }

// [weather]: needs [station] latitude and longitude. Without them weather is off, unless
// the section asks for it with enabled = true, which is then an error.
WeatherConfig parse_weather(const toml::table* table, const StationConfig& station, const std::string& origin) {
  TableReader r(table, "weather", origin);
  WeatherConfig w;
  r.boolean("enabled", w.enabled);
  r.integer("interval_minutes", w.interval_minutes, 15, 24 * 60);
  r.string("base_url", w.base_url, false);
  r.number("timeout_s", w.timeout_s, 1.0, 120.0, "seconds");
  r.finish();
  if (!http_url(w.base_url)) r.fail("base_url", "\"" + w.base_url + "\"", "an http:// or https:// URL");
  const bool located = station.latitude && station.longitude;
  if (table != nullptr && table->get("enabled") != nullptr && w.enabled && !located)
    r.fail("enabled", "true", "[station] latitude and longitude (weather is looked up for that place)");
  if (!located) w.enabled = false;
  return w;
}

// [wikipedia]: language is a Wikipedia edition's code: en, de, simple, zh-yue ...
WikipediaConfig parse_wikipedia(const toml::table* table, const std::string& origin) {
  TableReader r(table, "wikipedia", origin);
  WikipediaConfig w;
  r.boolean("enabled", w.enabled);
  r.string("language", w.language, false);
  r.string("base_url", w.base_url);
  r.number("timeout_s", w.timeout_s, 1.0, 120.0, "seconds");
  r.string("cache_path", w.cache_path);
  r.finish();
  const bool code_ok = w.language.size() >= 2 && w.language.size() <= 16 && w.language.front() != '-' &&
                       w.language.back() != '-' &&
                       w.language.find_first_not_of("abcdefghijklmnopqrstuvwxyz-") == std::string::npos;
  if (!code_ok) r.fail("language", "\"" + w.language + "\"", "a Wikipedia language code such as \"en\" or \"de\"");
  if (!w.base_url.empty() && !http_url(w.base_url))
    r.fail("base_url", "\"" + w.base_url + "\"", "an http:// or https:// URL");
  return w;
}

}  // namespace

Config parse_config(const std::string& toml_text, const std::string& origin) {
  toml::table root;
  try {
    root = toml::parse(toml_text, origin);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    throw ConfigError(origin + ":" + std::to_string(where.line) + ":" + std::to_string(where.column) +
                      ": " + std::string(e.description()));
  }
  Config c;
  const std::set<std::string> sections = {"station", "audio", "detector", "loki", "metrics", "mqtt", "outbox", "species",
                                         "weather", "wikipedia"};
  for (const auto& [k, v] : root) {
    const std::string key(k.str());
    if (!sections.count(key)) throw ConfigError(origin + ": [" + key + "]: unknown section");
    if (!v.is_table()) throw ConfigError(origin + ": " + key + ": expected a [" + key + "] table");
  }

  TableReader station(root["station"].as_table(), "station", origin);
  station.string("id", c.station.id, false);
  for (char ch : c.station.id)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_'))
      station.fail("id", "\"" + c.station.id + "\"", "letters, digits, '-' and '_' (it names MQTT topics)");
  station.number("latitude", c.station.latitude, -90.0, 90.0, "degrees");
  station.number("longitude", c.station.longitude, -180.0, 180.0, "degrees");
  station.string("contact", c.station.contact);
  station.finish();
  if (c.station.latitude.has_value() != c.station.longitude.has_value())
    station.fail(c.station.latitude ? "longitude" : "latitude", "(missing)",
                 "latitude and longitude together, or neither");
  for (char ch : c.station.contact)
    if (std::iscntrl(static_cast<unsigned char>(ch)) || ch == '(' || ch == ')')
      station.fail("contact", "\"" + c.station.contact + "\"", "an e-mail address or URL without control characters or brackets");

  TableReader audio(root["audio"].as_table(), "audio", origin);
  audio.string_or_index("device", c.audio.device);
  audio.number("sample_rate_hz", c.audio.sample_rate_hz, 8000.0, 384000.0, "Hz");
  audio.integer("frames_per_buffer", c.audio.frames_per_buffer, 64, 16384);
  audio.number("ring_s", c.audio.ring_s, 1.0, 120.0, "seconds");
  audio.finish();

  TableReader det(root["detector"].as_table(), "detector", origin);
  dsp::DetectorConfig& d = c.detector;
  det.number("min_hz", d.min_hz, 0.0, 192000.0, "Hz");
  det.number("max_hz", d.max_hz, 1.0, 192000.0, "Hz");
  det.number("frame_s", d.frame_s, 0.002, 0.1, "seconds");
  det.number("threshold_db", d.threshold_db, 0.1, 60.0, "dB");
  det.number("min_snr_db", d.min_snr_db, 0.0, 100.0, "dB");
  det.number("min_duration_s", d.min_duration_s, 0.0, 10.0, "seconds");
  det.number("max_duration_s", d.max_duration_s, 0.01, 600.0, "seconds");
  det.number("merge_gap_s", d.merge_gap_s, 0.0, 5.0, "seconds");
  det.number("noise_adapt_s", d.noise_adapt_s, 0.1, 600.0, "seconds");
  det.number("min_confidence", d.min_confidence, 0.0, 1.0);
  det.finish();
  if (d.max_hz <= d.min_hz)
    det.fail("max_hz", std::to_string(d.max_hz), "a frequency above min_hz (" + std::to_string(d.min_hz) + ")");
  if (d.max_duration_s <= d.min_duration_s)
    det.fail("max_duration_s", std::to_string(d.max_duration_s), "more than min_duration_s");
  if (d.max_hz > c.audio.sample_rate_hz / 2.0)
    det.fail("max_hz", std::to_string(d.max_hz), "at most half of [audio] sample_rate_hz");

  if (const toml::table* loki = root["loki"].as_table()) c.loki = parse_loki(loki, origin);
  c.metrics = parse_metrics(root["metrics"].as_table(), origin);
  if (const toml::table* mqtt = root["mqtt"].as_table()) c.mqtt = parse_mqtt(mqtt, origin);
  c.outbox = parse_outbox(root["outbox"].as_table(), origin);
  c.species = parse_species(root["species"].as_table(), origin);
  c.weather = parse_weather(root["weather"].as_table(), c.station, origin);
  c.wikipedia = parse_wikipedia(root["wikipedia"].as_table(), origin);
  return c;
}

Config load_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path + ": cannot open configuration file");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw ConfigError(path + ": cannot read configuration file");
  return parse_config(text.str(), path);
}

}  // namespace birdsong
