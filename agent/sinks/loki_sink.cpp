#include "agent/sinks/loki_sink.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "agent/credentials.hpp"
#include "agent/sinks/gzip.hpp"
#include "agent/version.hpp"

namespace birdsong {

namespace {

constexpr std::string_view kPushPath = "/loki/api/v1/push";
constexpr std::size_t kMaxReasonChars = 300;     // Loki's messages fit; a proxy's HTML page does not
constexpr std::size_t kMaxBodyKept = 4096;       // of an error answer
constexpr auto kMaxRetryAfter = std::chrono::hours(24);

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Loki's error text on one line, short enough for a log line and the set-aside table.
std::string one_line(std::string_view body) {
  std::string out;
  bool space = false;
  for (char ch : trim(body)) {
    if (std::isspace(static_cast<unsigned char>(ch))) {
      space = true;
      continue;
    }
    if (space && !out.empty()) out += ' ';
    space = false;
    out += ch;
    if (out.size() >= kMaxReasonChars) {
      out += "...";
      break;
    }
  }
  return out;
}

// A relative path names a systemd credential under the service (agent/credentials.hpp).
std::string read_secret(const std::string& configured) {
  const std::string path = resolve_secret_path(configured);
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  if (in) text << in.rdbuf();
  if (!in || in.bad())
    throw ConfigError("[loki] password_file = \"" + configured + "\": cannot read " +
                      (path == configured ? std::string("the file") : path));
  std::string secret = text.str();
  // Editors and `echo` leave a newline; a token never ends in whitespace.
  while (!secret.empty() && std::isspace(static_cast<unsigned char>(secret.back()))) secret.pop_back();
  if (secret.empty()) throw ConfigError("[loki] password_file = \"" + configured + "\": the file is empty");
  return secret;
}

void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) throw std::runtime_error("loki: cannot initialise libcurl");
  });
}

}  // namespace

std::string loki_push_url(std::string_view url) {
  std::string u(trim(url));
  while (!u.empty() && u.back() == '/') u.pop_back();
  if (u.size() >= kPushPath.size() && u.compare(u.size() - kPushPath.size(), kPushPath.size(), kPushPath) == 0)
    return u;
  return u + std::string(kPushPath);
}

std::string loki_push_body(std::span<const OutboxRecord> batch, std::string_view station) {
  // Group by label set, keeping the order in which each kind first appears.
  std::vector<std::string> kinds;
  std::vector<std::vector<const OutboxRecord*>> entries;
  for (const OutboxRecord& r : batch) {
    const std::string kind = r.kind.empty() ? "agent" : r.kind;
    auto it = std::find(kinds.begin(), kinds.end(), kind);
    if (it == kinds.end()) {
      kinds.push_back(kind);
      entries.emplace_back();
      it = kinds.end() - 1;
    }
    entries[static_cast<std::size_t>(it - kinds.begin())].push_back(&r);
  }
  const int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::system_clock::now().time_since_epoch()).count();
  nlohmann::json streams = nlohmann::json::array();
  for (std::size_t i = 0; i < kinds.size(); ++i) {
    // Outbox order is the order events were committed, which is end-of-sound order; a
    // long sound may start before a short one committed earlier. Loki wants each stream's
    // entries in time order within a push, so sort (stably: equal times keep outbox order).
    std::stable_sort(entries[i].begin(), entries[i].end(),
                     [](const OutboxRecord* a, const OutboxRecord* b) { return a->time_ns < b->time_ns; });
    nlohmann::json values = nlohmann::json::array();
    for (const OutboxRecord* r : entries[i]) {
      // A record without a time (should not happen) is stamped now rather than at 1970,
      // which Loki would reject as too old.
      values.push_back({std::to_string(r->time_ns > 0 ? r->time_ns : now_ns), r->payload});
    }
    streams.push_back({{"stream", {{"job", "birdsong-agent"}, {"station", station}, {"kind", kinds[i]}}},
                       {"values", std::move(values)}});
  }
  const nlohmann::json body = {{"streams", std::move(streams)}};
  // `replace` keeps one bad byte in a file name from failing the whole push.
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           std::chrono::system_clock::time_point now) {
  value = trim(value);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (value.size() > 6) return std::chrono::duration_cast<std::chrono::milliseconds>(kMaxRetryAfter);
    const auto s = std::chrono::seconds(std::stol(std::string(value)));
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::min<std::chrono::seconds>(s, kMaxRetryAfter));
  }
  // curl_getdate reads the three HTTP-date forms (IMF-fixdate, RFC 850, asctime).
  const time_t when = curl_getdate(std::string(value).c_str(), nullptr);
  if (when == -1) return std::nullopt;
  const auto wait = std::chrono::system_clock::from_time_t(when) - now;
  if (wait <= std::chrono::system_clock::duration::zero()) return std::chrono::milliseconds(0);
  return std::chrono::duration_cast<std::chrono::milliseconds>(
      std::min<std::chrono::system_clock::duration>(wait, kMaxRetryAfter));
}

