// float → bfloat16 conversion shared by the kernels that write bf16 (the mixed-precision
// linear, the producers of its inputs, the packed bf16 inference kernel).
//
// Rounding is to nearest even; a NaN stays a NaN and a subnormal input becomes a zero of the
// same sign, as AVX512-BF16's vcvtneps2bf16 does, so the vector and scalar paths agree
// element for element and a value rounds the same wherever (and on whichever CPU) it is
// converted.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "simd.h"

namespace tlc {

inline uint16_t ToBf16(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((bits >> 16) | 0x40u);
  if ((bits & 0x7F800000u) == 0) return static_cast<uint16_t>((bits >> 16) & 0x8000u);
  return static_cast<uint16_t>((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
}

inline float FromBf16(uint16_t v) {
  const uint32_t bits = static_cast<uint32_t>(v) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// ToBf16 of 16 (AVX-512), 8 (AVX2) or 4 (NEON) floats in 32-bit lanes, by the same integer steps: the
// level's vectors need no bf16 instructions, and the result is ToBf16's, bit for bit.
#if defined(TLC_AVX512)
inline __m256i ToBf16x16(__m512 v) {
  const __m512i b = _mm512_castps_si512(v);
  const __m512i hi = _mm512_srli_epi32(b, 16);
  const __m512i rounded = _mm512_srli_epi32(
      _mm512_add_epi32(b, _mm512_add_epi32(_mm512_set1_epi32(0x7FFF), _mm512_and_si512(hi, _mm512_set1_epi32(1)))), 16);
  const __mmask16 nan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(b, _mm512_set1_epi32(0x7FFFFFFF)), _mm512_set1_epi32(0x7F800000));
  const __mmask16 tiny = _mm512_testn_epi32_mask(b, _mm512_set1_epi32(0x7F800000));
  __m512i r = _mm512_mask_mov_epi32(rounded, nan, _mm512_or_si512(hi, _mm512_set1_epi32(0x40)));
  r = _mm512_mask_mov_epi32(r, tiny, _mm512_and_si512(hi, _mm512_set1_epi32(0x8000)));
  return _mm512_cvtepi32_epi16(r);
}
#endif
#if defined(TLC_AVX2)
inline __m256i ToBf16x8(__m256 v) {  // 8 results in the low 16 bits of each 32-bit lane
  const __m256i b = _mm256_castps_si256(v);
  const __m256i hi = _mm256_srli_epi32(b, 16);
  const __m256i rounded = _mm256_srli_epi32(
      _mm256_add_epi32(b, _mm256_add_epi32(_mm256_set1_epi32(0x7FFF), _mm256_and_si256(hi, _mm256_set1_epi32(1)))), 16);
  const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(b, _mm256_set1_epi32(0x7FFFFFFF)), _mm256_set1_epi32(0x7F800000));
  const __m256i tiny = _mm256_cmpeq_epi32(_mm256_and_si256(b, _mm256_set1_epi32(0x7F800000)), _mm256_setzero_si256());
  __m256i r = _mm256_blendv_epi8(rounded, _mm256_or_si256(hi, _mm256_set1_epi32(0x40)), nan);
  return _mm256_blendv_epi8(r, _mm256_and_si256(hi, _mm256_set1_epi32(0x8000)), tiny);
}
// 16 floats -> 16 bf16 in order
inline __m256i ToBf16x16(__m256 lo, __m256 hi) {
  const __m256i packed = _mm256_packus_epi32(ToBf16x8(lo), ToBf16x8(hi));  // per 128-bit lane: lo0-3 hi0-3 lo4-7 hi4-7
  return _mm256_permute4x64_epi64(packed, 0xD8);
}
#endif

#if defined(TLC_NEON)
inline uint16x4_t ToBf16x4(float32x4_t v) {
  const uint32x4_t b = vreinterpretq_u32_f32(v);
  const uint32x4_t hi = vshrq_n_u32(b, 16);
  const uint32x4_t rounded = vshrq_n_u32(vaddq_u32(b, vaddq_u32(vdupq_n_u32(0x7FFF), vandq_u32(hi, vdupq_n_u32(1)))), 16);
  const uint32x4_t nan = vcgtq_u32(vandq_u32(b, vdupq_n_u32(0x7FFFFFFF)), vdupq_n_u32(0x7F800000));
  const uint32x4_t tiny = vceqq_u32(vandq_u32(b, vdupq_n_u32(0x7F800000)), vdupq_n_u32(0));
  uint32x4_t r = vbslq_u32(nan, vorrq_u32(hi, vdupq_n_u32(0x40)), rounded);
  r = vbslq_u32(tiny, vandq_u32(hi, vdupq_n_u32(0x8000)), r);
  return vmovn_u32(r);
}
// 8 floats -> 8 bf16 in order
inline uint16x8_t ToBf16x8(float32x4_t lo, float32x4_t hi) { return vcombine_u16(ToBf16x4(lo), ToBf16x4(hi)); }
#endif

// dst[i] = bf16(src[i]) for i < n, on the calling thread.
inline void CastBf16Span(const float* src, uint16_t* dst, int64_t n) {
  int64_t i = 0;
#if defined(TLC_AVX512)
  for (; i + 16 <= n; i += 16)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), ToBf16x16(_mm512_loadu_ps(src + i)));
#elif defined(TLC_AVX2)
  for (; i + 16 <= n; i += 16)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), ToBf16x16(_mm256_loadu_ps(src + i), _mm256_loadu_ps(src + i + 8)));
#elif defined(TLC_NEON)
  for (; i + 8 <= n; i += 8) vst1q_u16(dst + i, ToBf16x8(vld1q_f32(src + i), vld1q_f32(src + i + 4)));
#endif
  for (; i < n; i++) dst[i] = ToBf16(src[i]);
}

// dst[n] = bf16(src[n]), chunks of 16k elements over the OpenMP threads.
inline void CastBf16(const float* src, uint16_t* dst, int64_t n) {
  const int64_t kChunk = 1 << 14;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (chunks > 1)
  for (int64_t c = 0; c < chunks; c++) {
    const int64_t i0 = c * kChunk;
    CastBf16Span(src + i0, dst + i0, std::min(n, i0 + kChunk) - i0);
  }
}

}  // namespace tlc
