#include "agent/enrichment/http_client.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <mutex>
#include <stdexcept>

#include "agent/version.hpp"

namespace birdsong {

namespace {

void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) throw std::runtime_error("http: cannot initialise libcurl");
  });
}

}  // namespace

struct HttpClient::Curl {
  CURL* handle = nullptr;
  curl_slist* headers = nullptr;
  char error[CURL_ERROR_SIZE] = {};
  std::string body;
  const std::atomic<bool>* cancel = nullptr;

  ~Curl() {
    curl_slist_free_all(headers);
    if (handle != nullptr) curl_easy_cleanup(handle);
  }
  static size_t on_body(char* data, size_t size, size_t n, void* self) {
    auto* c = static_cast<Curl*>(self);
    const size_t bytes = size * n;
    if (c->body.size() + bytes > kMaxBodyBytes) return 0;  // too large: abort (CURLE_WRITE_ERROR)
    c->body.append(data, bytes);
    return bytes;
  }
  static int on_progress(void* self, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    const auto* c = static_cast<const Curl*>(self);
    return c->cancel != nullptr && c->cancel->load() ? 1 : 0;
  }
};

HttpClient::HttpClient(std::string user_agent, double timeout_s, const std::string& ca_file)
    : user_agent_(std::move(user_agent)), timeout_s_(timeout_s) {
  init_curl_once();
  curl_ = std::make_unique<Curl>();
  Curl& c = *curl_;
  c.handle = curl_easy_init();
  if (c.handle == nullptr) throw std::runtime_error("http: cannot create a libcurl handle");
  c.headers = curl_slist_append(nullptr, "Accept: application/json");
  if (c.headers == nullptr) throw std::runtime_error("http: out of memory");
  CURL* h = c.handle;
  const auto timeout_ms = static_cast<long>(timeout_s_ * 1000.0);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);  // Wikipedia answers a redirect page with 302
  curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, c.headers);
  curl_easy_setopt(h, CURLOPT_USERAGENT, user_agent_.c_str());
  curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");  // whatever libcurl can decode (gzip)
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);  // our own thread: no SIGALRM for DNS timeouts
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c.error);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &Curl::on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &c);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, &Curl::on_progress);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, &c);
  // Certificates and host names are verified (libcurl's defaults, stated so nobody wonders).
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, ca_file.c_str());  // libcurl copies it
  // Proxies: libcurl reads http_proxy / https_proxy / no_proxy from the environment itself.
}

HttpClient::~HttpClient() = default;

HttpResponse HttpClient::get(const std::string& url, const std::atomic<bool>* cancel) {
  Curl& c = *curl_;
  c.body.clear();
  c.error[0] = '\0';
  c.cancel = cancel;
  curl_easy_setopt(c.handle, CURLOPT_URL, url.c_str());
  const CURLcode rc = curl_easy_perform(c.handle);
  c.cancel = nullptr;
  HttpResponse r;
  if (rc != CURLE_OK) {
    if (rc == CURLE_ABORTED_BY_CALLBACK) r.error = "cancelled";
    else if (rc == CURLE_WRITE_ERROR) r.error = "answer larger than " + std::to_string(kMaxBodyBytes) + " bytes";
    else r.error = c.error[0] != '\0' ? c.error : curl_easy_strerror(rc);
    if (rc == CURLE_OPERATION_TIMEDOUT) r.error = "timeout: " + r.error;
    return r;
  }
  curl_easy_getinfo(c.handle, CURLINFO_RESPONSE_CODE, &r.status);
  r.body = std::move(c.body);
  c.body.clear();
  return r;
}

std::string enrichment_user_agent(const std::string& contact) {
  const curl_version_info_data* v = curl_version_info(CURLVERSION_NOW);
  std::string ua = std::string("birdsong-agent/") + kVersion + " (";
  ua += contact.empty() ? std::string(kHomepageUrl) : contact + "; " + kHomepageUrl;
  ua += ")";
  if (v != nullptr && v->version != nullptr) ua += std::string(" libcurl/") + v->version;
  return ua;
}

std::string url_escape(const std::string& text) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char ch : text) {
    if (std::isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
      out += static_cast<char>(ch);
    } else {
      out += '%';
      out += hex[ch >> 4];
      out += hex[ch & 0xf];
    }
  }
  return out;
}

}  // namespace birdsong
