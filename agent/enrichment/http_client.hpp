// One HTTPS GET, for the enrichment look-ups (Open-Meteo, Wikipedia): libcurl with a
// User-Agent, a timeout on the whole request, TLS verification on, redirects followed
// (http/https only), proxies from the environment (http_proxy, https_proxy, no_proxy:
// libcurl reads them itself), and a way to abandon a request at shutdown.
//
// The User-Agent follows the Wikimedia User-Agent policy (meta.wikimedia.org/wiki/
// User-Agent_policy): "<client>/<version> (<contact>) <library>/<version>", e.g.
//   birdsong-agent/0.1.0 (https://github.com/birdsong-agent/birdsong-agent) libcurl/7.88.1
#pragma once

#include <atomic>
#include <memory>
#include <string>

namespace birdsong {

struct HttpResponse {
  long status = 0;        // HTTP status; 0 when there was no answer
  std::string body;       // at most HttpClient::kMaxBodyBytes
  std::string error;      // why there was no answer (network, DNS, TLS, timeout); empty otherwise
  bool answered() const { return error.empty(); }
};

class HttpClient {
 public:
  // `timeout_s` bounds each request, connecting included. `ca_file`: a PEM file of the
  // CAs to trust instead of the system's trust store (empty: the system's).
  HttpClient(std::string user_agent, double timeout_s, const std::string& ca_file = "");
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // GET `url`, Accept: application/json. Never throws for network trouble: it is in
  // `error`. Returns early (error "cancelled") once `*cancel` becomes true.
  HttpResponse get(const std::string& url, const std::atomic<bool>* cancel = nullptr);

  const std::string& user_agent() const { return user_agent_; }

  static constexpr std::size_t kMaxBodyBytes = 1 << 20;  // a page summary is a few kB

 private:
  struct Curl;
  std::string user_agent_;
  double timeout_s_;
  std::unique_ptr<Curl> curl_;
};

// The User-Agent of every look-up: names the agent, its version and how to reach its
// operator ([station] contact) or, without one, the project.
std::string enrichment_user_agent(const std::string& contact);

// `text` escaped for a URL path segment or query value (RFC 3986 unreserved kept).
std::string url_escape(const std::string& text);

}  // namespace birdsong
