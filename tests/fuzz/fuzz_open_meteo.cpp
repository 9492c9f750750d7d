// libFuzzer: Open-Meteo's answer (agent/enrichment/weather). A body either parses into
// an observation that serialises, or is refused with one EnrichmentError line.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent/enrichment/weather.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  try {
    const auto w = birdsong::parse_open_meteo(std::string_view(reinterpret_cast<const char*>(data), size));
    (void)birdsong::to_json(w).dump();
  } catch (const birdsong::EnrichmentError&) {
  }
  return 0;
}
