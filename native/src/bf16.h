// float → bfloat16 conversion shared by the kernels that write bf16 (the mixed-precision
// linear, the producers of its inputs, the packed bf16 inference kernel).
//
// Rounding is to nearest even; a NaN stays a NaN and a subnormal input becomes a zero of the
// same sign, as AVX512-BF16's vcvtneps2bf16 does, so the vector and scalar paths agree
// element for element and a value rounds the same wherever it is converted.
#pragma once
// GCC 12 warns inside its own AVX-512 headers (simd.h explains); the same guard as there.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <algorithm>
#include <cstdint>
#include <cstring>

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

// dst[i] = bf16(src[i]) for i < n, on the calling thread.
inline void CastBf16Span(const float* src, uint16_t* dst, int64_t n) {
  int64_t i = 0;
#if defined(__AVX512BF16__)
  for (; i + 32 <= n; i += 32) {
    const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + i + 16), _mm512_loadu_ps(src + i));
    _mm512_storeu_si512(reinterpret_cast<void*>(dst + i), reinterpret_cast<__m512i>(v));
  }
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
