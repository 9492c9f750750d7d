#include <doctest/doctest.h>

#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "agent/delivery/outbox.hpp"
#include "tests/agent/audio_files.hpp"

using namespace birdsong;
using namespace std::chrono_literals;

namespace {

OutboxRecord record(int n, std::size_t payload_bytes = 0) {
  OutboxRecord r;
  r.id = "id-" + std::to_string(n);
  r.kind = "detection";
  r.time_ns = 1'700'000'000'000'000'000LL + n;
  r.payload = "{\"n\":" + std::to_string(n) + "}";
  if (payload_bytes > r.payload.size()) r.payload.append(payload_bytes - r.payload.size(), ' ');
  return r;
}

std::vector<OutboxRecord> records(int from, int to, std::size_t payload_bytes = 0) {
  std::vector<OutboxRecord> v;
  for (int n = from; n <= to; ++n) v.push_back(record(n, payload_bytes));
  return v;
}

OutboxOptions options(const std::string& path, std::vector<std::string> sinks = {"mqtt", "loki"}) {
  OutboxOptions o;
  o.path = path;
  o.sinks = std::move(sinks);
  return o;
}

std::vector<int64_t> seqs(const std::vector<OutboxRecord>& batch) {
  std::vector<int64_t> s;
  for (const auto& r : batch) s.push_back(r.seq);
  return s;
}

// Counts rows with SQLite directly, bypassing the Outbox (the file must be closed).
int64_t count_rows(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(stmt) == SQLITE_ROW);
  const int64_t n = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return n;
}

}  // namespace

TEST_CASE("outbox: records come back oldest first after each sink's own position") {
  test::TempDir dir;
  Outbox box(options(dir / "outbox.db"));
  CHECK(box.append(records(1, 5)) == 5);
  CHECK(box.append(record(6)) == 6);

  const auto first = box.read("mqtt", 3);
  REQUIRE(first.size() == 3);
  CHECK(seqs(first) == std::vector<int64_t>{1, 2, 3});
  CHECK(first[0].id == "id-1");
  CHECK(first[0].kind == "detection");
  CHECK(first[0].time_ns == 1'700'000'000'000'000'001LL);
  CHECK(first[0].payload == "{\"n\":1}");

  box.advance("mqtt", 3);
  CHECK(seqs(box.read("mqtt", 10)) == std::vector<int64_t>{4, 5, 6});
  CHECK(seqs(box.read("loki", 2)) == std::vector<int64_t>{1, 2});  // loki has had nothing
  CHECK(box.backlog("mqtt").pending == 3);
  CHECK(box.backlog("loki").pending == 6);
  CHECK(box.backlog("mqtt").position == 3);

  box.advance("mqtt", 6);
  CHECK(box.read("mqtt", 10).empty());
  CHECK(box.backlog("mqtt").pending == 0);
  CHECK(box.backlog("mqtt").oldest_pending_age_s == 0.0);
  CHECK(box.stats().records == 6);  // loki still needs them all
  CHECK_THROWS_AS(box.read("nobody", 1), OutboxError);
}

TEST_CASE("outbox: a batch stops before max_bytes but always holds one record") {
  test::TempDir dir;
  Outbox box(options(dir / "outbox.db"));
  box.append(records(1, 10, 100));
  CHECK(box.read("mqtt", 10, 350).size() == 3);
  CHECK(box.read("mqtt", 10, 50).size() == 1);  // a record larger than the limit still goes
  CHECK(box.read("mqtt", 10, 0).size() == 10);
}

TEST_CASE("outbox: a record leaves once every sink has it") {
  test::TempDir dir;
  const std::string path = dir / "outbox.db";
  {
    Outbox box(options(path));
    box.append(records(1, 200));
    box.advance("mqtt", 150);
    CHECK(box.stats().records == 200);  // loki has none yet
    box.advance("loki", 100);
    // 1..100 are everyone's: deleted in bulk (at least Outbox::kDeleteEvery at a time).
    CHECK(box.stats().records == 100);
    CHECK(seqs(box.read("loki", 1)) == std::vector<int64_t>{101});
    box.advance("loki", 103);
    CHECK(box.stats().records == 100);  // 3 delivered records wait for the next bulk delete
    CHECK(box.backlog("loki").pending == 97);
  }
  // Closing deletes whatever every sink has.
  CHECK(count_rows(path, "SELECT count(*) FROM records") == 97);
  CHECK(count_rows(path, "SELECT min(seq) FROM records") == 104);
}

