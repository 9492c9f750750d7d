// Writes events to a stream as they come, in one of the formats users open elsewhere:
//   jsonl    - one schema-v1 JSON object per line (the default; jq, scripts)
//   csv      - a header row, then one row per event (spreadsheets)
//   raven    - a Raven Pro selection table (tab-separated; File > Open Selection Table)
//   audacity - an Audacity label track with frequency lines (File > Import > Labels)
#pragma once

#include <memory>
#include <ostream>
#include <string>

#include "agent/event.hpp"

namespace birdsong {

enum class EventFormat { jsonl, csv, raven, audacity };

// Throws std::invalid_argument for an unknown name.
EventFormat parse_event_format(const std::string& name);

class EventWriter {
 public:
  virtual ~EventWriter() = default;
  virtual void write(const Event& event) = 0;
};

// Writes to `out` (flushed after every event, so readers see detections as they happen).
std::unique_ptr<EventWriter> make_event_writer(EventFormat format, std::ostream& out);

}  // namespace birdsong
