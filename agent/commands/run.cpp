// `run`: the live agent. Listens to the [audio] device (or replays a recording through
// the very same pipeline) and prints each event as a JSON line as soon as the sound ends.
//
// Replayed events name the recording in `file`; their `time` is the recording's start
// time plus the sound's position when the file says when it was recorded, else the wall
// clock at the start of the replay plus the position (see FileReplay).
#include <csignal>
#include <iostream>
#include <chrono>
#include <memory>
#include <thread>

#include "agent/audio/capture.hpp"
#include "agent/audio/file_replay.hpp"
#include "agent/commands/commands.hpp"
#include "agent/delivery/delivery.hpp"
#include "agent/enrichment/enrichment.hpp"
#include "agent/metrics/agent_metrics.hpp"
#include "agent/pipeline.hpp"
#include "agent/service_notify.hpp"

namespace birdsong {

namespace {

std::atomic<bool> stop_requested{false};
static_assert(std::atomic<bool>::is_always_lock_free, "set from a signal handler");

extern "C" void on_stop_signal(int) { stop_requested.store(true); }

// The source, or the exit code and the line saying why there is none.
std::unique_ptr<AudioSource> open_source(const RunOptions& options, std::ostream& err, int& exit_code) {
  try {
    if (options.replay_file) return std::make_unique<FileReplay>(*options.replay_file, options.speed, options.config.audio);
    return std::make_unique<Capture>(options.config.audio);
  } catch (const NoSuchDevice& e) {
    err << e.what() << '\n';
    write_device_table(e.devices(), err);
    exit_code = kExitUsage;
  } catch (const DeviceError& e) {
    err << e.what() << '\n';
    exit_code = kExitUsage;
  } catch (const AudioError& e) {
    err << "run: " << e.what() << '\n';
    exit_code = kExitInputFailed;
  } catch (const std::invalid_argument& e) {
    err << "run: " << e.what() << '\n';
    exit_code = kExitUsage;
  }
  return nullptr;
}

}  // namespace

const std::atomic<bool>& stop_on_signals() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESETHAND;  // a second Ctrl-C ends a shutdown that hangs
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  return stop_requested;
}

