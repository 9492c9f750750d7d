#include "dsp/event_detector.hpp"

#include <algorithm>
#include <cmath>

namespace birdsong::dsp {

namespace {

// Syllables join a song when their pitch lies within this many octaves of one of the
// song's recent syllables. Compared with each recent syllable rather than the song's
// whole range, so a song may glide (a descending trill) while one stray syllable does
// not widen the net for everything after it; a second bird half an octave away stays
// a separate sound.
constexpr double kMergeOctaves = 0.3;
// A syllable whose time span has at least this intersection over union with one of
// the group's syllables is the same voice (a harmonic, the low and high parts of one
// note)...
constexpr double kTogetherIoU = 0.5;
// ...or one that starts within this long of it: the parts of a note begin together
// even when one fades sooner. Another bird's call seldom starts with a given note.
constexpr double kTogetherOnsetS = 0.015;

}  // namespace

EventDetector::EventDetector(const DetectorConfig& config, int bins, double bin_hz, double frame_rate_hz,
                             double first_frame_time_s)
    : config_(config), bin_hz_(bin_hz), frame_rate_hz_(frame_rate_hz), t0_s_(first_frame_time_s),
      tracker_(config, bins, bin_hz, frame_rate_hz) {
  merge_gap_frames_ = std::lround(config.merge_gap_s * frame_rate_hz);
  max_frames_ = std::max<int64_t>(1, std::lround(config.max_duration_s * frame_rate_hz));
  onset_frames_ = std::lround(kTogetherOnsetS * frame_rate_hz);
  done_.reserve(SyllableTracker::kMaxTracks);
  groups_.resize(kMaxGroups);
}

void EventDetector::process(const FrameView& frame, std::vector<Sound>& out, std::vector<BirdLikenessInputs>* why) {
  out_ = &out;
  why_ = why;
  done_.clear();
  tracker_.process(frame, done_);
  for (const Syllable& s : done_) add(s);
  if (open_groups_ > 0) close_groups(frame.index, false);
}

void EventDetector::flush(std::vector<Sound>& out, std::vector<BirdLikenessInputs>* why) {
  out_ = &out;
  why_ = why;
  done_.clear();
  tracker_.flush(done_);
  for (const Syllable& s : done_) add(s);
  close_groups(0, true);
}

bool EventDetector::near_in_pitch(const Group& g, double pitch) const {
  for (int i = 0; i < std::min(g.recent_count, kRecentSyllables); ++i)
    if (std::abs(pitch - g.recent[i].pitch) <= kMergeOctaves) return true;
  return false;
}

bool EventDetector::together(const Group& g, int64_t start, int64_t end) const {
  for (int i = 0; i < std::min(g.recent_count, kRecentSyllables); ++i) {
    const Recent& r = g.recent[i];
    if (std::abs(start - r.start) <= onset_frames_) return true;
    const auto inter = static_cast<double>(std::min(end, r.end) - std::max(start, r.start) + 1);
    const auto uni = static_cast<double>(std::max(end, r.end) - std::min(start, r.start) + 1);
    if (inter >= kTogetherIoU * uni) return true;
  }
  return false;
}

bool EventDetector::joins(const Group& g, const Syllable& s) const {
  if (s.start_frame > g.end_frame + merge_gap_frames_ || s.end_frame < g.start_frame - merge_gap_frames_)
    return false;
  return near_in_pitch(g, s.pitch) || together(g, s.start_frame, s.end_frame);
}

void EventDetector::remember(Group& g, const Recent& r) { g.recent[g.recent_count++ % kRecentSyllables] = r; }

void EventDetector::absorb(Group& g, const Group& other) {
  g.start_frame = std::min(g.start_frame, other.start_frame);
  g.end_frame = std::max(g.end_frame, other.end_frame);
  g.lo_bin = std::min(g.lo_bin, other.lo_bin);
  g.hi_bin = std::max(g.hi_bin, other.hi_bin);
  for (int i = 0; i < std::min(other.recent_count, kRecentSyllables); ++i) remember(g, other.recent[i]);
  if (other.peak_excess > g.peak_excess) {
    g.peak_excess = other.peak_excess;
    g.peak_bin = other.peak_bin;
  }
  g.features.add(other.features);
}

void EventDetector::add(const Syllable& s) {
  Group mine;
  mine.open = true;
  mine.start_frame = s.start_frame;
  mine.end_frame = s.end_frame;
  mine.lo_bin = s.lo_bin;
  mine.hi_bin = s.hi_bin;
  mine.peak_bin = s.peak_bin;
  mine.peak_excess = s.peak_excess;
  mine.features = s.features;
  remember(mine, Recent{s.start_frame, s.end_frame, s.pitch});
  // Join every open group the syllable belongs to; the groups it links become one
  // (kept in the slot of the earliest).
  int into = -1;
  for (int k = 0; k < kMaxGroups; ++k) {
    Group& g = groups_[static_cast<std::size_t>(k)];
    if (!g.open || !joins(g, s)) continue;
    if (into < 0) {
      into = k;
      continue;
    }
    Group& first = groups_[static_cast<std::size_t>(into)];
    if (g.start_frame < first.start_frame) {
      absorb(g, first);
      first.open = false;
      into = k;
    } else {
      absorb(first, g);
      g.open = false;
    }
  }
  if (into >= 0) {
    absorb(groups_[static_cast<std::size_t>(into)], mine);
    count_open_groups();
    return;
  }
  for (int k = 0; k < kMaxGroups && into < 0; ++k)
    if (!groups_[static_cast<std::size_t>(k)].open) into = k;
  if (into < 0) {
    // All slots busy: report the oldest sound now to make room.
    into = 0;
    for (int k = 1; k < kMaxGroups; ++k)
      if (groups_[static_cast<std::size_t>(k)].start_frame < groups_[static_cast<std::size_t>(into)].start_frame)
        into = k;
    emit(groups_[static_cast<std::size_t>(into)]);
  }
  groups_[static_cast<std::size_t>(into)] = mine;
  count_open_groups();
}

void EventDetector::count_open_groups() {
  open_groups_ = static_cast<int>(std::count_if(groups_.begin(), groups_.end(), [](const Group& g) { return g.open; }));
}

void EventDetector::close_groups(int64_t now, bool all) {
  int ready[kMaxGroups];
  int n = 0;
  for (int k = 0; k < kMaxGroups; ++k) {
    const Group& g = groups_[static_cast<std::size_t>(k)];
    if (!g.open) continue;
    bool done = all || g.end_frame - g.start_frame >= max_frames_;
    if (!done && now > g.end_frame + merge_gap_frames_) {
      // Still wait for an open syllable that started in time to join and that might:
      // near in pitch so far, or overlapping the group (a possible harmonic).
      done = true;
      tracker_.for_each_open([&](int64_t start, double pitch) {
        if (start <= g.end_frame + merge_gap_frames_ && (start <= g.end_frame || near_in_pitch(g, pitch)))
          done = false;
      });
    }
    if (done) ready[n++] = k;
  }
  // Report in order of start time, so the output does not depend on slot numbers.
  std::sort(ready, ready + n, [&](int a, int b) {
    const Group& ga = groups_[static_cast<std::size_t>(a)];
    const Group& gb = groups_[static_cast<std::size_t>(b)];
    return ga.start_frame != gb.start_frame ? ga.start_frame < gb.start_frame : ga.peak_bin < gb.peak_bin;
  });
  for (int i = 0; i < n; ++i) {
    Group& g = groups_[static_cast<std::size_t>(ready[i])];
    emit(g);
    g.open = false;
  }
  open_groups_ -= n;
}

void EventDetector::emit(const Group& g) const {
  Sound s;
  const double half = 0.5 / frame_rate_hz_;
  s.start_s = std::max(0.0, time_of(g.start_frame) - half);
  s.end_s = time_of(g.end_frame) + half;
  if (s.end_s - s.start_s < config_.min_duration_s) return;
  s.low_hz = g.lo_bin * bin_hz_;
  s.high_hz = g.hi_bin * bin_hz_;
  s.peak_hz = g.peak_bin * bin_hz_;
  s.snr_db = 10.0 * std::log10(static_cast<double>(g.peak_excess));
  const BirdLikenessInputs in = bird_likeness_inputs(g.features, bin_hz_, frame_rate_hz_);
  s.confidence = bird_likeness(in);
  if (s.confidence < config_.min_confidence) return;
  out_->push_back(s);
  if (why_ != nullptr) why_->push_back(in);
}

}  // namespace birdsong::dsp
