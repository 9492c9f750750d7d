// add_rows (dsp/dense_rows.hpp): the blocked vector-matrix product must give the same
// floats, to the bit, as the plain loop it replaced, for every width the blocks split.
#include <doctest/doctest.h>

#include <cstring>
#include <random>
#include <vector>

#include "dsp/dense_rows.hpp"

using namespace birdsong;

TEST_CASE("add_rows equals the plain row-by-row loop to the bit, at every width") {
  std::mt19937 rng(7);
  std::normal_distribution<float> value(0.0f, 3.0f);
  for (std::size_t cols : {1u, 3u, 4u, 5u, 15u, 16u, 17u, 31u, 32u, 33u, 47u, 48u, 57u, 63u, 64u, 128u, 256u, 259u}) {
    for (std::size_t rows : {0u, 1u, 2u, 7u, 120u}) {
      CAPTURE(cols);
      CAPTURE(rows);
      std::vector<float> x(rows), m(rows * cols), start(cols);
      for (float& v : x) v = value(rng);
      if (rows > 2) x[1] = 0.0f;  // a zero input adds nothing
      for (float& v : m) v = value(rng);
      for (float& v : start) v = value(rng);
      std::vector<float> plain = start, blocked = start;
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c) plain[c] += x[r] * m[r * cols + c];
      dsp::add_rows(x.data(), rows, m.data(), cols, blocked.data());
      CHECK(std::memcmp(plain.data(), blocked.data(), cols * sizeof(float)) == 0);
    }
  }
}

TEST_CASE("add_rows leaves what lies beyond the columns alone") {
  const std::vector<float> x = {1.0f, 2.0f}, m = {1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f};  // 2 rows x 3 columns
  std::vector<float> out = {0.5f, 0.0f, 0.0f, 99.0f};
  dsp::add_rows(x.data(), 2, m.data(), 3, out.data());
  CHECK(out == std::vector<float>{9.5f, 12.0f, 15.0f, 99.0f});
}
