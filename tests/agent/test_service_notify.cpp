#include <doctest/doctest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>

#include "agent/service_notify.hpp"

using namespace birdsong;

namespace {

// A datagram socket standing in for systemd's notify socket: systemd's side of the
// protocol is exactly this (one datagram per sd_notify call).
class NotifySocket {
 public:
  NotifySocket() {
    path_ = (std::filesystem::temp_directory_path() / ("birdsong-notify-" + std::to_string(getpid()))).string();
    std::filesystem::remove(path_);
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    REQUIRE(path_.size() < sizeof(address.sun_path));
    std::memcpy(address.sun_path, path_.c_str(), path_.size() + 1);
    REQUIRE(bind(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0);
    setenv("NOTIFY_SOCKET", path_.c_str(), 1);
  }
  ~NotifySocket() {
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    close(fd_);
    std::filesystem::remove(path_);
  }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  // The next datagram, or nothing when none is waiting.
  std::optional<std::string> receive() {
    char buffer[512];
    const ssize_t n = recv(fd_, buffer, sizeof(buffer), MSG_DONTWAIT);
    if (n < 0) return std::nullopt;
    return std::string(buffer, static_cast<std::size_t>(n));
  }

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace

TEST_CASE("service notify: without NOTIFY_SOCKET every call is a no-op") {
  unsetenv("NOTIFY_SOCKET");
  setenv("WATCHDOG_USEC", "30000000", 1);
  ServiceNotifier notifier;
  CHECK_FALSE(notifier.enabled());
  CHECK_FALSE(notifier.watchdog_interval().has_value());
  notifier.ready("listening");
  notifier.watchdog();
  notifier.stopping();
  unsetenv("WATCHDOG_USEC");
}

TEST_CASE("service notify: READY=1 once, with the status, then STOPPING=1") {
  NotifySocket systemd;
  ServiceNotifier notifier;
  CHECK(notifier.enabled());
  CHECK_FALSE(notifier.watchdog_interval().has_value());  // no WatchdogSec=
  notifier.ready("listening to USB Audio");
  CHECK(systemd.receive() == "READY=1\nSTATUS=listening to USB Audio");
  notifier.ready("again");
  notifier.watchdog();
  CHECK_FALSE(systemd.receive().has_value());
  notifier.stopping();
  CHECK(systemd.receive() == "STOPPING=1");
}

TEST_CASE("service notify: watchdog pings at most once per quarter of WatchdogSec") {
  NotifySocket systemd;
  // WatchdogSec=2s: a ping per 0.5 s at most. Long enough that two calls in a row fall
  // within one quarter even on a loaded machine or under qemu.
  setenv("WATCHDOG_USEC", "2000000", 1);
  setenv("WATCHDOG_PID", std::to_string(getpid()).c_str(), 1);
  ServiceNotifier notifier;
  REQUIRE(notifier.watchdog_interval() == std::chrono::microseconds(2000000));
  notifier.watchdog();
  notifier.watchdog();
  CHECK(systemd.receive() == "WATCHDOG=1");
  CHECK_FALSE(systemd.receive().has_value());
  std::this_thread::sleep_for(std::chrono::milliseconds(550));
  notifier.watchdog();
  CHECK(systemd.receive() == "WATCHDOG=1");
}

TEST_CASE("service notify: the watchdog is another process's when WATCHDOG_PID is not ours") {
  NotifySocket systemd;
  setenv("WATCHDOG_USEC", "30000000", 1);
  setenv("WATCHDOG_PID", std::to_string(getpid() + 1).c_str(), 1);
  ServiceNotifier notifier;
  CHECK_FALSE(notifier.watchdog_interval().has_value());
  notifier.watchdog();
  CHECK_FALSE(systemd.receive().has_value());
}
