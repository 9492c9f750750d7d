// mqtts:// (certificate and host name checks) and broker passwords, against a real
// mosquitto presenting certificates made for the test by the openssl command.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "agent/delivery/delivery.hpp"
#include "agent/sinks/mqtt_sink.hpp"
#include "tests/agent/audio_files.hpp"
#include "tests/integration/certificates.hpp"
#include "tests/integration/processes.hpp"

using namespace birdsong;
using namespace birdsong::test;
using namespace std::chrono_literals;

namespace {

Event event() {
  Event e;
  e.id = new_event_id();
  e.station = "garden";
  e.time = std::chrono::system_clock::now();
  return e;
}

// Sends one event through a fresh Delivery and reports whether it got through within
// `timeout`, and what the runner logged.
struct Outcome {
  bool delivered = false;
  SinkStats stats;
  std::string log;
};

Outcome try_delivery(const TempDir& dir, const MqttConfig& config, std::chrono::milliseconds timeout = 10s) {
  std::filesystem::remove(dir / "outbox.db");
  OutboxOptions o;
  o.path = dir / "outbox.db";
  o.sync = OutboxSync::normal;
  std::vector<std::unique_ptr<Sink>> sinks;
  sinks.push_back(std::make_unique<MqttSink>(config, "garden"));
  RunnerOptions r;
  r.backoff_initial = 200ms;
  r.backoff_max = 1s;
  std::ostringstream log;
  std::streambuf* saved = std::cerr.rdbuf(log.rdbuf());  // the runner logs to stderr
  Outcome out;
  {
    Delivery delivery(o, std::move(sinks), r);
    delivery.start();
    delivery.publish(event());
    out.delivered = delivery.drain(timeout);
    delivery.stop();
    out.stats = delivery.sink_stats().at(0);
  }
  std::cerr.rdbuf(saved);
  out.log = log.str();
  return out;
}

// The configuration lines of a TLS listener presenting `cert`.
std::string tls_listener(const TestCertificates& certs, const CertificateFiles& cert) {
  return "cafile " + certs.ca + "\ncertfile " + cert.crt + "\nkeyfile " + cert.key + "\n";
}

// Nothing got through, and the runner said it could not connect to `server_uri`.
void check_refused(const Outcome& out, const std::string& server_uri) {
  INFO(out.log);
  CHECK_FALSE(out.delivered);
  CHECK(out.stats.sent == 0);
  CHECK(out.stats.failed >= 1);
  CHECK(out.log.find("mqtt: delivery failed (connect to " + server_uri) != std::string::npos);
}

}  // namespace

TEST_CASE("mqtt: mqtts checks the broker's certificate and host name") {
  TempDir dir;
  const auto certs = make_test_certificates(dir);
  if (!certs) {
    MESSAGE(kNoOpensslMessage);
    return;
  }
  MqttConfig c;
  c.timeout_s = 3.0;

  SUBCASE("a certificate for localhost from the trusted CA: that CA and that name only") {
    Mosquitto broker(dir / "", tls_listener(*certs, certs->server));
    const std::string port = std::to_string(broker.port());
    c.url = "mqtts://localhost:" + port;
    c.ca_file = certs->ca;
    Outcome trusted = try_delivery(dir, c);
    INFO(trusted.log);
    CHECK(trusted.delivered);
    CHECK(trusted.stats.sent == 1);

    c.url = "mqtts://127.0.0.1:" + port;  // the certificate does not name this address
    check_refused(try_delivery(dir, c, 3s), "ssl://127.0.0.1:" + port);

    c.url = "mqtts://localhost:" + port;
    c.ca_file.clear();  // the system's CAs do not know the test CA
    check_refused(try_delivery(dir, c, 3s), "ssl://localhost:" + port);

    c.url = "mqtts://127.0.0.1:" + port;
    c.tls_verify = false;  // explicitly turned off: anything goes
    Outcome unchecked = try_delivery(dir, c);
    CHECK(unchecked.delivered);
  }

  SUBCASE("an expired or a self-signed certificate is refused") {
    // paho says only "TCP/TLS connect failure"; the reason is in the TLS alert the client
    // sent, which mosquitto logs (OpenSSL's alert names, RFC 8446 6.2).
    struct WrongCertificate {
      const char* what;
      const CertificateFiles* cert;
      const char* alert;
    };
    const WrongCertificate wrong_certificates[] = {
        {"expired: signed by the trusted CA for localhost, valid on 2020-01-01 only", &certs->expired,
         "alert certificate expired"},
        {"self-signed: for localhost, but not issued by the trusted CA", &certs->self_signed, "alert unknown ca"},
    };
    for (const WrongCertificate& wrong : wrong_certificates) {
      INFO(wrong.what);
      Mosquitto broker(dir / "", tls_listener(*certs, *wrong.cert));
      const std::string port = std::to_string(broker.port());
      c.url = "mqtts://localhost:" + port;  // the right name and the trusted CA: only the certificate is wrong
      c.ca_file = certs->ca;
      c.tls_verify = true;
      check_refused(try_delivery(dir, c, 3s), "ssl://localhost:" + port);
      CHECK(eventually([&] { return broker.log().find(wrong.alert) != std::string::npos; }, 5s));

      c.tls_verify = false;  // the broker does serve with this certificate
      CHECK(try_delivery(dir, c).delivered);
    }
  }
}

TEST_CASE("mqtt: a broker password is read from password_file and never logged") {
  TempDir dir;
  const std::string secret = "s3cret-Bird-Pass";
  REQUIRE(std::system(("mosquitto_passwd -b -c " + (dir / "passwords") + " birdsong " + secret).c_str()) == 0);
  Mosquitto broker(dir / "", "password_file " + (dir / "passwords") + "\nallow_anonymous false\n");
  std::ofstream(dir / "mqtt-password") << secret << "\n";  // the editor's newline is not part of it
  std::ofstream(dir / "wrong-password") << "guess\n";

  MqttConfig c;
  c.url = broker.url();
  c.timeout_s = 3.0;
  c.username = "birdsong";
  c.password_file = dir / "mqtt-password";
  Outcome right = try_delivery(dir, c);
  INFO(right.log);
  CHECK(right.delivered);

  c.password_file = dir / "wrong-password";
  Outcome wrong = try_delivery(dir, c, 3s);
  CHECK_FALSE(wrong.delivered);
  CHECK(wrong.stats.failed >= 1);
  CHECK(wrong.log.find("mqtt: delivery failed (connect to tcp://127.0.0.1:") != std::string::npos);
  CHECK(wrong.log.find("guess") == std::string::npos);
  CHECK(right.log.find(secret) == std::string::npos);

  c.password_file = dir / "missing";
  CHECK_THROWS_WITH_AS(MqttSink(c, "garden"), doctest::Contains("[mqtt] password_file"), ConfigError);
}
