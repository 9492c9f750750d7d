#include "tests/agent/sinks/loki_test_server.hpp"

#include <httplib.h>

#include <cctype>
#include <nlohmann/json.hpp>

namespace birdsong::test {

namespace {

bool valid_label_name(const std::string& name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  return true;
}

// A Unix-nanosecond timestamp: decimal digits that fit an int64.
bool parse_ns(const std::string& s, int64_t& out) {
  if (s.empty() || s.size() > 19) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  out = std::stoll(s);
  return true;
}

}  // namespace

std::string check_loki_push(const std::string& json_body, std::vector<LokiStream>& streams) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json_body);
  } catch (const nlohmann::json::parse_error& e) {
    return std::string("body is not JSON: ") + e.what();
  }
  if (!j.is_object() || !j.contains("streams") || !j["streams"].is_array())
    return "expected an object with a \"streams\" array";
  // Stricter than Loki (which accepts an empty push): the agent must never send one.
  if (j["streams"].empty()) return "no streams";
  for (const auto& s : j["streams"]) {
    LokiStream stream;
    if (!s.is_object() || !s.contains("stream") || !s["stream"].is_object() || !s.contains("values") ||
        !s["values"].is_array())
      return "a stream must have a \"stream\" object and a \"values\" array";
    if (s["stream"].empty()) return "a stream needs at least one label";
    for (const auto& [name, value] : s["stream"].items()) {
      if (!valid_label_name(name)) return "invalid label name: " + name;
      if (!value.is_string()) return "label " + name + ": value is not a string";
      stream.labels[name] = value.get<std::string>();
    }
    if (s["values"].empty()) return "a stream without values";
    for (const auto& v : s["values"]) {
      // [ts, line] or [ts, line, {structured metadata}]
      if (!v.is_array() || v.size() < 2 || v.size() > 3 || !v[0].is_string() || !v[1].is_string() ||
          (v.size() == 3 && !v[2].is_object()))
        return "an entry must be [\"<ns>\", \"<line>\"]";
      LokiEntry e;
      if (!parse_ns(v[0].get<std::string>(), e.time_ns))
        return "timestamp is not Unix nanoseconds as a decimal string: " + v[0].get<std::string>();
      e.line = v[1].get<std::string>();
      if (!stream.entries.empty() && e.time_ns < stream.entries.back().time_ns)
        return "entry out of order: " + std::to_string(e.time_ns) + " after " +
               std::to_string(stream.entries.back().time_ns);
      stream.entries.push_back(std::move(e));
    }
    streams.push_back(std::move(stream));
  }
  return "";
}

LokiTestServer::LokiTestServer() : server_(std::make_unique<httplib::Server>()) {
  server_->new_task_queue = [] { return new httplib::ThreadPool(2); };
  server_->Post("/loki/api/v1/push", [this](const httplib::Request& req, httplib::Response& res) {
    LokiPush push;
    push.received = std::chrono::steady_clock::now();
    for (const auto& [name, value] : req.headers) {
      std::string lower = name;
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      push.headers[lower] = value;
    }
    const std::string length = req.get_header_value("Content-Length");
    push.wire_bytes = length.empty() ? 0 : static_cast<std::size_t>(std::stoull(length));
    push.body = req.body;  // httplib has undone Content-Encoding: gzip already
    const std::string type = req.get_header_value("Content-Type");
    if (type.rfind("application/json", 0) != 0)
      push.problem = "Content-Type is not application/json: " + type;
    else
      push.problem = check_loki_push(push.body, push.streams);

    LokiAnswer answer;
    if (!push.problem.empty()) {
      answer.status = 400;
      answer.body = push.problem;
    } else {
      std::lock_guard lock(mutex_);
      if (!script_.empty()) {
        answer = script_.front();
        script_.pop_front();
      }
    }
    if (answer.delay.count() > 0) std::this_thread::sleep_for(answer.delay);
    res.status = answer.status;
    if (!answer.retry_after.empty()) res.set_header("Retry-After", answer.retry_after);
    if (!answer.body.empty()) res.set_content(answer.body + "\n", "text/plain; charset=utf-8");
    push.answered = answer.status;
    record(std::move(push));
  });
  port_ = server_->bind_to_any_port("127.0.0.1");
  if (port_ <= 0) throw std::runtime_error("LokiTestServer: cannot bind a loopback port");
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  for (int i = 0; i < 5000 && !server_->is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

LokiTestServer::~LokiTestServer() {
  server_->stop();
  thread_.join();
}

void LokiTestServer::script(std::vector<LokiAnswer> answers) {
  std::lock_guard lock(mutex_);
  script_.assign(answers.begin(), answers.end());
}

void LokiTestServer::record(LokiPush push) {
  std::lock_guard lock(mutex_);
  pushes_.push_back(std::move(push));
  changed_.notify_all();
}

std::vector<LokiPush> LokiTestServer::pushes() const {
  std::lock_guard lock(mutex_);
  return pushes_;
}

std::vector<LokiEntry> LokiTestServer::accepted_entries() const {
  std::lock_guard lock(mutex_);
  std::vector<LokiEntry> out;
  for (const LokiPush& p : pushes_)
    if (p.answered >= 200 && p.answered < 300)
      for (const LokiStream& s : p.streams) out.insert(out.end(), s.entries.begin(), s.entries.end());
  return out;
}

bool LokiTestServer::wait_for_accepted(std::size_t n, std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(mutex_);
  auto count = [&] {
    std::size_t c = 0;
    for (const LokiPush& p : pushes_)
      if (p.answered >= 200 && p.answered < 300)
        for (const LokiStream& s : p.streams) c += s.entries.size();
    return c;
  };
  return changed_.wait_until(lock, deadline, [&] { return count() >= n; });
}

}  // namespace birdsong::test
