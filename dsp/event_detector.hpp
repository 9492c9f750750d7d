// Event detector: finds where bird sounds begin and end in a stream of spectra.
//
// Works on the excess of each bin over the noise floor inside the configured band.
// A frame is "on" when enough of the band stands above the threshold; runs of "on"
// frames separated by less than merge_gap_s are one sound (the syllables of a song).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "dsp/detector.hpp"

namespace birdsong::dsp {

class EventDetector {
 public:
  // bin_hz: width of one FFT bin; frame times come from time_of(frame index).
  EventDetector(const DetectorConfig& config, double bin_hz, double frame_rate_hz,
                double first_frame_time_s);

  // excess_db: per-bin excess over the noise floor for frame `frame`.
  void process(int64_t frame, std::span<const float> excess_db, std::vector<Sound>& out);
  void flush(std::vector<Sound>& out);

 private:
  double time_of(int64_t frame) const { return t0_s_ + static_cast<double>(frame) / frame_rate_hz_; }
  void close(std::vector<Sound>& out);

  DetectorConfig config_;
  double bin_hz_;
  double frame_rate_hz_;
  double t0_s_;
  int lo_bin_;
  int hi_bin_;
  int64_t gap_frames_;
  // the open sound
  bool open_ = false;
  int64_t start_frame_ = 0;
  int64_t last_on_frame_ = 0;
  int low_bin_ = 0;
  int high_bin_ = 0;
  int peak_bin_ = 0;
  float peak_db_ = 0.0f;
};

}  // namespace birdsong::dsp
