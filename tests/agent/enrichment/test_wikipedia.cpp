// Wikipedia page summaries: parsing (after the REST API's documented fields), the disk
// cache, and the rate-limited look-ups against a local server that answers like it.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "agent/enrichment/wikipedia.hpp"
#include "agent/version.hpp"
#include "tests/agent/audio_files.hpp"
#include "tests/agent/enrichment/enrichment_test_server.hpp"

using namespace birdsong;
using namespace std::chrono_literals;

namespace {

// A real answer's shape (en.wikipedia.org/api/rest_v1/page/summary/Erithacus_rubecula).
const char* kRobin = R"({"type":"standard","title":"European robin",
  "displaytitle":"<span class=\"mw-page-title-main\">European robin</span>",
  "namespace":{"id":0,"text":""},"wikibase_item":"Q25311",
  "titles":{"canonical":"European_robin","normalized":"European robin","display":"European robin"},
  "pageid":170713,
  "thumbnail":{"source":"https://upload.wikimedia.org/wikipedia/commons/thumb/f/f3/Erithacus_rubecula.jpg/320px-Erithacus_rubecula.jpg","width":320,"height":213},
  "originalimage":{"source":"https://upload.wikimedia.org/wikipedia/commons/f/f3/Erithacus_rubecula.jpg","width":3000,"height":2000},
  "lang":"en","dir":"ltr","revision":"1220000000","tid":"5b8e0e10-0000-11ef-a000-000000000000",
  "timestamp":"2026-04-01T12:00:00Z","description":"Species of bird","description_source":"local",
  "content_urls":{"desktop":{"page":"https://en.wikipedia.org/wiki/European_robin",
    "revisions":"https://en.wikipedia.org/wiki/European_robin?action=history"},
    "mobile":{"page":"https://en.m.wikipedia.org/wiki/European_robin"}},
  "extract":"The European robin, known simply as the robin or robin redbreast in Great Britain, is a small insectivorous passerine bird.",
  "extract_html":"<p>The <b>European robin</b> ...</p>"})";

std::string parse_error(long status, const std::string& body) {
  try {
    parse_wikipedia_summary(status, body, "en");
  } catch (const EnrichmentError& e) {
    return e.what();
  }
  return "no error";
}

// A clock the test moves.
struct TestClock {
  std::shared_ptr<std::atomic<int64_t>> offset_s = std::make_shared<std::atomic<int64_t>>(0);
  std::function<std::chrono::system_clock::time_point()> fn() const {
    return [o = offset_s] { return std::chrono::system_clock::now() + std::chrono::seconds(o->load()); };
  }
};

WikipediaConfig config_for(const test::EnrichmentTestServer& server) {
  WikipediaConfig c;
  c.base_url = server.wikipedia_url();
  c.timeout_s = 5.0;
  return c;
}

// Waits until `facts` knows `name` (or a second passes): lookup() itself never waits.
std::shared_ptr<const SpeciesSummary> wait_known(SpeciesFacts& facts, const std::string& name) {
  for (int i = 0; i < 300; ++i) {
    if (auto s = facts.lookup(name)) return s;
    std::this_thread::sleep_for(10ms);
  }
  return nullptr;
}

}  // namespace

TEST_CASE("wikipedia: a page summary gives title, description, extract, thumbnail, article and Wikidata id") {
  const SummaryAnswer a = parse_wikipedia_summary(200, kRobin, "en");
  REQUIRE(a.found);
  CHECK(a.summary.title == "European robin");
  CHECK(a.summary.description == "Species of bird");
  CHECK(a.summary.extract.rfind("The European robin, known simply as the robin", 0) == 0);
  CHECK(a.summary.thumbnail_url ==
        "https://upload.wikimedia.org/wikipedia/commons/thumb/f/f3/Erithacus_rubecula.jpg/320px-Erithacus_rubecula.jpg");
  CHECK(a.summary.article_url == "https://en.wikipedia.org/wiki/European_robin");
  CHECK(a.summary.wikidata_id == "Q25311");
  const nlohmann::json j = to_json(a.summary);
  CHECK(j["url"] == "https://en.wikipedia.org/wiki/European_robin");
  CHECK(j["language"] == "en");
  CHECK(species_summary_from_json(j).extract == a.summary.extract);

  // No thumbnail and no description: null, not empty strings.
  nlohmann::json bare = nlohmann::json::parse(kRobin);
  bare.erase("thumbnail");
  bare.erase("description");
  const SummaryAnswer b = parse_wikipedia_summary(200, bare.dump(), "en");
  REQUIRE(b.found);
  CHECK(to_json(b.summary)["thumbnail"].is_null());
  CHECK(to_json(b.summary)["description"].is_null());
}

