// Short-time Fourier transform: samples -> frames -> power spectra.
//
// Frames are `fft_size` samples long, Hann-windowed, and start every `hop_samples`
// samples. The spectrum of frame k describes the audio around
//     time_s(k) = (k * hop_samples + fft_size / 2) / sample_rate_hz
// (the centre of the frame); this is the one place that formula lives.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

struct kiss_fftr_state;

namespace birdsong::dsp {

// The FFT size that gives frames of about `target_frame_s` at this sample rate,
// rounded to a power of two (KissFFT's real transform needs an even size; powers of
// two are fastest). Keeps the time/frequency trade-off the same at any sample rate.
int fft_size_for(double sample_rate_hz, double target_frame_s);

// Where the frames and bins of an Stft lie: what a reader of its spectra needs.
struct SpectrumLayout {
  double sample_rate_hz = 0.0;
  int fft_size = 0;
  int hop_samples = 0;

  int bins() const { return fft_size / 2 + 1; }
  double bin_hz() const { return sample_rate_hz / fft_size; }
  double frame_rate_hz() const { return sample_rate_hz / hop_samples; }
  // Centre of frame `frame_index`, in seconds from the first sample.
  double time_s(int64_t frame_index) const {
    return (static_cast<double>(frame_index) * hop_samples + fft_size / 2.0) / sample_rate_hz;
  }
};

// The detector's analysis frame (DetectorConfig::frame_s); species packs are learned on
// its spectra (MelConfig::frame_s).
inline constexpr double kDefaultFrame_s = 0.0107;

// Frames of fft_size_for(rate, frame_s) samples, half-overlapping: the detector's spectra,
// which the species mel reads.
inline SpectrumLayout half_overlapping_layout(double sample_rate_hz, double frame_s) {
  const int n = fft_size_for(sample_rate_hz, frame_s);
  return {sample_rate_hz, n, n / 2};
}

class Stft {
 public:
  // Throws std::invalid_argument naming the bad parameter.
  Stft(double sample_rate_hz, int fft_size, int hop_samples);
  explicit Stft(const SpectrumLayout& layout) : Stft(layout.sample_rate_hz, layout.fft_size, layout.hop_samples) {}
  ~Stft();
  Stft(const Stft&) = delete;
  Stft& operator=(const Stft&) = delete;

  // Feeds samples; calls on_frame(frame_index, power) for every frame completed by them.
  // `power` holds bins() values of |X(f)|^2 scaled so that a full-scale sine gives 1.0
  // (0 dBFS) in its bin; it is valid only during the call.
  template <class OnFrame>
  void process(std::span<const float> samples, OnFrame&& on_frame) {
    std::size_t i = 0;
    while (i < samples.size()) {
      const std::size_t take = std::min(samples.size() - i, buffer_.size() - fill_);
      std::copy_n(samples.begin() + static_cast<std::ptrdiff_t>(i), take, buffer_.begin() + static_cast<std::ptrdiff_t>(fill_));
      fill_ += take;
      i += take;
      if (fill_ < buffer_.size()) break;
      transform();
      on_frame(frames_done_, std::span<const float>(power_));
      ++frames_done_;
      // Keep the overlap: the last fft_size - hop samples start the next frame.
      std::copy(buffer_.begin() + hop_samples_, buffer_.end(), buffer_.begin());
      fill_ = buffer_.size() - static_cast<std::size_t>(hop_samples_);
    }
  }

  SpectrumLayout layout() const { return {sample_rate_hz_, fft_size_, hop_samples_}; }
  int fft_size() const { return fft_size_; }
  int hop_samples() const { return hop_samples_; }
  int bins() const { return layout().bins(); }
  double sample_rate_hz() const { return sample_rate_hz_; }
  double bin_hz() const { return layout().bin_hz(); }
  double frame_rate_hz() const { return layout().frame_rate_hz(); }
  double time_s(int64_t frame_index) const { return layout().time_s(frame_index); }
  int64_t frames_done() const { return frames_done_; }
  // The power spectrum of the latest frame (the one last passed to on_frame), until the
  // next frame replaces it.
  std::span<const float> power() const { return power_; }

 private:
  void transform();

  double sample_rate_hz_;
  int fft_size_;
  int hop_samples_;
  kiss_fftr_state* cfg_ = nullptr;
  std::vector<float> window_;
  std::vector<float> buffer_;
  std::vector<float> windowed_;
  std::vector<float> spectrum_;  // interleaved re/im, bins() pairs
  std::vector<float> power_;
  std::size_t fill_ = 0;
  int64_t frames_done_ = 0;
  float scale_ = 1.0f;
};

}  // namespace birdsong::dsp
