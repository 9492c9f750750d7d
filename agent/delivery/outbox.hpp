// The durable outbox: every event is committed to a local SQLite file before any sink
// sees it, and stays there until every configured sink has it.
//
//   records   (seq, id, kind, time_ns, payload, created_ms)  - the queue, oldest first
//   positions (sink, seq)                                    - each sink's last delivered seq
//   set_aside (sink, seq, id, ..., reason)                   - records a server refused for good
//
// Durability. WAL mode. An append commits with synchronous=FULL by default: the WAL is
// fsync'ed before append() returns, so a committed event survives kill -9 AND a power
// cut. Position updates commit with synchronous=NORMAL (no fsync): after a power cut a
// sink may lose its last few advances and send those records again, which consumers
// drop by `id` (at least once, never lost). `sync = normal` for appends too trades the
// last seconds before a power cut (still safe against kill -9, and the file never
// corrupts) for fewer flash writes.
//
// Write volume (SD cards). Several events arriving together are appended in one
// transaction; a sink's position is written once per delivered batch; delivered records
// are deleted in bulk (every kDeleteEvery records), not one by one; pages are 1 KiB, so
// a commit writes little more than the event itself; no memory-mapped -shm file.
// Measured (tests/integration/test_outbox_write_volume.cpp, one event per commit, two
// sinks): about 5.4 kB handed to write() and 9.5 kB of page cache dirtied per event with
// sync = full; 1.6 / 2.1 kB when ten events share a commit.
//
// Bounds. At most max_records records, max_bytes bytes of record data, none older than
// max_age; when a bound is hit the oldest records go first and, if some sink had not
// had them yet, count as dropped. Ages are wall-clock times corrected for the clock's
// steps while the agent runs (see now_ms()).
//
// Thread safety: one connection behind a mutex. The pipeline thread appends, the sink
// runners read and advance; none holds the lock while talking to a server.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <span>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <vector>

#include "agent/delivery/sink.hpp"

struct sqlite3;

namespace birdsong {

class OutboxError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class OutboxSync {
  normal,  // appends survive a crash of the agent; a power cut may lose the last seconds
  full,    // appends are on the card before append() returns
};

struct OutboxOptions {
  std::string path;                        // the SQLite file (created if missing)
  std::vector<std::string> sinks;          // the configured sinks; a record leaves when all have it
  int64_t max_records = 100000;            // 3.5 days of a busy dawn chorus (20 events/min)
  int64_t max_bytes = 64'000'000;          // record data (id + kind + payload); the file is a little larger
  std::chrono::seconds max_age = std::chrono::hours(24 * 7);  // Loki refuses older lines by default
  OutboxSync sync = OutboxSync::full;
  // How long to wait for a file another process holds before giving up.
  std::chrono::milliseconds busy_timeout = std::chrono::seconds(5);
};

struct OutboxStats {
  int64_t records = 0;        // stored, delivered or not
  int64_t bytes = 0;          // their record data
  int64_t last_seq = 0;       // the newest record's seq (0: none ever)
  uint64_t dropped = 0;       // records removed by a bound before every sink had them (since start)
  uint64_t set_aside = 0;     // records a sink's server refused for good (since start)
};

struct SinkBacklog {
  int64_t position = 0;              // the sink's last delivered (or set aside) seq
  int64_t pending = 0;               // records after it
  double oldest_pending_age_s = 0;   // how long the oldest of them has waited (0: none)
};

class Outbox {
 public:
  // Opens (creating if needed) the file. Positions of sinks no longer configured are
  // forgotten; a newly configured sink starts with every stored record.
  // Throws OutboxError("outbox: <path>: <what went wrong>").
  explicit Outbox(OutboxOptions options);
  ~Outbox();
  Outbox(const Outbox&) = delete;
  Outbox& operator=(const Outbox&) = delete;

  // Commits `records` (their seq is ignored) in one transaction and returns the seq of
  // the last one. Then applies the bounds. Wakes every waiting runner.
  int64_t append(std::span<const OutboxRecord> records);
  int64_t append(const OutboxRecord& record) { return append(std::span<const OutboxRecord>(&record, 1)); }

  // Up to max_records records after the sink's position, oldest first, stopping before
  // max_bytes of payload (0: no limit) but always returning at least one if any wait.
  std::vector<OutboxRecord> read(const std::string& sink, std::size_t max_records, std::size_t max_bytes = 0);
  // The sink has everything up to and including `seq`.
  void advance(const std::string& sink, int64_t seq);
  // The sink's server refused `records` for good: keep them aside with the reason, and
  // move the sink's position past them.
  void set_aside(const std::string& sink, std::span<const OutboxRecord> records, const std::string& reason);

  // Blocks until a record after `after_seq` exists, `deadline` passes or `stop` is
  // requested. True when there is such a record.
  bool wait_for_records(int64_t after_seq, std::chrono::steady_clock::time_point deadline, std::stop_token stop);
  // Blocks until every configured sink's position is at least `seq`, or `deadline`.
  bool wait_delivered(int64_t seq, std::chrono::steady_clock::time_point deadline);

  SinkBacklog backlog(const std::string& sink) const;
  int64_t position(const std::string& sink) const;  // 0 for an unknown sink
  int64_t last_seq() const;
  OutboxStats stats() const;
  const std::string& path() const { return options_.path; }

  // Delivered records are deleted this many at a time: one bulk delete rewrites a leaf
  // page once instead of once per record.
  static constexpr int64_t kDeleteEvery = 64;
  // The set_aside table keeps the newest this many records.
  static constexpr int64_t kMaxSetAside = 1000;

 private:
  void exec(const char* sql);
  void set_synchronous(OutboxSync sync);
  // The wall clock in ms, after moving the stored times by any step it made since the
  // last reading (measured against the monotonic clock): ages survive clock steps while
  // the agent runs. Across a restart only the wall clock is there to go by.
  int64_t now_ms() const;
  void enforce_bounds(int64_t now_ms);   // inside a transaction
  void delete_through(int64_t seq);      // inside a transaction; counts drops
  void delete_delivered(bool force);     // inside a transaction
  int64_t min_position() const;
  void log_drops(uint64_t dropped_before);
  [[noreturn]] void fail(const std::string& what) const;

  OutboxOptions options_;
  sqlite3* db_ = nullptr;
  mutable std::mutex mutex_;
  std::condition_variable_any changed_;
  OutboxSync current_sync_ = OutboxSync::normal;
  // The stored records are always the contiguous range first_seq_ .. last_seq_ (all
  // deletions take the oldest), so counts need no query.
  int64_t first_seq_ = 1;
  int64_t last_seq_ = 0;
  int64_t bytes_ = 0;
  std::map<std::string, int64_t> positions_;
  uint64_t dropped_ = 0;
  uint64_t set_aside_ = 0;
  bool dropping_ = false;  // the last append dropped records (logged once per series)
  mutable int64_t wall_minus_steady_ms_ = 0;  // at the last now_ms()
};

// The default outbox file: $STATE_DIRECTORY/outbox.db under systemd (StateDirectory=),
// else $XDG_STATE_HOME/birdsong-agent/outbox.db, else ~/.local/state/birdsong-agent/outbox.db,
// else ./birdsong-outbox.db. Creates the directory when it picks an XDG one.
std::string default_outbox_path();

}  // namespace birdsong
