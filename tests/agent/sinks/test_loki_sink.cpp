#include <doctest/doctest.h>
#include <unistd.h>
#include <zlib.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agent/sinks/gzip.hpp"
#include "agent/sinks/loki_sink.hpp"
#include "tests/agent/sinks/loki_test_server.hpp"

using namespace birdsong;
using namespace std::chrono_literals;
using birdsong::test::LokiAnswer;
using birdsong::test::LokiTestServer;

namespace {

// 2026-05-01T05:00:00Z in Unix nanoseconds, plus `ms`.
int64_t dawn_ns(int64_t ms) { return 1777611600LL * 1000000000LL + ms * 1000000LL; }

OutboxRecord record(int64_t seq, std::string kind, int64_t time_ns) {
  OutboxRecord r;
  r.seq = seq;
  r.id = "id-" + std::to_string(seq);
  r.kind = std::move(kind);
  r.time_ns = time_ns;
  r.payload = nlohmann::json{{"schema", 1}, {"id", r.id}, {"seq", seq}, {"note", "tit \"great\" \u00e9"}}.dump();
  return r;
}

std::vector<OutboxRecord> detections(int n) {
  std::vector<OutboxRecord> v;
  for (int i = 1; i <= n; ++i) v.push_back(record(i, "detection", dawn_ns(250 * i)));
  return v;
}

LokiConfig config_for(const LokiTestServer& server) {
  LokiConfig c;
  c.url = server.url();
  c.timeout_s = 2.0;
  return c;
}

std::string gunzip(const std::string& data) {
  z_stream z{};
  REQUIRE(inflateInit2(&z, 15 + 16) == Z_OK);
  std::string out(data.size() * 20 + 1024, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = inflate(&z, Z_FINISH);
  out.resize(z.total_out);
  inflateEnd(&z);
  REQUIRE(rc == Z_STREAM_END);
  return out;
}

std::string base64(const std::string& in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], k[v & 63]};
  }
  if (i + 1 == in.size()) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += {k[v >> 18], k[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], '='};
  }
  return out;
}

// A free loopback port with nobody listening: bind, read the port, close.
int unused_port() {
  LokiTestServer probe;
  return probe.port();
}

}  // namespace

TEST_CASE("loki: gzip_compress gives a gzip member that inflates back") {
  std::string text;
  for (int i = 0; i < 2000; ++i) text += "{\"species\":\"Parus major\",\"n\":" + std::to_string(i) + "}\n";
  const std::string z = gzip_compress(text);
  REQUIRE(z.size() > 18);
  CHECK(static_cast<unsigned char>(z[0]) == 0x1f);  // gzip magic (RFC 1952)
  CHECK(static_cast<unsigned char>(z[1]) == 0x8b);
  CHECK(z.size() < text.size() / 5);
  CHECK(gunzip(z) == text);
  CHECK(gunzip(gzip_compress("")).empty());
}

TEST_CASE("loki: the push URL") {
  CHECK(loki_push_url("http://localhost:3100") == "http://localhost:3100/loki/api/v1/push");
  CHECK(loki_push_url("http://localhost:3100/") == "http://localhost:3100/loki/api/v1/push");
  CHECK(loki_push_url("https://logs.example.net/loki/api/v1/push") == "https://logs.example.net/loki/api/v1/push");
  CHECK(loki_push_url("http://proxy/tenant-a") == "http://proxy/tenant-a/loki/api/v1/push");
}

TEST_CASE("loki: the body groups records into streams by kind and orders each by time") {
  std::vector<OutboxRecord> batch = {
      record(1, "detection", dawn_ns(2000)),
      record(2, "weather", dawn_ns(1500)),
      record(3, "detection", dawn_ns(1000)),  // a short sound that ended before a long one
      record(4, "detection", dawn_ns(2000)),  // same time as seq 1: keeps outbox order
  };
  const auto j = nlohmann::json::parse(loki_push_body(batch, "garden"));
  const auto& streams = j.at("streams");
  REQUIRE(streams.size() == 2);
  CHECK(streams[0]["stream"] == nlohmann::json{{"job", "birdsong-agent"}, {"station", "garden"}, {"kind", "detection"}});
  CHECK(streams[1]["stream"]["kind"] == "weather");
  const auto& v = streams[0]["values"];
  REQUIRE(v.size() == 3);
  CHECK(v[0][0] == std::to_string(dawn_ns(1000)));
  CHECK(v[0][1] == batch[2].payload);
  CHECK(v[1][1] == batch[0].payload);
  CHECK(v[2][1] == batch[3].payload);
  CHECK(streams[1]["values"][0] == nlohmann::json{std::to_string(dawn_ns(1500)), batch[1].payload});
  std::vector<test::LokiStream> parsed;
  CHECK(test::check_loki_push(j.dump(), parsed) == "");
}

