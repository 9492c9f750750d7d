#include <doctest/doctest.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "agent/config.hpp"

using namespace birdsong;

namespace {

std::string error_of(const std::string& text) {
  try {
    parse_config(text, "agent.toml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("config: mqtt is absent unless configured, and the outbox has SD-card-sized defaults") {
  const Config c = parse_config("", "t.toml");
  CHECK_FALSE(c.mqtt.has_value());
  CHECK(c.outbox.path.empty());
  CHECK(c.outbox.max_records == 100000);
  CHECK(c.outbox.max_bytes == 64000000);
  CHECK(c.outbox.max_age_days == 7.0);
  CHECK(c.outbox.sync_full);
}

TEST_CASE("config: mqtt and outbox values are read") {
  const Config c = parse_config(
      "[mqtt]\nurl = \"mqtts://broker.lan:8883\"\nusername = \"pi\"\npassword_file = \"/etc/birdsong/pw\"\n"
      "ca_file = \"/etc/ssl/lan-ca.pem\"\ntopic_prefix = \"home/birds\"\nclient_id = \"bs1\"\nqos = 2\n"
      "discovery = false\ndiscovery_prefix = \"ha\"\ntimeout_s = 5\nkeepalive_s = 60\n"
      "[outbox]\npath = \"/tmp/o.db\"\nmax_records = 5000\nmax_bytes = 2_000_000\nmax_age_days = 2.5\n"
      "sync = \"normal\"\n",
      "t.toml");
  REQUIRE(c.mqtt.has_value());
  const MqttConfig& m = *c.mqtt;
  CHECK(m.url == "mqtts://broker.lan:8883");
  CHECK(m.username == "pi");
  CHECK(m.password_file == "/etc/birdsong/pw");
  CHECK(m.ca_file == "/etc/ssl/lan-ca.pem");
  CHECK(m.tls_verify);
  CHECK(m.topic_prefix == "home/birds");
  CHECK(m.client_id == "bs1");
  CHECK(m.qos == 2);
  CHECK_FALSE(m.discovery);
  CHECK(m.discovery_prefix == "ha");
  CHECK(m.timeout_s == 5.0);
  CHECK(m.keepalive_s == 60);
  CHECK(c.outbox.path == "/tmp/o.db");
  CHECK(c.outbox.max_records == 5000);
  CHECK(c.outbox.max_bytes == 2000000);
  CHECK(c.outbox.max_age_days == 2.5);
  CHECK_FALSE(c.outbox.sync_full);
  // Defaults of a minimal [mqtt].
  const Config d = parse_config("[mqtt]\nurl = \"mqtt://localhost\"\n", "t.toml");
  CHECK(d.mqtt->topic_prefix == "birdsong");
  CHECK(d.mqtt->qos == 1);
  CHECK(d.mqtt->discovery);
  CHECK(d.mqtt->discovery_prefix == "homeassistant");
}

TEST_CASE("config: a bad [mqtt] or [outbox] value is one line naming the key") {
  CHECK(error_of("[mqtt]\n") == "agent.toml: [mqtt] url: missing (e.g. \"mqtt://localhost:1883\")");
  CHECK(error_of("[mqtt]\nurl = \"http://broker\"\n") ==
        "agent.toml: [mqtt] url = \"http://broker\": expected mqtt://host[:port] or mqtts://host[:port]");
  CHECK(error_of("[mqtt]\nurl = \"mqtt://broker:99999\"\n").find("[mqtt] url = \"mqtt://broker:99999\"") !=
        std::string::npos);
  CHECK(error_of("[mqtt]\nurl = \"mqtt://broker/x\"\n").find("no path") != std::string::npos);
  CHECK(error_of("[mqtt]\nurl = \"mqtt://b\"\nqos = 0\n") ==
        "agent.toml: [mqtt] qos = 0: expected a whole number from 1 to 2");
  CHECK(error_of("[mqtt]\nurl = \"mqtt://b\"\ntopic_prefix = \"birds/#\"\n").find("[mqtt] topic_prefix") !=
        std::string::npos);
  CHECK(error_of("[mqtt]\nurl = \"mqtt://b\"\ntopic_prefix = \"/birds\"\n").find("[mqtt] topic_prefix") !=
        std::string::npos);
  CHECK(error_of("[mqtt]\nurl = \"mqtt://b\"\npassword_file = \"/p\"\n").find("[mqtt] password_file") !=
        std::string::npos);
  CHECK(error_of("[mqtt]\nurl = \"mqtt://b\"\nca_file = \"/ca.pem\"\n").find("mqtts://") != std::string::npos);
  CHECK(error_of("[mqtt]\nurl = \"mqtt://b\"\npasword = \"x\"\n") == "agent.toml: [mqtt] pasword: unknown key");
  CHECK(error_of("[outbox]\nsync = \"always\"\n") ==
        "agent.toml: [outbox] sync = \"always\": expected \"full\" or \"normal\"");
  CHECK(error_of("[outbox]\nmax_records = 10\n") ==
        "agent.toml: [outbox] max_records = 10: expected a whole number from 100 to 100000000");
  CHECK(error_of("[outbox]\nmax_age = 3\n") == "agent.toml: [outbox] max_age: unknown key");
}

TEST_CASE("config: the example's [outbox] is the default and its commented-out [mqtt] parses when uncommented") {
  const Config plain = load_config(BIRDSONG_SOURCE_DIR "/agent/agent.example.toml");
  const OutboxConfig d;
  CHECK(plain.outbox.path == d.path);
  CHECK(plain.outbox.max_records == d.max_records);
  CHECK(plain.outbox.max_bytes == d.max_bytes);
  CHECK(plain.outbox.max_age_days == d.max_age_days);
  CHECK(plain.outbox.sync_full == d.sync_full);
  CHECK_FALSE(plain.mqtt.has_value());

  std::ifstream in(BIRDSONG_SOURCE_DIR "/agent/agent.example.toml");
  REQUIRE(in);
  std::ostringstream out;
  std::string line;
  bool in_mqtt = false;
  int keys = 0;
  const std::regex commented_key(R"(^# ([a-z_]+ = .*)$)");
  std::smatch m;
  while (std::getline(in, line)) {
    if (line == "# [mqtt]") {
      in_mqtt = true;
      out << "[mqtt]\n";
      continue;
    }
    if (in_mqtt && !line.empty() && line[0] == '[') in_mqtt = false;
    if (in_mqtt && std::regex_match(line, m, commented_key)) {
      out << m[1] << '\n';
      ++keys;
    } else {
      out << line << '\n';
    }
  }
  CHECK(keys == 12);  // every [mqtt] key is documented
  const Config c = parse_config(out.str(), "agent.example.toml (uncommented)");
  REQUIRE(c.mqtt.has_value());
  const MqttConfig defaults;
  CHECK(c.mqtt->url == "mqtt://localhost:1883");
  CHECK(c.mqtt->topic_prefix == defaults.topic_prefix);
  CHECK(c.mqtt->qos == defaults.qos);
  CHECK(c.mqtt->discovery == defaults.discovery);
  CHECK(c.mqtt->discovery_prefix == defaults.discovery_prefix);
  CHECK(c.mqtt->timeout_s == defaults.timeout_s);
  CHECK(c.mqtt->keepalive_s == defaults.keepalive_s);
  CHECK(c.mqtt->tls_verify == defaults.tls_verify);
}
