#include <doctest/doctest.h>

#include "agent/credentials.hpp"

using namespace birdsong;

TEST_CASE("credentials: a relative password_file names the systemd credential of the same file") {
  const std::string dir = "/run/credentials/birdsong-agent.service";
  // LoadCredential=credentials:/etc/birdsong-agent/credentials loads
  // /etc/birdsong-agent/credentials/mqtt-password as credentials_mqtt-password.
  CHECK(resolve_secret_path("credentials/mqtt-password", dir) == dir + "/credentials_mqtt-password");
  CHECK(resolve_secret_path("./credentials/loki/token", dir + "/") == dir + "/credentials_loki_token");
  CHECK(resolve_secret_path("mqtt-password", dir) == dir + "/mqtt-password");
}

TEST_CASE("credentials: absolute paths, and any path outside systemd, are used as they are") {
  CHECK(resolve_secret_path("/etc/birdsong/mqtt-password", "/run/credentials/x") == "/etc/birdsong/mqtt-password");
  CHECK(resolve_secret_path("credentials/mqtt-password", "") == "credentials/mqtt-password");
  CHECK(resolve_secret_path("", "/run/credentials/x").empty());
}
