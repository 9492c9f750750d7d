// libFuzzer: outbox records. The outbox file is the one input the agent reads back from
// the SD card, after power cuts and full disks; its records become MQTT payloads and Loki
// pushes. Two modes, by the input's first byte:
//   even: the rest is the SQLite file as found at start-up (seeds: real outbox files).
//         Opening it either fails with one OutboxError line, or the records in it are read,
//         pushed into a Loki body, delivered and a new record appended, all without a crash.
//   odd:  the rest is records (fields id, kind, payload split at NUL bytes) appended to a
//         new outbox: each must come back byte for byte, in order, and the Loki body made
//         of them must be JSON with one entry per record.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agent/delivery/outbox.hpp"
#include "agent/sinks/gzip.hpp"
#include "agent/sinks/loki_sink.hpp"

namespace {

using birdsong::Outbox;
using birdsong::OutboxError;
using birdsong::OutboxOptions;
using birdsong::OutboxRecord;

// One scratch directory per fuzzing process; the outbox and its -wal file are removed
// before every input.
const std::string& scratch() {
  // Never destroyed, so that the exit handler that removes the directory can still name it.
  static const std::string* dir = [] {
    auto* d = new std::string(
        (std::filesystem::temp_directory_path() / ("birdsong-fuzz-outbox-" + std::to_string(::getpid()))).string());
    std::filesystem::create_directories(*d);
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(scratch(), ignored);
    });
    return d;
  }();
  return *dir;
}

std::string fresh_path() {
  const std::string path = scratch() + "/outbox.db";
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) std::filesystem::remove(path + suffix);
  return path;
}

OutboxOptions options(const std::string& path) {
  OutboxOptions o;
  o.path = path;
  o.sinks = {"mqtt", "loki"};
  o.max_records = 1000;
  o.max_bytes = 1 << 20;
  o.busy_timeout = std::chrono::milliseconds(0);
  return o;
}

void fail(const char* what) {
  std::cerr << "fuzz_outbox: " << what << '\n';
  std::abort();
}

void damaged_file(const std::string& bytes) {
  const std::string path = fresh_path();
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  try {
    Outbox outbox(options(path));
    for (const char* sink : {"loki", "mqtt"}) {
      const std::vector<OutboxRecord> batch = outbox.read(sink, 50, 1 << 20);
      if (!batch.empty()) {
        (void)birdsong::gzip_compress(birdsong::loki_push_body(batch, "garden"));
        outbox.advance(sink, batch.back().seq);
      }
      (void)outbox.backlog(sink);
    }
    OutboxRecord r;
    r.id = "fuzz-1";
    r.kind = "detection";
    r.time_ns = 1;
    r.payload = "{}";
    const int64_t seq = outbox.append(r);
    if (seq <= 0) fail("append gave no seq");
    (void)outbox.stats();
  } catch (const OutboxError&) {
    // Refused (not a database, damaged, wrong schema): one line in the agent's log.
  }
}

void records(const std::string& bytes) {
  std::vector<OutboxRecord> in;
  std::vector<std::string> fields;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= bytes.size(); ++i)
    if (i == bytes.size() || bytes[i] == '\0') {
      fields.push_back(bytes.substr(start, i - start));
      start = i + 1;
    }
  for (std::size_t i = 0; i < fields.size() && in.size() < 500; i += 3) {  // under max_records
    OutboxRecord r;
    r.id = fields[i];
    r.kind = i + 1 < fields.size() ? fields[i + 1] : "detection";
    r.payload = i + 2 < fields.size() ? fields[i + 2] : "";
    r.time_ns = static_cast<int64_t>(std::hash<std::string>{}(r.payload) >> 1);
    in.push_back(std::move(r));
  }
  Outbox outbox(options(fresh_path()));  // a new file: any OutboxError here is a bug
  if (!in.empty()) outbox.append(in);
  const std::vector<OutboxRecord> out = outbox.read("loki", in.size() + 1);
  if (out.size() != in.size()) fail("records lost or added");
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (out[i].id != in[i].id || out[i].kind != in[i].kind || out[i].payload != in[i].payload ||
        out[i].time_ns != in[i].time_ns)
      fail("a record came back changed");
    if (i > 0 && out[i].seq <= out[i - 1].seq) fail("seqs out of order");
  }
  if (out.empty()) return;
  const nlohmann::json body = nlohmann::json::parse(birdsong::loki_push_body(out, "garden"));
  std::size_t entries = 0;
  for (const auto& stream : body.at("streams")) entries += stream.at("values").size();
  if (entries != out.size()) fail("the Loki body lost entries");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 1)
    records(bytes);
  else
    damaged_file(bytes);
  return 0;
}
