#include "agent/delivery/outbox.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <set>

namespace birdsong {

namespace {

// Rough per-row overhead (rowid, header, cell pointer), so that max_bytes tracks the
// space the records really take.
constexpr int64_t kRowOverheadBytes = 32;

// A change of the wall clock against the monotonic one larger than this is a step (NTP
// setting the clock of a Pi without a real-time clock, someone running `date -s`), not
// NTP's slewing, which moves it at most 0.5 ms per second.
constexpr int64_t kClockStepMs = 2000;

template <typename C>
int64_t ms_of(C clock_now) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_now.time_since_epoch()).count();
}

int64_t record_bytes(const OutboxRecord& r) {
  return static_cast<int64_t>(r.id.size() + r.kind.size() + r.payload.size()) + kRowOverheadBytes;
}

// A prepared statement that resets itself, so a cached one is always ready for reuse.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) throw OutboxError(sqlite3_errmsg(db));
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int i, int64_t v) { return check(sqlite3_bind_int64(stmt_, i, v)); }
  Statement& bind(int i, const std::string& v) {
    return check(sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC));
  }
  // True while there is a row.
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) {
      const std::string message = sqlite3_errmsg(db_);
      sqlite3_reset(stmt_);
      throw OutboxError(message);
    }
    return false;
  }
  void run() {
    step();
    reset();
  }
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
  std::string text(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p != nullptr ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col))) : std::string();
  }

 private:
  Statement& check(int rc) {
    if (rc != SQLITE_OK) throw OutboxError(sqlite3_errmsg(db_));
    return *this;
  }
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

// BEGIN IMMEDIATE ... COMMIT, rolled back if anything throws in between.
class Transaction {
 public:
  explicit Transaction(sqlite3* db) : db_(db) { exec("BEGIN IMMEDIATE"); }
  ~Transaction() {
    if (!done_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  void commit() {
    exec("COMMIT");
    done_ = true;
  }

 private:
  void exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      const std::string message = err != nullptr ? err : "unknown error";
      sqlite3_free(err);
      throw OutboxError(message);
    }
  }
  sqlite3* db_;
  bool done_ = false;
};

}  // namespace

