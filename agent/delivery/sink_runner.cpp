#include "agent/delivery/sink_runner.hpp"

#include <cstdio>
#include <iostream>

namespace birdsong {

namespace {

using Clock = std::chrono::steady_clock;

// One terse line per happening, `component: message`, to stderr (journald adds the time).
void log_line(const std::string& component, const std::string& message) {
  std::cerr << (component + ": " + message + "\n") << std::flush;
}

std::string seconds_text(Backoff::ms delay) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g s", static_cast<double>(delay.count()) / 1000.0);
  return buf;
}

}  // namespace

SinkRunner::SinkRunner(Outbox& outbox, Sink& sink, RunnerOptions options)
    : outbox_(outbox),
      sink_(sink),
      options_(options),
      name_(sink.name()),
      backoff_(options.backoff_initial, options.backoff_max, options.seed) {}

SinkRunner::~SinkRunner() { stop(); }

void SinkRunner::start() {
  if (thread_.joinable()) return;
  thread_ = std::jthread([this](std::stop_token stop) { run(stop); });
}

void SinkRunner::stop() {
  if (!thread_.joinable()) return;
  thread_.request_stop();
  thread_.join();
}

SinkStats SinkRunner::stats() const {
  SinkStats s;
  s.sink = name_;
  s.sent = sent_.load();
  s.failed = failed_.load();
  s.retried = retried_.load();
  s.rejected = rejected_.load();
  s.up = up_.load();
  const SinkBacklog backlog = outbox_.backlog(name_);
  s.pending = backlog.pending;
  s.oldest_pending_age_s = backlog.oldest_pending_age_s;
  return s;
}

void SinkRunner::succeeded() {
  if (failing_) log_line(name_, "delivering again after " + std::to_string(backoff_.failures()) + " failed attempts");
  failing_ = false;
  backoff_.reset();
  up_ = true;
}

void SinkRunner::back_off(const SendResult& result, std::stop_token stop) {
  ++failed_;
  up_ = false;
  const Backoff::ms delay = backoff_.next(result.retry_after);
  if (!failing_)
    log_line(name_, "delivery failed (" + result.reason + "); retrying in " + seconds_text(delay) +
                        ", backing off up to " + seconds_text(options_.backoff_max));
  failing_ = true;
  std::unique_lock lock(sleep_mutex_);
  sleep_.wait_for(lock, stop, delay, [] { return false; });
}

void SinkRunner::deliver(std::vector<OutboxRecord>& batch, std::stop_token stop) {
  if (failing_) ++retried_;
  SendResult result;
  try {
    result = sink_.send(batch);
  } catch (const std::exception& e) {
    result = {SendStatus::retry, e.what(), std::nullopt};
  }
  switch (result.status) {
    case SendStatus::ok:
      sent_ += batch.size();  // the server has them, whatever becomes of the position
      outbox_.advance(name_, batch.back().seq);
      succeeded();
      break;
    case SendStatus::retry:
      back_off(result, stop);
      break;
    case SendStatus::rejected:
      succeeded();  // the server answered: it is up, it just will not take these
      if (batch.size() > 1) {
        isolate_through_ = batch.back().seq;
        log_line(name_, "server refused a batch of " + std::to_string(batch.size()) + " (" + result.reason +
                            "); resending one at a time");
      } else {
        ++rejected_;
        outbox_.set_aside(name_, batch, result.reason);
        log_line(name_, "set aside " + batch.front().kind + " " + batch.front().id + ": " + result.reason);
      }
      break;
  }
}

void SinkRunner::run(std::stop_token stop) {
  auto next_maintain = Clock::now();  // at once: connect and announce before the first event
  int64_t lingering_head = 0;
  Clock::time_point linger_until;
  while (!stop.stop_requested()) {
    try {
      std::vector<OutboxRecord> batch = outbox_.read(name_, sink_.max_batch(), sink_.max_batch_bytes());
      if (batch.empty()) {
        if (Clock::now() >= next_maintain) {
          if (failing_) ++retried_;
          SendResult result;
          try {
            result = sink_.maintain();
          } catch (const std::exception& e) {
            result = {SendStatus::retry, e.what(), std::nullopt};
          }
          if (result.status != SendStatus::ok) {
            back_off(result, stop);
            continue;
          }
          succeeded();
          next_maintain = Clock::now() + options_.idle_check;
        }
        outbox_.wait_for_records(outbox_.position(name_), next_maintain, stop);
        continue;
      }
      if (isolate_through_ > 0) {
        if (batch.front().seq <= isolate_through_) batch.resize(1);
        else isolate_through_ = 0;
      }
      // A partial batch may wait a little for company (Sink::linger), unless the
      // records after it exist already (then a limit cut it and it is full).
      const auto linger = sink_.linger();
      if (linger.count() > 0 && batch.size() < sink_.max_batch() && batch.back().seq == outbox_.last_seq()) {
        if (batch.front().seq != lingering_head) {
          lingering_head = batch.front().seq;
          linger_until = Clock::now() + linger;
        }
        if (Clock::now() < linger_until) {
          outbox_.wait_for_records(batch.back().seq, linger_until, stop);
          continue;
        }
      }
      deliver(batch, stop);
      next_maintain = Clock::now() + options_.idle_check;
    } catch (const OutboxError& e) {
      back_off({SendStatus::retry, e.what(), std::nullopt}, stop);
    }
  }
}

}  // namespace birdsong
