// Enrichment: what the agent adds to each event from the web, beside detection.
//
//   WeatherPoller (own thread, every [weather] interval)  -> latest observation in memory
//   SpeciesFacts  (own thread, <= 1 request/s, disk cache) -> summaries in memory
//   Pipeline::emit -> enrich(event): attaches what is in memory now, never waits
//
// An event whose weather or species facts are not known yet (network down, first
// look-up still queued, no article) goes out without them, and that is counted.
// `analyze` (batch over files) does not enrich: its events are about the past.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "agent/config.hpp"
#include "agent/enrichment/weather.hpp"
#include "agent/enrichment/wikipedia.hpp"
#include "agent/event.hpp"

namespace birdsong {

struct EnrichmentOptions {
  std::optional<std::chrono::milliseconds> weather_interval;  // tests; default [weather] interval_minutes
  SpeciesFactsOptions wikipedia;
};

class Enrichment {
 public:
  // Weather when [weather] is on (it needs [station] latitude and longitude), Wikipedia
  // when [wikipedia] is on and [species] profiles are set; nullptr when neither. `on_weather` gets each new
  // observation on the weather thread (run: into the outbox as a "weather" record).
  static std::unique_ptr<Enrichment> from_config(const Config& config, WeatherPoller::Listener on_weather = {},
                                                 EnrichmentOptions options = {});
  Enrichment(const Config& config, WeatherPoller::Listener on_weather, EnrichmentOptions options);
  ~Enrichment();  // stop()

  void start();
  void stop();

  // On the pipeline thread, for each event: adds the weather and, to a species event,
  // the species facts known at this moment.
  void enrich(Event& event);

  // Null when that part is off.
  const WeatherPoller* weather() const { return weather_.get(); }
  const SpeciesFacts* wikipedia() const { return wikipedia_.get(); }
  // Events that went out without that part (while it is on).
  uint64_t weather_missing() const { return weather_missing_.load(); }
  uint64_t wikipedia_missing() const { return wikipedia_missing_.load(); }

 private:
  std::unique_ptr<WeatherPoller> weather_;
  std::unique_ptr<SpeciesFacts> wikipedia_;
  std::atomic<uint64_t> weather_missing_{0};
  std::atomic<uint64_t> wikipedia_missing_{0};
};

// [weather] is on and [station] latitude and longitude say where.
bool wants_weather(const Config& config);

// [wikipedia] is on and [species] profiles can name species.
bool wants_species_facts(const Config& config);

// [wikipedia] cache_path, else wikipedia-cache.db in the directory of the outbox file
// ([outbox] path, else default_outbox_path()).
std::string wikipedia_cache_path(const Config& config);

}  // namespace birdsong
