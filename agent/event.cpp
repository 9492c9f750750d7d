#include "agent/event.hpp"

#include <atomic>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <random>

#include "agent/enrichment/weather.hpp"
#include "agent/enrichment/wikipedia.hpp"

namespace birdsong {

namespace {
// Rounds to a number of decimals; dividing by a power of ten keeps 43.9 from printing
// as 43.900000000000006.
double round_to(double v, int decimals) {
  const double scale = std::pow(10.0, decimals);
  return std::round(v * scale) / scale;
}
}  // namespace

std::string new_event_id() {
  // UUIDv7: 48-bit Unix milliseconds, version, 74 random bits. Several ids in the same
  // millisecond stay ordered because the random part is a counter seeded at random.
  static std::mutex mutex;
  static std::mt19937_64 rng{std::random_device{}()};
  static uint64_t last_ms = 0;
  static uint64_t counter = 0;
  const auto now_ms = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
  uint64_t ms, seq, tail;
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (now_ms > last_ms) {
      last_ms = now_ms;
      counter = rng() & 0x3ffffffULL;  // 26 bits, leaves room to count up
    } else {
      ++counter;  // same (or earlier: clock stepped back) millisecond: stay ordered
    }
    ms = last_ms;
    seq = counter;
    tail = rng();
  }
  const uint64_t rand_a = (seq >> 14) & 0xfffULL;
  const uint64_t rand_b_hi = seq & 0x3fffULL;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%08llx-%04llx-7%03llx-%04llx-%012llx",
                static_cast<unsigned long long>(ms >> 16), static_cast<unsigned long long>(ms & 0xffffULL),
                static_cast<unsigned long long>(rand_a), static_cast<unsigned long long>(0x8000ULL | rand_b_hi),
                static_cast<unsigned long long>(tail & 0xffffffffffffULL));
  return buf;
}

std::string format_utc(std::chrono::system_clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  long long frac = ms % 1000;
  if (frac < 0) { frac += 1000; --secs; }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  return buf;
}

nlohmann::json to_json(const Event& e) {
  nlohmann::json j;
  j["schema"] = kEventSchema;
  j["id"] = e.id;
  j["station"] = e.station;
  j["time"] = e.time ? nlohmann::json(format_utc(*e.time)) : nlohmann::json(nullptr);
  if (e.file) j["file"] = *e.file;
  j["start_s"] = round_to(e.sound.start_s, 3);
  j["end_s"] = round_to(e.sound.end_s, 3);
  j["low_hz"] = round_to(e.sound.low_hz, 0);
  j["high_hz"] = round_to(e.sound.high_hz, 0);
  j["peak_hz"] = round_to(e.sound.peak_hz, 0);
  j["snr_db"] = round_to(e.sound.snr_db, 1);
  j["species"] = e.species ? nlohmann::json(*e.species) : nlohmann::json(nullptr);
  j["common_name"] = e.common_name ? nlohmann::json(*e.common_name) : nlohmann::json(nullptr);
  j["confidence"] = round_to(e.sound.confidence, 3);
  if (e.weather) j["weather"] = to_json(*e.weather);
  if (e.wikipedia) j["wikipedia"] = to_json(*e.wikipedia);
  return j;
}

}  // namespace birdsong
