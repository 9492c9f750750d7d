// The runner's policy, driven through a scripted sink (the real MQTT client is tested
// against a real broker in tests/integration/).
#include <doctest/doctest.h>

#include <atomic>
#include <deque>
#include <mutex>
#include <thread>

#include "agent/delivery/sink_runner.hpp"
#include "tests/agent/audio_files.hpp"

using namespace birdsong;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// A sink that answers from a script (then ok), and remembers what it was sent and when.
class ScriptedSink : public Sink {
 public:
  explicit ScriptedSink(std::size_t max_batch = 10, std::chrono::milliseconds linger = 0ms)
      : max_batch_(max_batch), linger_(linger) {}

  std::string name() const override { return "scripted"; }
  std::size_t max_batch() const override { return max_batch_; }
  std::chrono::milliseconds linger() const override { return linger_; }

  SendResult send(std::span<const OutboxRecord> batch) override {
    const int now_in_flight = ++in_flight_;
    max_in_flight_ = std::max(max_in_flight_.load(), now_in_flight);
    std::this_thread::sleep_for(2ms);  // a little I/O time, so overlaps could show
    std::lock_guard lock(mutex_);
    --in_flight_;
    Attempt a{Clock::now(), {}};
    for (const auto& r : batch) a.seqs.push_back(r.seq);
    attempts_.push_back(a);
    // A scripted rejection hits the batch it is given; with `reject_seq` set, only
    // batches containing that record are refused.
    if (reject_seq_ > 0) {
      for (const auto& r : batch)
        if (r.seq == reject_seq_) return {SendStatus::rejected, "HTTP 400: bad record", std::nullopt};
    }
    if (!script_.empty()) {
      SendResult r = script_.front();
      script_.pop_front();
      if (r.status == SendStatus::ok) delivered(batch);
      return r;
    }
    delivered(batch);
    return {};
  }

  SendResult maintain() override {
    ++maintains_;
    std::lock_guard lock(mutex_);
    if (maintain_failures_ > 0) {
      --maintain_failures_;
      return {SendStatus::retry, "connect: refused", std::nullopt};
    }
    return {};
  }

  struct Attempt {
    Clock::time_point at;
    std::vector<int64_t> seqs;
  };

  void script(std::vector<SendResult> results) {
    std::lock_guard lock(mutex_);
    script_.assign(results.begin(), results.end());
  }
  void reject(int64_t seq) { reject_seq_ = seq; }
  void fail_maintain(int times) {
    std::lock_guard lock(mutex_);
    maintain_failures_ = times;
  }
  std::vector<Attempt> attempts() const {
    std::lock_guard lock(mutex_);
    return attempts_;
  }
  std::vector<int64_t> delivered_seqs() const {
    std::lock_guard lock(mutex_);
    return delivered_;
  }
  int max_in_flight() const { return max_in_flight_; }
  int maintains() const { return maintains_; }

 private:
  void delivered(std::span<const OutboxRecord> batch) {
    for (const auto& r : batch) delivered_.push_back(r.seq);
  }
  std::size_t max_batch_;
  std::chrono::milliseconds linger_;
  mutable std::mutex mutex_;
  std::deque<SendResult> script_;
  std::vector<Attempt> attempts_;
  std::vector<int64_t> delivered_;
  std::atomic<int64_t> reject_seq_{0};
  int maintain_failures_ = 0;
  std::atomic<int> in_flight_{0};
  std::atomic<int> max_in_flight_{0};
  std::atomic<int> maintains_{0};
};

OutboxRecord record(int n) {
  return {0, "id-" + std::to_string(n), "detection", n, "{\"n\":" + std::to_string(n) + "}"};
}

OutboxOptions outbox_options(const std::string& path) {
  OutboxOptions o;
  o.path = path;
  o.sinks = {"scripted"};
  o.sync = OutboxSync::normal;  // these tests are about policy, not fsync
  return o;
}

// Fast backoff so the tests take milliseconds; the policy is the same.
RunnerOptions fast(uint64_t seed = 1) {
  RunnerOptions o;
  o.backoff_initial = 20ms;
  o.backoff_max = 200ms;
  o.idle_check = 5s;  // wake-ups must come from appends, not from polling
  o.seed = seed;
  return o;
}

// Polls `done` for up to `timeout`.
template <typename F>
bool eventually(F done, std::chrono::milliseconds timeout = 10s) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return done();
}

