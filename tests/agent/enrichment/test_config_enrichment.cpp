// [weather], [wikipedia] and [station] contact: defaults, values, and one clear line per mistake.
#include <doctest/doctest.h>

#include "agent/config.hpp"
#include "agent/enrichment/enrichment.hpp"

using namespace birdsong;

namespace {

std::string error_of(const std::string& text) {
  try {
    parse_config(text, "agent.toml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("config: weather is on where the station is known, Wikipedia is on by default") {
  const Config none = parse_config("", "t.toml");
  CHECK_FALSE(none.weather.enabled);  // no latitude/longitude: nothing to ask for
  CHECK(none.wikipedia.enabled);
  CHECK(none.wikipedia.language == "en");
  CHECK(wikipedia_base_url(none.wikipedia) == "https://en.wikipedia.org/api/rest_v1");
  // ... but without a species pack no event has a species: nothing to look up, nothing runs.
  CHECK_FALSE(wants_species_facts(none));
  CHECK(Enrichment::from_config(none) == nullptr);

  const Config located = parse_config("[station]\nlatitude = 52.5\nlongitude = 13.4\n", "t.toml");
  CHECK(located.weather.enabled);
  CHECK(located.weather.interval_minutes == 15);
  CHECK(located.weather.base_url == "https://api.open-meteo.com/v1");
  CHECK(located.weather.timeout_s == 10.0);

  const Config c = parse_config(
      "[station]\nlatitude = 52.5\nlongitude = 13.4\ncontact = \"birder@example.org\"\n"
      "[weather]\nenabled = false\ninterval_minutes = 30\nbase_url = \"http://mirror:8080/v1\"\ntimeout_s = 5\n"
      "[wikipedia]\nenabled = false\nlanguage = \"de\"\nbase_url = \"https://mirror/rest\"\ntimeout_s = 3\n"
      "cache_path = \"/var/cache/wp.db\"\n",
      "t.toml");
  CHECK(c.station.contact == "birder@example.org");
  CHECK_FALSE(c.weather.enabled);
  CHECK(c.weather.interval_minutes == 30);
  CHECK(c.weather.base_url == "http://mirror:8080/v1");
  CHECK(c.weather.timeout_s == 5.0);
  CHECK_FALSE(c.wikipedia.enabled);
  CHECK(c.wikipedia.language == "de");
  CHECK(c.wikipedia.timeout_s == 3.0);
  CHECK(wikipedia_cache_path(c) == "/var/cache/wp.db");
  CHECK(Enrichment::from_config(c) == nullptr);  // both off: nothing runs

  Config next_to_outbox;
  next_to_outbox.outbox.path = "/var/lib/birdsong-agent/outbox.db";
  CHECK(wikipedia_cache_path(next_to_outbox) == "/var/lib/birdsong-agent/wikipedia-cache.db");
}

TEST_CASE("config: enrichment mistakes are one line naming the key, the value and what was expected") {
  CHECK(error_of("[station]\nlatitude = 1\nlongitude = 2\n[weather]\ninterval_minutes = 5\n") ==
        "agent.toml: [weather] interval_minutes = 5: expected a whole number from 15 to 1440");
  CHECK(error_of("[weather]\nenabled = true\n") ==
        "agent.toml: [weather] enabled = true: expected [station] latitude and longitude (weather is looked up for "
        "that place)");
  CHECK(error_of("[station]\nlatitude = 52.5\n") ==
        "agent.toml: [station] longitude = (missing): expected latitude and longitude together, or neither");
  CHECK(error_of("[weather]\nbase_url = \"ftp://x\"\n") ==
        "agent.toml: [weather] base_url = \"ftp://x\": expected an http:// or https:// URL");
  CHECK(error_of("[weather]\ntimeout_s = 0\n") == "agent.toml: [weather] timeout_s = 0: expected a number from 1 to 120 seconds");
  CHECK(error_of("[weather]\nintervall = 15\n") == "agent.toml: [weather] intervall: unknown key");
  CHECK(error_of("[wikipedia]\nlanguage = \"English\"\n") ==
        "agent.toml: [wikipedia] language = \"English\": expected a Wikipedia language code such as \"en\" or \"de\"");
  CHECK(error_of("[wikipedia]\nbase_url = \"en.wikipedia.org\"\n") ==
        "agent.toml: [wikipedia] base_url = \"en.wikipedia.org\": expected an http:// or https:// URL");
  CHECK(error_of("[wikipedia]\nenabled = \"yes\"\n") == "agent.toml: [wikipedia] enabled = 'yes': expected true or false");
  CHECK(error_of("[station]\ncontact = \"me (home)\"\n") ==
        "agent.toml: [station] contact = \"me (home)\": expected an e-mail address or URL without control characters "
        "or brackets");
}

TEST_CASE("config: the example configuration's [weather] and [wikipedia] are the defaults") {
  const Config c = load_config(BIRDSONG_SOURCE_DIR "/agent/agent.example.toml");
  const Config d;
  CHECK(c.station.contact == d.station.contact);
  CHECK(c.weather.interval_minutes == d.weather.interval_minutes);
  CHECK(c.weather.base_url == d.weather.base_url);
  CHECK(c.weather.timeout_s == d.weather.timeout_s);
  CHECK_FALSE(c.weather.enabled);  // the example sets no latitude/longitude
  CHECK(c.wikipedia.enabled == d.wikipedia.enabled);
  CHECK(c.wikipedia.language == d.wikipedia.language);
  CHECK(c.wikipedia.base_url == d.wikipedia.base_url);
  CHECK(c.wikipedia.timeout_s == d.wikipedia.timeout_s);
  CHECK(c.wikipedia.cache_path == d.wikipedia.cache_path);
}
