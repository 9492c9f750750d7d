#include "agent/service_notify.hpp"

#include <systemd/sd-daemon.h>

#include <cstdint>
#include <cstdlib>
#include <string>

namespace birdsong {

ServiceNotifier::ServiceNotifier() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  enabled_ = socket != nullptr && *socket != '\0';
  uint64_t usec = 0;
  // > 0 only when WATCHDOG_USEC is set and WATCHDOG_PID (if set) is this process: a
  // child started by the agent must not ping on its behalf.
  if (enabled_ && sd_watchdog_enabled(/*unset_environment=*/0, &usec) > 0 && usec > 0)
    watchdog_interval_ = std::chrono::microseconds(static_cast<int64_t>(usec));
}

void ServiceNotifier::ready(std::string_view status) {
  if (!enabled_ || ready_sent_) return;
  ready_sent_ = true;
  std::string message = "READY=1";
  if (!status.empty()) message.append("\nSTATUS=").append(status);
  send(message);
}

void ServiceNotifier::watchdog() {
  if (!watchdog_interval_) return;
  const auto now = std::chrono::steady_clock::now();
  if (watchdog_sent_ && now - last_watchdog_ < *watchdog_interval_ / 4) return;
  watchdog_sent_ = true;
  last_watchdog_ = now;
  send("WATCHDOG=1");
}

void ServiceNotifier::stopping(std::string_view status) {
  if (!enabled_) return;
  std::string message = "STOPPING=1";
  if (!status.empty()) message.append("\nSTATUS=").append(status);
  send(message);
}

// A failed send is not reported: systemd notices by itself (a start that times out, a
// watchdog that fires) and says so in the journal, which is where anyone would look.
void ServiceNotifier::send(std::string_view message) {
  const std::string text(message);
  (void)sd_notify(/*unset_environment=*/0, text.c_str());
}

}  // namespace birdsong
