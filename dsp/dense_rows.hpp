// A vector times a small dense matrix, for the frame codes (patch -> whitened -> cosines
// with the centroids) and the species model's hidden layer.
#pragma once

#include <cstddef>
#include <cstring>

namespace birdsong::dsp {

namespace dense_rows_detail {

// Four floats in one SSE or NEON register (a GCC and Clang vector extension; where the
// target has no such registers the compiler does the four lanes one by one).
using Lanes = float __attribute__((vector_size(16)));
inline constexpr std::size_t kLanes = 4;

// Columns [c, c + kLanes * N) of add_rows: N registers of sums kept across all rows.
template <std::size_t N>
void add_rows_block(const float* x, std::size_t rows, const float* m, std::size_t cols, std::size_t c, float* out) {
  Lanes sum[N];
#pragma GCC unroll 8
  for (std::size_t i = 0; i < N; ++i) std::memcpy(&sum[i], out + c + i * kLanes, sizeof(Lanes));
  const float* row = m + c;
  for (std::size_t r = 0; r < rows; ++r, row += cols) {
    const float v = x[r];
    const Lanes vv = {v, v, v, v};
#pragma GCC unroll 8
    for (std::size_t i = 0; i < N; ++i) {
      Lanes w;
      std::memcpy(&w, row + i * kLanes, sizeof(Lanes));
      sum[i] += vv * w;
    }
  }
#pragma GCC unroll 8
  for (std::size_t i = 0; i < N; ++i) std::memcpy(out + c + i * kLanes, &sum[i], sizeof(Lanes));
}

}  // namespace dense_rows_detail

// out[c] += sum over r of x[r] * m[r * cols + c], for c < cols, rows in order.
//
// Done one block of columns at a time, the block's sums held in registers across all
// rows: the plain loop ("add row r, times x[r], to out") loaded and stored the whole of
// `out` once per row, 2.3 instructions per multiply-add under callgrind. Each out[c] still
// adds its terms one row after the other, a product then a sum, so the result is the same
// to the bit as the plain loop's.
inline void add_rows(const float* x, std::size_t rows, const float* m, std::size_t cols, float* out) {
  using namespace dense_rows_detail;
  std::size_t c = 0;
  for (; c + 8 * kLanes <= cols; c += 8 * kLanes) add_rows_block<8>(x, rows, m, cols, c, out);
  if (c + 4 * kLanes <= cols) {
    add_rows_block<4>(x, rows, m, cols, c, out);
    c += 4 * kLanes;
  }
  for (; c + kLanes <= cols; c += kLanes) add_rows_block<1>(x, rows, m, cols, c, out);
  for (; c < cols; ++c) {
    float s = out[c];
    for (std::size_t r = 0; r < rows; ++r) s += x[r] * m[r * cols + c];
    out[c] = s;
  }
}

}  // namespace birdsong::dsp
