// Secrets and file permissions of the running agent: the MQTT password and the Loki token
// are read from their files and go to the servers, and nowhere else - not the command
// line, the environment, the logs, /metrics or the state directory - and the outbox is
// readable by its owner only.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>

#include "tests/agent/sinks/loki_test_server.hpp"
#include "tests/faults/fault_harness.hpp"

using namespace birdsong::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr auto kMqttPassword = "mqtt-Secret-7f3a9c";
constexpr auto kLokiToken = "glc_loki-Token-0d81e2";

bool holds_secret(const std::string& text) {
  return text.find(kMqttPassword) != std::string::npos || text.find(kLokiToken) != std::string::npos;
}

// Sets an environment variable for the scope (the agent inherits the test's environment).
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    value ? ::setenv(name, value, 1) : ::unsetenv(name);
  }
  ~ScopedEnv() { old_ ? ::setenv(name_, old_->c_str(), 1) : ::unsetenv(name_); }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

}  // namespace

TEST_CASE("security: secrets stay out of argv, environment, logs, metrics and files, and the outbox is private") {
  TempDir dir;
  Mosquitto broker(dir / "");
  LokiTestServer loki;
  const std::string mqtt_password_file = dir / "mqtt-password";
  const std::string loki_token_file = dir / "loki-token";
  std::ofstream(mqtt_password_file) << kMqttPassword << '\n';
  std::ofstream(loki_token_file) << kLokiToken << '\n';
  fs::permissions(mqtt_password_file, fs::perms::owner_read | fs::perms::owner_write);
  fs::permissions(loki_token_file, fs::perms::owner_read | fs::perms::owner_write);

  // The outbox at its default place, $XDG_STATE_HOME/birdsong-agent/outbox.db, created by
  // the agent under the usual umask.
  const std::string state_home = dir / "state";
  ScopedEnv xdg("XDG_STATE_HOME", state_home.c_str());
  ScopedEnv systemd_state("STATE_DIRECTORY", nullptr);
  const mode_t old_umask = ::umask(022);
  const int port = free_port();
  const std::string config = dir / "agent.toml";
  std::ofstream(config) << "[station]\nid = \"garden\"\n[detector]\nmin_confidence = 0.0\n"
                        << "[metrics]\nlisten = \"127.0.0.1:" << port << "\"\n"
                        << "[mqtt]\nurl = \"" << broker.url() << "\"\nusername = \"birdsong\"\npassword_file = \""
                        << mqtt_password_file << "\"\n"
                        << "[loki]\nurl = \"" << loki.url() << "\"\nusername = \"123456\"\npassword_file = \""
                        << loki_token_file << "\"\nbatch_wait_s = 0.1\n"
                        << "[outbox]\npath = \"\"\n";
  const std::string wav = write_notes(dir, "notes.wav", 8, 0.3);
  Agent agent(dir, "agent", config, wav, "2", 30, port, 3);
  ::umask(old_umask);

  // While it runs: its command line and environment.
  REQUIRE(eventually([&] { return !agent.metrics().empty(); }, 30s));
  const std::string proc = "/proc/" + std::to_string(agent.process().pid());
  const std::string cmdline = read_file(proc + "/cmdline");
  const std::string environ_text = read_file(proc + "/environ");
  CHECK_FALSE(cmdline.empty());
  CHECK_FALSE(holds_secret(cmdline));
  CHECK_FALSE(holds_secret(environ_text));
  REQUIRE(loki.wait_for_accepted(8, 60s));
  const std::string metrics = agent.metrics();
  REQUIRE(agent.wait(60s));
  INFO(agent.stderr_text());
  CHECK(agent.exited_ok());

  // The secrets did reach the servers (so the checks below are not vacuous) ...
  const auto pushes = loki.pushes();
  REQUIRE_FALSE(pushes.empty());
  CHECK(pushes.front().header("authorization").rfind("Basic ", 0) == 0);
  CHECK(broker.log().find("u'birdsong'") != std::string::npos);
  // ... and nowhere else.
  CHECK_FALSE(holds_secret(read_file(agent.out_path())));
  CHECK_FALSE(holds_secret(agent.stderr_text()));
  CHECK_FALSE(holds_secret(metrics));

  const fs::path outbox_dir = fs::path(state_home) / "birdsong-agent";
  REQUIRE(fs::exists(outbox_dir / "outbox.db"));
  const auto private_bits = fs::perms::group_all | fs::perms::others_all;
  CHECK((fs::status(outbox_dir).permissions() & private_bits) == fs::perms::none);
  int files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(outbox_dir)) {
    ++files;
    INFO(entry.path().string());
    CHECK((entry.status().permissions() & private_bits) == fs::perms::none);
    CHECK_FALSE(holds_secret(read_file(entry.path().string())));
  }
  // Nothing the agent wrote anywhere in the test's directory holds a secret, except the
  // secret files themselves.
  for (const auto& entry : fs::recursive_directory_iterator(dir / "")) {
    if (!entry.is_regular_file() || entry.path() == mqtt_password_file || entry.path() == loki_token_file) continue;
    INFO(entry.path().string());
    CHECK_FALSE(holds_secret(read_file(entry.path().string())));
  }
  report("security", "secrets absent from argv, environment, stdout, stderr, /metrics and " + std::to_string(files) +
                         " state files; outbox directory and files owner-only");
}
