#include "agent/audio/recording_time.hpp"

#include <regex>

namespace birdsong {

namespace {
std::optional<std::chrono::system_clock::time_point> from_fields(int y, int mo, int d, int h, int mi, int s) {
  using namespace std::chrono;
  const year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
  if (!ymd.ok() || h > 23 || mi > 59 || s > 60) return std::nullopt;
  return sys_days{ymd} + hours{h} + minutes{mi} + seconds{s};
}
}  // namespace

std::optional<std::chrono::system_clock::time_point> recording_start_time(const std::string& path) {
  const std::string name = path.substr(path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/') + 1);
  static const std::regex pattern(R"((\d{4})-?(\d{2})-?(\d{2})[_T ](\d{2})[-:]?(\d{2})[-:]?(\d{2}))");
  std::smatch m;
  if (std::regex_search(name, m, pattern))
    return from_fields(std::stoi(m[1]), std::stoi(m[2]), std::stoi(m[3]), std::stoi(m[4]), std::stoi(m[5]),
                       std::stoi(m[6]));
  return std::nullopt;
}

}  // namespace birdsong
