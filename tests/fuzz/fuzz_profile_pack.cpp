// libFuzzer: profile packs. A pack is refused with one ProfilePackError line, or it loads
// and a classifier built from it classifies a sound without crashing.
//
// The first line carries a CRC-32 of the JSON, so mutated JSON would almost always stop
// at the checksum. With the input's first byte odd, the harness writes the header with
// the right CRC itself and the fuzzer explores the JSON; even, the bytes go in as they are.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "agent/species/profile_pack.hpp"
#include "dsp/detector.hpp"
#include "dsp/species_classifier.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 1) {
    char head[64];
    std::snprintf(head, sizeof head, "birdsong-profiles 1 crc32=%08x\n", birdsong::crc32(bytes));
    bytes = head + bytes;
  }
  birdsong::ProfilePack pack;
  try {
    pack = birdsong::parse_profile_pack(bytes, "fuzz.pack");
  } catch (const birdsong::ProfilePackError&) {
    return 0;
  }
  // What `run --profiles` does with it: a classifier at a rate the pack accepts, on the
  // spectra of a detector with the pack's frame length.
  const double rate_hz = 48000.0;
  if (pack.min_sample_rate_hz() > rate_hz) return 0;
  try {
    birdsong::dsp::DetectorConfig detector;
    detector.frame_s = pack.features.mel.frame_s;
    birdsong::dsp::validate(detector);
    birdsong::dsp::Stft stft(birdsong::dsp::detector_spectrum_layout(rate_hz, detector));
    birdsong::dsp::SpeciesClassifier classifier(stft.layout(), pack.features, pack.model, pack.codebook);
    std::vector<float> x(4800);
    uint32_t state = 1;
    for (float& v : x) v = static_cast<float>(static_cast<int32_t>(state = state * 1664525u + 1013904223u)) / 2.2e10f;
    stft.process(x, [&](int64_t frame, std::span<const float> power) { classifier.add_spectrum(frame, power); });
    birdsong::dsp::Sound sound;
    sound.start_s = 0.02;
    sound.end_s = 0.08;
    sound.low_hz = 2000;
    sound.high_hz = 6000;
    sound.peak_hz = 4000;
    (void)classifier.classify(sound);
  } catch (const std::invalid_argument&) {
    // A setup the classifier refuses by name is a refusal too.
  }
  return 0;
}
