#include "agent/enrichment/enrichment.hpp"

#include <filesystem>

#include "agent/delivery/outbox.hpp"

namespace birdsong {

std::unique_ptr<Enrichment> Enrichment::from_config(const Config& config, WeatherPoller::Listener on_weather,
                                                    EnrichmentOptions options) {
  if (!wants_weather(config) && !wants_species_facts(config)) return nullptr;
  return std::make_unique<Enrichment>(config, std::move(on_weather), std::move(options));
}

Enrichment::Enrichment(const Config& config, WeatherPoller::Listener on_weather, EnrichmentOptions options) {
  if (wants_weather(config))
    weather_ = std::make_unique<WeatherPoller>(config.weather, config.station, std::move(on_weather),
                                               options.weather_interval);
  if (wants_species_facts(config))
    wikipedia_ = std::make_unique<SpeciesFacts>(config.wikipedia, config.station.contact, wikipedia_cache_path(config),
                                                std::move(options.wikipedia));
}

Enrichment::~Enrichment() { stop(); }

void Enrichment::start() {
  if (weather_) weather_->start();
  if (wikipedia_) wikipedia_->start();
}

void Enrichment::stop() {
  if (weather_) weather_->stop();
  if (wikipedia_) wikipedia_->stop();
}

void Enrichment::enrich(Event& event) {
  if (weather_) {
    event.weather = weather_->latest();
    if (!event.weather) weather_missing_.fetch_add(1, std::memory_order_relaxed);
  }
  if (wikipedia_ && event.species && !event.species->empty()) {
    event.wikipedia = wikipedia_->lookup(*event.species);
    if (!event.wikipedia) wikipedia_missing_.fetch_add(1, std::memory_order_relaxed);
  }
}

bool wants_weather(const Config& config) {
  // As the config parser decides: weather needs a place to look it up for.
  return config.weather.enabled && config.station.latitude && config.station.longitude;
}

bool wants_species_facts(const Config& config) {
  // Without a species pack no event has a species: no thread, no cache file.
  return config.wikipedia.enabled && !config.species.profiles.empty();
}

std::string wikipedia_cache_path(const Config& config) {
  if (!config.wikipedia.cache_path.empty()) return config.wikipedia.cache_path;
  const std::filesystem::path outbox = config.outbox.path.empty() ? default_outbox_path() : config.outbox.path;
  return (outbox.parent_path() / "wikipedia-cache.db").string();
}

}  // namespace birdsong
