// The agent's metrics: what `run` exposes at /metrics, and which component feeds each.
//
//   metric                                   type     fed by
//   birdsong_build_info{version,station}     gauge    agent/version.hpp and [station] id (always 1).
//                                                     Prometheus adds job and instance; dashboards
//                                                     join on them to give every series the
//                                                     station of the Loki streams (grafana/)
//   birdsong_detections_total{species}       counter  count(): every detection event, by species
//                                                     (scientific name; "unidentified" when the
//                                                     event has none or one the pack does not know)
//   birdsong_events_detected_total           counter  Pipeline: events handed to the sinks
//   birdsong_audio_seconds_total             counter  Pipeline: audio analysed
//   birdsong_audio_level_dbfs                gauge    Pipeline (dsp::Detector stats): in-band level
//   birdsong_noise_floor_dbfs                gauge    Pipeline (dsp::Detector stats): in-band noise floor
//   birdsong_capture_overruns_total          counter  Pipeline: times the ring filled (analysis fell behind)
//   birdsong_capture_dropped_samples_total   counter  Pipeline: samples lost in those overruns
//   birdsong_capture_input_overflows_total   counter  Capture (PortAudio input overflow flags)
//   birdsong_outbox_records                  gauge    Outbox: records stored
//   birdsong_outbox_bytes                    gauge    Outbox: their size
//   birdsong_outbox_pending_records{sink}    gauge    Outbox: records this sink does not have yet
//   birdsong_outbox_oldest_age_seconds{sink} gauge    Outbox: how long the oldest of them has waited
//   birdsong_outbox_dropped_total            counter  Outbox: records removed by a bound before delivery
//   birdsong_outbox_append_errors_total      counter  Delivery: events the outbox could not store at once
//   birdsong_outbox_held_events              gauge    Delivery: those waiting in memory to be stored
//   birdsong_outbox_hold_dropped_total       counter  Delivery: held events dropped (memory full)
//   birdsong_sink_sent_total{sink}           counter  SinkRunner: records delivered
//   birdsong_sink_failed_total{sink}         counter  SinkRunner: attempts that failed (to be retried)
//   birdsong_sink_retried_total{sink}        counter  SinkRunner: attempts repeating a failed one
//   birdsong_sink_rejected_total{sink}       counter  SinkRunner: records refused for good (set aside)
//   birdsong_sink_up{sink}                   gauge    SinkRunner: 1 if the last attempt succeeded
//   birdsong_mqtt_connected                  gauge    SinkRunner "mqtt": 1 if its last attempt
//                                                     (connect or publish) succeeded
//   birdsong_weather_temperature_celsius     gauge    WeatherPoller (Open-Meteo current): air temperature at 2 m
//   birdsong_weather_relative_humidity_percent gauge  WeatherPoller: relative humidity at 2 m
//   birdsong_weather_precipitation_mm        gauge    WeatherPoller: precipitation of the preceding 15 min
//   birdsong_weather_rain_mm                 gauge    WeatherPoller: rain of the preceding 15 min
//   birdsong_weather_code                    gauge    WeatherPoller: WMO weather code (0 clear .. 99 thunderstorm)
//   birdsong_weather_cloud_cover_percent     gauge    WeatherPoller: total cloud cover
//   birdsong_weather_pressure_hpa            gauge    WeatherPoller: pressure at mean sea level
//   birdsong_weather_wind_speed_meters_per_second gauge WeatherPoller: wind speed at 10 m
//   birdsong_weather_wind_direction_degrees  gauge    WeatherPoller: where the wind at 10 m comes from
//   birdsong_weather_is_day                  gauge    WeatherPoller: 1 between sunrise and sunset
//   birdsong_weather_sunrise_timestamp_seconds gauge  WeatherPoller: today's sunrise (station's local day), Unix s
//   birdsong_weather_sunset_timestamp_seconds gauge   WeatherPoller: today's sunset, Unix s
//   birdsong_weather_observation_timestamp_seconds gauge WeatherPoller: when the values above apply, Unix s
//   birdsong_enrichment_requests_total{source,result} counter  WeatherPoller (source="weather"), SpeciesFacts
//                                                     ("wikipedia"): look-ups by result, "ok", "error" (no
//                                                     usable answer) or "missing" (no article, disambiguation)
//   birdsong_enrichment_missing_total{source} counter Enrichment: events that went out without that part
//                                                     (weather: none known yet; wikipedia: species events
//                                                     whose facts are not known, or have no article)
//   process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
//   process_start_time_seconds, process_open_fds       /proc/self (process_metrics.hpp)
//
// The outbox, sink and MQTT series exist only when a sink is configured; the enrichment
// series only for the parts that are on ([weather], [wikipedia]), the weather gauges once a
// first observation has arrived.
#pragma once

#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/config.hpp"
#include "agent/event.hpp"
#include "agent/metrics/metrics_server.hpp"
#include "agent/metrics/registry.hpp"

namespace birdsong {

struct PipelineStats;
class Delivery;
class Enrichment;

class AgentMetrics {
 public:
  // `station`: [station] id, the `station` label of birdsong_build_info. `known_species`:
  // the scientific names the species pack can report (empty without a classifier); they
  // bound the species label.
  explicit AgentMetrics(std::string station, std::vector<std::string> known_species = {});
  ~AgentMetrics();  // stops serving before the collectors go

  // The components read at scrape time; each must outlive this object.
  void watch(const PipelineStats& pipeline, double sample_rate_hz);
  void watch(const Delivery& delivery);
  void watch(const Enrichment& enrichment);
  // An event has been detected (call from the pipeline, as an EventSink).
  void count(const Event& event);

  // Starts serving [metrics] listen and logs "metrics: serving http://.../metrics".
  // A port that cannot be had is one log line and false: detection goes on without
  // metrics rather than not at all.
  bool serve(const MetricsConfig& config, std::ostream& log);

  const metrics::Registry& registry() const { return registry_; }
  // The port being served (0 when not serving).
  int port() const { return server_ ? server_->port() : 0; }

 private:
  metrics::Registry registry_;
  const std::string station_;
  metrics::LabelledCounter detections_;
  std::vector<metrics::Registry::Registration> registrations_;
  std::unique_ptr<metrics::MetricsServer> server_;
};

}  // namespace birdsong
