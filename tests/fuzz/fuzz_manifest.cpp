// libFuzzer: the species manifest (CSV) parser, without checking that files exist.
#include <cstddef>
#include <cstdint>
#include <string>

#include "agent/species/manifest.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    birdsong::parse_manifest(text, "fuzz.csv", "/nonexistent", false);
  } catch (const birdsong::ManifestError&) {
  }
  return 0;
}
