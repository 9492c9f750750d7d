#include "dsp/event_detector.hpp"

#include <algorithm>
#include <cmath>

namespace birdsong::dsp {

EventDetector::EventDetector(const DetectorConfig& config, double bin_hz, double frame_rate_hz,
                             double first_frame_time_s)
    : config_(config), bin_hz_(bin_hz), frame_rate_hz_(frame_rate_hz), t0_s_(first_frame_time_s) {
  lo_bin_ = static_cast<int>(std::ceil(config.min_hz / bin_hz));
  hi_bin_ = static_cast<int>(std::floor(config.max_hz / bin_hz));
  gap_frames_ = static_cast<int64_t>(std::lround(config.merge_gap_s * frame_rate_hz));
}

void EventDetector::process(int64_t frame, std::span<const float> excess_db, std::vector<Sound>& out) {
  const int hi = std::min<int>(hi_bin_, static_cast<int>(excess_db.size()) - 1);
  int on = 0, lo_on = -1, hi_on = -1, peak = -1;
  float peak_db = -1e9f;
  for (int b = lo_bin_; b <= hi; ++b) {
    const float e = excess_db[static_cast<std::size_t>(b)];
    if (e > config_.threshold_db) {
      ++on;
      if (lo_on < 0) lo_on = b;
      hi_on = b;
    }
    if (e > peak_db) { peak_db = e; peak = b; }
  }
  const bool active = on >= 2;
  if (open_ && frame - last_on_frame_ > gap_frames_) close(out);
  if (!active) return;
  if (!open_) {
    open_ = true;
    start_frame_ = frame;
    low_bin_ = lo_on;
    high_bin_ = hi_on;
    peak_db_ = -1e9f;
  }
  last_on_frame_ = frame;
  low_bin_ = std::min(low_bin_, lo_on);
  high_bin_ = std::max(high_bin_, hi_on);
  if (peak_db > peak_db_) { peak_db_ = peak_db; peak_bin_ = peak; }
  if (time_of(frame) - time_of(start_frame_) >= config_.max_duration_s) close(out);
}

void EventDetector::flush(std::vector<Sound>& out) {
  if (open_) close(out);
}

void EventDetector::close(std::vector<Sound>& out) {
  open_ = false;
  Sound s;
  const double half = 0.5 / frame_rate_hz_;
  s.start_s = std::max(0.0, time_of(start_frame_) - half);
  s.end_s = time_of(last_on_frame_) + half;
  if (s.end_s - s.start_s < config_.min_duration_s) return;
  s.low_hz = low_bin_ * bin_hz_;
  s.high_hz = high_bin_ * bin_hz_;
  s.peak_hz = peak_bin_ * bin_hz_;
  s.snr_db = peak_db_;
  s.confidence = 1.0 / (1.0 + std::exp(-(peak_db_ - 2.0 * config_.threshold_db) / 3.0));
  if (s.confidence < config_.min_confidence) return;
  out.push_back(s);
}

}  // namespace birdsong::dsp
