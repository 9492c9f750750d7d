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

TEST_CASE("config: [loki] is absent unless configured and [metrics] has defaults") {
  const Config c = parse_config("", "t.toml");
  CHECK_FALSE(c.loki.has_value());
  CHECK(c.metrics.enabled);
  CHECK(c.metrics.host == "127.0.0.1");
  CHECK(c.metrics.port == 9808);
}

TEST_CASE("config: the example's commented-out [loki] block parses when uncommented") {
  // The example documents [loki] commented out (its presence turns Loki on). Uncomment
  // `# [loki]` and every `# key = value` line after it, then parse.
  std::ifstream in(BIRDSONG_SOURCE_DIR "/agent/agent.example.toml");
  REQUIRE(in);
  std::ostringstream out;
  std::string line;
  bool in_loki = false;
  int keys = 0;
  const std::regex commented_key(R"(^# ([a-z_]+ = .*)$)");
  std::smatch m;
  while (std::getline(in, line)) {
    if (line == "# [loki]") {
      in_loki = true;
      out << "[loki]\n";
      continue;
    }
    if (in_loki && !line.empty() && line[0] == '[') in_loki = false;
    if (in_loki && std::regex_match(line, m, commented_key)) {
      out << m[1] << "\n";
      ++keys;
      continue;
    }
    out << line << "\n";
  }
  CHECK(keys == 9);
  const Config c = parse_config(out.str(), "agent.example.toml (uncommented)");
  REQUIRE(c.loki.has_value());
  const LokiConfig d;
  CHECK(c.loki->url == "http://localhost:3100");
  CHECK(c.loki->batch_max_records == d.batch_max_records);
  CHECK(c.loki->batch_max_bytes == d.batch_max_bytes);
  CHECK(c.loki->batch_wait_s == d.batch_wait_s);
  CHECK(c.loki->timeout_s == d.timeout_s);
  CHECK(c.loki->username == "");
}

TEST_CASE("config: [loki] values and mistakes") {
  const Config c = parse_config(
      "[loki]\nurl = \"https://logs.example.net\"\ntenant = \"birds\"\nusername = \"1234\"\n"
      "password_file = \"/etc/birdsong/loki\"\nbatch_max_records = 100\nbatch_wait_s = 0\n",
      "t.toml");
  REQUIRE(c.loki.has_value());
  CHECK(c.loki->tenant == "birds");
  CHECK(c.loki->password_file == "/etc/birdsong/loki");
  CHECK(c.loki->batch_max_records == 100);
  CHECK(c.loki->batch_wait_s == 0.0);

  CHECK(error_of("[loki]\ntenant = \"x\"\n") == "agent.toml: [loki] url: missing (e.g. \"http://localhost:3100\")");
  CHECK(error_of("[loki]\nurl = \"ftp://x\"\n") ==
        "agent.toml: [loki] url = \"ftp://x\": expected an http:// or https:// URL");
  CHECK(error_of("[loki]\nurl = \"http://x\"\nusername = \"u\"\n") ==
        "agent.toml: [loki] username = \"u\": expected username and password_file together (basic auth) or neither");
  CHECK(error_of("[loki]\nurl = \"http://x\"\npassword = \"hunter2\"\n") == "agent.toml: [loki] password: unknown key");
  CHECK(error_of("[loki]\nurl = \"http://x\"\ntimeout_s = 0\n") ==
        "agent.toml: [loki] timeout_s = 0: expected a number from 0.1 to 300 seconds");
}

TEST_CASE("config: [metrics] listen and enabled") {
  Config c = parse_config("[metrics]\nenabled = false\nlisten = \"0.0.0.0:9100\"\n", "t.toml");
  CHECK_FALSE(c.metrics.enabled);
  CHECK(c.metrics.host == "0.0.0.0");
  CHECK(c.metrics.port == 9100);
  c = parse_config("[metrics]\nlisten = \"[::1]:0\"\n", "t.toml");
  CHECK(c.metrics.host == "::1");
  CHECK(c.metrics.port == 0);
  for (const char* bad : {"9808", ":9808", "localhost:", "localhost:http", "localhost:65536", "::1:9808", "[]:1"})
    CHECK(error_of(std::string("[metrics]\nlisten = \"") + bad + "\"\n") ==
          std::string("agent.toml: [metrics] listen = \"") + bad + "\": expected host:port, e.g. \"127.0.0.1:9808\"");
  CHECK(error_of("[metrics]\nenabled = 1\n") == "agent.toml: [metrics] enabled = 1: expected true or false");
}
