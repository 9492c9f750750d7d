#include "agent/metrics/process_metrics.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

namespace birdsong::metrics {

namespace {

std::string read_file(const char* path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return in ? text.str() : std::string();
}

double boot_time_s() {
  std::istringstream stat(read_file("/proc/stat"));
  std::string key;
  double value = 0.0;
  while (stat >> key) {
    if (key == "btime" && stat >> value) return value;
    stat.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return 0.0;
}

}  // namespace

std::optional<ProcessStats> parse_proc_stat(std::string_view stat, double boot_time_s, long ticks_per_s,
                                            long page_bytes) {
  // Field 2 is "(comm)" and comm may contain spaces and ')', so fields are counted from
  // the last ')'. Fields (1-based, proc(5)): 14 utime, 15 stime, 22 starttime (ticks
  // since boot), 23 vsize (bytes), 24 rss (pages).
  const std::size_t close = stat.rfind(')');
  if (close == std::string_view::npos || ticks_per_s <= 0) return std::nullopt;
  std::istringstream rest{std::string(stat.substr(close + 1))};
  std::vector<std::string> fields;  // fields[0] is field 3 (state)
  std::string f;
  while (rest >> f) fields.push_back(f);
  if (fields.size() < 22) return std::nullopt;
  auto field = [&](int n) { return std::stod(fields[static_cast<std::size_t>(n - 3)]); };
  try {
    ProcessStats s;
    const auto ticks = static_cast<double>(ticks_per_s);
    s.cpu_seconds = (field(14) + field(15)) / ticks;
    s.start_time_seconds = boot_time_s + field(22) / ticks;
    s.virtual_memory_bytes = field(23);
    s.resident_memory_bytes = field(24) * static_cast<double>(page_bytes);
    return s;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::optional<ProcessStats> read_process_stats() {
  const std::string stat = read_file("/proc/self/stat");
  auto s = parse_proc_stat(stat, boot_time_s(), sysconf(_SC_CLK_TCK), sysconf(_SC_PAGESIZE));
  if (!s) return s;
  // Under qemu-user (the cross-built tests) /proc/self/stat is emulated with rss 0, while
  // /proc/self/statm (size resident ...) is the real process's: use it when stat has none.
  if (s->resident_memory_bytes <= 0) {
    std::istringstream statm(read_file("/proc/self/statm"));
    double size_pages = 0, resident_pages = 0;
    if (statm >> size_pages >> resident_pages)
      s->resident_memory_bytes = resident_pages * static_cast<double>(sysconf(_SC_PAGESIZE));
  }
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    s->open_fds += 1.0;
  return s;
}

void collect_process_metrics(Scrape& scrape) {
  const auto s = read_process_stats();
  if (!s) return;  // not Linux: the series are simply absent
  scrape.counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", s->cpu_seconds);
  scrape.gauge("process_resident_memory_bytes", "Resident memory size in bytes.", s->resident_memory_bytes);
  scrape.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", s->virtual_memory_bytes);
  scrape.gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
               s->start_time_seconds);
  scrape.gauge("process_open_fds", "Number of open file descriptors.", s->open_fds);
}

}  // namespace birdsong::metrics
