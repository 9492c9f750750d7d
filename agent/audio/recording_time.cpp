#include "agent/audio/recording_time.hpp"

#include <regex>
#include <string>

#include "agent/audio/sound_file.hpp"

namespace birdsong {

namespace {

std::optional<RecordingTime> from_fields(int y, int mo, int d, int h, int mi, int s) {
  using namespace std::chrono;
  const year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
  if (!ymd.ok() || h > 23 || mi > 59 || s > 59) return std::nullopt;
  return sys_days{ymd} + hours{h} + minutes{mi} + seconds{s};
}

bool digits(std::string_view s, std::size_t at, std::size_t count) {
  if (at + count > s.size()) return false;
  for (std::size_t i = at; i < at + count; ++i)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

int number(std::string_view s, std::size_t at, std::size_t count) {
  int n = 0;
  for (std::size_t i = at; i < at + count; ++i) n = n * 10 + (s[i] - '0');
  return n;
}

}  // namespace

std::optional<RecordingTime> start_time_from_bext(std::string_view date, std::string_view time) {
  // "YYYY?MM?DD" and "HH?MM?SS", where ? is any one non-digit.
  if (date.size() != 10 || time.size() != 8) return std::nullopt;
  if (!digits(date, 0, 4) || digits(date, 4, 1) || !digits(date, 5, 2) || digits(date, 7, 1) || !digits(date, 8, 2))
    return std::nullopt;
  if (!digits(time, 0, 2) || digits(time, 2, 1) || !digits(time, 3, 2) || digits(time, 5, 1) || !digits(time, 6, 2))
    return std::nullopt;
  return from_fields(number(date, 0, 4), number(date, 5, 2), number(date, 8, 2), number(time, 0, 2),
                     number(time, 3, 2), number(time, 6, 2));
}

std::optional<RecordingTime> start_time_from_file_name(std::string_view path) {
  const auto slash = path.find_last_of('/');
  const std::string name(slash == std::string_view::npos ? path : path.substr(slash + 1));
  // Date, then T, _, space or BirdNET-Pi's "-birdnet-", then time, then maybe a zone; the
  // separators inside the date (and inside the time) are the same (\2, \6), and the
  // digits stand alone, so a longer number holds no time.
  static const std::regex pattern(
      R"((?:^|[^0-9])(\d{4})(-?)(\d{2})\2(\d{2})(?:[T_ ]|-birdnet-)(\d{2})([:-]?)(\d{2})\6(\d{2})(Z|[+-]\d{2}:?\d{2})?(?![0-9]))");
  std::smatch m;
  if (!std::regex_search(name, m, pattern)) return std::nullopt;
  auto t = from_fields(std::stoi(m[1]), std::stoi(m[3]), std::stoi(m[4]), std::stoi(m[5]), std::stoi(m[7]),
                       std::stoi(m[8]));
  const std::string zone = m[9];
  if (!t || zone.empty() || zone == "Z") return t;
  // Local time = UTC + offset.
  const int hours = std::stoi(zone.substr(1, 2));
  const int minutes = std::stoi(zone.substr(zone.size() - 2));
  if (hours > 14 || minutes > 59) return std::nullopt;
  const std::chrono::minutes offset{hours * 60 + minutes};
  return zone[0] == '+' ? *t - offset : *t + offset;
}

std::optional<RecordingTime> recording_start_time(const SoundFile& file) {
  if (const auto& bext = file.broadcast_origination())
    if (auto t = start_time_from_bext(bext->date, bext->time)) return t;
  return start_time_from_file_name(file.path());
}

}  // namespace birdsong
