// Prometheus metrics: a registry of collectors and the text exposition format 0.0.4.
//
// Components keep their own counters (atomics they update anyway) and know nothing of
// HTTP. At start-up, `run` registers a collector per component: a callback that, at
// scrape time, reads the component's current figures and writes them into a Scrape.
// The Scrape groups samples into families and renders
//
//   # HELP birdsong_sink_sent_total Records delivered by a sink.
//   # TYPE birdsong_sink_sent_total counter
//   birdsong_sink_sent_total{sink="mqtt"} 42
//
// Source: Prometheus "Exposition formats", text-based format 0.0.4 (prometheus.io/docs/
// instrumenting/exposition_formats/); names follow "Metric and label naming": units in
// the name (_seconds, _bytes, _dbfs), _total on counters, label sets kept small and
// bounded (every label value is a time series in Prometheus).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace birdsong::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

// One scrape in progress. Collectors add samples; text() renders them.
// Invalid names, a counter without _total, one family with two types or two helps, or
// one label set twice throw std::invalid_argument (a programming error, caught by tests).
class Scrape {
 public:
  void counter(std::string_view name, std::string_view help, double value, Labels labels = {});
  void gauge(std::string_view name, std::string_view help, double value, Labels labels = {});
  // Exposition format 0.0.4: families in the order first written, samples in the order added.
  std::string text() const;

 private:
  enum class Type { counter, gauge };
  struct Family {
    std::string name;
    std::string help;
    Type type;
    std::vector<std::pair<Labels, double>> samples;
  };
  void add(Type type, std::string_view name, std::string_view help, double value, Labels labels);
  std::vector<Family> families_;
};

using Collector = std::function<void(Scrape&)>;

class Registry {
 public:
  // Unregisters its collector when destroyed, so a component's collector never outlives
  // the component (declare the Registration after the component it reads).
  class Registration {
   public:
    Registration() = default;
    Registration(Registration&& other) noexcept;
    Registration& operator=(Registration&& other) noexcept;
    ~Registration();

   private:
    friend class Registry;
    Registration(Registry* registry, std::list<Collector>::iterator it) : registry_(registry), it_(it) {}
    void reset();
    Registry* registry_ = nullptr;
    std::list<Collector>::iterator it_;
  };

  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  [[nodiscard]] Registration add(Collector collector);
  // Runs every collector (under the registry's lock) and renders the result.
  std::string scrape() const;

 private:
  mutable std::mutex mutex_;
  std::list<Collector> collectors_;
};

// A counter with one label whose values are fixed up front, so the series stay bounded
// whatever the input (e.g. species: those the pack knows, plus "unidentified").
// Values outside the set are counted under `other_value`. inc() is lock-free.
class LabelledCounter {
 public:
  LabelledCounter(std::string label_name, std::vector<std::string> values, std::string other_value);
  void inc(std::string_view value, uint64_t n = 1);
  uint64_t value(std::string_view value) const;
  // Writes one sample per value (zeros too: a series that exists from the start makes
  // rate() and increase() right on the first event).
  void collect(Scrape& scrape, std::string_view name, std::string_view help) const;

 private:
  std::size_t index(std::string_view value) const;
  std::string label_;
  std::vector<std::string> values_;  // sorted, the `other` value last
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
};

// The text format's escaping of label values (\\, \", \n) and of help text (\\, \n).
std::string escape_label_value(std::string_view value);
std::string escape_help(std::string_view help);
// A sample value as Prometheus reads it: shortest round-trip form, NaN, +Inf, -Inf.
std::string format_value(double value);

// Content-Type of the exposition.
inline constexpr const char* kExpositionContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace birdsong::metrics
