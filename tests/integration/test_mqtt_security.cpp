// mqtts:// (certificate and host name checks) and broker passwords, against a real
// mosquitto with a certificate made for the test by the openssl command.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "agent/delivery/delivery.hpp"
#include "agent/sinks/mqtt_sink.hpp"
#include "tests/agent/audio_files.hpp"
#include "tests/integration/processes.hpp"

using namespace birdsong;
using namespace birdsong::test;
using namespace std::chrono_literals;

namespace {

// A CA, and a server certificate it signed for the name "localhost" only (no IP address).
// False when the openssl command is missing.
bool make_certificates(const TempDir& dir) {
  if (!std::filesystem::exists("/usr/bin/openssl")) return false;
  std::ofstream(dir / "san.ext") << "subjectAltName=DNS:localhost\n";
  const std::string d = dir / "";
  const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  const std::string script =
      "cd " + d + " && ( openssl req -x509" + ec + " -keyout ca.key -out ca.crt -days 2 -subj '/CN=birdsong test CA'" +
      " && openssl req" + ec + " -keyout server.key -out server.csr -subj '/CN=localhost'" +
      " && openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2"
      " -extfile san.ext ) > openssl.log 2>&1";
  return std::system(script.c_str()) == 0;
}

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

}  // namespace

TEST_CASE("mqtt: mqtts checks the broker's certificate and host name") {
  TempDir dir;
  if (!make_certificates(dir)) {
    MESSAGE("skipped: no /usr/bin/openssl to make a test certificate (Debian package openssl)");
    return;
  }
  Mosquitto broker(dir / "", "cafile " + (dir / "ca.crt") + "\ncertfile " + (dir / "server.crt") + "\nkeyfile " +
                                 (dir / "server.key") + "\n");
  const std::string port = std::to_string(broker.port());
  MqttConfig c;
  c.timeout_s = 3.0;

  c.url = "mqtts://localhost:" + port;
  c.ca_file = dir / "ca.crt";
  Outcome trusted = try_delivery(dir, c);
  INFO(trusted.log);
  CHECK(trusted.delivered);
  CHECK(trusted.stats.sent == 1);

  c.url = "mqtts://127.0.0.1:" + port;  // the certificate does not name this address
  Outcome wrong_name = try_delivery(dir, c, 3s);
  CHECK_FALSE(wrong_name.delivered);
  CHECK(wrong_name.stats.sent == 0);
  CHECK(wrong_name.stats.failed >= 1);
  CHECK(wrong_name.log.find("mqtt: delivery failed (connect to ssl://127.0.0.1:" + port) != std::string::npos);

  c.url = "mqtts://localhost:" + port;
  c.ca_file.clear();  // the system's CAs do not know the test CA
  Outcome untrusted = try_delivery(dir, c, 3s);
  CHECK_FALSE(untrusted.delivered);
  CHECK(untrusted.stats.failed >= 1);

  c.url = "mqtts://127.0.0.1:" + port;
  c.tls_verify = false;  // explicitly turned off: anything goes
  Outcome unchecked = try_delivery(dir, c);
  CHECK(unchecked.delivered);
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
