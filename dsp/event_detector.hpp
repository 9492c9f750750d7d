// Event detector: finds where bird sounds begin and end, and how bird-like they are.
//
// A song is a run of syllables close in time and in pitch (the band-limited energy
// detectors of Raven and ohun join detections across short gaps the same way). Two
// birds singing at once usually keep to different pitches, so syllables are grouped
// by time and pitch, not by time alone. A finished syllable (from SyllableTracker)
// joins every open group it belongs to - groups it links become one - when it lies
// within merge_gap_s of the group and either
//   * its pitch lies within kMergeOctaves of one of the group's recent syllables, or
//   * it starts together with (or mostly overlaps) one of them: the harmonics and the
//     low and high parts of one note are one voice whatever their pitch.
// A group is reported once no syllable can join it any more: merge_gap_s after its
// last syllable and when no open syllable that could join is still going. That is as
// soon as the sound has ended, whatever the chunking of the input.
#pragma once

#include <cstdint>
#include <vector>

#include "dsp/detector.hpp"
#include "dsp/syllable_tracker.hpp"

namespace birdsong::dsp {

class EventDetector {
 public:
  // Frame k is centred at first_frame_time_s + k / frame_rate_hz.
  EventDetector(const DetectorConfig& config, int bins, double bin_hz, double frame_rate_hz,
                double first_frame_time_s);

  // Sounds that ended are appended to `out` (and their score inputs to `why`, if given).
  void process(const FrameView& frame, std::vector<Sound>& out, std::vector<BirdLikenessInputs>* why = nullptr);
  void flush(std::vector<Sound>& out, std::vector<BirdLikenessInputs>* why = nullptr);

  // The band searched, in bins (inclusive), after clamping to the sample rate.
  int lo_bin() const { return tracker_.lo_bin(); }
  int hi_bin() const { return tracker_.hi_bin(); }

  static constexpr int kMaxGroups = 32;

 private:
  // What a group remembers of a syllable, to decide whether the next one belongs.
  struct Recent {
    int64_t start = 0, end = 0;  // frames
    double pitch = 0.0;
  };
  static constexpr int kRecentSyllables = 8;
  struct Group {
    bool open = false;
    int64_t start_frame = 0, end_frame = 0;
    int lo_bin = 0, hi_bin = 0;
    int peak_bin = 0;
    float peak_excess = 1.0f;
    Recent recent[kRecentSyllables];  // the latest syllables (a ring)
    int recent_count = 0;
    SoundFeatures features;
  };

  double time_of(int64_t frame) const { return t0_s_ + static_cast<double>(frame) / frame_rate_hz_; }
  bool near_in_pitch(const Group& g, double pitch) const;
  bool together(const Group& g, int64_t start, int64_t end) const;
  bool joins(const Group& g, const Syllable& s) const;
  static void remember(Group& g, const Recent& r);
  static void absorb(Group& g, const Group& other);
  void add(const Syllable& s);
  void close_groups(int64_t now, bool all);
  void count_open_groups();
  void emit(const Group& g) const;

  DetectorConfig config_;
  double bin_hz_;
  double frame_rate_hz_;
  double t0_s_;
  int64_t merge_gap_frames_ = 0;
  int64_t max_frames_ = 1;
  int64_t onset_frames_ = 1;
  SyllableTracker tracker_;
  std::vector<Syllable> done_;  // syllables finished in the current frame
  std::vector<Group> groups_;
  int open_groups_ = 0;  // groups_ with open set: in most frames none, and nothing to close
  // Where emit() reports, set for the duration of process() and flush().
  std::vector<Sound>* out_ = nullptr;
  std::vector<BirdLikenessInputs>* why_ = nullptr;
};

}  // namespace birdsong::dsp
