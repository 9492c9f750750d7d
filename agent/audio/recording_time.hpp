// When a recording started, if the file says so.
//
// Sources, in this order:
//  1. a Broadcast WAV `bext` chunk: OriginationDate "YYYY-MM-DD" and OriginationTime
//     "HH:MM:SS" (EBU Tech 3285 allows any one separator character in each);
//  2. the file name, in the forms recorders write:
//       AudioMoth      20240501_051203.WAV
//       Song Meter     SM4_20240501_051203.wav, S4A01234_20240501_051203.wav
//       BirdNET-Pi     Turdus_merula-79-2024-05-01-birdnet-05:12:03.mp3
//       ISO 8601       2024-05-01T05:12:03, 20240501T051203, 2024-05-01_05-12-03,
//                      optionally with Z or an offset (+02:00, -0500)
// Neither bext nor these names (but the ISO ones with an offset) carry a time zone:
// recorder clocks are taken as UTC, as AudioMoth keeps them; set other recorders to UTC.
// A date or time that does not exist (2024-02-30, 24:00:00) is no time at all.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace birdsong {

class SoundFile;

using RecordingTime = std::chrono::system_clock::time_point;

// The UTC start time of the recording, from its bext chunk or else its file name.
std::optional<RecordingTime> recording_start_time(const SoundFile& file);

// The parts, for callers that have no open file.
std::optional<RecordingTime> start_time_from_bext(std::string_view date, std::string_view time);
std::optional<RecordingTime> start_time_from_file_name(std::string_view path);

}  // namespace birdsong
