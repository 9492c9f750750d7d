// Serves the registry at GET /metrics (cpp-httplib), on its own thread.
//
// Two worker threads and one request per connection (see the .cpp): Prometheus scrapes
// every 15 s or so, and a scrape takes well under a millisecond. Anything but
// GET /metrics gets 404.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "agent/metrics/registry.hpp"

namespace httplib {
class Server;
}

namespace birdsong::metrics {

class MetricsServer {
 public:
  // Binds host:port (port 0: a free port) and starts serving. Throws std::runtime_error
  // "cannot listen on <host>:<port>: <why>" when the address is taken or invalid.
  MetricsServer(const Registry& registry, const std::string& host, int port);
  ~MetricsServer();  // stops serving and joins the thread
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  int port() const { return port_; }
  // "127.0.0.1:9808", "[::1]:9808": for the start-up log line and scrape configs.
  std::string address() const;

 private:
  const Registry& registry_;
  std::string host_;
  int port_ = 0;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

}  // namespace birdsong::metrics
