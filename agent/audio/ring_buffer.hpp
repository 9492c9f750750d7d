// The real-time boundary between the audio callback and the analysis thread.
//
// A single-producer/single-consumer ring of mono float samples. The producer (the
// PortAudio callback, or the replay thread) and the consumer (the pipeline) never wait
// for each other: no lock, no allocation, no system call; each side only moves its own
// position, published with release/acquire so the other side sees the samples before
// the position. When the ring is full, write_or_drop() keeps the samples that fit and
// counts the rest as dropped (an overrun): a late analysis costs audio, never blocks
// the callback.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace birdsong {

class SampleRing {
 public:
  // Positions are 64-bit so they never wrap (2^64 samples); they must stay lock-free,
  // or the callback would take a lock inside libatomic.
  static_assert(std::atomic<uint64_t>::is_always_lock_free, "the ring needs lock-free 64-bit atomics");

  // Holds exactly `capacity_samples`. Throws std::invalid_argument when it is 0.
  explicit SampleRing(std::size_t capacity_samples) : buffer_(capacity_samples) {
    if (capacity_samples == 0) throw std::invalid_argument("ring capacity: 0 samples: expected at least 1");
  }
  SampleRing(const SampleRing&) = delete;
  SampleRing& operator=(const SampleRing&) = delete;

  // Producer: copies as many samples as fit and counts the others as dropped.
  // Returns how many were written. Real-time safe.
  std::size_t write_or_drop(std::span<const float> samples) noexcept {
    const std::size_t n = write_some(samples);
    if (n < samples.size()) dropped_.fetch_add(samples.size() - n, std::memory_order_relaxed);
    return n;
  }

  // Producer: copies as many samples as fit and returns how many; the caller keeps the
  // rest (replay as fast as possible waits for space instead of dropping).
  std::size_t write_some(std::span<const float> samples) noexcept {
    const uint64_t w = write_pos_.load(std::memory_order_relaxed);
    const uint64_t r = read_pos_.load(std::memory_order_acquire);
    const std::size_t n = std::min(samples.size(), capacity() - static_cast<std::size_t>(w - r));
    copy_in(w, samples.first(n));
    write_pos_.store(w + n, std::memory_order_release);
    return n;
  }

  // Consumer: copies up to out.size() samples, oldest first; returns how many.
  std::size_t read(std::span<float> out) noexcept {
    const uint64_t r = read_pos_.load(std::memory_order_relaxed);
    const uint64_t w = write_pos_.load(std::memory_order_acquire);
    const std::size_t n = std::min(out.size(), static_cast<std::size_t>(w - r));
    copy_out(r, out.first(n));
    read_pos_.store(r + n, std::memory_order_release);
    return n;
  }

  std::size_t capacity() const noexcept { return buffer_.size(); }
  // Samples waiting to be read (exact for the consumer, a lower bound for the producer).
  std::size_t readable() const noexcept {
    return static_cast<std::size_t>(write_pos_.load(std::memory_order_acquire) -
                                    read_pos_.load(std::memory_order_acquire));
  }
  // Samples write_or_drop() could not store because the ring was full, since construction.
  uint64_t dropped_samples() const noexcept { return dropped_.load(std::memory_order_relaxed); }

 private:
  // The region starting at `pos` may wrap past the end of the buffer: two copies.
  void copy_in(uint64_t pos, std::span<const float> from) noexcept {
    const std::size_t at = static_cast<std::size_t>(pos % capacity());
    const std::size_t first = std::min(from.size(), capacity() - at);
    std::copy_n(from.data(), first, buffer_.data() + at);
    std::copy_n(from.data() + first, from.size() - first, buffer_.data());
  }
  void copy_out(uint64_t pos, std::span<float> to) const noexcept {
    const std::size_t at = static_cast<std::size_t>(pos % capacity());
    const std::size_t first = std::min(to.size(), capacity() - at);
    std::copy_n(buffer_.data() + at, first, to.data());
    std::copy_n(buffer_.data(), to.size() - first, to.data() + first);
  }

  std::vector<float> buffer_;
  // Each position on its own cache line: the two threads do not fight over one line.
  alignas(64) std::atomic<uint64_t> write_pos_{0};  // samples ever written
  alignas(64) std::atomic<uint64_t> read_pos_{0};   // samples ever read
  alignas(64) std::atomic<uint64_t> dropped_{0};
};

}  // namespace birdsong
