// Telling systemd how the agent is doing, when it runs as the Type=notify service of
// systemd/birdsong-agent.service (the sd_notify protocol, through libsystemd).
//
//   READY=1     once audio is being analysed: `systemctl start` returns then, and a
//               microphone that never delivers fails the start (TimeoutStartSec=).
//   WATCHDOG=1  from the analysis loop each time it made progress. When the pings stop
//               for WatchdogSec= (analysis stuck, or the microphone went silent at the
//               driver level) systemd kills the agent and Restart= starts it again.
//   STOPPING=1  when shutting down, so the wait for the outbox to flush is not a hang.
//
// Run by hand there is no $NOTIFY_SOCKET and every call does nothing.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace birdsong {

class ServiceNotifier {
 public:
  // Reads $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID once.
  ServiceNotifier();

  // True under a service manager that listens (Type=notify).
  bool enabled() const { return enabled_; }
  // WatchdogSec= when the watchdog is on for this process.
  std::optional<std::chrono::microseconds> watchdog_interval() const { return watchdog_interval_; }

  // READY=1 (with STATUS=status when given), sent the first time only.
  void ready(std::string_view status = {});
  // WATCHDOG=1, at most once per quarter of WatchdogSec (systemd asks for at least one
  // ping per half), so it is cheap to call for every chunk analysed.
  void watchdog();
  // STOPPING=1 (with STATUS=status when given).
  void stopping(std::string_view status = {});

 private:
  void send(std::string_view message);

  bool enabled_ = false;
  bool ready_sent_ = false;
  std::optional<std::chrono::microseconds> watchdog_interval_;
  std::chrono::steady_clock::time_point last_watchdog_{};
  bool watchdog_sent_ = false;
};

}  // namespace birdsong
