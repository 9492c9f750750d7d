// A local stand-in for Open-Meteo and Wikipedia's REST API (Debian has neither), on a
// free loopback port, answering as the real services do:
//
//   GET /v1/forecast?latitude=..&longitude=..&current=..&daily=sunrise,sunset&...
//     every parameter the agent must send is checked; a request that lacks one is
//     answered 400 {"error":true,"reason":"..."} as Open-Meteo does. Otherwise 200 with
//     a forecast whose current.time moves on 15 minutes per request.
//   GET /api/rest_v1/page/summary/<title>
//     Turdus_merula: 302 to Common_blackbird (a redirect page, relative Location as
//     Wikipedia sends it); Common_blackbird, Parus_major and any "Genus_species" of the
//     demo pack: a standard summary; Mercury: a disambiguation page; anything else: 404
//     with Wikipedia's problem JSON. No User-Agent: 403, as Wikimedia does.
//
// Every request is recorded (path, query parameters, User-Agent, arrival time). A
// delay makes the server slow (timeouts); stop() closes the port (network down).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace httplib {
class Server;
}

namespace birdsong::test {

struct SeenRequest {
  std::string path;
  std::map<std::string, std::string> params;
  std::string user_agent;
  int answered = 0;
  std::chrono::steady_clock::time_point received;
};

class EnrichmentTestServer {
 public:
  EnrichmentTestServer();
  ~EnrichmentTestServer();  // stop()
  EnrichmentTestServer(const EnrichmentTestServer&) = delete;
  EnrichmentTestServer& operator=(const EnrichmentTestServer&) = delete;

  int port() const { return port_; }
  std::string open_meteo_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }
  std::string wikipedia_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/api/rest_v1"; }

  // Every answer waits this long first.
  void set_delay(std::chrono::milliseconds delay) { delay_ms_ = delay.count(); }
  // Open-Meteo answers this status (with its error JSON) instead of a forecast.
  void set_weather_status(int status) { weather_status_ = status; }
  void stop();

  std::vector<SeenRequest> requests() const;
  // Requests whose path starts with `prefix`.
  std::vector<SeenRequest> requests(const std::string& prefix) const;
  // Waits until `n` requests whose path starts with `prefix` have been answered.
  bool wait_for(const std::string& prefix, std::size_t n, std::chrono::milliseconds timeout) const;

 private:
  void record(SeenRequest r);

  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<long long> delay_ms_{0};
  std::atomic<int> weather_status_{200};
  std::atomic<int> forecasts_{0};
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::vector<SeenRequest> requests_;
};

// A realistic Open-Meteo forecast answer for Greenwich on 1 May 2026 (timezone=auto:
// Europe/London, UTC+1), current values at `current_time`.
std::string open_meteo_sample(const std::string& current_time = "2026-05-01T06:15", double temperature_c = 9.4);

}  // namespace birdsong::test