std::vector<int64_t> range(int64_t from, int64_t to) {
  std::vector<int64_t> v;
  for (int64_t s = from; s <= to; ++s) v.push_back(s);
  return v;
}

}  // namespace

TEST_CASE("runner: delivers everything in order, in batches, one attempt in flight") {
  test::TempDir dir;
  Outbox box(outbox_options(dir / "outbox.db"));
  ScriptedSink sink(7);
  SinkRunner runner(box, sink, fast());
  runner.start();
  std::thread producer([&] {
    for (int n = 1; n <= 100; ++n) {
      box.append(record(n));
      if (n % 10 == 0) std::this_thread::sleep_for(3ms);
    }
  });
  producer.join();
  REQUIRE(eventually([&] { return sink.delivered_seqs().size() >= 100; }));
  runner.stop();
  CHECK(sink.delivered_seqs() == range(1, 100));
  for (const auto& a : sink.attempts()) CHECK(a.seqs.size() <= 7);
  CHECK(sink.max_in_flight() == 1);
  const SinkStats s = runner.stats();
  CHECK(s.sink == "scripted");
  CHECK(s.sent == 100);
  CHECK(s.failed == 0);
  CHECK(s.pending == 0);
  CHECK(s.up);
}

TEST_CASE("runner: a temporary failure is retried with backoff, then the same batch goes out") {
  test::TempDir dir;
  Outbox box(outbox_options(dir / "outbox.db"));
  ScriptedSink sink(10);
  sink.script({{SendStatus::retry, "connect: refused", std::nullopt},
               {SendStatus::retry, "connect: refused", std::nullopt}});
  box.append(std::vector<OutboxRecord>{record(1), record(2), record(3)});
  SinkRunner runner(box, sink, fast());
  runner.start();
  REQUIRE(eventually([&] { return runner.stats().sent == 3; }));
  runner.stop();
  const auto attempts = sink.attempts();
  REQUIRE(attempts.size() == 3);
  for (const auto& a : attempts) CHECK(a.seqs == range(1, 3));  // the same batch each time
  // The waits grow: about 20 ms, then about 40 ms (+-25 %).
  const auto first_wait = attempts[1].at - attempts[0].at;
  const auto second_wait = attempts[2].at - attempts[1].at;
  CHECK(first_wait >= 15ms);
  CHECK(second_wait >= 30ms);
  const SinkStats s = runner.stats();
  CHECK(s.failed == 2);
  CHECK(s.retried == 2);
  CHECK(s.sent == 3);
  CHECK(s.rejected == 0);
  CHECK(s.up);
  CHECK(sink.delivered_seqs() == range(1, 3));
}

TEST_CASE("runner: a server's Retry-After is honoured") {
  test::TempDir dir;
  Outbox box(outbox_options(dir / "outbox.db"));
  ScriptedSink sink;
  sink.script({{SendStatus::retry, "HTTP 429", std::chrono::milliseconds(400)}});
  box.append(record(1));
  SinkRunner runner(box, sink, fast());
  runner.start();
  REQUIRE(eventually([&] { return runner.stats().sent == 1; }));
  runner.stop();
  const auto attempts = sink.attempts();
  REQUIRE(attempts.size() == 2);
  CHECK(attempts[1].at - attempts[0].at >= 390ms);
}

TEST_CASE("runner: a refused record is set aside with the reason and its neighbours still go") {
  test::TempDir dir;
  Outbox box(outbox_options(dir / "outbox.db"));
  ScriptedSink sink(10);
  sink.reject(3);
  box.append(std::vector<OutboxRecord>{record(1), record(2), record(3), record(4), record(5)});
  box.append(record(6));
  SinkRunner runner(box, sink, fast());
  runner.start();
  REQUIRE(eventually([&] { return runner.stats().pending == 0; }));
  runner.stop();
  // The whole batch was refused, then it went one record at a time until past it.
  CHECK(sink.delivered_seqs() == std::vector<int64_t>{1, 2, 4, 5, 6});
  const auto attempts = sink.attempts();
  REQUIRE(attempts.size() >= 5);
  CHECK(attempts[0].seqs == range(1, 6));
  CHECK(attempts[1].seqs == std::vector<int64_t>{1});
  CHECK(attempts[2].seqs == std::vector<int64_t>{2});
  CHECK(attempts[3].seqs == std::vector<int64_t>{3});
  const SinkStats s = runner.stats();
  CHECK(s.rejected == 1);
  CHECK(s.sent == 5);
  CHECK(s.failed == 0);  // a refusal is an answer, not a failure to retry
  CHECK(box.stats().set_aside == 1);
}

