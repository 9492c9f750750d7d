#include "agent/metrics/agent_metrics.hpp"

#include <ostream>
#include <stdexcept>

#include "agent/delivery/delivery.hpp"
#include "agent/enrichment/enrichment.hpp"
#include "agent/metrics/process_metrics.hpp"
#include "agent/pipeline.hpp"
#include "agent/version.hpp"

namespace birdsong {

namespace {

constexpr const char* kUnidentified = "unidentified";

double as_double(uint64_t v) { return static_cast<double>(v); }

}  // namespace

AgentMetrics::AgentMetrics(std::string station, std::vector<std::string> known_species)
    : station_(std::move(station)), detections_("species", std::move(known_species), kUnidentified) {
  registrations_.push_back(registry_.add([this](metrics::Scrape& s) {
    s.gauge("birdsong_build_info", "Build of the agent and its [station] id; the value is always 1.", 1,
            {{"version", kVersion}, {"station", station_}});
    detections_.collect(s, "birdsong_detections_total", "Detection events by species (scientific name).");
  }));
  registrations_.push_back(registry_.add(metrics::collect_process_metrics));
}

AgentMetrics::~AgentMetrics() {
  server_.reset();  // no scrape may run while the registrations go
}

void AgentMetrics::watch(const PipelineStats& p, double sample_rate_hz) {
  registrations_.push_back(registry_.add([&p, sample_rate_hz](metrics::Scrape& s) {
    s.counter("birdsong_events_detected_total", "Events the pipeline has detected.", as_double(p.events.load()));
    s.counter("birdsong_audio_seconds_total", "Seconds of audio analysed.",
              as_double(p.samples.load()) / sample_rate_hz);
    s.gauge("birdsong_audio_level_dbfs", "In-band audio level of the latest analysis frame.", p.level_dbfs.load());
    s.gauge("birdsong_noise_floor_dbfs", "In-band noise floor of the latest analysis frame.",
            p.noise_floor_dbfs.load());
    s.counter("birdsong_capture_overruns_total", "Times the capture ring filled because analysis fell behind.",
              as_double(p.overrun_episodes.load()));
    s.counter("birdsong_capture_dropped_samples_total", "Samples lost because the capture ring was full.",
              as_double(p.overrun_samples.load()));
    s.counter("birdsong_capture_input_overflows_total", "Audio input overflows reported by the sound card driver.",
              as_double(p.input_overflows.load()));
  }));
}

void AgentMetrics::watch(const Delivery& d) {
  registrations_.push_back(registry_.add([&d](metrics::Scrape& s) {
    const OutboxStats o = d.outbox_stats();
    s.gauge("birdsong_outbox_records", "Records stored in the outbox.", static_cast<double>(o.records));
    s.gauge("birdsong_outbox_bytes", "Size of the records stored in the outbox.", static_cast<double>(o.bytes));
    s.counter("birdsong_outbox_dropped_total", "Records removed by an outbox bound before every sink had them.",
              as_double(o.dropped));
    s.counter("birdsong_outbox_append_errors_total",
              "Events the outbox could not store when they came (they wait in memory and are retried).",
              as_double(d.append_errors()));
    s.gauge("birdsong_outbox_held_events", "Events waiting in memory because the outbox cannot be written.",
            static_cast<double>(d.held()));
    s.counter("birdsong_outbox_hold_dropped_total",
              "Held events dropped because the outbox stayed unwritable and their memory was full.",
              as_double(d.hold_dropped()));
    for (const SinkStats& k : d.sink_stats()) {
      const metrics::Labels sink = {{"sink", k.sink}};
      s.gauge("birdsong_outbox_pending_records", "Records a sink has not received yet.",
              static_cast<double>(k.pending), sink);
      s.gauge("birdsong_outbox_oldest_age_seconds", "How long the oldest record a sink has not received has waited.",
              k.oldest_pending_age_s, sink);
      s.counter("birdsong_sink_sent_total", "Records delivered by a sink.", as_double(k.sent), sink);
      s.counter("birdsong_sink_failed_total", "Delivery attempts that failed and will be retried.",
                as_double(k.failed), sink);
      s.counter("birdsong_sink_retried_total", "Delivery attempts repeating a failed one.", as_double(k.retried), sink);
      s.counter("birdsong_sink_rejected_total", "Records a sink's server refused for good (set aside).",
                as_double(k.rejected), sink);
      s.gauge("birdsong_sink_up", "1 if the sink's last delivery attempt succeeded.", k.up ? 1 : 0, sink);
      if (k.sink == "mqtt")
        s.gauge("birdsong_mqtt_connected", "1 if the last MQTT attempt (connect or publish) succeeded.", k.up ? 1 : 0);
    }
  }));
}

void AgentMetrics::watch(const Enrichment& e) {
  registrations_.push_back(registry_.add([&e](metrics::Scrape& s) {
    const auto requests = [&s](const char* source, uint64_t ok, uint64_t error, uint64_t missing) {
      const char* help = "Enrichment look-ups by source and result.";
      s.counter("birdsong_enrichment_requests_total", help, as_double(ok), {{"source", source}, {"result", "ok"}});
      s.counter("birdsong_enrichment_requests_total", help, as_double(error), {{"source", source}, {"result", "error"}});
      s.counter("birdsong_enrichment_requests_total", help, as_double(missing),
                {{"source", source}, {"result", "missing"}});
    };
    const char* missing_help = "Events that went out without that part of the enrichment.";
    if (const WeatherPoller* w = e.weather()) {
      requests("weather", w->stats().requests_ok.load(), w->stats().requests_error.load(), 0);
      s.counter("birdsong_enrichment_missing_total", missing_help, as_double(e.weather_missing()),
                {{"source", "weather"}});
    }
    if (const SpeciesFacts* f = e.wikipedia()) {
      requests("wikipedia", f->stats().requests_ok.load(), f->stats().requests_error.load(),
               f->stats().requests_missing.load());
      s.counter("birdsong_enrichment_missing_total", missing_help, as_double(e.wikipedia_missing()),
                {{"source", "wikipedia"}});
    }
    const auto latest = e.weather() != nullptr ? e.weather()->latest() : nullptr;
    if (!latest) return;
    const WeatherObservation& o = *latest;
    const auto unix_s = [](std::chrono::system_clock::time_point t) {
      return std::chrono::duration<double>(t.time_since_epoch()).count();
    };
    s.gauge("birdsong_weather_temperature_celsius", "Air temperature at 2 m (Open-Meteo).", o.temperature_c);
    s.gauge("birdsong_weather_relative_humidity_percent", "Relative humidity at 2 m (Open-Meteo).",
            o.relative_humidity_percent);
    s.gauge("birdsong_weather_precipitation_mm", "Precipitation of the preceding 15 minutes (Open-Meteo).",
            o.precipitation_mm);
    s.gauge("birdsong_weather_rain_mm", "Rain of the preceding 15 minutes (Open-Meteo).", o.rain_mm);
    s.gauge("birdsong_weather_code", "WMO weather code (Open-Meteo).", o.weather_code);
    s.gauge("birdsong_weather_cloud_cover_percent", "Total cloud cover (Open-Meteo).", o.cloud_cover_percent);
    s.gauge("birdsong_weather_pressure_hpa", "Pressure at mean sea level (Open-Meteo).", o.pressure_hpa);
    s.gauge("birdsong_weather_wind_speed_meters_per_second", "Wind speed at 10 m (Open-Meteo).", o.wind_speed_m_s);
    s.gauge("birdsong_weather_wind_direction_degrees", "Direction the wind at 10 m comes from (Open-Meteo).",
            o.wind_direction_deg);
    s.gauge("birdsong_weather_is_day", "1 between sunrise and sunset (Open-Meteo).", o.is_day ? 1 : 0);
    if (o.sunrise)
      s.gauge("birdsong_weather_sunrise_timestamp_seconds", "Today's sunrise at the station, Unix time.",
              unix_s(*o.sunrise));
    if (o.sunset)
      s.gauge("birdsong_weather_sunset_timestamp_seconds", "Today's sunset at the station, Unix time.",
              unix_s(*o.sunset));
    s.gauge("birdsong_weather_observation_timestamp_seconds", "When the weather values apply, Unix time.",
            unix_s(o.time));
  }));
}

void AgentMetrics::count(const Event& event) {
  detections_.inc(event.species && !event.species->empty() ? *event.species : kUnidentified);
}

bool AgentMetrics::serve(const MetricsConfig& config, std::ostream& log) {
  try {
    server_ = std::make_unique<metrics::MetricsServer>(registry_, config.host, config.port);
  } catch (const std::runtime_error& e) {
    log << "metrics: " << e.what() << "; running without metrics\n";
    return false;
  }
  log << "metrics: serving http://" << server_->address() << "/metrics\n";
  return true;
}

}  // namespace birdsong
