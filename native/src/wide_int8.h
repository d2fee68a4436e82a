// Exact u8 × s8 integer products for CPUs without VNNI, on 16-bit lanes.
//
//   pack      codes[N, K] (s8)  ->  panels[⌈N/C⌉][⌈K/2⌉][C][2] (s16; N padded to C, K to 2; C = kCols)
//   product   acc[rows, N] = q[rows, K] · codesᵀ       q: u8; sums exact in s32, rounded once to f32
//
// Without VNNI, oneDNN multiplies u8 × s8 with vpmaddubsw, which sums pairs of products in
// saturating 16 bits (2·255·127 > 32767). Here both sides are widened to 16 bits first and
// vpmaddwd sums each pair in 32 bits (2·255·127 < 2^31): the same exact integers as VNNI, at
// 16 products per 256 bits (twice an f32 FMA's 8). A tile of 4 rows × 16 output channels (AVX2)
// or 6 rows × 32 (AVX-512) keeps its accumulators in registers; a panel of channels (K·2·C
// bytes) stays in cache while every row of the chunk passes over it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "simd.h"

namespace tlc {

class WideInt8Codes {
 public:
  WideInt8Codes(const int8_t* codes, int64_t N, int64_t K);
  // Whether this build has the kernel (AVX2 and above); the caller falls back otherwise.
  static bool Available();
  // acc[rows, N] (f32) = q[rows, K] · codesᵀ, on the calling thread.
  void Product(const uint8_t* q, int64_t rows, float* acc) const;
  size_t Bytes() const { return panels_.size() * sizeof(int16_t); }

  // Output channels per panel: two vectors of 32-bit sums, 8 lanes each on AVX2, 16 on AVX-512.
#if defined(TLC_AVX512)
  static constexpr int64_t kCols = 32;
#else
  static constexpr int64_t kCols = 16;
#endif
  // Rows per register tile: 2 accumulators a row, plus the two panel vectors and a broadcast, in
  // AVX2's 16 vector registers (4 rows) or AVX-512's 32 (6 rows).
#if defined(TLC_AVX512)
  static constexpr int kRows = 6;
#else
  static constexpr int kRows = 4;
#endif

 private:
  int64_t N_, K_, pairs_, blocks_;
  std::vector<int16_t> panels_;
};

}  // namespace tlc