Outbox::Outbox(OutboxOptions options) : options_(std::move(options)) {
  if (options_.path.empty()) fail("no path given");
  if (options_.max_records < 1) fail("max_records must be at least 1");
  if (options_.max_bytes < 1) fail("max_bytes must be positive");
  if (options_.max_age.count() < 1) fail("max_age must be positive");
  // Readable by its owner only (the station's events, where and when): a new file is
  // created 0600 whatever the umask, and SQLite gives its -wal file the same mode.
  // O_EXCL: an existing file is never opened (and closed) here, as closing a descriptor
  // would drop the POSIX locks another connection of this process holds on it.
  if (const int fd = ::open(options_.path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600); fd >= 0) ::close(fd);
  if (sqlite3_open_v2(options_.path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    const std::string message = db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw OutboxError("outbox: " + options_.path + ": " + message);
  }
  try {
    sqlite3_busy_timeout(db_, static_cast<int>(options_.busy_timeout.count()));
    // Exclusive locking before the first WAL access keeps the WAL index in memory
    // instead of a memory-mapped -shm file (which the kernel would keep writing back
    // to the card), and stops a second agent from sharing this outbox.
    exec("PRAGMA locking_mode=EXCLUSIVE");
    // Small pages for a new file: every commit writes whole pages to the WAL, and an
    // event (about 400 bytes of JSON) fits in 1 KiB. Measured (tests/integration/
    // test_outbox_write_volume.cpp, 2 sinks, fsync per event): 9.5 KB of page cache
    // dirtied per event with 1 KiB pages, 18 KB with SQLite's default 4 KiB.
    exec("PRAGMA page_size=1024");
    {
      Statement wal(db_, "PRAGMA journal_mode=WAL");
      if (!wal.step() || wal.text(0) != "wal") fail("cannot switch to WAL mode");
    }
    exec("PRAGMA synchronous=NORMAL");
    current_sync_ = OutboxSync::normal;
    // A burst may grow the WAL; after the next checkpoint it is cut back to 4 MB.
    exec("PRAGMA journal_size_limit=4194304");
    exec("PRAGMA cache_size=-512");  // KiB: the Pi Zero has little to spare
    exec(
        "CREATE TABLE IF NOT EXISTS records (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, kind TEXT NOT NULL,"
        " time_ns INTEGER NOT NULL, payload TEXT NOT NULL, created_ms INTEGER NOT NULL);"
        "CREATE TABLE IF NOT EXISTS positions (sink TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;"
        "CREATE TABLE IF NOT EXISTS set_aside (sink TEXT NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL,"
        " kind TEXT NOT NULL, time_ns INTEGER NOT NULL, payload TEXT NOT NULL, reason TEXT NOT NULL,"
        " set_aside_ms INTEGER NOT NULL);");

    Transaction tx(db_);
    bool has_records = false;
    {
      Statement range(db_,
                      "SELECT min(seq), max(seq), coalesce(sum(length(CAST(id AS BLOB)) + length(CAST(kind AS BLOB))"
                      " + length(CAST(payload AS BLOB)) + ?), 0), count(*) FROM records");
      range.bind(1, kRowOverheadBytes);
      range.step();
      has_records = range.integer(3) > 0;
      if (has_records) {
        first_seq_ = range.integer(0);
        last_seq_ = range.integer(1);
        bytes_ = range.integer(2);
      }
    }
    const std::set<std::string> configured(options_.sinks.begin(), options_.sinks.end());
    int64_t highest_position = 0;
    {
      Statement all(db_, "SELECT sink, seq FROM positions");
      while (all.step()) {
        highest_position = std::max(highest_position, all.integer(1));
        if (configured.count(all.text(0))) positions_[all.text(0)] = all.integer(1);
      }
    }
    // Seqs never go back, even when every record was delivered and deleted.
    last_seq_ = std::max(last_seq_, highest_position);
    if (!has_records) first_seq_ = last_seq_ + 1;
    exec("DELETE FROM positions");
    Statement upsert(db_, "INSERT INTO positions (sink, seq) VALUES (?, ?)");
    for (const std::string& sink : configured) {
      positions_.try_emplace(sink, 0);  // a new sink gets everything still stored
      upsert.bind(1, sink).bind(2, positions_[sink]).run();
    }
    delete_delivered(true);
    wall_minus_steady_ms_ = ms_of(std::chrono::system_clock::now()) - ms_of(std::chrono::steady_clock::now());
    enforce_bounds(now_ms());
    tx.commit();
  } catch (const OutboxError& e) {
    sqlite3_close(db_);
    db_ = nullptr;
    const std::string what = e.what();
    if (what.rfind("outbox: ", 0) == 0) throw;
    const bool locked = what.find("locked") != std::string::npos;
    throw OutboxError("outbox: " + options_.path + ": " + what +
                      (locked ? " (is another birdsong-agent using this outbox?)" : ""));
  }
}

Outbox::~Outbox() {
  if (db_ == nullptr) return;
  try {
    std::lock_guard lock(mutex_);
    Transaction tx(db_);
    delete_delivered(true);
    tx.commit();
  } catch (const OutboxError&) {
    // Closing anyway: the records stay and are deleted at the next start.
  }
  sqlite3_close(db_);
}

void Outbox::fail(const std::string& what) const { throw OutboxError("outbox: " + options_.path + ": " + what); }

void Outbox::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    const std::string message = err != nullptr ? err : sqlite3_errmsg(db_);
    sqlite3_free(err);
    throw OutboxError(message);
  }
}

