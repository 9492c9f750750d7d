#include "dsp/syllable_tracker.hpp"

#include <algorithm>
#include <cmath>

namespace birdsong::dsp {

namespace {

// A syllable ends after this long without a run: short enough to keep the notes of a
// trill apart (spinetail notes follow each other every 85 ms), long enough to bridge
// a frame or two where a fading note dips under the threshold.
constexpr double kTrackGapS = 0.02;
// Syllables shorter than this are clicks (typing, rain drops, a twig snapping): an
// impulse smeared by the window covers about two frames, birds' shortest notes last
// 10-20 ms.
constexpr double kMinTrackS = 0.02;
// A run is cut at a valley this far below the peaks on both sides of it.
constexpr double kSplitDb = 6.0;
// A run's outline is the part within this many dB of its peak: what a spectrogram
// shows of a note, not the window's side lobes around a loud tone.
constexpr double kCoreDb = 20.0;
// A run continues a syllable when it overlaps the syllable's previous span widened by
// this many bins on each side (fast sweeps move a few bins per hop).
constexpr int kRunToleranceBins = 2;
// The octave below the band starts no lower than this: under ~150 Hz lie wind rumble
// and mains hum, there with or without birds.
constexpr double kBelowFromHz = 150.0;

int overlap(int a_lo, int a_hi, int b_lo, int b_hi) { return std::min(a_hi, b_hi) - std::max(a_lo, b_lo) + 1; }
float db_to_ratio(double db) { return static_cast<float>(std::pow(10.0, db / 10.0)); }

}  // namespace

Band band_of(const DetectorConfig& config, int bins, double bin_hz) {
  Band band;
  band.lo_bin = std::max(1, static_cast<int>(std::ceil(config.min_hz / bin_hz)));
  band.hi_bin = std::min(static_cast<int>(0.95 * (bins - 1)), static_cast<int>(std::floor(config.max_hz / bin_hz)));
  band.hi_bin = std::max(band.hi_bin, band.lo_bin);
  return band;
}

SyllableTracker::SyllableTracker(const DetectorConfig& config, int bins, double bin_hz, double frame_rate_hz) {
  const Band band = band_of(config, bins, bin_hz);
  lo_bin_ = band.lo_bin;
  hi_bin_ = band.hi_bin;
  below_lo_bin_ = std::max(1, static_cast<int>(std::ceil(std::max(kBelowFromHz, config.min_hz / 2.0) / bin_hz)));
  threshold_ratio_ = db_to_ratio(config.threshold_db);
  // Hysteresis: threshold_db outlines a syllable, min_snr_db decides that it counts.
  seed_ratio_ = db_to_ratio(std::max(config.min_snr_db, config.threshold_db));
  core_ratio_ = db_to_ratio(-kCoreDb);
  split_ratio_ = db_to_ratio(kSplitDb);
  track_gap_frames_ = std::max<int64_t>(1, std::lround(kTrackGapS * frame_rate_hz));
  max_frames_ = std::max<int64_t>(1, std::lround(config.max_duration_s * frame_rate_hz));
  min_track_frames_ = std::max(1, static_cast<int>(std::lround(kMinTrackS * frame_rate_hz)));
  runs_.resize(kMaxRuns);
  tracks_.resize(kMaxTracks);
}

// Excess power (above the floor) in bins lo..hi.
static double excess_energy(const FrameView& frame, int lo, int hi) {
  double e = 0.0;
  for (int b = lo; b <= hi; ++b) e += std::max(0.0f, frame.power[b] - frame.floor[b]);
  return e;
}

void SyllableTracker::add_run(const FrameView& frame, int lo, int hi) {
  if (run_count_ >= kMaxRuns) return;
  const auto& x = frame.excess;
  Run& r = runs_[static_cast<std::size_t>(run_count_++)];
  r.lo = lo;
  r.hi = hi;
  r.peak = lo;
  for (int b = lo + 1; b <= hi; ++b)
    if (x[b] > x[r.peak]) r.peak = b;
  r.energy = excess_energy(frame, lo, hi);
  r.peak_excess = x[r.peak];
  const float core = std::max(threshold_ratio_, r.peak_excess * core_ratio_);
  r.core_lo = r.core_hi = r.peak;
  while (r.core_lo > r.lo && x[r.core_lo - 1] >= core) --r.core_lo;
  while (r.core_hi < r.hi && x[r.core_hi + 1] >= core) ++r.core_hi;
  r.track = -1;
}

void SyllableTracker::find_runs(const FrameView& frame) {
  const auto& x = frame.excess;
  run_count_ = 0;
  int b = lo_bin_;
  while (b <= hi_bin_ && run_count_ < kMaxRuns) {
    if (!(x[b] > threshold_ratio_)) {
      ++b;
      continue;
    }
    // One run of bins above threshold, cut at every valley kSplitDb below the peaks on
    // both sides: a note and a sweep crossing it in this frame stay two runs.
    int seg = b, peak = b, valley = b;
    for (; b <= hi_bin_ && x[b] > threshold_ratio_; ++b) {
      if (x[b] > x[peak]) {
        peak = valley = b;
      } else if (x[b] < x[valley]) {
        valley = b;
      } else if (x[b] > x[valley] * split_ratio_ && x[peak] > x[valley] * split_ratio_) {
        add_run(frame, seg, valley);
        seg = valley + 1;
        peak = seg;
        for (int k = seg + 1; k <= b; ++k)
          if (x[k] > x[peak]) peak = k;
        valley = b;
      }
    }
    add_run(frame, seg, b - 1);
  }
}

void SyllableTracker::attach_runs(const FrameView& frame) {
  const int64_t now = frame.index;
  // Match every run against the syllables' spans in their previous frame first, so the
  // order of the runs does not matter.
  for (int i = 0; i < run_count_; ++i) {
    Run& r = runs_[static_cast<std::size_t>(i)];
    int best_overlap = 0;
    for (int k = 0; k < kMaxTracks; ++k) {
      const Track& t = tracks_[static_cast<std::size_t>(k)];
      if (!t.open) continue;
      const int o = overlap(r.lo - kRunToleranceBins, r.hi + kRunToleranceBins, t.last_lo, t.last_hi);
      if (o > best_overlap) {
        best_overlap = o;
        r.track = k;
      }
    }
  }
  for (int i = 0; i < run_count_; ++i) {
    Run& r = runs_[static_cast<std::size_t>(i)];
    for (int k = 0; k < kMaxTracks && r.track < 0; ++k) {
      Track& t = tracks_[static_cast<std::size_t>(k)];
      if (t.open) continue;
      t = Track{};
      t.open = true;
      ++open_tracks_;
      t.start_frame = now;
      t.s.lo_bin = r.core_lo;
      t.s.hi_bin = r.core_hi;
      r.track = k;
    }
    if (r.track < 0) continue;  // no free slot
    Track& t = tracks_[static_cast<std::size_t>(r.track)];
    t.s.lo_bin = std::min(t.s.lo_bin, r.core_lo);
    t.s.hi_bin = std::max(t.s.hi_bin, r.core_hi);
    const double e = r.energy;
    if (!t.touched) {
      t.touched = true;
      t.cur_lo = r.lo;
      t.cur_hi = r.hi;
      t.cur_peak = r.peak;
      t.cur_peak_excess = r.peak_excess;
      t.cur_energy = e;
    } else {
      t.cur_lo = std::min(t.cur_lo, r.lo);
      t.cur_hi = std::max(t.cur_hi, r.hi);
      t.cur_energy += e;
      if (r.peak_excess > t.cur_peak_excess) {
        t.cur_peak = r.peak;
        t.cur_peak_excess = r.peak_excess;
      }
    }
  }
  // Frame-level context, shared by every syllable present in this frame.
  const double below = run_count_ > 0 ? excess_energy(frame, below_lo_bin_, lo_bin_ - 1) : 0.0;
  for (Track& t : tracks_) {
    if (!t.open || !t.touched) continue;
    t.touched = false;
    SoundFeatures& f = t.s.features;
    const int p = t.cur_peak;
    f.frames += 1.0;
    f.energy += t.cur_energy;
    f.below_energy += below;
    f.width_bins += t.cur_hi - t.cur_lo + 1;
    f.band_runs += run_count_;
    // Sound an octave below the peak: the peak is then a harmonic of a lower note.
    const int sub = p / 2;
    if (sub >= 2 && std::max({frame.excess[sub - 1], frame.excess[sub], frame.excess[sub + 1]}) > threshold_ratio_)
      f.subharmonic += 1.0;
    if (t.frames > 0) {
      f.fm_bins += std::abs(p - t.last_peak);
      f.am_db += std::abs(10.0 * std::log10(t.cur_peak_excess / t.last_peak_excess));
      f.steps += 1.0;
    }
    ++t.frames;
    t.last_lo = t.cur_lo;
    t.last_hi = t.cur_hi;
    t.last_peak = p;
    t.last_peak_excess = t.cur_peak_excess;
    t.last_frame = now;
    t.pitch_sum += t.cur_peak_excess * std::log2(static_cast<double>(p));
    t.pitch_weight += t.cur_peak_excess;
    if (t.cur_peak_excess > t.s.peak_excess) {
      t.s.peak_excess = t.cur_peak_excess;
      t.s.peak_bin = p;
    }
  }
}

void SyllableTracker::process(const FrameView& frame, std::vector<Syllable>& done) {
  find_runs(frame);
  // Most frames hold no run and no open syllable: then there is nothing to attach or end.
  if (run_count_ > 0) attach_runs(frame);
  if (open_tracks_ == 0) return;
  for (Track& t : tracks_)
    if (t.open && (frame.index - t.last_frame > track_gap_frames_ || frame.index - t.start_frame >= max_frames_))
      finish(t, done);
}

void SyllableTracker::flush(std::vector<Syllable>& done) {
  if (open_tracks_ == 0) return;
  for (Track& t : tracks_)
    if (t.open) finish(t, done);
}

void SyllableTracker::finish(Track& t, std::vector<Syllable>& done) {
  t.open = false;
  --open_tracks_;
  if (t.frames < min_track_frames_ || t.s.peak_excess < seed_ratio_) return;
  t.s.start_frame = t.start_frame;
  t.s.end_frame = t.last_frame;
  t.s.pitch = t.pitch();
  done.push_back(t.s);  // capacity kMaxTracks is reserved by the caller
}

}  // namespace birdsong::dsp
