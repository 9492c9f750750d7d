// The standard process metrics (the names every Prometheus client library uses, so
// existing dashboards work): CPU seconds, resident and virtual memory, start time,
// open file descriptors. Read from /proc at scrape time (Linux only).
#pragma once

#include <optional>
#include <string_view>

#include "agent/metrics/registry.hpp"

namespace birdsong::metrics {

struct ProcessStats {
  double cpu_seconds = 0.0;          // user + system
  double resident_memory_bytes = 0.0;
  double virtual_memory_bytes = 0.0;
  double start_time_seconds = 0.0;   // Unix time
  double open_fds = 0.0;
};

// Parses the contents of /proc/<pid>/stat (proc(5)); `boot_time_s` is btime from /proc/stat.
// nullopt if the text is not a stat line.
std::optional<ProcessStats> parse_proc_stat(std::string_view stat, double boot_time_s, long ticks_per_s,
                                            long page_bytes);
// This process, now. nullopt when /proc is unavailable.
std::optional<ProcessStats> read_process_stats();
// Collector writing process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_start_time_seconds, process_open_fds.
void collect_process_metrics(Scrape& scrape);

}  // namespace birdsong::metrics
