// Real servers and the agent itself as child processes, for integration tests: started on
// free loopback ports, always killed and reaped (destructors), every wait bounded.
#pragma once

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace birdsong::test {

using Clock = std::chrono::steady_clock;

// Polls `done` every 20 ms for up to `timeout`.
inline bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done();
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A loopback port nobody listens on right now.
int free_port();
// True once something accepts TCP connections on 127.0.0.1:port.
bool port_open(int port);

// A child process with stdout and stderr going to files.
class Process {
 public:
  Process(const std::vector<std::string>& argv, const std::string& stdout_path, const std::string& stderr_path);
  ~Process();  // SIGKILL and reap, if still running
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  void signal(int sig);
  // Waits for the exit, at most `timeout`; true when it exited (status in exit_status()).
  bool wait(std::chrono::milliseconds timeout);
  bool running();
  // The raw waitpid status.
  int exit_status() const { return status_; }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
};

// mosquitto (Debian package) on a free loopback port, configured in a temporary directory.
// The same port is kept across stop() and start(), like a broker that restarts.
class Mosquitto {
 public:
  // `extra_config`: lines appended to the configuration file. `persistent`: sessions and
  // their queued messages survive a stop() and start() (saved in `dir`), so a test's
  // subscriber misses nothing published while the broker restarts.
  explicit Mosquitto(std::string dir, std::string extra_config = "", bool persistent = false, bool start_now = true);
  ~Mosquitto();
  void start();
  // SIGTERM and wait (SIGKILL after 10 s).
  void stop();
  // SIGKILL and wait: a crash, nothing saved beyond the last autosave.
  void kill();
  int port() const { return port_; }
  std::string url() const { return "mqtt://127.0.0.1:" + std::to_string(port_); }
  std::string uri() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
  std::string log() const { return read_file(dir_ + "/mosquitto.log"); }

 private:
  void write_config() const;
  std::string dir_;
  std::string extra_;
  bool persistent_ = false;
  int port_ = 0;
  std::unique_ptr<Process> process_;
};

}  // namespace birdsong::test