TEST_CASE("runner: an appended record goes out at once, not at the next poll") {
  test::TempDir dir;
  Outbox box(outbox_options(dir / "outbox.db"));
  ScriptedSink sink;
  SinkRunner runner(box, sink, fast());  // idle check every 5 s
  runner.start();
  REQUIRE(eventually([&] { return sink.maintains() >= 1; }));  // idle now
  std::this_thread::sleep_for(50ms);
  const auto appended = Clock::now();
  box.append(record(1));
  REQUIRE(eventually([&] { return sink.delivered_seqs().size() == 1; }, 3s));
  CHECK(sink.attempts().front().at - appended < 500ms);
  runner.stop();
}

TEST_CASE("runner: a partial batch lingers for company when the sink asks") {
  test::TempDir dir;
  Outbox box(outbox_options(dir / "outbox.db"));
  ScriptedSink sink(10, 300ms);
  SinkRunner runner(box, sink, fast());
  runner.start();
  const auto first = Clock::now();
  box.append(record(1));
  std::this_thread::sleep_for(100ms);
  box.append(std::vector<OutboxRecord>{record(2), record(3)});
  REQUIRE(eventually([&] { return sink.delivered_seqs().size() == 3; }));
  runner.stop();
  const auto attempts = sink.attempts();
  REQUIRE(attempts.size() == 1);
  CHECK(attempts[0].seqs == range(1, 3));
  CHECK(attempts[0].at - first >= 280ms);
}

TEST_CASE("runner: a full batch does not linger") {
  test::TempDir dir;
  Outbox box(outbox_options(dir / "outbox.db"));
  ScriptedSink sink(2, 5000ms);
  std::vector<OutboxRecord> five;
  for (int n = 1; n <= 5; ++n) five.push_back(record(n));
  box.append(five);
  SinkRunner runner(box, sink, fast());
  const auto start = Clock::now();
  runner.start();
  REQUIRE(eventually([&] { return sink.delivered_seqs().size() >= 4; }));
  CHECK(Clock::now() - start < 2s);  // two full batches at once; only the last one (5) waits
  runner.stop();
}

TEST_CASE("runner: while idle the sink keeps its session, and failures back off like sends") {
  test::TempDir dir;
  Outbox box(outbox_options(dir / "outbox.db"));
  ScriptedSink sink;
  sink.fail_maintain(3);
  SinkRunner runner(box, sink, fast());
  runner.start();
  REQUIRE(eventually([&] { return runner.stats().up; }));
  CHECK(runner.stats().failed == 3);
  CHECK(sink.maintains() == 4);
  runner.stop();
}

TEST_CASE("runner: stop returns promptly even in the middle of a long backoff") {
  test::TempDir dir;
  Outbox box(outbox_options(dir / "outbox.db"));
  ScriptedSink sink;
  sink.script({{SendStatus::retry, "down", std::chrono::milliseconds(600000)}});
  box.append(record(1));
  SinkRunner runner(box, sink, fast());
  runner.start();
  REQUIRE(eventually([&] { return runner.stats().failed == 1; }));
  const auto start = Clock::now();
  runner.stop();
  CHECK(Clock::now() - start < 1s);
  CHECK(runner.stats().pending == 1);  // still in the outbox for next time
  CHECK_FALSE(runner.stats().up);
}

TEST_CASE("runner: pending and oldest age come from the outbox") {
  test::TempDir dir;
  Outbox box(outbox_options(dir / "outbox.db"));
  ScriptedSink sink;
  sink.script({{SendStatus::retry, "down", std::chrono::milliseconds(600000)}});
  box.append(std::vector<OutboxRecord>{record(1), record(2)});
  SinkRunner runner(box, sink, fast());
  runner.start();
  REQUIRE(eventually([&] { return runner.stats().failed == 1; }));
  std::this_thread::sleep_for(200ms);
  const SinkStats s = runner.stats();
  CHECK(s.pending == 2);
  CHECK(s.oldest_pending_age_s >= 0.15);
  CHECK(s.oldest_pending_age_s < 30.0);
  runner.stop();
}
