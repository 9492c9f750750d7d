// A Loki push endpoint for tests (Debian has no Loki server).
//
// It checks every request against the documented push API (Loki HTTP API, "Ingest
// logs"): POST /loki/api/v1/push, Content-Type application/json, a gzip body when
// Content-Encoding says so, {"streams":[{"stream":{labels},"values":[["<ns>","<line>"]]}]}
// with valid label names, Unix-nanosecond timestamps as decimal strings and, within a
// stream, entries in time order. A request that breaks a rule is answered 400 with the
// rule, as Loki does, and recorded with the `problem`. Otherwise it answers 204, or
// whatever the test scripted for the next pushes (429 + Retry-After, 500, 400, a delay).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
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

struct LokiAnswer {
  int status = 204;
  std::string body;                    // Loki's error text for 4xx/5xx
  std::string retry_after;             // Retry-After header, if any
  std::chrono::milliseconds delay{0};  // wait this long before answering (timeouts)
};

struct LokiEntry {
  int64_t time_ns = 0;
  std::string line;
};

struct LokiStream {
  std::map<std::string, std::string> labels;
  std::vector<LokiEntry> entries;
};

struct LokiPush {
  std::map<std::string, std::string> headers;  // names lower-cased
  std::size_t wire_bytes = 0;                  // body as sent (compressed)
  std::string body;                            // body as decoded
  std::vector<LokiStream> streams;
  std::string problem;                         // empty when the push follows the API
  int answered = 0;                            // the status we answered
  std::chrono::steady_clock::time_point received;

  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

class LokiTestServer {
 public:
  LokiTestServer();  // listens on a free loopback port
  ~LokiTestServer();
  LokiTestServer(const LokiTestServer&) = delete;
  LokiTestServer& operator=(const LokiTestServer&) = delete;

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // The answers to the next pushes, in order; after them, 204.
  void script(std::vector<LokiAnswer> answers);
  std::vector<LokiPush> pushes() const;
  // Entries of accepted (2xx) pushes, in the order received, across streams.
  std::vector<LokiEntry> accepted_entries() const;
  // Waits until accepted pushes hold at least `n` entries.
  bool wait_for_accepted(std::size_t n, std::chrono::milliseconds timeout) const;

 private:
  void record(LokiPush push);

  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::deque<LokiAnswer> script_;
  std::vector<LokiPush> pushes_;
};

// Checks a decoded push body against the API; returns the first problem ("" if none)
// and fills `streams`.
std::string check_loki_push(const std::string& json_body, std::vector<LokiStream>& streams);

}  // namespace birdsong::test