TEST_CASE("outbox: positions and records survive closing and reopening, and seqs never go back") {
  test::TempDir dir;
  const std::string path = dir / "outbox.db";
  {
    Outbox box(options(path));
    box.append(records(1, 10));
    box.advance("mqtt", 10);
    box.advance("loki", 4);
  }
  {
    Outbox box(options(path));
    CHECK(box.read("mqtt", 10).empty());
    CHECK(seqs(box.read("loki", 3)) == std::vector<int64_t>{5, 6, 7});
    CHECK(box.stats().records == 6);
    CHECK(box.append(record(11)) == 11);
    box.advance("loki", 11);
    box.advance("mqtt", 11);
  }
  {
    Outbox box(options(path));
    CHECK(box.stats().records == 0);
    CHECK(box.stats().last_seq == 11);
    CHECK(box.append(record(12)) == 12);  // not 1: positions still say 11
  }
}

TEST_CASE("outbox: a sink no longer configured is forgotten, and a new one gets what is stored") {
  test::TempDir dir;
  const std::string path = dir / "outbox.db";
  {
    Outbox box(options(path, {"mqtt", "loki"}));
    box.append(records(1, 5));
    box.advance("mqtt", 5);  // loki keeps all 5 stored
  }
  {
    Outbox box(options(path, {"mqtt"}));
    CHECK(box.stats().records == 0);  // nobody needs them any more: deleted at open
  }
  {
    Outbox box(options(path, {"mqtt"}));
    box.append(records(6, 8));
  }
  Outbox box(options(path, {"mqtt", "webhook"}));
  CHECK(seqs(box.read("webhook", 10)) == std::vector<int64_t>{6, 7, 8});
  CHECK(seqs(box.read("mqtt", 10)) == std::vector<int64_t>{6, 7, 8});
}

TEST_CASE("outbox: beyond max_records the oldest go, counted when a sink had not had them") {
  test::TempDir dir;
  OutboxOptions o = options(dir / "outbox.db");
  o.max_records = 100;
  Outbox box(o);
  box.append(records(1, 40));
  box.advance("mqtt", 40);
  box.advance("loki", 10);  // 1..10 are everyone's; 11..40 only mqtt has
  box.append(records(41, 150));
  const OutboxStats s = box.stats();
  CHECK(s.records == 100);
  CHECK(s.dropped == 40);  // 11..50: loki never had them (1..10 were delivered, no loss)
  CHECK(seqs(box.read("loki", 1)) == std::vector<int64_t>{51});
  CHECK(box.backlog("loki").pending == 100);
  CHECK(box.backlog("mqtt").pending == 100);  // 51..150: it lost 41..50
}

TEST_CASE("outbox: beyond max_bytes the oldest go") {
  test::TempDir dir;
  OutboxOptions o = options(dir / "outbox.db", {"mqtt"});
  o.max_bytes = 10'000;
  Outbox box(o);
  for (int n = 1; n <= 30; ++n) box.append(record(n, 1000));  // about 1 kB each
  const OutboxStats s = box.stats();
  CHECK(s.bytes <= 10'000);
  CHECK(s.records == 9);  // 9 x (1000 + id + kind + row overhead) fit
  CHECK(s.dropped == 21);
  CHECK(seqs(box.read("mqtt", 1)) == std::vector<int64_t>{22});
}

TEST_CASE("outbox: records older than max_age go") {
  test::TempDir dir;
  OutboxOptions o = options(dir / "outbox.db", {"mqtt"});
  o.max_age = 1s;
  Outbox box(o);
  box.append(records(1, 3));
  std::this_thread::sleep_for(1100ms);
  box.append(record(4));
  CHECK(box.stats().records == 1);
  CHECK(box.stats().dropped == 3);
  CHECK(seqs(box.read("mqtt", 10)) == std::vector<int64_t>{4});
}

TEST_CASE("outbox: refused records are set aside with the reason and the position moves past them") {
  test::TempDir dir;
  const std::string path = dir / "outbox.db";
  {
    Outbox box(options(path));
    box.append(records(1, 3));
    const auto batch = box.read("loki", 1);
    box.set_aside("loki", batch, "HTTP 400: entry too far behind");
    CHECK(seqs(box.read("loki", 10)) == std::vector<int64_t>{2, 3});
    CHECK(box.stats().set_aside == 1);
    CHECK(box.backlog("loki").pending == 2);
  }
  CHECK(count_rows(path, "SELECT count(*) FROM set_aside WHERE sink = 'loki' AND id = 'id-1' AND seq = 1"
                         " AND reason = 'HTTP 400: entry too far behind'") == 1);
}

TEST_CASE("outbox: a waiting runner wakes as soon as a record is appended") {
  test::TempDir dir;
  Outbox box(options(dir / "outbox.db"));
  std::stop_source stop;
  const auto start = std::chrono::steady_clock::now();
  std::thread appender([&] {
    std::this_thread::sleep_for(50ms);
    box.append(record(1));
  });
  const bool woke = box.wait_for_records(0, start + 10s, stop.get_token());
  const auto waited = std::chrono::steady_clock::now() - start;
  appender.join();
  CHECK(woke);
  CHECK(waited < 2s);  // well before the 10 s deadline
  // And a stop request ends a wait at once.
  std::thread stopper([&] {
    std::this_thread::sleep_for(50ms);
    stop.request_stop();
  });
  const auto again = std::chrono::steady_clock::now();
  CHECK_FALSE(box.wait_for_records(1, again + 10s, stop.get_token()));
  CHECK(std::chrono::steady_clock::now() - again < 2s);
  stopper.join();
}

TEST_CASE("outbox: every append that returned survives kill -9") {
  test::TempDir dir;
  const std::string path = dir / "outbox.db";
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // The child appends one event at a time and reports each seq once append() returned.
    close(fds[0]);
    try {
      Outbox box(options(path));
      for (int n = 1;; ++n) {
        const int64_t seq = box.append(record(n));
        if (write(fds[1], &seq, sizeof seq) != sizeof seq) _exit(3);
      }
    } catch (...) {
      _exit(2);
    }
  }
  close(fds[1]);
  int64_t last_reported = 0;
  for (int64_t seq = 0; last_reported < 50 && read(fds[0], &seq, sizeof seq) == sizeof seq;) last_reported = seq;
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  close(fds[0]);
  REQUIRE(last_reported >= 50);
  CHECK(WIFSIGNALED(status));

  Outbox box(options(path));
  const auto all = box.read("mqtt", 100000);
  REQUIRE(static_cast<int64_t>(all.size()) >= last_reported);  // maybe a few more committed after the last report
  for (int64_t i = 0; i < last_reported; ++i) {
    CHECK(all[static_cast<std::size_t>(i)].seq == i + 1);
    CHECK(all[static_cast<std::size_t>(i)].id == "id-" + std::to_string(i + 1));
  }
}