TEST_CASE("wikipedia: disambiguation pages and missing articles are a miss; other answers an error") {
  nlohmann::json d = nlohmann::json::parse(kRobin);
  d["type"] = "disambiguation";
  const SummaryAnswer dis = parse_wikipedia_summary(200, d.dump(), "en");
  CHECK_FALSE(dis.found);
  CHECK(dis.reason == "disambiguation page");
  const SummaryAnswer missing = parse_wikipedia_summary(
      404, R"({"type":"https://mediawiki.org/wiki/HyperSwitch/errors/not_found","title":"Not found.","method":"get","detail":"Page or revision not found."})",
      "en");
  CHECK_FALSE(missing.found);
  CHECK(missing.reason == "no article");

  CHECK(parse_error(200, "{\"type\":\"standard\",") == "wikipedia: the answer is not JSON");
  CHECK(parse_error(200, "\"x\"") == "wikipedia: the answer is not a JSON object");
  CHECK(parse_error(200, R"({"type":"standard"})") ==
        "wikipedia: not a page summary (type, title or content_urls.desktop.page missing)");
  CHECK(parse_error(429, "") == "wikipedia: HTTP 429");
  CHECK(parse_error(503, "<html>") == "wikipedia: HTTP 503");
}

TEST_CASE("wikipedia: the summary URL uses the language's edition and Wikipedia's title form") {
  WikipediaConfig c;
  CHECK(wikipedia_base_url(c) == "https://en.wikipedia.org/api/rest_v1");
  c.language = "de";
  CHECK(wikipedia_summary_url(wikipedia_base_url(c), "Turdus merula") ==
        "https://de.wikipedia.org/api/rest_v1/page/summary/Turdus_merula");
  c.base_url = "http://mirror.local/w/rest/";
  CHECK(wikipedia_summary_url(wikipedia_base_url(c), "Poecile montanus/x") ==
        "http://mirror.local/w/rest/page/summary/Poecile_montanus%2Fx");
}

TEST_CASE("wikipedia: look-ups never wait, follow redirects, and are at most one a second") {
  test::EnrichmentTestServer server;
  test::TempDir dir;
  SpeciesFacts facts(config_for(server), "birder@example.org", dir / "cache.db");
  facts.start();
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(facts.lookup("Turdus merula") == nullptr);  // unknown yet: queued
  CHECK(facts.lookup("Parus major") == nullptr);
  CHECK(facts.lookup("Mercury") == nullptr);
  CHECK(facts.lookup("Turdus merula") == nullptr);  // already queued: not asked twice
  CHECK(std::chrono::steady_clock::now() - t0 < 50ms);

  // Turdus_merula is a redirect, followed to Common_blackbird: four requests, three look-ups.
  REQUIRE(server.wait_for("/api/rest_v1/page/summary/", 4, 5s));
  std::this_thread::sleep_for(100ms);
  const auto requests = server.requests("/api/rest_v1/page/summary/");
  REQUIRE(requests.size() == 4);
  CHECK(requests[0].path == "/api/rest_v1/page/summary/Turdus_merula");
  CHECK(requests[0].answered == 302);
  CHECK(requests[1].path == "/api/rest_v1/page/summary/Common_blackbird");
  CHECK(requests[2].path == "/api/rest_v1/page/summary/Parus_major");
  CHECK(requests[3].path == "/api/rest_v1/page/summary/Mercury");
  // One look-up a second (a redirect belongs to its look-up). Measured at the server, so
  // the first request's connection set-up is in the first gap: a little slack.
  CHECK(requests[2].received - requests[0].received >= 900ms);
  CHECK(requests[3].received - requests[2].received >= 900ms);
  for (const auto& r : requests) {
    CHECK(r.user_agent.rfind(std::string("birdsong-agent/") + kVersion + " (birder@example.org; " + kHomepageUrl + ")", 0) == 0);
    CHECK(r.user_agent.find(" libcurl/") != std::string::npos);
  }

  const auto blackbird = facts.lookup("Turdus merula");
  REQUIRE(blackbird);
  CHECK(blackbird->title == "Common blackbird");
  CHECK(blackbird->wikidata_id == "Q25234");
  CHECK(blackbird->article_url == "https://en.wikipedia.org/wiki/Common_blackbird");
  CHECK(facts.lookup("Parus major")->title == "Great tit");
  CHECK(facts.lookup("Mercury") == nullptr);  // a disambiguation page: no facts
  CHECK(facts.stats().requests_ok.load() == 2);
  CHECK(facts.stats().requests_missing.load() == 1);
  CHECK(facts.stats().requests_error.load() == 0);

  // Asked again: answered from memory, no request.
  std::this_thread::sleep_for(1100ms);
  CHECK(server.requests("/api/rest_v1/page/summary/").size() == 4);
}

