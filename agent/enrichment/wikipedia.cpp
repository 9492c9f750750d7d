#include "agent/enrichment/wikipedia.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <ctime>
#include <iostream>

#include "agent/enrichment/http_client.hpp"

namespace birdsong {

namespace {

using nlohmann::json;

std::string string_at(const json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

json string_or_null(const std::string& s) { return s.empty() ? json(nullptr) : json(s); }

// Closes a prepared statement however the scope is left.
struct Statement {
  sqlite3_stmt* stmt = nullptr;
  ~Statement() { sqlite3_finalize(stmt); }
};

}  // namespace

std::string wikipedia_base_url(const WikipediaConfig& config) {
  std::string base = config.base_url.empty() ? "https://" + config.language + ".wikipedia.org/api/rest_v1" : config.base_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base;
}

std::string wikipedia_summary_url(const std::string& base_url, const std::string& title) {
  std::string t = title;
  std::replace(t.begin(), t.end(), ' ', '_');  // Wikipedia's form of a title in a URL
  return base_url + "/page/summary/" + url_escape(t);
}

SummaryAnswer parse_wikipedia_summary(long http_status, std::string_view body, const std::string& language) {
  SummaryAnswer a;
  if (http_status == 404) {
    a.reason = "no article";
    return a;
  }
  if (http_status != 200) throw EnrichmentError("wikipedia: HTTP " + std::to_string(http_status));
  json j;
  try {
    j = json::parse(body);
  } catch (const json::exception&) {  // parse_error, and out_of_range for a number like 1e999
    throw EnrichmentError("wikipedia: the answer is not JSON");
  }
  if (!j.is_object()) throw EnrichmentError("wikipedia: the answer is not a JSON object");
  const std::string type = string_at(j, "type");
  if (type == "disambiguation") {
    a.reason = "disambiguation page";
    return a;
  }
  SpeciesSummary& s = a.summary;
  s.language = language;
  s.title = string_at(j, "title");
  s.description = string_at(j, "description");
  s.extract = string_at(j, "extract");
  s.wikidata_id = string_at(j, "wikibase_item");
  if (const auto t = j.find("thumbnail"); t != j.end() && t->is_object()) s.thumbnail_url = string_at(*t, "source");
  if (const auto u = j.find("content_urls"); u != j.end() && u->is_object())
    if (const auto d = u->find("desktop"); d != u->end() && d->is_object()) s.article_url = string_at(*d, "page");
  if (type.empty() || s.title.empty() || s.article_url.empty())
    throw EnrichmentError("wikipedia: not a page summary (type, title or content_urls.desktop.page missing)");
  a.found = true;
  return a;
}

json to_json(const SpeciesSummary& s) {
  return json{{"language", s.language},
              {"title", s.title},
              {"description", string_or_null(s.description)},
              {"extract", s.extract},
              {"thumbnail", string_or_null(s.thumbnail_url)},
              {"url", s.article_url},
              {"wikidata_id", string_or_null(s.wikidata_id)}};
}

SpeciesSummary species_summary_from_json(const json& j) {
  if (!j.is_object()) throw EnrichmentError("wikipedia: cached summary is not an object");
  SpeciesSummary s;
  s.language = string_at(j, "language");
  s.title = string_at(j, "title");
  s.description = string_at(j, "description");
  s.extract = string_at(j, "extract");
  s.thumbnail_url = string_at(j, "thumbnail");
  s.article_url = string_at(j, "url");
  s.wikidata_id = string_at(j, "wikidata_id");
  if (s.title.empty() || s.article_url.empty()) throw EnrichmentError("wikipedia: cached summary lacks title or url");
  return s;
}

WikipediaCache::WikipediaCache(const std::string& path) : path_(path) {
  if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr) !=
      SQLITE_OK) {
    const std::string why = db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw EnrichmentError("wikipedia: " + path + ": " + why);
  }
  sqlite3_busy_timeout(db_, 2000);
  char* error = nullptr;
  const char* schema =
      "PRAGMA synchronous=NORMAL;"
      "CREATE TABLE IF NOT EXISTS wikipedia_summaries ("
      " language TEXT NOT NULL, name TEXT NOT NULL, found INTEGER NOT NULL,"
      " summary TEXT NOT NULL, fetched_unix_s INTEGER NOT NULL, PRIMARY KEY (language, name));";
  if (sqlite3_exec(db_, schema, nullptr, nullptr, &error) != SQLITE_OK) {
    const std::string why = error != nullptr ? error : "unknown error";
    sqlite3_free(error);
    sqlite3_close(db_);
    db_ = nullptr;
    throw EnrichmentError("wikipedia: " + path + ": " + why);
  }
}

WikipediaCache::~WikipediaCache() { sqlite3_close(db_); }

std::vector<WikipediaCache::Entry> WikipediaCache::load(const std::string& language) const {
  std::vector<Entry> out;
  Statement s;
  if (sqlite3_prepare_v2(db_, "SELECT name, found, summary, fetched_unix_s FROM wikipedia_summaries WHERE language = ?",
                         -1, &s.stmt, nullptr) != SQLITE_OK)
    throw EnrichmentError("wikipedia: " + path_ + ": " + sqlite3_errmsg(db_));
  sqlite3_bind_text(s.stmt, 1, language.c_str(), -1, SQLITE_TRANSIENT);
  while (sqlite3_step(s.stmt) == SQLITE_ROW) {
    Entry e;
    e.language = language;
    e.name = reinterpret_cast<const char*>(sqlite3_column_text(s.stmt, 0));
    e.found = sqlite3_column_int(s.stmt, 1) != 0;
    e.summary_json = reinterpret_cast<const char*>(sqlite3_column_text(s.stmt, 2));
    e.fetched_unix_s = sqlite3_column_int64(s.stmt, 3);
    out.push_back(std::move(e));
  }
  return out;
}