int run_agent(const RunOptions& options, const std::atomic<bool>& stop, std::ostream& out, std::ostream& err) {
  int exit_code = kExitOk;
  std::unique_ptr<AudioSource> source = open_source(options, err, exit_code);
  if (!source) return exit_code;

  std::unique_ptr<Pipeline> pipeline;
  try {
    pipeline = std::make_unique<Pipeline>(options.config, source->sample_rate_hz(), err);
  } catch (const std::invalid_argument& e) {
    // The configuration was checked against [audio] sample_rate_hz; a recording has its own.
    err << "run: " << source->file().value_or("[detector]") << ": " << e.what() << '\n';
    return options.replay_file ? kExitInputFailed : kExitUsage;
  }
  // Delivery comes first among the sinks: an event is committed to the outbox before it
  // is printed, so a printed event is one that will reach every configured sink.
  std::unique_ptr<Delivery> delivery;
  try {
    delivery = Delivery::from_config(options.config);  // nullptr without [mqtt] or [loki]
  } catch (const OutboxError& e) {
    err << e.what() << '\n';
    return kExitUsage;
  }
  if (delivery) {
    pipeline->add_sink([d = delivery.get()](const Event& e) { d->publish(e); });
    std::string names;
    for (const SinkStats& s : delivery->sink_stats()) names += (names.empty() ? "" : ", ") + s.sink;
    err << "run: delivering to " << names << " through the outbox " << delivery->outbox_path() << '\n';
    delivery->start();
  }

  // Weather and species facts come from the web on threads of their own; each event
  // takes what they know when it is emitted and never waits for them. A new weather
  // observation goes through the outbox too (kind "weather": MQTT, Loki).
  std::unique_ptr<Enrichment> enrichment;
  try {
    WeatherPoller::Listener on_weather;
    if (delivery)
      on_weather = [d = delivery.get(), station = options.config.station](const WeatherObservation& w) {
        d->publish(weather_outbox_record(w, station));
      };
    enrichment = Enrichment::from_config(options.config, std::move(on_weather), options.enrichment);
  } catch (const std::exception& e) {
    err << "run: enrichment: " << e.what() << "; running without weather and species facts\n";
  }
  if (enrichment) {
    if (const WeatherPoller* w = enrichment->weather())
      err << "run: weather from " << w->url().substr(0, w->url().find('?')) << " every "
          << options.config.weather.interval_minutes << " min\n";
    if (const SpeciesFacts* f = enrichment->wikipedia())
      err << "run: species facts from " << f->base_url() << ", cached in " << wikipedia_cache_path(options.config)
          << '\n';
    pipeline->set_enrichment(enrichment.get());
    enrichment->start();
  }

  std::unique_ptr<EventWriter> writer;
  if (!options.quiet) {
    writer = make_event_writer(EventFormat::jsonl, out);
    pipeline->add_sink([w = writer.get()](const Event& e) { w->write(e); });
  }

  // Metrics read the components at scrape time, so `metrics` comes after every component
  // it watches (and is destroyed, its server stopped, before them).
  AgentMetrics metrics(options.config.station.id, pipeline->known_species());
  metrics.watch(pipeline->stats(), source->sample_rate_hz());
  if (delivery) metrics.watch(*delivery);
  if (enrichment) metrics.watch(*enrichment);
  pipeline->add_sink([&metrics](const Event& e) { metrics.count(e); });
  if (options.config.metrics.enabled) metrics.serve(options.config.metrics, err);

  // Under systemd (Type=notify): READY=1 once the first audio is analysed, then a
  // watchdog ping per chunk, so a silent device or a stuck analysis gets restarted.
  ServiceNotifier service;
  pipeline->add_progress_listener([&service, status = source->description()](const PipelineStats&) {
    service.ready(status);
    service.watchdog();
  });
  if (delivery)
    pipeline->add_progress_listener(
        [d = delivery.get()](const PipelineStats& s) {
          d->set_audio_level_dbfs(s.level_dbfs.load());
          d->retry_held();  // events held while the outbox could not be written
        });

  err << "run: " << source->description() << '\n';
  try {
    pipeline->run(*source, stop);
  } catch (const DeviceError& e) {
    err << e.what() << '\n';
    return kExitUsage;
  }
  service.stopping();
  if (enrichment) enrichment->stop();  // abandons a look-up in flight: shutdown never waits for the web
  const PipelineStats& stats = pipeline->stats();
  if (const auto why = source->failure()) {
    err << "run: " << *why << '\n';
    return kExitInputFailed;
  }
  err << "run: " << (stop.load() ? "stopped" : "end of input") << " after "
      << static_cast<double>(stats.samples.load()) / source->sample_rate_hz() << " s of audio, " << stats.events.load()
      << " events, " << stats.overrun_samples.load() << " samples dropped\n";
  if (delivery) {
    // Every event is in the outbox; give the sinks a bounded time to deliver the last
    // ones. What is left stays in the outbox for the next start.
    const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(options.drain_timeout_s * 1000.0));
    if (!delivery->drain(timeout)) {
      for (const SinkStats& s : delivery->sink_stats())
        if (s.pending > 0)
          err << "run: " << s.sink << ": " << s.pending << " events not delivered within --drain-timeout "
              << options.drain_timeout_s << " s; they stay in " << delivery->outbox_path() << '\n';
    }
    delivery->stop();
  }
  // Lets a scraper (or a test) see the final figures of a replay before the agent exits.
  const auto linger_until = std::chrono::steady_clock::now() + std::chrono::duration<double>(options.linger_s);
  while (!stop.load() && std::chrono::steady_clock::now() < linger_until)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  return kExitOk;
}

Command add_run_command(CLI::App& app) {
  struct Args {
    std::string config_path;
    std::string replay;
    double speed = 1.0;
    bool quiet = false;
    double linger_s = 0.0;
    double drain_timeout_s = 10.0;
  };
  auto args = std::make_shared<Args>();
  Command c;
  c.app = app.add_subcommand("run", "Listen to the microphone (or replay a recording live); one event per line on stdout");
  c.app->add_option("--config", args->config_path, "TOML configuration (default: built-in defaults)");
  CLI::Option* replay =
      c.app->add_option("--replay", args->replay, "Feed this recording through the live pipeline instead of capturing");
  c.app->add_option("--speed", args->speed, "Replay pace: 1 real time, 2 twice as fast, 0 as fast as possible")
      ->needs(replay)
      ->default_str("1");
  c.app->add_flag("--quiet", args->quiet, "Do not print events (logs still go to stderr)");
  c.app->add_option("--linger-s", args->linger_s, "After the replay ends, keep serving metrics this many seconds")
      ->check(CLI::NonNegativeNumber)
      ->needs(replay);
  c.app->add_option("--drain-timeout", args->drain_timeout_s,
                    "At the end, wait at most this many seconds for [mqtt]/[loki] to have every event")
      ->check(CLI::NonNegativeNumber)
      ->default_str("10");
  c.run = [args] {
    RunOptions options;
    if (!args->config_path.empty()) options.config = load_config(args->config_path);
    if (!args->replay.empty()) options.replay_file = args->replay;
    options.speed = args->speed;
    options.quiet = args->quiet;
    options.linger_s = args->linger_s;
    options.drain_timeout_s = args->drain_timeout_s;
    return run_agent(options, stop_on_signals(), std::cout, std::cerr);
  };
  return c;
}

}  // namespace birdsong
