#include "dsp/bird_likeness.hpp"

#include <algorithm>
#include <cmath>

namespace birdsong::dsp {

// Each feature below models one way a sound that is not a bird gives itself away. A
// feature becomes a soft gate, 1 on the bird side of its threshold and 0 on the other;
// the confidence is the product of the gates, so any one clear give-away is enough.
//
// Where the thresholds come from: each sits just outside the range that the annotated
// bird sounds of the development recordings (five soundscapes: a hermit, a warbler's
// buzzy song, a spinetail's trill, two warblers at dusk, 2 to 12 kHz) cover, with a
// margin, so they reject what birds never do rather than learn what these particular
// birds do. They were not moved to remove particular non-bird clips.
namespace {

// 1 well below x0, 0 well above, 0.5 at x0; `scale` is the width of the transition.
double below(double x, double x0, double scale) { return 1.0 / (1.0 + std::exp((x - x0) / scale)); }

// Sound in the octave below the band, at the same time as the sound. Voices, barks,
// meows, engines and instruments are harmonic with a fundamental under 1 kHz, so
// their partials in the band come with energy just below it; a bird's whistle does
// not (songbirds seldom sing below 1.5 kHz). Birds: at most 5% of the sound's excess
// energy (median 0.05%); gate at 10%.
constexpr double kMaxBelowRatio = 0.1;
// Width of the sound in each frame. A whistle or trill is a line; even the fastest
// sweeps (spinetail calls, 5 kHz in 50 ms) span < 3.7 kHz per 11 ms frame. Clicks,
// typing, door slams, rain, snoring and applause fill the band. Gate at 4 kHz.
constexpr double kMaxWidthHz = 4000.0;
// Separate runs in the band per frame (partials, other sounds, noise specks). Birds:
// mean 2-5.5 (the hermit's harmonics); harmonic stacks and noise show 6-12. Gate 6.5.
constexpr double kMaxRuns = 6.5;
// Fraction of frames with sound an octave below the peak: the peak is a harmonic of a
// lower fundamental, as in voices and instruments. Birds whose partials are strongest
// in the fundamental stay under 0.65 (the hermit); gate at 0.8.
constexpr double kMaxSubharmonic = 0.8;
// Modulation: birds change pitch (FM) or loudness (AM) all the time - trills, sweeps,
// buzzes are modulated at 10-100 Hz. Hums, alarms, synthesised tones and a held
// instrument note are steady. FM rate normalised by 30 kHz/s plus AM rate normalised
// by 400 dB/s: birds score 1.2-4.6 (a steady warbler whistle 1.2, median 2.6), steady
// tones < 1. Gate at 1.
constexpr double kMinModulation = 1.0;

}  // namespace

void SoundFeatures::add(const SoundFeatures& o) {
  frames += o.frames;
  energy += o.energy;
  below_energy += o.below_energy;
  width_bins += o.width_bins;
  band_runs += o.band_runs;
  subharmonic += o.subharmonic;
  fm_bins += o.fm_bins;
  am_db += o.am_db;
  steps += o.steps;
}

BirdLikenessInputs bird_likeness_inputs(const SoundFeatures& f, double bin_hz, double frame_rate_hz) {
  const double frames = std::max(1.0, f.frames);
  const double steps = std::max(1.0, f.steps);
  BirdLikenessInputs in;
  in.below_ratio = f.energy > 0.0 ? f.below_energy / f.energy : 0.0;
  in.width_hz = f.width_bins / frames * bin_hz;
  in.runs = f.band_runs / frames;
  in.subharmonic = f.subharmonic / frames;
  const double fm_hz_per_s = f.fm_bins / steps * bin_hz * frame_rate_hz;
  const double am_db_per_s = f.am_db / steps * frame_rate_hz;
  in.modulation = fm_hz_per_s / 30000.0 + am_db_per_s / 400.0;
  return in;
}

double bird_likeness(const BirdLikenessInputs& in) {
  return below(std::log10(in.below_ratio + 1e-6), std::log10(kMaxBelowRatio), 0.15) *
         below(in.width_hz, kMaxWidthHz, 300.0) * below(in.runs, kMaxRuns, 0.3) *
         below(in.subharmonic, kMaxSubharmonic, 0.05) * below(-in.modulation, -kMinModulation, 0.1);
}

}  // namespace birdsong::dsp
