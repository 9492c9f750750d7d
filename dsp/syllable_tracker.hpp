// Syllable tracker: follows the notes of bird sounds through the time-frequency map
// of excess over the noise floor, frame by frame.
//
// The signal model: a syllable (a note) is a connected patch of the spectrogram that
// stands well above the floor - a whistle is a thin line, a sweep a slanted stroke, a
// buzz a band. In each frame the tracker finds the runs of adjacent bins above
// threshold_db, cut at deep valleys so that two sounds touching in one frame stay
// apart; each run continues the open syllable whose previous span it overlaps most,
// or starts a new one. A syllable ends after kTrackGapS without a run. Syllables
// never merge, so a call crossing another bird's note stays a separate syllable.
// This is a streaming connected-component labelling of the thresholded excess map.
//
// Per frame the work is O(bins in band) plus O(runs x syllables), both bounded by
// fixed capacities; all storage is allocated in the constructor.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "dsp/bird_likeness.hpp"
#include "dsp/detector.hpp"

namespace birdsong::dsp {

// The inputs of one frame, each bins() long.
struct FrameView {
  int64_t index = 0;
  std::span<const float> power;   // smoothed linear power
  std::span<const float> floor;   // noise floor (linear power) before this frame
  std::span<const float> excess;  // power / floor
};

// The band searched, in FFT bins (inclusive): config.min_hz..max_hz, the top clamped
// to 0.95 x Nyquist, where resamplers' anti-alias filters roll off and leave a
// near-empty strip in which any leakage looks like a loud sound.
struct Band {
  int lo_bin = 1, hi_bin = 1;
};
Band band_of(const DetectorConfig& config, int bins, double bin_hz);

// A finished syllable.
struct Syllable {
  int64_t start_frame = 0, end_frame = 0;  // first and last frame with a run
  int lo_bin = 0, hi_bin = 0;              // outline (bins within kCoreDb of each frame's peak)
  int peak_bin = 0;
  float peak_excess = 1.0f;                // power / floor at the peak
  double pitch = 0.0;                      // log2(peak bin), weighted by excess over the syllable
  SoundFeatures features;
};

class SyllableTracker {
 public:
  SyllableTracker(const DetectorConfig& config, int bins, double bin_hz, double frame_rate_hz);

  // Tracks one frame. Syllables that ended (and are loud and long enough to count)
  // are appended to `done`.
  void process(const FrameView& frame, std::vector<Syllable>& done);
  // End of stream: finishes every open syllable.
  void flush(std::vector<Syllable>& done);

  // Calls f(start_frame, pitch) for every open syllable.
  template <class F>
  void for_each_open(F&& f) const {
    for (const Track& t : tracks_)
      if (t.open) f(t.start_frame, t.pitch());
  }

  int lo_bin() const { return lo_bin_; }
  int hi_bin() const { return hi_bin_; }

  // Capacities; beyond them new runs or syllables are ignored until slots free up.
  // Only frames full of noise reach them, and such frames hold no bird sound.
  static constexpr int kMaxRuns = 48;
  static constexpr int kMaxTracks = 64;

 private:
  struct Run {
    int lo = 0, hi = 0;            // bins above threshold
    int core_lo = 0, core_hi = 0;  // bins within kCoreDb of the run's peak
    int peak = 0;
    float peak_excess = 0.0f;
    double energy = 0.0;           // excess power (above the floor)
    int track = -1;
  };
  struct Track {
    bool open = false;
    bool touched = false;          // got a run in the current frame
    int64_t start_frame = 0, last_frame = 0;
    int last_lo = 0, last_hi = 0;  // span in the latest frame with a run
    int cur_lo = 0, cur_hi = 0;    // span in the current frame
    int cur_peak = 0, last_peak = 0;
    float cur_peak_excess = 0.0f, last_peak_excess = 1.0f;
    double cur_energy = 0.0;
    int frames = 0;
    double pitch_sum = 0.0, pitch_weight = 0.0;
    Syllable s;
    double pitch() const { return pitch_weight > 0.0 ? pitch_sum / pitch_weight : 0.0; }
  };

  void add_run(const FrameView& frame, int lo, int hi);
  void find_runs(const FrameView& frame);
  void attach_runs(const FrameView& frame);
  void finish(Track& t, std::vector<Syllable>& done);

  int lo_bin_ = 0, hi_bin_ = 0;  // band searched, inclusive
  int below_lo_bin_ = 1;         // the octave below the band: below_lo_bin_ .. lo_bin_ - 1
  float threshold_ratio_ = 1.0f;
  float seed_ratio_ = 1.0f;
  float core_ratio_ = 1.0f;
  float split_ratio_ = 1.0f;
  int64_t track_gap_frames_ = 1;
  int64_t max_frames_ = 1;
  int min_track_frames_ = 1;
  std::vector<Run> runs_;
  int run_count_ = 0;
  std::vector<Track> tracks_;
  int open_tracks_ = 0;  // tracks_ with open set: most frames of a recording have none
};

}  // namespace birdsong::dsp
