// libFuzzer: Wikipedia's page-summary answer (agent/enrichment/wikipedia). The first byte
// picks the HTTP status (200, 404, 500), the rest is the body. A summary that parses
// must survive the disk cache's round trip through JSON.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent/enrichment/wikipedia.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  constexpr long statuses[] = {200, 404, 500};
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    const auto answer = birdsong::parse_wikipedia_summary(statuses[data[0] % 3], body, "en");
    if (answer.found) {
      const auto back = birdsong::species_summary_from_json(birdsong::to_json(answer.summary));
      if (back.title != answer.summary.title || back.extract != answer.summary.extract) __builtin_trap();
    }
  } catch (const birdsong::EnrichmentError&) {
  }
  return 0;
}
