#include "agent/metrics/registry.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

namespace birdsong::metrics {

namespace {

// [a-zA-Z_:][a-zA-Z0-9_:]* for metric names; labels the same without ':'.
bool valid_name(std::string_view name, bool colon_allowed) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon_allowed && c == ':');
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string escape_help(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string format_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buf[32];
  const auto res = std::to_chars(buf, buf + sizeof buf, value);
  return std::string(buf, res.ptr);
}

void Scrape::counter(std::string_view name, std::string_view help, double value, Labels labels) {
  add(Type::counter, name, help, value, std::move(labels));
}

void Scrape::gauge(std::string_view name, std::string_view help, double value, Labels labels) {
  add(Type::gauge, name, help, value, std::move(labels));
}

void Scrape::add(Type type, std::string_view name, std::string_view help, double value, Labels labels) {
  const std::string who = "metric " + std::string(name);
  if (!valid_name(name, true)) throw std::invalid_argument(who + ": not a valid metric name");
  if (type == Type::counter && !ends_with(name, "_total"))
    throw std::invalid_argument(who + ": a counter's name must end in _total");
  for (const auto& [label, v] : labels)
    if (!valid_name(label, false) || label.rfind("__", 0) == 0)
      throw std::invalid_argument(who + ": not a valid label name: " + label);
  auto family = std::find_if(families_.begin(), families_.end(), [&](const Family& f) { return f.name == name; });
  if (family == families_.end()) {
    families_.push_back(Family{std::string(name), std::string(help), type, {}});
    family = families_.end() - 1;
  } else if (family->type != type || family->help != help) {
    throw std::invalid_argument(who + ": written twice with a different type or help");
  }
  for (const auto& sample : family->samples)
    if (sample.first == labels) throw std::invalid_argument(who + ": the same labels written twice");
  family->samples.emplace_back(std::move(labels), value);
}

std::string Scrape::text() const {
  std::string out;
  for (const Family& f : families_) {
    out += "# HELP " + f.name + " " + escape_help(f.help) + "\n";
    out += "# TYPE " + f.name + (f.type == Type::counter ? " counter\n" : " gauge\n");
    for (const auto& [labels, value] : f.samples) {
      out += f.name;
      if (!labels.empty()) {
        out += '{';
        for (std::size_t i = 0; i < labels.size(); ++i) {
          if (i > 0) out += ',';
          out += labels[i].first + "=\"" + escape_label_value(labels[i].second) + "\"";
        }
        out += '}';
      }
      out += ' ' + format_value(value) + '\n';
    }
  }
  return out;
}

Registry::Registration::Registration(Registration&& other) noexcept
    : registry_(std::exchange(other.registry_, nullptr)), it_(other.it_) {}

Registry::Registration& Registry::Registration::operator=(Registration&& other) noexcept {
  if (this != &other) {
    reset();
    registry_ = std::exchange(other.registry_, nullptr);
    it_ = other.it_;
  }
  return *this;
}

Registry::Registration::~Registration() { reset(); }

void Registry::Registration::reset() {
  if (registry_ == nullptr) return;
  std::lock_guard lock(registry_->mutex_);
  registry_->collectors_.erase(it_);
  registry_ = nullptr;
}

Registry::Registration Registry::add(Collector collector) {
  std::lock_guard lock(mutex_);
  collectors_.push_back(std::move(collector));
  return Registration(this, std::prev(collectors_.end()));
}

std::string Registry::scrape() const {
  Scrape scrape;
  std::lock_guard lock(mutex_);
  for (const Collector& c : collectors_) c(scrape);
  return scrape.text();
}

LabelledCounter::LabelledCounter(std::string label_name, std::vector<std::string> values, std::string other_value)
    : label_(std::move(label_name)), values_(std::move(values)) {
  std::sort(values_.begin(), values_.end());
  values_.erase(std::unique(values_.begin(), values_.end()), values_.end());
  values_.erase(std::remove(values_.begin(), values_.end(), other_value), values_.end());
  values_.push_back(std::move(other_value));
  counts_ = std::make_unique<std::atomic<uint64_t>[]>(values_.size());
  for (std::size_t i = 0; i < values_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

std::size_t LabelledCounter::index(std::string_view value) const {
  const auto known_end = values_.end() - 1;  // the `other` value is not sorted in
  const auto it = std::lower_bound(values_.begin(), known_end, value,
                                   [](const std::string& a, std::string_view b) { return a < b; });
  return (it != known_end && *it == value) ? static_cast<std::size_t>(it - values_.begin()) : values_.size() - 1;
}

void LabelledCounter::inc(std::string_view value, uint64_t n) {
  counts_[index(value)].fetch_add(n, std::memory_order_relaxed);
}

uint64_t LabelledCounter::value(std::string_view value) const {
  return counts_[index(value)].load(std::memory_order_relaxed);
}

void LabelledCounter::collect(Scrape& scrape, std::string_view name, std::string_view help) const {
  for (std::size_t i = 0; i < values_.size(); ++i)
    scrape.counter(name, help, static_cast<double>(counts_[i].load(std::memory_order_relaxed)),
                   {{label_, values_[i]}});
}

}  // namespace birdsong::metrics