void WikipediaCache::put(const Entry& e) {
  Statement s;
  if (sqlite3_prepare_v2(db_,
                         "INSERT OR REPLACE INTO wikipedia_summaries (language, name, found, summary, fetched_unix_s)"
                         " VALUES (?, ?, ?, ?, ?)",
                         -1, &s.stmt, nullptr) != SQLITE_OK)
    throw EnrichmentError("wikipedia: " + path_ + ": " + sqlite3_errmsg(db_));
  sqlite3_bind_text(s.stmt, 1, e.language.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(s.stmt, 2, e.name.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_int(s.stmt, 3, e.found ? 1 : 0);
  sqlite3_bind_text(s.stmt, 4, e.summary_json.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(s.stmt, 5, e.fetched_unix_s);
  if (sqlite3_step(s.stmt) != SQLITE_DONE) throw EnrichmentError("wikipedia: " + path_ + ": " + sqlite3_errmsg(db_));
}

SpeciesFacts::SpeciesFacts(const WikipediaConfig& config, const std::string& contact, const std::string& cache_path,
                           SpeciesFactsOptions options)
    : language_(config.language), base_url_(wikipedia_base_url(config)), options_(std::move(options)) {
  http_ = std::make_unique<HttpClient>(enrichment_user_agent(contact), config.timeout_s);
  if (cache_path.empty()) return;
  try {
    cache_ = std::make_unique<WikipediaCache>(cache_path);
    for (const WikipediaCache::Entry& e : cache_->load(language_)) {
      Known& k = known_[e.name];
      const auto fetched = std::chrono::system_clock::from_time_t(static_cast<std::time_t>(e.fetched_unix_s));
      k.next_request = fetched + (e.found ? options_.found_ttl : options_.missing_ttl);
      if (e.found) k.summary = std::make_shared<const SpeciesSummary>(species_summary_from_json(json::parse(e.summary_json)));
    }
  } catch (const std::exception& e) {
    // A damaged or unwritable cache costs a few requests, never the detections.
    std::cerr << e.what() << "; species facts are kept in memory only\n";
    cache_.reset();
    known_.clear();
  }
}

SpeciesFacts::~SpeciesFacts() { stop(); }

void SpeciesFacts::start() {
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { loop(); });
}

void SpeciesFacts::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<const SpeciesSummary> SpeciesFacts::lookup(const std::string& scientific_name) {
  const auto now = options_.now();
  std::lock_guard lock(mutex_);
  Known& k = known_[scientific_name];
  if (!k.queued && now >= k.next_request) {
    k.queued = true;
    queue_.push_back(scientific_name);
    wake_.notify_one();
  }
  return k.summary;
}

void SpeciesFacts::loop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) break;
    // At most one request per min_interval, counted from the start of the last one.
    const auto earliest = last_request_ + options_.min_interval;
    if (wake_.wait_until(lock, earliest, [this] { return stopping_.load(); })) break;
    const std::string name = queue_.front();
    queue_.pop_front();
    last_request_ = std::chrono::steady_clock::now();
    lock.unlock();
    fetch(name);
    lock.lock();
  }
}

void SpeciesFacts::fetch(const std::string& name) {
  const HttpResponse r = http_->get(wikipedia_summary_url(base_url_, name), &stopping_);
  const auto now = options_.now();
  std::optional<SummaryAnswer> answer;
  std::string problem;
  if (!r.answered()) {
    problem = r.error;
  } else {
    try {
      answer = parse_wikipedia_summary(r.status, r.body, language_);
    } catch (const EnrichmentError& e) {
      problem = e.what();
    }
  }
  if (stopping_ && !answer) return;  // abandoned at shutdown: neither an error nor a miss

  {
    std::lock_guard lock(mutex_);
    Known& k = known_[name];
    k.queued = false;
    if (!answer) {
      ++k.errors;
      const std::chrono::seconds::rep doublings = std::chrono::seconds::rep{1} << std::min(k.errors - 1, 20);
      const std::chrono::seconds retry = std::min(options_.first_error_retry * doublings, options_.max_error_retry);
      k.next_request = now + retry;
    } else {
      k.errors = 0;
      k.next_request = now + (answer->found ? options_.found_ttl : options_.missing_ttl);
      // A miss after an article (the article was deleted or became a disambiguation) keeps nothing.
      if (answer->found) k.summary = std::make_shared<const SpeciesSummary>(answer->summary);
      else k.summary.reset();
    }
  }
  if (!answer) {
    stats_.requests_error.fetch_add(1);
    if (!failing_) std::cerr << "wikipedia: " << name << ": " << problem << "; species facts missing until it works\n";
    failing_ = true;
    return;
  }
  (answer->found ? stats_.requests_ok : stats_.requests_missing).fetch_add(1);
  if (failing_) std::cerr << "wikipedia: working again\n";
  failing_ = false;
  // Outside the lock: lookup() (the pipeline thread) never waits for the disk.
  if (cache_) {
    WikipediaCache::Entry e;
    e.language = language_;
    e.name = name;
    e.found = answer->found;
    e.summary_json = answer->found ? to_json(answer->summary).dump() : "{}";
    e.fetched_unix_s = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    try {
      cache_->put(e);
    } catch (const EnrichmentError& err) {
      std::cerr << err.what() << "; species facts are kept in memory only\n";
      cache_.reset();
    }
  }
}

}  // namespace birdsong
