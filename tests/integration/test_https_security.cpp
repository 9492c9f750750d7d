// https:// certificate and host name checks of the agent's two libcurl clients, the Loki
// sink and the enrichment look-ups (HttpClient), against a local TLS server (cpp-httplib)
// presenting certificates made for the test by the openssl command.
#include <doctest/doctest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "agent/enrichment/http_client.hpp"
#include "agent/sinks/loki_sink.hpp"
#include "tests/agent/audio_files.hpp"
#include "tests/integration/certificates.hpp"
#include "tests/integration/processes.hpp"

using namespace birdsong;
using namespace birdsong::test;
using namespace std::chrono_literals;

namespace {

constexpr double kTimeoutS = 3.0;

// HTTPS on a free loopback port, presenting `cert`: GET /hello answers 200 "hello", a
// Loki push answers 204 as Loki does. Counts the requests that reached a handler, that
// is, got past the TLS handshake.
class TlsTestServer {
 public:
  explicit TlsTestServer(const CertificateFiles& cert) : server_(cert.crt.c_str(), cert.key.c_str()) {
    if (!server_.is_valid()) throw std::runtime_error("TlsTestServer: cannot load " + cert.crt);
    server_.new_task_queue = [] { return new httplib::ThreadPool(2); };
    server_.Get("/hello", [this](const httplib::Request&, httplib::Response& res) {
      ++requests_;
      res.set_content("hello", "text/plain");
    });
    server_.Post("/loki/api/v1/push", [this](const httplib::Request&, httplib::Response& res) {
      ++requests_;
      res.status = 204;
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ <= 0) throw std::runtime_error("TlsTestServer: cannot bind a loopback port");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    if (!eventually([this] { return server_.is_running(); }, 5s))
      throw std::runtime_error("TlsTestServer: did not start");
  }
  ~TlsTestServer() {
    server_.stop();
    thread_.join();
  }
  TlsTestServer(const TlsTestServer&) = delete;
  TlsTestServer& operator=(const TlsTestServer&) = delete;

  std::string url(const std::string& host) const { return "https://" + host + ":" + std::to_string(port_); }
  int requests() const { return requests_.load(); }

 private:
  httplib::SSLServer server_;
  std::atomic<int> requests_{0};
  int port_ = 0;
  std::thread thread_;
};

// One request by the client under test: did it get the server's right answer, and if
// not, the error it gave.
struct Attempt {
  bool succeeded = false;
  std::string error;
};
using Client = std::function<Attempt(const std::string& base_url, const std::string& ca_file)>;

// The handshake fails: no request reaches the server, and the error names the certificate.
void check_refused(const Client& client, const TlsTestServer& server, const std::string& host,
                   const std::string& ca_file) {
  const int before = server.requests();
  const Attempt a = client(server.url(host), ca_file);
  INFO("error: " << a.error);
  CHECK_FALSE(a.succeeded);
  CHECK(a.error.find("certificate") != std::string::npos);
  CHECK(server.requests() == before);
}

// What every https client of the agent must do: succeed with the trusted CA and the
// right name; refuse each certificate that is wrong in exactly one way.
void check_certificate_checks(const Client& client) {
  TempDir dir;
  const auto certs = make_test_certificates(dir);
  if (!certs) {
    MESSAGE(kNoOpensslMessage);
    return;
  }
  TlsTestServer server(certs->server), expired(certs->expired), self_signed(certs->self_signed);

  const Attempt trusted = client(server.url("localhost"), certs->ca);
  INFO("error: " << trusted.error);
  CHECK(trusted.succeeded);
  CHECK(server.requests() == 1);

  SUBCASE("wrong host name: the certificate names localhost, not 127.0.0.1") {
    check_refused(client, server, "127.0.0.1", certs->ca);
  }
  SUBCASE("no ca_file: the system's CAs do not know the test CA") {
    check_refused(client, server, "localhost", "");
  }
  SUBCASE("expired: signed by the trusted CA for localhost, valid on 2020-01-01 only") {
    check_refused(client, expired, "localhost", certs->ca);
  }
  SUBCASE("self-signed: for localhost, but not issued by the trusted CA") {
    check_refused(client, self_signed, "localhost", certs->ca);
  }
}

Attempt loki_push(const std::string& base_url, const std::string& ca_file) {
  LokiConfig c;
  c.url = base_url;
  c.ca_file = ca_file;
  c.timeout_s = kTimeoutS;
  LokiSink sink(c, "garden");
  OutboxRecord r;
  r.seq = 1;
  r.id = "id-1";
  r.kind = "detection";
  r.time_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                  std::chrono::system_clock::now().time_since_epoch()).count();
  r.payload = R"({"schema":1,"id":"id-1"})";
  const std::vector<OutboxRecord> batch = {r};
  const SendResult result = sink.send(batch);
  return {result.status == SendStatus::ok, result.reason};
}

Attempt enrichment_get(const std::string& base_url, const std::string& ca_file) {
  HttpClient http(enrichment_user_agent(""), kTimeoutS, ca_file);
  const HttpResponse r = http.get(base_url + "/hello");
  return {r.answered() && r.status == 200 && r.body == "hello", r.error};
}

}  // namespace

TEST_CASE("https: the Loki sink checks the server's certificate and host name") {
  check_certificate_checks(loki_push);
}

TEST_CASE("https: enrichment look-ups check the server's certificate and host name") {
  check_certificate_checks(enrichment_get);
}