void Outbox::set_synchronous(OutboxSync sync) {
  if (sync == current_sync_) return;
  exec(sync == OutboxSync::full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
  current_sync_ = sync;
}

int64_t Outbox::min_position() const {
  int64_t lowest = last_seq_;
  for (const auto& [sink, seq] : positions_) lowest = std::min(lowest, seq);
  return lowest;
}

void Outbox::delete_through(int64_t seq) {
  if (seq < first_seq_) return;
  seq = std::min(seq, last_seq_);
  Statement size(db_,
                 "SELECT coalesce(sum(length(CAST(id AS BLOB)) + length(CAST(kind AS BLOB))"
                 " + length(CAST(payload AS BLOB)) + ?), 0) FROM records WHERE seq <= ?");
  size.bind(1, kRowOverheadBytes).bind(2, seq).step();
  bytes_ -= size.integer(0);
  Statement del(db_, "DELETE FROM records WHERE seq <= ?");
  del.bind(1, seq).run();
  // Records some sink had not had yet are lost to it: count them.
  const int64_t undelivered_from = std::max(first_seq_, min_position() + 1);
  if (seq >= undelivered_from) dropped_ += static_cast<uint64_t>(seq - undelivered_from + 1);
  first_seq_ = seq + 1;
}

void Outbox::delete_delivered(bool force) {
  const int64_t delivered_through = std::min(min_position(), last_seq_);
  const int64_t count = delivered_through - first_seq_ + 1;
  if (count >= kDeleteEvery || (force && count > 0)) delete_through(delivered_through);
}

int64_t Outbox::now_ms() const {
  const int64_t wall = ms_of(std::chrono::system_clock::now());
  const int64_t offset = wall - ms_of(std::chrono::steady_clock::now());
  const int64_t step = offset - wall_minus_steady_ms_;
  if (std::abs(step) <= kClockStepMs) {
    wall_minus_steady_ms_ = offset;  // follows NTP's slewing
    return wall;
  }
  // The clock was stepped: move every stored time by the same step, so that a record's
  // age is the time it really waited. Otherwise a Pi that boots with a stale clock and
  // queues events until the network (and NTP) comes up would see its whole queue
  // "older than max_age" the moment NTP sets the clock, and drop it.
  try {
    Transaction tx(db_);  // both tables or neither, or a retry would move one twice
    Statement records(db_, "UPDATE records SET created_ms = created_ms + ?");
    records.bind(1, step).run();
    Statement aside(db_, "UPDATE set_aside SET set_aside_ms = set_aside_ms + ?");
    aside.bind(1, step).run();
    tx.commit();
  } catch (const OutboxError&) {
    // A full disk: the ages stay as they were, and the next reading tries again.
    return wall - step;
  }
  wall_minus_steady_ms_ = offset;
  std::cerr << "outbox: the wall clock was stepped by " << (step > 0 ? "+" : "") << step / 1000
            << " s; stored records keep the ages they had\n";
  return wall;
}

void Outbox::enforce_bounds(int64_t now) {
  int64_t drop_through = first_seq_ - 1;
  const int64_t stored = last_seq_ - first_seq_ + 1;
  if (stored > options_.max_records) drop_through = last_seq_ - options_.max_records;

  if (stored > 0) {
    const int64_t cutoff_ms = now - std::chrono::duration_cast<std::chrono::milliseconds>(options_.max_age).count();
    Statement oldest(db_, "SELECT created_ms FROM records WHERE seq = ?");
    oldest.bind(1, first_seq_);
    if (oldest.step() && oldest.integer(0) < cutoff_ms) {
      // Records are appended in time order, so the old ones are a prefix.
      Statement young(db_, "SELECT seq FROM records WHERE created_ms >= ? ORDER BY seq LIMIT 1");
      young.bind(1, cutoff_ms);
      drop_through = std::max(drop_through, young.step() ? young.integer(0) - 1 : last_seq_);
    }
  }

  if (bytes_ > options_.max_bytes) {
    int64_t freed = 0;
    Statement walk(db_,
                   "SELECT seq, length(CAST(id AS BLOB)) + length(CAST(kind AS BLOB)) + length(CAST(payload AS BLOB))"
                   " FROM records ORDER BY seq");
    while (bytes_ - freed > options_.max_bytes && walk.step()) {
      freed += walk.integer(1) + kRowOverheadBytes;
      drop_through = std::max(drop_through, walk.integer(0));
    }
  }

  if (drop_through >= first_seq_) {
    delete_delivered(true);  // what every sink has goes first, and is no loss
    delete_through(drop_through);
  }
}

int64_t Outbox::append(std::span<const OutboxRecord> records) {
  std::lock_guard lock(mutex_);
  if (records.empty()) return last_seq_;
  set_synchronous(options_.sync);
  const int64_t created = now_ms();
  int64_t seq = last_seq_;
  int64_t added_bytes = 0;
  {
    Transaction tx(db_);
    Statement insert(db_,
                     "INSERT INTO records (seq, id, kind, time_ns, payload, created_ms) VALUES (?, ?, ?, ?, ?, ?)");
    for (const OutboxRecord& r : records) {
      insert.bind(1, ++seq).bind(2, r.id).bind(3, r.kind).bind(4, r.time_ns).bind(5, r.payload).bind(6, created);
      insert.run();
      added_bytes += record_bytes(r);
    }
    const int64_t old_last = last_seq_, old_bytes = bytes_, old_first = first_seq_;
    const uint64_t old_dropped = dropped_;
    last_seq_ = seq;
    bytes_ += added_bytes;
    try {
      enforce_bounds(created);
      tx.commit();
    } catch (...) {
      last_seq_ = old_last;
      bytes_ = old_bytes;
      first_seq_ = old_first;
      dropped_ = old_dropped;
      throw;
    }
    log_drops(old_dropped);
  }
  changed_.notify_all();
  return seq;
}

void Outbox::log_drops(uint64_t dropped_before) {
  // Once per series of full appends, not per event; the count is in stats().dropped.
  const bool dropping = dropped_ > dropped_before;
  if (dropping && !dropping_)
    std::cerr << ("outbox: full (max_records " + std::to_string(options_.max_records) + ", max_bytes " +
                  std::to_string(options_.max_bytes) + ", max_age " + std::to_string(options_.max_age.count()) +
                  " s): dropping the oldest undelivered events\n");
  dropping_ = dropping;
}

std::vector<OutboxRecord> Outbox::read(const std::string& sink, std::size_t max_records, std::size_t max_bytes) {
  std::lock_guard lock(mutex_);
  const auto pos = positions_.find(sink);
  if (pos == positions_.end()) fail("read: unknown sink \"" + sink + "\"");
  std::vector<OutboxRecord> batch;
  if (max_records == 0 || pos->second >= last_seq_) return batch;
  Statement select(db_, "SELECT seq, id, kind, time_ns, payload FROM records WHERE seq > ? ORDER BY seq LIMIT ?");
  select.bind(1, pos->second).bind(2, static_cast<int64_t>(max_records));
  std::size_t bytes = 0;
  while (select.step()) {
    OutboxRecord r{select.integer(0), select.text(1), select.text(2), select.integer(3), select.text(4)};
    if (max_bytes > 0 && !batch.empty() && bytes + r.payload.size() > max_bytes) break;
    bytes += r.payload.size();
    batch.push_back(std::move(r));
  }
  return batch;
}

void Outbox::advance(const std::string& sink, int64_t seq) {
  {
    std::lock_guard lock(mutex_);
    const auto pos = positions_.find(sink);
    if (pos == positions_.end()) fail("advance: unknown sink \"" + sink + "\"");
    if (seq <= pos->second) return;
    // A lost position costs a repeated delivery, not a lost event: no fsync for it.
    set_synchronous(OutboxSync::normal);
    Transaction tx(db_);
    Statement update(db_, "UPDATE positions SET seq = ? WHERE sink = ?");
    update.bind(1, seq).bind(2, sink).run();
    const int64_t old = pos->second;
    const int64_t old_first = first_seq_, old_bytes = bytes_;
    pos->second = seq;
    try {
      delete_delivered(false);
      tx.commit();
    } catch (...) {
      pos->second = old;
      first_seq_ = old_first;
      bytes_ = old_bytes;
      throw;
    }
  }
  changed_.notify_all();
}

void Outbox::set_aside(const std::string& sink, std::span<const OutboxRecord> records, const std::string& reason) {
  if (records.empty()) return;
  {
    std::lock_guard lock(mutex_);
    const auto pos = positions_.find(sink);
    if (pos == positions_.end()) fail("set_aside: unknown sink \"" + sink + "\"");
    set_synchronous(OutboxSync::normal);
    const int64_t at = now_ms();
    Transaction tx(db_);
    Statement insert(db_,
                     "INSERT INTO set_aside (sink, seq, id, kind, time_ns, payload, reason, set_aside_ms)"
                     " VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    int64_t through = pos->second;
    for (const OutboxRecord& r : records) {
      insert.bind(1, sink).bind(2, r.seq).bind(3, r.id).bind(4, r.kind).bind(5, r.time_ns).bind(6, r.payload);
      insert.bind(7, reason).bind(8, at).run();
      through = std::max(through, r.seq);
    }
    Statement trim(db_, "DELETE FROM set_aside WHERE rowid <= (SELECT max(rowid) FROM set_aside) - ?");
    trim.bind(1, kMaxSetAside).run();
    Statement update(db_, "UPDATE positions SET seq = ? WHERE sink = ?");
    update.bind(1, through).bind(2, sink).run();
    const int64_t old = pos->second;
    const int64_t old_first = first_seq_, old_bytes = bytes_;
    pos->second = through;
    try {
      delete_delivered(false);
      tx.commit();
    } catch (...) {
      pos->second = old;
      first_seq_ = old_first;
      bytes_ = old_bytes;
      throw;
    }
    set_aside_ += records.size();
  }
  changed_.notify_all();
}

bool Outbox::wait_for_records(int64_t after_seq, std::chrono::steady_clock::time_point deadline,
                              std::stop_token stop) {
  std::unique_lock lock(mutex_);
  return changed_.wait_until(lock, stop, deadline, [&] { return last_seq_ > after_seq; });
}

bool Outbox::wait_delivered(int64_t seq, std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  return changed_.wait_until(lock, deadline, [&] { return min_position() >= std::min(seq, last_seq_); });
}

SinkBacklog Outbox::backlog(const std::string& sink) const {
  std::lock_guard lock(mutex_);
  SinkBacklog b;
  const auto pos = positions_.find(sink);
  if (pos == positions_.end()) return b;
  b.position = pos->second;
  const int64_t next = std::max(pos->second + 1, first_seq_);
  b.pending = std::max<int64_t>(0, last_seq_ - next + 1);
  if (b.pending > 0) {
    Statement created(db_, "SELECT created_ms FROM records WHERE seq = ?");
    created.bind(1, next);
    if (created.step()) b.oldest_pending_age_s = std::max(0.0, static_cast<double>(now_ms() - created.integer(0)) / 1000.0);
  }
  return b;
}

int64_t Outbox::position(const std::string& sink) const {
  std::lock_guard lock(mutex_);
  const auto pos = positions_.find(sink);
  return pos != positions_.end() ? pos->second : 0;
}

int64_t Outbox::last_seq() const {
  std::lock_guard lock(mutex_);
  return last_seq_;
}

OutboxStats Outbox::stats() const {
  std::lock_guard lock(mutex_);
  OutboxStats s;
  s.records = std::max<int64_t>(0, last_seq_ - first_seq_ + 1);
  s.bytes = bytes_;
  s.last_seq = last_seq_;
  s.dropped = dropped_;
  s.set_aside = set_aside_;
  return s;
}

std::string default_outbox_path() {
  namespace fs = std::filesystem;
  if (const char* state = std::getenv("STATE_DIRECTORY"); state != nullptr && *state != '\0') {
    // systemd passes a colon-separated list when several StateDirectory= are given.
    const std::string first = std::string(state).substr(0, std::string(state).find(':'));
    return (fs::path(first) / "outbox.db").string();
  }
  fs::path dir;
  if (const char* xdg = std::getenv("XDG_STATE_HOME"); xdg != nullptr && *xdg == '/') dir = fs::path(xdg);
  else if (const char* home = std::getenv("HOME"); home != nullptr && *home == '/')
    dir = fs::path(home) / ".local" / "state";
  if (!dir.empty()) {
    std::error_code ec;
    // A directory made here is the agent's own: 0700, as systemd's StateDirectoryMode.
    if (fs::create_directories(dir / "birdsong-agent", ec))
      fs::permissions(dir / "birdsong-agent", fs::perms::owner_all, ec);
    if (!ec) return (dir / "birdsong-agent" / "outbox.db").string();
  }
  return "birdsong-outbox.db";
}

}  // namespace birdsong
