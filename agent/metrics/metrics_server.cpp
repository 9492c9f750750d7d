#include "agent/metrics/metrics_server.hpp"

#include <httplib.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <stdexcept>

namespace birdsong::metrics {

namespace {

// httplib's default sets SO_REUSEPORT, which lets a second agent bind the same port and
// silently share the scrapes. SO_REUSEADDR alone still allows a quick restart (sockets in
// TIME_WAIT) but makes a port held by a live process an error, as it should be.
void reuse_address_only(socket_t sock) {
  int yes = 1;
  setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
}

std::string bracket(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

}  // namespace

MetricsServer::MetricsServer(const Registry& registry, const std::string& host, int port)
    : registry_(registry), host_(host), server_(std::make_unique<httplib::Server>()) {
  httplib::Server& s = *server_;
  // httplib serves a keep-alive connection on one worker until it closes: Prometheus
  // would hold the only worker between scrapes and shut out a second scraper (or curl).
  // One request per connection frees the worker at once; a second worker keeps a slow
  // client (up to the 5 s read timeout) from delaying a scrape.
  s.new_task_queue = [] { return new httplib::ThreadPool(2); };
  s.set_socket_options(reuse_address_only);
  s.set_keep_alive_max_count(1);
  s.set_read_timeout(5, 0);
  s.set_payload_max_length(1024);  // GETs only: no request body to speak of
  s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    try {
      res.set_content(registry_.scrape(), kExpositionContentType);
    } catch (const std::exception& e) {
      // A collector bug: say so to the scraper (its `up` goes to 0) and in the log.
      std::cerr << "metrics: " << e.what() << '\n';
      res.status = 500;
      res.set_content(std::string(e.what()) + "\n", "text/plain");
    }
  });

  errno = 0;
  const bool bound = port == 0 ? (port_ = s.bind_to_any_port(host)) > 0 : s.bind_to_port(host, port);
  if (!bound) {
    const int err = errno;
    const std::string why = err == 0 ? "cannot resolve the host" : std::strerror(err);
    throw std::runtime_error("cannot listen on " + bracket(host) + ":" + std::to_string(port) + ": " + why);
  }
  if (port != 0) port_ = port;
  thread_ = std::thread([&s] { s.listen_after_bind(); });
  // stop() only works once the loop runs; wait for it so a quick destruction cannot hang.
  for (int i = 0; i < 5000 && !s.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

MetricsServer::~MetricsServer() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

std::string MetricsServer::address() const { return bracket(host_) + ":" + std::to_string(port_); }

}  // namespace birdsong::metrics
