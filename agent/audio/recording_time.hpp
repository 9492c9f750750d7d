// When a recording started, if the file says so.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace birdsong {

// The UTC start time of a recording, from (in this order) a Broadcast WAV `bext`
// origination date and time, or a file name in the form recorders use:
// YYYYMMDD_HHMMSS (AudioMoth, Song Meter), YYYY-MM-DD_HH-MM-SS / YYYY-MM-DDTHH:MM:SS.
// Recorder clocks are taken as UTC. Unknown: std::nullopt.
std::optional<std::chrono::system_clock::time_point> recording_start_time(const std::string& path);

}  // namespace birdsong
