#include <doctest/doctest.h>

#include <cmath>
#include <ctime>
#include <limits>
#include <string>

#include "agent/metrics/process_metrics.hpp"
#include "agent/metrics/registry.hpp"

using namespace birdsong::metrics;

TEST_CASE("metrics: a scrape renders HELP, TYPE and samples in text format 0.0.4") {
  Scrape s;
  s.counter("birdsong_sink_sent_total", "Records delivered by a sink.", 42, {{"sink", "mqtt"}});
  s.gauge("birdsong_audio_level_dbfs", "In-band audio level.", -63.5);
  s.counter("birdsong_sink_sent_total", "Records delivered by a sink.", 7, {{"sink", "loki"}});
  CHECK(s.text() ==
        "# HELP birdsong_sink_sent_total Records delivered by a sink.\n"
        "# TYPE birdsong_sink_sent_total counter\n"
        "birdsong_sink_sent_total{sink=\"mqtt\"} 42\n"
        "birdsong_sink_sent_total{sink=\"loki\"} 7\n"
        "# HELP birdsong_audio_level_dbfs In-band audio level.\n"
        "# TYPE birdsong_audio_level_dbfs gauge\n"
        "birdsong_audio_level_dbfs -63.5\n");
}

TEST_CASE("metrics: label values and help are escaped") {
  CHECK(escape_label_value("a\\b\"c\nd") == "a\\\\b\\\"c\\nd");
  CHECK(escape_help("two\nlines \\ \"quoted\"") == "two\\nlines \\\\ \"quoted\"");
  Scrape s;
  s.gauge("x", "h", 1, {{"file", "C:\\birds\\\"owl\".wav"}});
  CHECK(s.text().find("x{file=\"C:\\\\birds\\\\\\\"owl\\\".wav\"} 1\n") != std::string::npos);
}

TEST_CASE("metrics: values as Prometheus reads them") {
  CHECK(format_value(0) == "0");
  CHECK(format_value(12345678) == "12345678");
  CHECK(format_value(0.1) == "0.1");
  CHECK(format_value(-120) == "-120");
  CHECK(format_value(1e21) == "1e+21");
  CHECK(format_value(std::numeric_limits<double>::quiet_NaN()) == "NaN");
  CHECK(format_value(std::numeric_limits<double>::infinity()) == "+Inf");
  CHECK(format_value(-std::numeric_limits<double>::infinity()) == "-Inf");
}

TEST_CASE("metrics: names are checked") {
  Scrape s;
  CHECK_THROWS_AS(s.counter("birdsong_detections", "no _total", 1), std::invalid_argument);
  CHECK_THROWS_AS(s.gauge("9lives", "bad name", 1), std::invalid_argument);
  CHECK_THROWS_AS(s.gauge("ok", "bad label", 1, {{"spe-cies", "x"}}), std::invalid_argument);
  CHECK_THROWS_AS(s.gauge("ok", "reserved label", 1, {{"__name__", "x"}}), std::invalid_argument);
  s.gauge("g", "help", 1, {{"a", "1"}});
  CHECK_THROWS_AS(s.gauge("g", "help", 2, {{"a", "1"}}), std::invalid_argument);  // same series twice
  CHECK_THROWS_AS(s.gauge("g", "other help", 2, {{"a", "2"}}), std::invalid_argument);
  s.counter("g_total", "help", 1);
  CHECK_NOTHROW(s.counter("g_total", "help", 1, {{"b", "1"}}));
  CHECK_THROWS_AS(s.gauge("g_total", "help", 1, {{"b", "2"}}), std::invalid_argument);  // type changed
}

TEST_CASE("metrics: collectors run at scrape time and leave with their registration") {
  Registry registry;
  int level = -80;
  {
    Registry::Registration r = registry.add([&](Scrape& s) { s.gauge("level_dbfs", "level", level); });
    CHECK(registry.scrape().find("level_dbfs -80\n") != std::string::npos);
    level = -42;
    CHECK(registry.scrape().find("level_dbfs -42\n") != std::string::npos);
    Registry::Registration moved = std::move(r);
    CHECK(registry.scrape().find("level_dbfs -42\n") != std::string::npos);
  }
  CHECK(registry.scrape() == "");
}

TEST_CASE("metrics: a labelled counter keeps its label set bounded") {
  LabelledCounter c("species", {"Parus major", "Turdus merula", "Parus major"}, "unidentified");
  c.inc("Turdus merula");
  c.inc("Turdus merula", 2);
  c.inc("unidentified");
  c.inc("Strix aluco");  // not in the pack: counted as unidentified, no new series
  CHECK(c.value("Turdus merula") == 3);
  CHECK(c.value("Parus major") == 0);
  CHECK(c.value("unidentified") == 2);
  Scrape s;
  c.collect(s, "birdsong_detections_total", "Detections by species.");
  CHECK(s.text() ==
        "# HELP birdsong_detections_total Detections by species.\n"
        "# TYPE birdsong_detections_total counter\n"
        "birdsong_detections_total{species=\"Parus major\"} 0\n"
        "birdsong_detections_total{species=\"Turdus merula\"} 3\n"
        "birdsong_detections_total{species=\"unidentified\"} 2\n");
}

TEST_CASE("metrics: /proc/<pid>/stat is parsed, a comm with spaces and parentheses too") {
  // Fields after comm: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
  // utime(14) stime(15) cutime cstime priority nice threads itrealvalue starttime(22)
  // vsize(23) rss(24) ...
  const std::string stat =
      "4242 (bird song (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 1000 "
      "104857600 2048 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0";
  const auto s = parse_proc_stat(stat, 1700000000.0, 100, 4096);
  REQUIRE(s.has_value());
  CHECK(s->cpu_seconds == doctest::Approx(3.0));
  CHECK(s->start_time_seconds == doctest::Approx(1700000010.0));
  CHECK(s->virtual_memory_bytes == 104857600.0);
  CHECK(s->resident_memory_bytes == 2048.0 * 4096.0);
  CHECK_FALSE(parse_proc_stat("garbage", 0, 100, 4096).has_value());
  CHECK_FALSE(parse_proc_stat("1 (x) S 1 2", 0, 100, 4096).has_value());
}

TEST_CASE("metrics: this process's figures are plausible") {
  const auto s = read_process_stats();
  REQUIRE(s.has_value());
  CHECK(s->resident_memory_bytes > 100 * 1024);
  CHECK(s->open_fds >= 3);
  const double now_s = static_cast<double>(std::time(nullptr));
  CHECK(s->start_time_seconds <= now_s + 1);
  CHECK(s->start_time_seconds > now_s - 24 * 3600);  // the test binary started today
  Scrape scrape;
  collect_process_metrics(scrape);
  const std::string text = scrape.text();
  CHECK(text.find("# TYPE process_cpu_seconds_total counter\n") != std::string::npos);
  CHECK(text.find("\nprocess_resident_memory_bytes ") != std::string::npos);
  CHECK(text.find("\nprocess_start_time_seconds ") != std::string::npos);
}