TEST_CASE("wikipedia: the cache survives a restart; a miss is asked again after a day, an article after 30") {
  test::EnrichmentTestServer server;
  test::TempDir dir;
  TestClock clock;
  SpeciesFactsOptions options;
  options.min_interval = 50ms;
  options.now = clock.fn();
  {
    SpeciesFacts facts(config_for(server), "", dir / "cache.db", options);
    facts.start();
    facts.lookup("Parus major");
    facts.lookup("Nonexistent bird");
    REQUIRE(server.wait_for("/api/rest_v1/page/summary/", 2, 5s));
    REQUIRE(wait_known(facts, "Parus major"));
    // The miss is counted once its answer is read: wait for it, not a fixed time (slow under qemu).
    for (int i = 0; i < 500 && facts.stats().requests_missing.load() == 0; ++i) std::this_thread::sleep_for(10ms);
    CHECK(facts.stats().requests_missing.load() == 1);
  }
  {
    // A new process: everything comes from the file, nothing is asked.
    SpeciesFacts facts(config_for(server), "", dir / "cache.db", options);
    facts.start();
    const auto tit = facts.lookup("Parus major");
    REQUIRE(tit);
    CHECK(tit->title == "Great tit");
    CHECK(facts.lookup("Nonexistent bird") == nullptr);
    std::this_thread::sleep_for(300ms);
    CHECK(server.requests("/api/rest_v1/page/summary/").size() == 2);

    // 25 hours on: the miss is due again, the article not.
    clock.offset_s->store(25 * 3600);
    facts.lookup("Nonexistent bird");
    CHECK(facts.lookup("Parus major"));
    REQUIRE(server.wait_for("/api/rest_v1/page/summary/", 3, 5s));
    std::this_thread::sleep_for(300ms);
    CHECK(server.requests("/api/rest_v1/page/summary/").size() == 3);
    CHECK(server.requests().back().path == "/api/rest_v1/page/summary/Nonexistent_bird");

    // 31 days on: the article is refreshed, and the old one still served meanwhile.
    clock.offset_s->store(31 * 24 * 3600);
    CHECK(facts.lookup("Parus major"));
    REQUIRE(server.wait_for("/api/rest_v1/page/summary/", 4, 5s));
    CHECK(server.requests().back().path == "/api/rest_v1/page/summary/Parus_major");
  }
}

TEST_CASE("wikipedia: a server that is down is counted and retried later, not at every event") {
  int port = 0;
  {
    test::EnrichmentTestServer gone;
    port = gone.port();
  }
  WikipediaConfig config;
  config.base_url = "http://127.0.0.1:" + std::to_string(port) + "/api/rest_v1";
  SpeciesFactsOptions options;
  options.min_interval = 10ms;
  TestClock clock;
  options.now = clock.fn();
  test::TempDir dir;
  SpeciesFacts facts(config, "", dir / "cache.db", options);
  facts.start();
  CHECK(facts.lookup("Parus major") == nullptr);
  for (int i = 0; i < 300 && facts.stats().requests_error.load() == 0; ++i) std::this_thread::sleep_for(10ms);
  CHECK(facts.stats().requests_error.load() == 1);
  for (int i = 0; i < 20; ++i) CHECK(facts.lookup("Parus major") == nullptr);
  std::this_thread::sleep_for(200ms);
  CHECK(facts.stats().requests_error.load() == 1);  // the next try is a minute later
  clock.offset_s->store(61);
  facts.lookup("Parus major");
  for (int i = 0; i < 300 && facts.stats().requests_error.load() < 2; ++i) std::this_thread::sleep_for(10ms);
  CHECK(facts.stats().requests_error.load() == 2);
}

TEST_CASE("wikipedia: a damaged cache file costs requests, not detections") {
  test::TempDir dir;
  std::ofstream(dir / "cache.db") << "this is not a database";
  test::EnrichmentTestServer server;
  SpeciesFacts facts(config_for(server), "", dir / "cache.db");
  facts.start();
  facts.lookup("Parus major");
  REQUIRE(wait_known(facts, "Parus major"));
}
