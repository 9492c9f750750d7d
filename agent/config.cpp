#include "agent/config.hpp"

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

 private:
  const toml::node* find(const std::string& key) {
    used_.insert(key);
    return table_ != nullptr ? table_->get(key) : nullptr;
  }
  static std::string text(const toml::node& n) {
    std::ostringstream s;
    n.visit([&](auto&& v) { s << v; });
    return s.str();
  }
  const toml::table* table_;
  std::string section_;
  const std::string& origin_;
  std::set<std::string> used_;
};

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
  const std::set<std::string> sections = {"station", "audio", "detector"};
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
  station.finish();

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