TEST_CASE("loki: Retry-After as seconds or as an HTTP-date") {
  const auto now = std::chrono::system_clock::from_time_t(784111777);  // Sun, 06 Nov 1994 08:49:37 GMT
  CHECK(parse_retry_after("120", now) == std::chrono::milliseconds(120000));
  CHECK(parse_retry_after(" 0 ", now) == std::chrono::milliseconds(0));
  CHECK(parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now) == std::chrono::milliseconds(30000));
  CHECK(parse_retry_after("Sunday, 06-Nov-94 08:50:07 GMT", now) == std::chrono::milliseconds(30000));
  CHECK(parse_retry_after("Sun Nov  6 08:50:07 1994", now) == std::chrono::milliseconds(30000));
  CHECK(parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now) == std::chrono::milliseconds(0));  // past
  CHECK(parse_retry_after("99999999999", now) == std::chrono::milliseconds(24 * 3600 * 1000));
  CHECK_FALSE(parse_retry_after("soon", now).has_value());
  CHECK_FALSE(parse_retry_after("", now).has_value());
  CHECK_FALSE(parse_retry_after("-5", now).has_value());
}

TEST_CASE("loki: HTTP answers map to ok, retry and rejected") {
  const auto now = std::chrono::system_clock::now();
  CHECK(loki_result(204, "", "", now).status == SendStatus::ok);
  CHECK(loki_result(200, "", "", now).status == SendStatus::ok);
  const SendResult busy = loki_result(429, "Ingestion rate limit exceeded", "7", now);
  CHECK(busy.status == SendStatus::retry);
  CHECK(busy.retry_after == std::chrono::milliseconds(7000));
  CHECK(busy.reason == "HTTP 429: Ingestion rate limit exceeded");
  CHECK(loki_result(503, "", "", now).status == SendStatus::retry);
  CHECK_FALSE(loki_result(503, "", "", now).retry_after.has_value());
  CHECK(loki_result(413, "too big", "", now).status == SendStatus::rejected);
  CHECK(loki_result(301, "", "", now).status == SendStatus::retry);
  const std::string long_body(5000, 'x');
  const SendResult bad = loki_result(400, "entry too far behind\n  for stream\n" + long_body, "", now);
  CHECK(bad.status == SendStatus::rejected);
  CHECK(bad.reason.rfind("HTTP 400: entry too far behind for stream xxx", 0) == 0);
  CHECK(bad.reason.size() < 320);
  CHECK(bad.reason.find('\n') == std::string::npos);
}

TEST_CASE("loki: a batch arrives as the push API documents, gzip-compressed") {
  LokiTestServer server;
  LokiSink sink(config_for(server), "garden");
  const auto batch = detections(50);
  const SendResult r = sink.send(batch);
  CHECK(r.status == SendStatus::ok);
  const auto pushes = server.pushes();
  REQUIRE(pushes.size() == 1);
  const test::LokiPush& p = pushes[0];
  CHECK(p.problem == "");
  CHECK(p.answered == 204);
  CHECK(p.header("content-type") == "application/json");
  CHECK(p.header("content-encoding") == "gzip");
  CHECK(p.header("user-agent").rfind("birdsong-agent/", 0) == 0);
  CHECK(p.header("x-scope-orgid") == "");
  CHECK(p.header("authorization") == "");
  CHECK(p.wire_bytes < p.body.size() / 3);  // it really was compressed
  REQUIRE(p.streams.size() == 1);
  CHECK(p.streams[0].labels == std::map<std::string, std::string>{
                                   {"job", "birdsong-agent"}, {"station", "garden"}, {"kind", "detection"}});
  REQUIRE(p.streams[0].entries.size() == 50);
  for (std::size_t i = 0; i < 50; ++i) {
    CHECK(p.streams[0].entries[i].time_ns == batch[i].time_ns);
    CHECK(p.streams[0].entries[i].line == batch[i].payload);
  }
  // The connection is reused: a second push goes through the same handle.
  CHECK(sink.send(detections(3)).status == SendStatus::ok);
  CHECK(server.pushes().size() == 2);
}

TEST_CASE("loki: tenant and basic auth headers with the secret from a file") {
  LokiTestServer server;
  const std::string secret_path = "/tmp/birdsong-loki-test-secret-" + std::to_string(::getpid());
  std::ofstream(secret_path) << "glc_s3cr3t\n";
  LokiConfig c = config_for(server);
  c.tenant = "birds";
  c.username = "123456";
  c.password_file = secret_path;
  LokiSink sink(c, "garden");
  CHECK(sink.send(detections(1)).status == SendStatus::ok);
  const auto p = server.pushes().at(0);
  CHECK(p.header("x-scope-orgid") == "birds");
  CHECK(p.header("authorization") == "Basic " + base64("123456:glc_s3cr3t"));
  std::remove(secret_path.c_str());

  c.password_file = secret_path;  // now gone
  CHECK_THROWS_WITH_AS(LokiSink(c, "garden"), doctest::Contains("[loki] password_file"), ConfigError);
}

