// End to end on loopback: Outbox (SQLite) -> SinkRunner -> LokiSink (libcurl) -> the Loki
// test server, which answers 429 and 5xx before it accepts. Everything must arrive, in
// order, each record once in the accepted pushes, and the server's Retry-After honoured.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "agent/delivery/outbox.hpp"
#include "agent/delivery/sink_runner.hpp"
#include "agent/sinks/loki_sink.hpp"
#include "tests/agent/audio_files.hpp"
#include "tests/agent/sinks/loki_test_server.hpp"

using namespace birdsong;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// Detection n at dawn + n * 300 ms; the payload names n.
OutboxRecord detection(int n) {
  OutboxRecord r;
  r.id = "id-" + std::to_string(n);
  r.kind = "detection";
  r.time_ns = 1777611600LL * 1000000000LL + n * 300000000LL;
  r.payload = nlohmann::json{{"schema", 1}, {"id", r.id}, {"n", n}}.dump();
  return r;
}

}  // namespace

TEST_CASE("loki delivery: 429 and 5xx are retried, then everything arrives in order") {
  test::TempDir dir;
  test::LokiTestServer server;
  server.script({{429, "Ingestion rate limit exceeded", "1", 0ms}, {500, "ingester unavailable", "", 0ms},
                 {503, "", "", 0ms}});

  LokiConfig config;
  config.url = server.url();
  config.batch_max_records = 8;
  config.batch_wait_s = 0.05;
  config.timeout_s = 2.0;
  LokiSink sink(config, "garden");

  OutboxOptions o;
  o.path = dir / "outbox.db";
  o.sinks = {"loki"};
  o.sync = OutboxSync::normal;
  Outbox outbox(o);
  RunnerOptions fast;
  fast.backoff_initial = 20ms;
  fast.backoff_max = 200ms;
  fast.seed = 7;

  constexpr int kRecords = 30;
  std::vector<OutboxRecord> first;
  for (int n = 1; n <= 12; ++n) first.push_back(detection(n));
  int64_t last_seq = outbox.append(first);

  SinkRunner runner(outbox, sink, fast);
  const auto started = Clock::now();
  runner.start();
  for (int n = 13; n <= kRecords; ++n) {  // more arrive while the runner is failing
    last_seq = outbox.append(detection(n));
    std::this_thread::sleep_for(10ms);
  }
  REQUIRE(server.wait_for_accepted(kRecords, 20s));
  REQUIRE(outbox.wait_delivered(last_seq, Clock::now() + 5s));
  runner.stop();

  const auto pushes = server.pushes();
  for (const auto& p : pushes) CHECK_MESSAGE(p.problem == "", p.problem);
  REQUIRE(pushes.size() >= 4);
  CHECK(pushes[0].answered == 429);
  CHECK(pushes[1].answered == 500);
  CHECK(pushes[2].answered == 503);
  // The retry after the 429 waited for the server's Retry-After: 1 s, far above the
  // 20 ms backoff the runner would otherwise have used.
  CHECK(pushes[1].received - pushes[0].received >= 950ms);
  // The failed batch was sent again unchanged.
  CHECK(pushes[1].body == pushes[0].body);

  const auto entries = server.accepted_entries();
  REQUIRE(entries.size() == kRecords);
  std::set<std::string> ids;
  for (int n = 1; n <= kRecords; ++n) {
    const auto& e = entries[static_cast<std::size_t>(n - 1)];
    CHECK(e.time_ns == detection(n).time_ns);
    CHECK(nlohmann::json::parse(e.line)["n"] == n);
    ids.insert(nlohmann::json::parse(e.line)["id"].get<std::string>());
  }
  CHECK(ids.size() == kRecords);
  for (const auto& p : pushes)
    if (p.answered == 204) CHECK(p.streams.at(0).entries.size() <= 8);  // batch_max_records

  const SinkStats s = runner.stats();
  CHECK(s.sent == kRecords);
  CHECK(s.failed == 3);
  CHECK(s.rejected == 0);
  CHECK(s.pending == 0);
  CHECK(Clock::now() - started < 15s);
}

TEST_CASE("loki delivery: a 400 is not retried - the runner isolates and sets aside the refused record") {
  test::TempDir dir;
  test::LokiTestServer server;
  // The batch of 3 is refused, then each record alone: the first and third pass.
  server.script({{400, "entry too far behind", "", 0ms}, {204, "", "", 0ms}, {400, "line too long", "", 0ms}});

  LokiConfig config;
  config.url = server.url();
  config.batch_wait_s = 0;
  LokiSink sink(config, "garden");
  OutboxOptions o;
  o.path = dir / "outbox.db";
  o.sinks = {"loki"};
  o.sync = OutboxSync::normal;
  Outbox outbox(o);
  const int64_t last = outbox.append(std::vector<OutboxRecord>{detection(1), detection(2), detection(3)});
  RunnerOptions fast;
  fast.backoff_initial = 20ms;
  fast.backoff_max = 200ms;
  SinkRunner runner(outbox, sink, fast);
  runner.start();
  REQUIRE(outbox.wait_delivered(last, Clock::now() + 10s));
  runner.stop();

  const auto pushes = server.pushes();
  REQUIRE(pushes.size() == 4);
  CHECK(pushes[0].streams.at(0).entries.size() == 3);
  for (std::size_t i = 1; i < 4; ++i) CHECK(pushes[i].streams.at(0).entries.size() == 1);
  const auto accepted = server.accepted_entries();
  REQUIRE(accepted.size() == 2);
  CHECK(nlohmann::json::parse(accepted[0].line)["n"] == 1);
  CHECK(nlohmann::json::parse(accepted[1].line)["n"] == 3);
  const SinkStats s = runner.stats();
  CHECK(s.sent == 2);
  CHECK(s.rejected == 1);
  CHECK(outbox.stats().set_aside == 1);
}
