// libFuzzer: the configuration parser. Any text either parses into a valid Config or is
// refused with one ConfigError line; anything else (another exception, a crash, UB,
// a leak) is a finding.
#include <cstddef>
#include <cstdint>
#include <string>

#include "agent/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const birdsong::Config config = birdsong::parse_config(text, "fuzz.toml");
    (void)config;
  } catch (const birdsong::ConfigError&) {
  }
  return 0;
}
