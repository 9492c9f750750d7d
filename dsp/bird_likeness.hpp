// Bird-likeness: how much a detected sound looks like a bird, from 0 to 1.
//
// Features are accumulated frame by frame while a sound is open (sums only, so no
// storage grows with the sound) and scored when it closes. bird_likeness.cpp says
// what each feature models and where its threshold comes from.
#pragma once

namespace birdsong::dsp {

// Sums over the frames and syllables of one sound. A frame counts once per syllable
// present in it.
struct SoundFeatures {
  double frames = 0.0;
  double energy = 0.0;            // excess power (above the floor) in the syllables' runs
  double below_energy = 0.0;      // excess power in the octave below the band, same frames
  double width_bins = 0.0;        // span of the syllable in each frame, in bins
  double band_runs = 0.0;         // separate runs anywhere in the band, same frames
  double subharmonic = 0.0;       // frames with sound an octave below the syllable's peak
  double fm_bins = 0.0;           // |change of the peak bin| from one frame to the next
  double am_db = 0.0;             // |change of the peak's excess| from one frame to the next
  double steps = 0.0;             // number of frame-to-frame changes in fm_bins and am_db

  void add(const SoundFeatures& other);
};

// The per-sound values the score is computed from (means over the sound's frames).
struct BirdLikenessInputs {
  double below_ratio = 0.0;       // below_energy / energy
  double width_hz = 0.0;          // mean syllable span per frame
  double runs = 0.0;              // mean runs in the band per frame
  double subharmonic = 0.0;       // fraction of frames
  double modulation = 0.0;        // FM rate / 30 kHz/s + AM rate / 400 dB/s
};

BirdLikenessInputs bird_likeness_inputs(const SoundFeatures& f, double bin_hz, double frame_rate_hz);

// The confidence that a sound is a bird, 0..1.
double bird_likeness(const BirdLikenessInputs& in);

}  // namespace birdsong::dsp
