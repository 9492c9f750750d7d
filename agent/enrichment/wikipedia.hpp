// Species facts from Wikipedia's REST API page summary (en.wikipedia.org/api/rest_v1/,
// "Get a page summary"): the article about a species, found by its scientific name.
//
//   GET <base_url>/page/summary/Turdus_merula
//   -> 302 to .../page/summary/Common_blackbird (a redirect page; followed)
//   -> 200 {"type":"standard","title":"Common blackbird","description":"Species of bird",
//           "extract":"The common blackbird ...","thumbnail":{"source":"https://upload..."},
//           "content_urls":{"desktop":{"page":"https://en.wikipedia.org/wiki/Common_blackbird"}},
//           "wikibase_item":"Q25234", ...}
//
// A title that names several things answers "type":"disambiguation": no species facts
// there. A title without an article answers 404. Both are remembered as a miss.
//
// Politeness (Wikimedia's API etiquette and User-Agent policy): a User-Agent with a
// contact (http_client.hpp), one request at a time and at most one a second, and each
// species asked once per cache period: an article 30 days, a miss one day. The answers
// are kept on disk (SQLite, wikipedia-cache.db next to the outbox by default), so a
// restart asks nothing again. A request that failed (network, HTTP 429 or 5xx) is
// retried no sooner than a minute later, doubling up to an hour.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "agent/config.hpp"
#include "agent/enrichment/weather.hpp"  // EnrichmentError

struct sqlite3;

namespace birdsong {

class HttpClient;

struct SpeciesSummary {
  std::string language;       // the Wikipedia edition, e.g. "en"
  std::string title;          // the article's title (after redirects): "Common blackbird"
  std::string description;    // short, may be empty: "Species of bird"
  std::string extract;        // the article's first paragraph, plain text
  std::string thumbnail_url;  // may be empty
  std::string article_url;    // content_urls.desktop.page
  std::string wikidata_id;    // wikibase_item, may be empty: "Q25234"
};

struct SummaryAnswer {
  bool found = false;         // false: disambiguation page or no article (a miss)
  SpeciesSummary summary;     // when found
  std::string reason;         // when not found
};

// https://<language>.wikipedia.org/api/rest_v1 unless [wikipedia] base_url is set.
std::string wikipedia_base_url(const WikipediaConfig& config);
// <base_url>/page/summary/<title with '_' for spaces, percent-encoded>.
std::string wikipedia_summary_url(const std::string& base_url, const std::string& title);
// Wikipedia's answer (after redirects). 404 and disambiguation pages are a miss; a 200
// that is not a page summary, or any other status, throws EnrichmentError.
SummaryAnswer parse_wikipedia_summary(long http_status, std::string_view body, const std::string& language);
// The `wikipedia` object of an event; empty optional fields are null.
nlohmann::json to_json(const SpeciesSummary& s);
// Back from to_json (the disk cache). Throws EnrichmentError.
SpeciesSummary species_summary_from_json(const nlohmann::json& j);

// The disk cache: one row per (language, scientific name) asked, article or miss.
class WikipediaCache {
 public:
  struct Entry {
    std::string language;
    std::string name;            // the scientific name asked for
    bool found = false;
    std::string summary_json;    // to_json(summary) when found
    int64_t fetched_unix_s = 0;
  };
  // Opens (creating) the file. Throws EnrichmentError("wikipedia: <path>: ...").
  explicit WikipediaCache(const std::string& path);
  ~WikipediaCache();
  WikipediaCache(const WikipediaCache&) = delete;
  WikipediaCache& operator=(const WikipediaCache&) = delete;

  std::vector<Entry> load(const std::string& language) const;
  void put(const Entry& entry);  // throws EnrichmentError

 private:
  std::string path_;
  sqlite3* db_ = nullptr;
};

struct WikipediaStats {
  std::atomic<uint64_t> requests_ok{0};       // an article came
  std::atomic<uint64_t> requests_missing{0};  // 404 or a disambiguation page
  std::atomic<uint64_t> requests_error{0};    // no usable answer
};

struct SpeciesFactsOptions {
  std::chrono::milliseconds min_interval{1000};     // between the starts of two requests
  std::chrono::seconds found_ttl{30 * 24 * 3600};
  std::chrono::seconds missing_ttl{24 * 3600};
  std::chrono::seconds first_error_retry{60};
  std::chrono::seconds max_error_retry{3600};
  std::function<std::chrono::system_clock::time_point()> now = [] { return std::chrono::system_clock::now(); };
};

// The species facts an event gets: lookup() answers from memory at once and queues a
// request when the species is unknown or due; a thread of its own does the requests.
class SpeciesFacts {
 public:
  // `cache_path` empty: memory only. A cache that cannot be opened is one log line, then
  // memory only.
  SpeciesFacts(const WikipediaConfig& config, const std::string& contact, const std::string& cache_path,
               SpeciesFactsOptions options = {});
  ~SpeciesFacts();  // stop()
  SpeciesFacts(const SpeciesFacts&) = delete;
  SpeciesFacts& operator=(const SpeciesFacts&) = delete;

  void start();
  void stop();  // abandons a request in flight

  // Never waits for the network. The summary known now (an expired one too, while a
  // fresh one is asked for), or nullptr.
  std::shared_ptr<const SpeciesSummary> lookup(const std::string& scientific_name);

  const WikipediaStats& stats() const { return stats_; }
  const std::string& base_url() const { return base_url_; }

 private:
  struct Known {
    std::shared_ptr<const SpeciesSummary> summary;
    std::chrono::system_clock::time_point next_request{};  // not asked again before
    int errors = 0;                                          // failed requests in a row
    bool queued = false;
  };
  void loop();
  void fetch(const std::string& name);

  std::string language_;
  std::string base_url_;
  SpeciesFactsOptions options_;
  std::unique_ptr<HttpClient> http_;
  std::unique_ptr<WikipediaCache> cache_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::map<std::string, Known> known_;
  std::deque<std::string> queue_;
  std::atomic<bool> stopping_{false};
  bool failing_ = false;  // fetcher thread: log once per series of failures
  std::chrono::steady_clock::time_point last_request_{};
  std::thread thread_;
  WikipediaStats stats_;
};

}  // namespace birdsong
