#include <doctest/doctest.h>

#include "agent/config.hpp"

using namespace birdsong;

TEST_CASE("config [species]: profiles, thresholds, include and exclude") {
  const Config c = parse_config(R"(
[species]
profiles = "garden.pack"
min_confidence = 0.6
thresholds = { "Turdus merula" = 0.8, "Parus major" = 0.3 }
include = ["Turdus merula", "Parus major"]
exclude = ["Strix aluco"]
rescue_confidence = 0.8
)",
                                "a.toml");
  CHECK(c.species.profiles == "garden.pack");
  CHECK(*c.species.min_confidence == 0.6);
  CHECK(c.species.thresholds.at("Turdus merula") == 0.8);
  CHECK(c.species.thresholds.at("Parus major") == 0.3);
  CHECK(c.species.include == std::vector<std::string>{"Turdus merula", "Parus major"});
  CHECK(c.species.exclude == std::vector<std::string>{"Strix aluco"});
  CHECK(c.species.rescue_confidence == 0.8);
  CHECK(parse_config("", "a.toml").species.profiles.empty());
  CHECK(parse_config("", "a.toml").species.rescue_confidence == 1.0);
}

TEST_CASE("config [species]: a bad value is one line naming the key") {
  CHECK_THROWS_WITH_AS(parse_config("[species]\nmin_confidence = 2\n", "a.toml"),
                       "a.toml: [species] min_confidence = 2: expected a number from 0 to 1", ConfigError);
  CHECK_THROWS_WITH_AS(parse_config("[species]\nrescue_confidence = 1.5\n", "a.toml"),
                       "a.toml: [species] rescue_confidence = 1.5: expected a number from 0 to 1", ConfigError);
  // The value comes back as written, not as the nearest double's 17 digits.
  CHECK_THROWS_WITH_AS(parse_config("[species]\nrescue_confidence = -0.1\n", "a.toml"),
                       "a.toml: [species] rescue_confidence = -0.1: expected a number from 0 to 1", ConfigError);
  CHECK_THROWS_WITH_AS(parse_config("[species]\nrescue_confidence = 2.0\n", "a.toml"),
                       "a.toml: [species] rescue_confidence = 2.0: expected a number from 0 to 1", ConfigError);
  CHECK_THROWS_WITH_AS(parse_config("[species]\nthresholds = { \"Parus major\" = -0.3 }\n", "a.toml"),
                       "a.toml: [species] thresholds.Parus major = -0.3: expected a probability from 0 to 1",
                       ConfigError);
  CHECK_THROWS_WITH_AS(parse_config("[species]\nthresholds = { \"Parus major\" = 1.5 }\n", "a.toml"),
                       "a.toml: [species] thresholds.Parus major = 1.5: expected a probability from 0 to 1",
                       ConfigError);
  CHECK_THROWS_WITH_AS(parse_config("[species]\ninclude = \"Parus major\"\n", "a.toml"),
                       "a.toml: [species] include = 'Parus major': expected a list of strings", ConfigError);
  CHECK_THROWS_WITH_AS(parse_config("[species]\nprofile = \"x\"\n", "a.toml"),
                       "a.toml: [species] profile: unknown key", ConfigError);
}
