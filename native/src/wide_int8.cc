// Exact u8 × s8 integer products for CPUs without VNNI (formulas and layout: wide_int8.h).
#include "wide_int8.h"

#include <algorithm>
#include <cstring>

#include "simd.h"

namespace tlc {

WideInt8Codes::WideInt8Codes(const int8_t* codes, int64_t N, int64_t K)
    : N_(N), K_(K), pairs_((K + 1) / 2), blocks_((N + kCols - 1) / kCols) {
  // panels[b][p][c][j] = codes[b·kCols + c, 2p + j], zero beyond N and K
  panels_.assign(blocks_ * pairs_ * kCols * 2, 0);
  for (int64_t n = 0; n < N; n++) {
    const int64_t b = n / kCols, c = n % kCols;
    for (int64_t k = 0; k < K; k++) panels_[((b * pairs_ + k / 2) * kCols + c) * 2 + (k % 2)] = codes[n * K + k];
  }
}

#if defined(TLC_AVX2)

bool WideInt8Codes::Available() { return true; }

namespace {

// The tile's vectors: 8 (AVX2) or 16 (AVX-512) 32-bit lanes.
#if defined(TLC_AVX512)
using VecI = __m512i;
inline VecI Zero() { return _mm512_setzero_si512(); }
inline VecI Load(const int16_t* p) { return _mm512_loadu_si512(p); }
inline VecI Broadcast(int32_t v) { return _mm512_set1_epi32(v); }
inline VecI MulAdd(VecI acc, VecI x, VecI w) { return _mm512_add_epi32(acc, _mm512_madd_epi16(x, w)); }
inline void StoreF32(float* o, VecI v) { _mm512_storeu_ps(o, _mm512_cvtepi32_ps(v)); }
#else
using VecI = __m256i;
inline VecI Zero() { return _mm256_setzero_si256(); }
inline VecI Load(const int16_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
inline VecI Broadcast(int32_t v) { return _mm256_set1_epi32(v); }
inline VecI MulAdd(VecI acc, VecI x, VecI w) { return _mm256_add_epi32(acc, _mm256_madd_epi16(x, w)); }
inline void StoreF32(float* o, VecI v) { _mm256_storeu_ps(o, _mm256_cvtepi32_ps(v)); }
#endif
constexpr int64_t kHalf = WideInt8Codes::kCols / 2;  // lanes per vector = channels per vector

inline VecI Pair(const int16_t* a) {  // a[0], a[1] in every 32-bit lane
  int32_t pair;
  std::memcpy(&pair, a, sizeof pair);
  return Broadcast(pair);
}

inline void StoreRow(float* o, VecI lo, VecI hi, int64_t cols) {
  if (cols == WideInt8Codes::kCols) {
    StoreF32(o, lo);
    StoreF32(o + kHalf, hi);
    return;
  }
  float tmp[WideInt8Codes::kCols];
  StoreF32(tmp, lo);
  StoreF32(tmp + kHalf, hi);
  std::memcpy(o, tmp, cols * sizeof(float));
}

// out[r, 0..cols) = a[r, ·] · panel, r < R           a: [R, 2·pairs] s16 (row stride lda), panel: [pairs][C][2] s16
// The 2·R accumulators are named variables, not an array, so that they stay in registers.
template <int R>
void Tile(const int16_t* a, int64_t lda, const int16_t* panel, int64_t pairs, float* out, int64_t ldo, int64_t cols) {
  const VecI z = Zero();
  VecI c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z, c40 = z, c41 = z, c50 = z, c51 = z;
#pragma GCC unroll 2
  for (int64_t p = 0; p < pairs; p++) {
    const VecI w0 = Load(panel + p * 2 * WideInt8Codes::kCols);
    const VecI w1 = Load(panel + p * 2 * WideInt8Codes::kCols + WideInt8Codes::kCols);
#define TLC_WIDE_ROW(r)                       \
  if constexpr (R > r) {                      \
    const VecI x = Pair(a + r * lda + 2 * p); \
    c##r##0 = MulAdd(c##r##0, x, w0);         \
    c##r##1 = MulAdd(c##r##1, x, w1);         \
  }
    TLC_WIDE_ROW(0) TLC_WIDE_ROW(1) TLC_WIDE_ROW(2) TLC_WIDE_ROW(3) TLC_WIDE_ROW(4) TLC_WIDE_ROW(5)
#undef TLC_WIDE_ROW
  }
  StoreRow(out, c00, c01, cols);
  if constexpr (R > 1) StoreRow(out + ldo, c10, c11, cols);
  if constexpr (R > 2) StoreRow(out + 2 * ldo, c20, c21, cols);
  if constexpr (R > 3) StoreRow(out + 3 * ldo, c30, c31, cols);
  if constexpr (R > 4) StoreRow(out + 4 * ldo, c40, c41, cols);
  if constexpr (R > 5) StoreRow(out + 5 * ldo, c50, c51, cols);
}

using TileFn = void (*)(const int16_t*, int64_t, const int16_t*, int64_t, float*, int64_t, int64_t);
constexpr TileFn kTiles[7] = {nullptr, Tile<1>, Tile<2>, Tile<3>, Tile<4>, Tile<5>, Tile<6>};

}  // namespace

void WideInt8Codes::Product(const uint8_t* q, int64_t rows, float* acc) const {
  // the rows widened to s16 once (a zero pads an odd K), then every panel passes over them
  thread_local std::vector<int16_t> wide;
  const int64_t lda = 2 * pairs_;
  if (static_cast<int64_t>(wide.size()) < rows * lda) wide.resize(rows * lda);
  for (int64_t r = 0; r < rows; r++) {
    int16_t* w = wide.data() + r * lda;
    const uint8_t* src = q + r * K_;
#pragma omp simd
    for (int64_t k = 0; k < K_; k++) w[k] = src[k];
    if (lda > K_) w[K_] = 0;
  }
  for (int64_t b = 0; b < blocks_; b++) {
    const int16_t* panel = panels_.data() + b * pairs_ * kCols * 2;
    const int64_t cols = std::min(kCols, N_ - b * kCols);
    for (int64_t r0 = 0; r0 < rows; r0 += kRows) {
      const int64_t R = std::min<int64_t>(kRows, rows - r0);
      kTiles[R](wide.data() + r0 * lda, lda, panel, pairs_, acc + r0 * N_ + b * kCols, N_, cols);
    }
  }
}

#else  // below AVX2: the caller multiplies split codes on oneDNN instead

bool WideInt8Codes::Available() { return false; }

void WideInt8Codes::Product(const uint8_t*, int64_t, float*) const {}

#endif

}  // namespace tlc
