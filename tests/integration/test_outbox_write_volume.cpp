// How much the outbox writes per event: SD cards wear by writes. Measured with the
// kernel's per-process I/O accounting (/proc/self/io):
//   wchar       - bytes handed to write()/pwrite() (SQLite's WAL frames and checkpoints)
//   write_bytes - bytes of page cache this process dirtied, i.e. what will reach the card
//                 (0 on tmpfs)
// The figures are printed (MESSAGE) for the report; the checks are loose bounds that a
// regression (say, one fsync'ed page per record and sink) would break.
#include <doctest/doctest.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include "agent/delivery/outbox.hpp"
#include "tests/agent/audio_files.hpp"

using namespace birdsong;

namespace {

struct Io {
  int64_t wchar = 0;
  int64_t write_bytes = 0;
  double ms = 0.0;  // wall time per event (append and advances)
};

Io read_io() {
  std::ifstream in("/proc/self/io");
  Io io;
  std::string key;
  int64_t value = 0;
  while (in >> key >> value) {
    if (key == "wchar:") io.wchar = value;
    if (key == "write_bytes:") io.write_bytes = value;
  }
  return io;
}

// A typical detection: schema-v1 JSON of about 330 bytes.
OutboxRecord typical(int n) {
  OutboxRecord r;
  r.id = "0196a3c2-5b1e-7" + std::to_string(100 + n % 900) + "-8000-" + std::to_string(100000000000 + n);
  r.kind = "detection";
  r.time_ns = 1'746'000'000'000'000'000LL + n * 3'000'000'000LL;
  r.payload =
      "{\"common_name\":\"Eurasian Blackbird\",\"confidence\":0.873,\"end_s\":1234.567,\"file\":null,"
      "\"high_hz\":4219.0,\"id\":\"" + r.id + "\",\"low_hz\":1781.0,\"peak_hz\":2344.0,\"schema\":1,"
      "\"snr_db\":23.4,\"species\":\"Turdus merula\",\"start_s\":1233.012,\"station\":\"garden\","
      "\"time\":\"2026-05-01T05:12:03.250Z\"}";
  return r;
}

struct Scenario {
  const char* name;
  OutboxSync sync;
  int sinks;
  int events_per_append;
};

// Bytes per event for `events` events: appended `events_per_append` at a time, each
// append delivered right away to every sink (one position update per sink and batch),
// as when the broker is up. Includes the checkpoints and the final close.
Io measure(const Scenario& s, int events) {
  test::TempDir dir;
  OutboxOptions o;
  o.path = dir / "outbox.db";
  o.sync = s.sync;
  for (int k = 0; k < s.sinks; ++k) o.sinks.push_back("sink" + std::to_string(k));
  const Io before = read_io();
  const auto start = std::chrono::steady_clock::now();
  {
    Outbox box(o);
    for (int n = 0; n < events; n += s.events_per_append) {
      std::vector<OutboxRecord> batch;
      for (int k = 0; k < s.events_per_append; ++k) batch.push_back(typical(n + k));
      const int64_t seq = box.append(batch);
      for (const std::string& sink : o.sinks) box.advance(sink, seq);
    }
  }
  const Io after = read_io();
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return {(after.wchar - before.wchar) / events, (after.write_bytes - before.write_bytes) / events, ms / events};
}

}  // namespace

TEST_CASE("outbox: bytes written per event") {
  const int events = 2000;  // enough for several WAL checkpoints (every 1000 pages)
  const Scenario scenarios[] = {
      {"sync=full, 1 sink, 1 event per commit", OutboxSync::full, 1, 1},
      {"sync=full, 2 sinks, 1 event per commit", OutboxSync::full, 2, 1},
      {"sync=normal, 2 sinks, 1 event per commit", OutboxSync::normal, 2, 1},
      {"sync=full, 2 sinks, 10 events per commit", OutboxSync::full, 2, 10},
  };
  Io single{}, batched{};
  for (const Scenario& s : scenarios) {
    const Io io = measure(s, events);
    MESSAGE(std::string(s.name) << ": " << io.wchar << " bytes/event written by SQLite, " << io.write_bytes
                   << " bytes/event of page cache dirtied, " << io.ms << " ms/event");
    if (s.sinks == 2 && s.events_per_append == 1 && s.sync == OutboxSync::full) single = io;
    if (s.events_per_append == 10) batched = io;
    // One 4 KiB WAL frame per commit (append, each advance) plus its checkpoint copy is
    // the budget; anything near a page per record and sink per fsync would exceed it.
    CHECK(io.wchar < 4 * 4160 * (1 + s.sinks) / s.events_per_append + 4096);
  }
  CHECK(batched.wchar * 2 < single.wchar);  // batching several events in a commit pays
}
