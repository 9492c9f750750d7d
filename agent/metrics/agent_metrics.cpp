#include "agent/metrics/agent_metrics.hpp"

#include <ostream>
#include <stdexcept>

#include "agent/delivery/delivery.hpp"
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
    s.counter("birdsong_outbox_append_errors_total", "Events that could not be stored in the outbox.",
              as_double(d.append_errors()));
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