TEST_CASE("outbox: a second agent on the same file is refused with a clear message") {
  test::TempDir dir;
  const std::string path = dir / "outbox.db";
  Outbox first(options(path));
  first.append(record(1));
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    close(fds[0]);
    std::string message = "opened";
    try {
      OutboxOptions o = options(path);
      o.busy_timeout = 100ms;
      Outbox second(o);
      second.append(record(2));
    } catch (const OutboxError& e) {
      message = e.what();
    }
    if (write(fds[1], message.data(), message.size()) < 0) _exit(3);
    _exit(0);
  }
  close(fds[1]);
  std::string message;
  char buf[512];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) message.append(buf, static_cast<std::size_t>(n));
  close(fds[0]);
  waitpid(child, nullptr, 0);
  CHECK(message.rfind("outbox: " + path + ": ", 0) == 0);
  CHECK(message.find("locked (is another birdsong-agent using this outbox?)") != std::string::npos);
}

TEST_CASE("outbox: bad options and unusable paths are named") {
  test::TempDir dir;
  const std::string bad_path = dir / "no/such/dir/outbox.db";
  CHECK_THROWS_WITH_AS(Outbox(options(bad_path)), doctest::Contains(("outbox: " + bad_path).c_str()), OutboxError);
  OutboxOptions o = options(dir / "outbox.db");
  o.max_records = 0;
  CHECK_THROWS_WITH_AS(Outbox{o}, doctest::Contains("max_records"), OutboxError);
}

TEST_CASE("outbox: the default path follows systemd's StateDirectory, else XDG") {
  const char* saved_state = std::getenv("STATE_DIRECTORY");
  const char* saved_xdg = std::getenv("XDG_STATE_HOME");
  const std::string state = saved_state ? saved_state : "";
  const std::string xdg = saved_xdg ? saved_xdg : "";
  test::TempDir dir;
  setenv("STATE_DIRECTORY", "/var/lib/birdsong-agent:/var/lib/other", 1);
  CHECK(default_outbox_path() == "/var/lib/birdsong-agent/outbox.db");
  unsetenv("STATE_DIRECTORY");
  setenv("XDG_STATE_HOME", (dir / "state").c_str(), 1);
  CHECK(default_outbox_path() == dir / "state/birdsong-agent/outbox.db");
  CHECK(std::filesystem::is_directory(dir / "state/birdsong-agent"));
  if (saved_state) setenv("STATE_DIRECTORY", state.c_str(), 1);
  if (saved_xdg) setenv("XDG_STATE_HOME", xdg.c_str(), 1);
  else unsetenv("XDG_STATE_HOME");
}
