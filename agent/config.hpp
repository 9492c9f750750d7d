// The agent's configuration: one TOML file, validated up front.
//
// Every key is documented in agent.example.toml (which a test parses). A bad key or
// value raises ConfigError with one line naming the key, the value and what was
// expected; main turns that into exit code 2.
#pragma once

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "dsp/detector.hpp"

namespace birdsong {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct StationConfig {
  std::string id = "garden";               // names this station in events, topics, labels
  std::optional<double> latitude;          // degrees north, -90..90
  std::optional<double> longitude;         // degrees east, -180..180
  std::string contact;                     // e-mail or URL in the User-Agent of web look-ups; empty: the project URL
};

struct AudioConfig {
  std::string device;                      // PortAudio device name (substring) or index; empty: default input
  double sample_rate_hz = 48000.0;
  int frames_per_buffer = 1024;            // PortAudio callback size
  double ring_s = 10.0;                    // capture ring buffer length
};

// Grafana Loki push (agent/sinks/loki_sink.hpp). Present only when [loki] is in the file.
struct LokiConfig {
  std::string url;                         // http(s)://host:3100 or the full .../loki/api/v1/push URL
  std::string tenant;                      // X-Scope-OrgID header; empty: none (single-tenant Loki)
  std::string username;                    // basic auth (Grafana Cloud: the numeric user id)
  std::string password_file;               // file holding the password or API token (never in the config)
  std::string ca_file;                     // extra CA bundle for https; empty: the system's
  int batch_max_records = 500;             // records per push at most
  int batch_max_bytes = 1048576;           // event JSON bytes per push at most (before gzip)
  double batch_wait_s = 1.0;               // how long a partial batch may wait for more records
  double timeout_s = 10.0;                 // whole request, connect included
};

// The Prometheus /metrics endpoint (agent/metrics/metrics_server.hpp).
struct MetricsConfig {
  bool enabled = true;
  std::string host = "127.0.0.1";          // from `listen = "host:port"` ("[::1]:9808" for IPv6)
  int port = 9808;                         // 0 picks a free port (tests)
};

// The durable outbox (agent/delivery/outbox.hpp), used when at least one sink is configured.
struct OutboxConfig {
  std::string path;                        // empty: default_outbox_path() ($STATE_DIRECTORY/outbox.db under systemd)
  int max_records = 100000;                // oldest dropped (and counted) beyond these bounds
  int max_bytes = 64000000;
  double max_age_days = 7.0;
  bool sync_full = true;                   // sync = "full": an event is on the card before it is sent
};

// MQTT with Home Assistant discovery (agent/sinks/mqtt_sink.hpp). Present only when [mqtt] is in the file.
struct MqttConfig {
  std::string url;                         // mqtt://host[:1883] or mqtts://host[:8883] (TLS)
  std::string username;
  std::string password_file;               // file holding the password (never in the config)
  std::string ca_file;                     // CA bundle for mqtts; empty: the system's
  bool tls_verify = true;                  // certificate and host name checks (mqtts)
  std::string topic_prefix = "birdsong";   // topics <prefix>/<station>/detection, /status, /state
  std::string client_id;                   // empty: birdsong-<station id>
  int qos = 1;                             // 1 or 2: a message counts as sent once the broker acknowledged it
  bool discovery = true;                   // Home Assistant MQTT discovery messages
  std::string discovery_prefix = "homeassistant";
  double timeout_s = 10.0;                 // connecting, and the acknowledgements of one batch
  int keepalive_s = 30;                    // the broker publishes the last will this long (x1.5) after a silent loss
};

// [species]: names the species of each sound with a profile pack (agent/species/).
struct SpeciesConfig {
  std::string profiles;                      // profile pack (birdsong-agent learn); empty: no classification
  std::optional<double> min_confidence;      // report a species from this calibrated probability (default: the pack's)
  std::map<std::string, double> thresholds;  // per species (scientific name): overrides min_confidence
  std::vector<std::string> include;          // report only these species (empty: all in the pack)
  std::vector<std::string> exclude;          // never report these
  // A sound less bird-like than [detector] min_confidence is reported when the pack names
  // a species for it with at least this calibrated probability (1, the default: never;
  // README "Species profiles" gives what 0.7 gains and costs).
  double rescue_confidence = 1.0;
};

// [weather]: Open-Meteo current weather for [station] latitude/longitude (agent/enrichment/weather.hpp).
// On when both latitude and longitude are set, unless enabled = false.
struct WeatherConfig {
  bool enabled = true;
  int interval_minutes = 15;               // between look-ups; Open-Meteo's current values change every 15 min
  std::string base_url = "https://api.open-meteo.com/v1";  // a mirror: <base_url>/forecast?...
  double timeout_s = 10.0;                 // one request, connect included
};

// [wikipedia]: species facts from Wikipedia's page summary (agent/enrichment/wikipedia.hpp).
struct WikipediaConfig {
  bool enabled = true;
  std::string language = "en";             // the Wikipedia edition: en, de, fr, nl ...
  std::string base_url;                    // empty: https://<language>.wikipedia.org/api/rest_v1
  double timeout_s = 10.0;
  std::string cache_path;                  // empty: wikipedia-cache.db next to the outbox file
};

struct Config {
  StationConfig station;
  AudioConfig audio;
  dsp::DetectorConfig detector;
  std::optional<LokiConfig> loki;
  std::optional<MqttConfig> mqtt;
  OutboxConfig outbox;
  MetricsConfig metrics;
  SpeciesConfig species;
  WeatherConfig weather;
  WikipediaConfig wikipedia;
};

// Parses and validates a TOML file. Throws ConfigError("<file>: <key> = <value>: expected ...").
Config load_config(const std::string& path);
// The same from a string (tests, --config -), `origin` names it in messages.
Config parse_config(const std::string& toml_text, const std::string& origin);

}  // namespace birdsong