TEST_CASE("loki: 429 with Retry-After is a retry with the server's delay") {
  LokiTestServer server;
  server.script({{429, "Ingestion rate limit exceeded for user", "3", 0ms}});
  LokiSink sink(config_for(server), "garden");
  const SendResult r = sink.send(detections(2));
  CHECK(r.status == SendStatus::retry);
  CHECK(r.retry_after == std::chrono::milliseconds(3000));
  CHECK(r.reason == "HTTP 429: Ingestion rate limit exceeded for user");
  CHECK(sink.send(detections(2)).status == SendStatus::ok);  // the script ran out: 204
}

TEST_CASE("loki: 500 is a retry") {
  LokiTestServer server;
  server.script({{500, "internal error", "", 0ms}});
  LokiSink sink(config_for(server), "garden");
  const SendResult r = sink.send(detections(2));
  CHECK(r.status == SendStatus::retry);
  CHECK_FALSE(r.retry_after.has_value());
  CHECK(r.reason == "HTTP 500: internal error");
}

TEST_CASE("loki: 400 is rejected with Loki's reason") {
  LokiTestServer server;
  server.script({{400, "entry for stream '{job=\"birdsong-agent\"}' has timestamp too old", "", 0ms}});
  LokiSink sink(config_for(server), "garden");
  const SendResult r = sink.send(detections(2));
  CHECK(r.status == SendStatus::rejected);
  CHECK(r.reason == "HTTP 400: entry for stream '{job=\"birdsong-agent\"}' has timestamp too old");
}

TEST_CASE("loki: connection refused is a retry") {
  LokiConfig c;
  c.url = "http://127.0.0.1:" + std::to_string(unused_port());
  c.timeout_s = 2.0;
  LokiSink sink(c, "garden");
  const SendResult r = sink.send(detections(1));
  CHECK(r.status == SendStatus::retry);
  CHECK(r.reason.find("onnect") != std::string::npos);
}

TEST_CASE("loki: a server slower than timeout_s is a retry") {
  LokiTestServer server;
  server.script({{204, "", "", 1000ms}});
  LokiConfig c = config_for(server);
  c.timeout_s = 0.2;
  LokiSink sink(c, "garden");
  const auto start = std::chrono::steady_clock::now();
  const SendResult r = sink.send(detections(1));
  const auto took = std::chrono::steady_clock::now() - start;
  CHECK(r.status == SendStatus::retry);
  CHECK(r.reason.rfind("timeout", 0) == 0);
  CHECK(took >= 150ms);
  CHECK(took < 800ms);
}

TEST_CASE("loki: batching limits come from [loki]") {
  LokiConfig c;
  c.url = "http://localhost:3100";
  c.batch_max_records = 123;
  c.batch_max_bytes = 4567;
  c.batch_wait_s = 0.25;
  LokiSink sink(c, "garden");
  CHECK(sink.name() == "loki");
  CHECK(sink.max_batch() == 123);
  CHECK(sink.max_batch_bytes() == 4567);
  CHECK(sink.linger() == 250ms);
  CHECK(sink.push_url() == "http://localhost:3100/loki/api/v1/push");
}

TEST_CASE("loki: the test server refuses what Loki refuses") {
  std::vector<test::LokiStream> s;
  CHECK(test::check_loki_push(R"({"streams":[{"stream":{"job":"a"},"values":[["2","x"],["1","y"]]}]})", s)
            .rfind("entry out of order", 0) == 0);
  CHECK(test::check_loki_push(R"({"streams":[{"stream":{"job":"a"},"values":[[2,"x"]]}]})", s) != "");
  CHECK(test::check_loki_push(R"({"streams":[{"stream":{"job":"a"},"values":[["1.5e9","x"]]}]})", s) != "");
  CHECK(test::check_loki_push(R"({"streams":[{"stream":{"1job":"a"},"values":[["1","x"]]}]})", s) != "");
  CHECK(test::check_loki_push(R"({"streams":[{"stream":{},"values":[["1","x"]]}]})", s) != "");
  CHECK(test::check_loki_push(R"({"streams":[]})", s) != "");
  CHECK(test::check_loki_push(R"([1,2])", s) != "");
  CHECK(test::check_loki_push("not json", s) != "");
  s.clear();
  CHECK(test::check_loki_push(R"({"streams":[{"stream":{"job":"a"},"values":[["1","x"],["1","y",{"k":"v"}]]}]})", s) ==
        "");
  CHECK(s.at(0).entries.size() == 2);
}
