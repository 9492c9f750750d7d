// libFuzzer: the annotation readers (CSV, Raven selection table, Audacity labels). The
// first byte picks the reader, the rest is the file. Text is either read or refused
// with one AnnotationError line.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "agent/evaluate/annotations.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::istringstream in(std::string(reinterpret_cast<const char*>(data) + 1, size - 1));
  try {
    switch (data[0] % 4) {
      case 0: birdsong::read_csv_annotations(in, "fuzz.csv", "/nonexistent"); break;
      case 1: birdsong::read_raven_annotations(in, "fuzz.txt", "/nonexistent", std::nullopt); break;
      case 2: birdsong::read_raven_annotations(in, "fuzz.txt", "/nonexistent", "/nonexistent/a.wav"); break;
      default: birdsong::read_audacity_annotations(in, "fuzz.txt", "/nonexistent/a.wav"); break;
    }
  } catch (const birdsong::AnnotationError&) {
  }
  return 0;
}
