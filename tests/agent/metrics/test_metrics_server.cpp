#include <doctest/doctest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <vector>
#include <string>

#include "agent/metrics/metrics_server.hpp"
#include "agent/metrics/registry.hpp"

using namespace birdsong::metrics;

TEST_CASE("metrics server: GET /metrics returns the registry's exposition") {
  Registry registry;
  std::atomic<int> overruns{0};
  auto reg = registry.add([&](Scrape& s) {
    s.counter("birdsong_capture_overruns_total", "Audio buffers lost.", overruns.load());
  });
  MetricsServer server(registry, "127.0.0.1", 0);
  REQUIRE(server.port() > 0);
  CHECK(server.address() == "127.0.0.1:" + std::to_string(server.port()));

  httplib::Client client("127.0.0.1", server.port());
  overruns = 3;
  auto res = client.Get("/metrics");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->get_header_value("Content-Type") == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(res->body ==
        "# HELP birdsong_capture_overruns_total Audio buffers lost.\n"
        "# TYPE birdsong_capture_overruns_total counter\n"
        "birdsong_capture_overruns_total 3\n");
  overruns = 5;  // read at scrape time, not at registration
  res = client.Get("/metrics");
  REQUIRE(res);
  CHECK(res->body.find("birdsong_capture_overruns_total 5\n") != std::string::npos);

  res = client.Get("/");
  REQUIRE(res);
  CHECK(res->status == 404);
}

TEST_CASE("metrics server: a broken collector gives 500 with the reason, not a crash") {
  Registry registry;
  auto reg = registry.add([](Scrape& s) { s.counter("no_suffix", "bad", 1); });
  MetricsServer server(registry, "127.0.0.1", 0);
  httplib::Client client("127.0.0.1", server.port());
  auto res = client.Get("/metrics");
  REQUIRE(res);
  CHECK(res->status == 500);
  CHECK(res->body.find("_total") != std::string::npos);
}

TEST_CASE("metrics server: a port in use is one clear error") {
  Registry registry;
  MetricsServer first(registry, "127.0.0.1", 0);
  CHECK_THROWS_WITH_AS(MetricsServer(registry, "127.0.0.1", first.port()),
                       ("cannot listen on 127.0.0.1:" + std::to_string(first.port()) + ": Address already in use")
                           .c_str(),
                       std::runtime_error);
  CHECK_THROWS_WITH_AS(MetricsServer(registry, "no-such-host.invalid", 9808),
                       "cannot listen on no-such-host.invalid:9808: cannot resolve the host", std::runtime_error);
}

TEST_CASE("metrics server: stops promptly right after starting") {
  Registry registry;
  for (int i = 0; i < 5; ++i) MetricsServer server(registry, "127.0.0.1", 0);
}

TEST_CASE("metrics server: a scraper that keeps its connection open does not shut out another") {
  Registry registry;
  MetricsServer server(registry, "127.0.0.1", 0);
  std::vector<std::unique_ptr<httplib::Client>> keepers;
  for (int i = 0; i < 3; ++i) {  // more keep-alive clients than workers
    keepers.push_back(std::make_unique<httplib::Client>("127.0.0.1", server.port()));
    keepers.back()->set_keep_alive(true);
    auto res = keepers.back()->Get("/metrics");
    REQUIRE(res);
    CHECK(res->status == 200);
  }
  httplib::Client other("127.0.0.1", server.port());
  other.set_read_timeout(1, 0);
  const auto start = std::chrono::steady_clock::now();
  auto res = other.Get("/metrics");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(500));
}