SendResult loki_result(long http_status, std::string_view body, std::string_view retry_after,
                       std::chrono::system_clock::time_point now) {
  SendResult r;
  if (http_status >= 200 && http_status < 300) return r;
  const std::string text = one_line(body);
  r.reason = "HTTP " + std::to_string(http_status) + (text.empty() ? "" : ": " + text);
  if (http_status == 429 || http_status >= 500) {
    r.status = SendStatus::retry;
    r.retry_after = parse_retry_after(retry_after, now);
  } else if (http_status >= 400) {
    r.status = SendStatus::rejected;
  } else {
    // 1xx/3xx: not Loki talking (a redirect usually means a wrong url). Keep the records.
    r.status = SendStatus::retry;
    r.reason += " (not a Loki answer; check [loki] url)";
  }
  return r;
}

// libcurl's handle, reused between pushes so the connection (and TLS session) stays up.
struct LokiSink::Curl {
  CURL* handle = nullptr;
  curl_slist* headers = nullptr;
  char error[CURL_ERROR_SIZE] = {};
  std::string response_body;
  std::string retry_after;

  ~Curl() {
    curl_slist_free_all(headers);
    if (handle != nullptr) curl_easy_cleanup(handle);
  }
  void add_header(const std::string& h) {
    curl_slist* next = curl_slist_append(headers, h.c_str());
    if (next == nullptr) throw std::runtime_error("loki: out of memory");
    headers = next;
  }
  static size_t on_body(char* data, size_t size, size_t n, void* self) {
    auto* c = static_cast<Curl*>(self);
    const size_t bytes = size * n;
    const size_t keep = std::min(bytes, kMaxBodyKept - std::min(kMaxBodyKept, c->response_body.size()));
    c->response_body.append(data, keep);
    return bytes;
  }
  static size_t on_header(char* data, size_t size, size_t n, void* self) {
    auto* c = static_cast<Curl*>(self);
    const std::string_view line(data, size * n);
    if (line.rfind("HTTP/", 0) == 0) c->retry_after.clear();  // a new response (after a proxy's)
    const std::size_t colon = line.find(':');
    if (colon != std::string_view::npos && iequals(trim(line.substr(0, colon)), "Retry-After"))
      c->retry_after = std::string(trim(line.substr(colon + 1)));
    return size * n;
  }
};

LokiSink::LokiSink(const LokiConfig& config, std::string station_id)
    : config_(config), station_(std::move(station_id)), push_url_(loki_push_url(config.url)) {
  if (!config_.password_file.empty()) password_ = read_secret(config_.password_file);
  init_curl_once();
  curl_ = std::make_unique<Curl>();
  Curl& c = *curl_;
  c.handle = curl_easy_init();
  if (c.handle == nullptr) throw std::runtime_error("loki: cannot create a libcurl handle");
  c.add_header("Content-Type: application/json");
  c.add_header("Content-Encoding: gzip");
  c.add_header("Expect:");  // no 100-continue round trip before each push
  if (!config_.tenant.empty()) c.add_header("X-Scope-OrgID: " + config_.tenant);

  CURL* h = c.handle;
  const auto timeout_ms = static_cast<long>(config_.timeout_s * 1000.0);
  curl_easy_setopt(h, CURLOPT_URL, push_url_.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, c.headers);
  curl_easy_setopt(h, CURLOPT_USERAGENT, (std::string("birdsong-agent/") + kVersion).c_str());
  curl_easy_setopt(h, CURLOPT_POST, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);  // we run in a runner thread: no SIGALRM for DNS timeouts
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c.error);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &Curl::on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &c);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &Curl::on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &c);
  // Certificates and host names are verified (libcurl's defaults, stated so nobody wonders).
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!config_.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, config_.ca_file.c_str());
  if (!config_.username.empty()) {
    curl_easy_setopt(h, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
    curl_easy_setopt(h, CURLOPT_USERNAME, config_.username.c_str());
    curl_easy_setopt(h, CURLOPT_PASSWORD, password_.c_str());
  }
  // Proxies: libcurl reads http_proxy / https_proxy / no_proxy from the environment itself.
}

LokiSink::~LokiSink() = default;

std::size_t LokiSink::max_batch() const { return static_cast<std::size_t>(config_.batch_max_records); }
std::size_t LokiSink::max_batch_bytes() const { return static_cast<std::size_t>(config_.batch_max_bytes); }
std::chrono::milliseconds LokiSink::linger() const {
  return std::chrono::milliseconds(static_cast<int64_t>(config_.batch_wait_s * 1000.0));
}

SendResult LokiSink::send(std::span<const OutboxRecord> batch) {
  if (batch.empty()) return {};
  const std::string body = gzip_compress(loki_push_body(batch, station_));
  Curl& c = *curl_;
  c.response_body.clear();
  c.retry_after.clear();
  c.error[0] = '\0';
  curl_easy_setopt(c.handle, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(c.handle, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  const CURLcode rc = curl_easy_perform(c.handle);
  curl_easy_setopt(c.handle, CURLOPT_POSTFIELDS, nullptr);  // `body` dies here
  if (rc != CURLE_OK) {
    // No answer: the network, DNS, TLS or a timeout. All may heal, so retry.
    SendResult r;
    r.status = SendStatus::retry;
    r.reason = c.error[0] != '\0' ? c.error : curl_easy_strerror(rc);
    if (rc == CURLE_OPERATION_TIMEDOUT) r.reason = "timeout: " + r.reason;
    return r;
  }
  long status = 0;
  curl_easy_getinfo(c.handle, CURLINFO_RESPONSE_CODE, &status);
  return loki_result(status, c.response_body, c.retry_after, std::chrono::system_clock::now());
}

}  // namespace birdsong
