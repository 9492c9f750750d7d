#include "agent/output/event_writer.hpp"

#include <iomanip>
#include <stdexcept>

namespace birdsong {

EventFormat parse_event_format(const std::string& name) {
  if (name == "jsonl" || name == "json") return EventFormat::jsonl;
  if (name == "csv") return EventFormat::csv;
  if (name == "raven") return EventFormat::raven;
  if (name == "audacity") return EventFormat::audacity;
  throw std::invalid_argument("--format " + name + ": expected jsonl, csv, raven or audacity");
}

namespace {

std::string label_of(const Event& e) { return e.species ? *e.species : "bird"; }

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) {
    if (c == '"') q += '"';
    q += c;
  }
  return q + '"';
}

// Tabs or newlines inside a field would break the tab-separated formats.
std::string tsv_field(std::string s) {
  for (char& c : s)
    if (c == '\t' || c == '\n' || c == '\r') c = ' ';
  return s;
}

class JsonlWriter : public EventWriter {
 public:
  explicit JsonlWriter(std::ostream& out) : out_(out) {}
  void write(const Event& e) override { out_ << to_json(e).dump() << '\n' << std::flush; }

 private:
  std::ostream& out_;
};

class CsvWriter : public EventWriter {
 public:
  explicit CsvWriter(std::ostream& out) : out_(out) {
    out_ << "id,station,time,file,start_s,end_s,low_hz,high_hz,peak_hz,snr_db,species,common_name,confidence\n"
         << std::flush;
  }
  void write(const Event& e) override {
    const auto& s = e.sound;
    out_ << csv_field(e.id) << ',' << csv_field(e.station) << ',' << (e.time ? format_utc(*e.time) : "") << ','
         << csv_field(e.file.value_or("")) << ',' << std::fixed << std::setprecision(3) << s.start_s << ','
         << s.end_s << ',' << std::setprecision(0) << s.low_hz << ',' << s.high_hz << ',' << s.peak_hz << ','
         << std::setprecision(1) << s.snr_db << ',' << csv_field(e.species.value_or("")) << ','
         << csv_field(e.common_name.value_or("")) << ',' << std::setprecision(3) << s.confidence << '\n'
         << std::defaultfloat << std::flush;
  }

 private:
  std::ostream& out_;
};

// Raven Pro selection table: the first seven columns are Raven's own; the rest are
// measurements Raven shows as extra columns. "Begin File" tells Raven which recording
// a selection belongs to when one table covers several.
class RavenWriter : public EventWriter {
 public:
  explicit RavenWriter(std::ostream& out) : out_(out) {
    out_ << "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\t"
            "Peak Freq (Hz)\tSNR (dB)\tSpecies\tConfidence\tBegin File\n"
         << std::flush;
  }
  void write(const Event& e) override {
    const auto& s = e.sound;
    out_ << ++selection_ << "\tSpectrogram 1\t1\t" << std::fixed << std::setprecision(3) << s.start_s << '\t'
         << s.end_s << '\t' << std::setprecision(1) << s.low_hz << '\t' << s.high_hz << '\t' << s.peak_hz << '\t'
         << s.snr_db << '\t' << tsv_field(label_of(e)) << '\t' << std::setprecision(3) << s.confidence << '\t'
         << tsv_field(e.file.value_or("")) << '\n'
         << std::defaultfloat << std::flush;
  }

 private:
  std::ostream& out_;
  long selection_ = 0;
};

// Audacity label track: "start<TAB>end<TAB>label", then a frequency line
// "\<TAB>low<TAB>high" that Audacity reads as the label's spectral selection.
class AudacityWriter : public EventWriter {
 public:
  explicit AudacityWriter(std::ostream& out) : out_(out) {}
  void write(const Event& e) override {
    const auto& s = e.sound;
    out_ << std::fixed << std::setprecision(6) << s.start_s << '\t' << s.end_s << '\t' << tsv_field(label_of(e))
         << '\n'
         << "\\\t" << std::setprecision(1) << s.low_hz << '\t' << s.high_hz << '\n'
         << std::defaultfloat << std::flush;
  }

 private:
  std::ostream& out_;
};

}  // namespace

std::unique_ptr<EventWriter> make_event_writer(EventFormat format, std::ostream& out) {
  switch (format) {
    case EventFormat::jsonl: return std::make_unique<JsonlWriter>(out);
    case EventFormat::csv: return std::make_unique<CsvWriter>(out);
    case EventFormat::raven: return std::make_unique<RavenWriter>(out);
    case EventFormat::audacity: return std::make_unique<AudacityWriter>(out);
  }
  throw std::invalid_argument("unknown event format");
}

}  // namespace birdsong
