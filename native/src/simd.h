// Vector helpers shared by the kernels: exp, row max, dot product, u8 row quantization.
//
// Every kernel file is compiled once per x86-64 level (binding.gyp: x86-64-v2, -v3 = AVX2 +
// FMA, -v4 = AVX-512) and once for arm64, so each helper has the path of the level it is
// compiled for:
//   TLC_AVX512  __AVX512F__ (with BW/DQ/VL)     16 float lanes, masked tails
//   TLC_AVX2    __AVX2__ and __FMA__             8 float lanes
//   TLC_NEON    aarch64 Advanced SIMD            4 float lanes (every arm64 CPU)
//   portable    loops written so that the compiler vectorises them at any level (NEON included)
// The lane-form helpers (Lanes*) sum and compare in a fixed order of 16 lanes whatever the
// level; builds with FMA (AVX2 and up) contract their multiply-adds, so results agree across
// levels to rounding, and bit for bit between the AVX2 and AVX-512 builds only where no
// reduction's order depends on the vector width.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512DQ__) && defined(__AVX512VL__)
#define TLC_AVX512 1
#endif
#if defined(__AVX2__) && defined(__FMA__)
#define TLC_AVX2 1
#endif
#if defined(TLC_AVX512) || defined(TLC_AVX2) || defined(__SSE4_1__)
// GCC 12 reports its own AVX-512 headers' deliberately undefined vectors as maybe-uninitialized
// (GCC bug 105593).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#endif
#if defined(__aarch64__) && defined(__ARM_NEON)
#define TLC_NEON 1
#include <arm_neon.h>
#endif

namespace tlc {
namespace simd {

constexpr float kInf = std::numeric_limits<float>::infinity();

// exp(r) ≈ 1 + r + r²·P(r) on |r| ≤ ln2/2 (Cephes expf coefficients, ~1 ulp), ln2 split in
// two so that k·ln2_hi is exact.
constexpr float kLog2e = 1.44269504088896341f, kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;
constexpr float kP0 = 1.9875691500e-4f, kP1 = 1.3981999507e-3f, kP2 = 8.3334519073e-3f, kP3 = 4.1665795894e-2f,
                kP4 = 1.6666665459e-1f, kP5 = 5.0000001201e-1f;

// exp(x) for x ≤ 0, branch-free so that loops calling it vectorise at any level; 2^k is built
// in the exponent bits. Exactly 0 below −87.3, so a masked score (−inf) becomes a zero
// probability.
inline float ExpNonPositive(float x) {
  const float xc = std::max(x, -87.3f);
  const float n = std::nearbyint(xc * kLog2e);
  const float r = xc - n * kLn2Hi - n * kLn2Lo;
  float p = kP0;
  p = p * r + kP1;
  p = p * r + kP2;
  p = p * r + kP3;
  p = p * r + kP4;
  p = p * r + kP5;
  const float er = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return x < -87.3f ? 0.0f : er * scale;
}

// exp(x) for any x, in the same branch-free form: inputs are clamped to [−87, 88] (so −inf
// gives 1.6e−38, not 0); NaN propagates.
inline float ExpClamped(float x) {
  x = std::min(std::max(x, -87.0f), 88.0f);
  const float kShift = 12582912.0f;  // 1.5·2^23: adding it rounds to the nearest integer
  const float k = (x * kLog2e + kShift) - kShift;
  float r = x - k * kLn2Hi;
  r = r - k * kLn2Lo;
  float p = kP0;
  p = p * r + kP1;
  p = p * r + kP2;
  p = p * r + kP3;
  p = p * r + kP4;
  p = p * r + kP5;
  p = p * (r * r) + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(k) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

// max of row[0..n), in 16 lanes (a reduction the compiler may not reorder would stay scalar)
inline float LanesMax(const float* row, int64_t n) {
  float lane[16];
  for (int l = 0; l < 16; l++) lane[l] = -kInf;
  int64_t j = 0;
  for (; j + 16 <= n; j += 16)
    for (int l = 0; l < 16; l++) lane[l] = row[j + l] > lane[l] ? row[j + l] : lane[l];
  float m = -kInf;
  for (; j < n; j++) m = std::max(m, row[j]);
  for (int l = 0; l < 16; l++) m = std::max(m, lane[l]);
  return m;
}

// Σ x[d]·y[d], in 16 lanes summed in a fixed order
inline float LanesDot(const float* x, const float* y, int64_t n) {
  float lane[16] = {};
  int64_t d = 0;
  for (; d + 16 <= n; d += 16)
    for (int l = 0; l < 16; l++) lane[l] += x[d + l] * y[d + l];
  float s = 0.0f;
  for (; d < n; d++) s += x[d] * y[d];
  for (int l = 0; l < 16; l++) s += lane[l];
  return s;
}

// row[j] = exp(row[j] − shift) for j < n (row ≤ shift); returns the sum, in 16 lanes
inline float LanesExpInPlace(float* row, int64_t n, float shift) {
  float lane[16] = {};
  int64_t j = 0;
  for (; j + 16 <= n; j += 16)
    for (int l = 0; l < 16; l++) {
      const float e = ExpNonPositive(row[j + l] - shift);
      row[j + l] = e;
      lane[l] += e;
    }
  float s = 0.0f;
  for (; j < n; j++) {
    row[j] = ExpNonPositive(row[j] - shift);
    s += row[j];
  }
  for (int l = 0; l < 16; l++) s += lane[l];
  return s;
}

#if defined(TLC_AVX512)
// exp of 16 floats; −inf and very negative inputs give 0, NaN stays NaN. vscalefps builds 2^k
// without clamping or exponent-bit assembly (about 1.5× faster than the portable form).
inline __m512 Exp16(__m512 x) {
  x = _mm512_max_ps(_mm512_set1_ps(-104.0f), x);  // NaN-preserving: max returns x when x is NaN
  const __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(kLn2Hi), x);
  r = _mm512_fnmadd_ps(k, _mm512_set1_ps(kLn2Lo), r);
  __m512 p = _mm512_set1_ps(kP0);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP1));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP2));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP3));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP4));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP5));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r);
  return _mm512_scalef_ps(_mm512_add_ps(p, _mm512_set1_ps(1.0f)), k);  // p·2^k, saturating
}

inline __mmask16 TailMask16(int64_t left) { return static_cast<__mmask16>((1u << left) - 1); }
#endif

#if defined(TLC_AVX2)
// exp of 8 floats in the ExpClamped form: inputs clamped to [−87, 88], NaN propagates
// (max/min return their second operand when the first is NaN, so x goes second).
inline __m256 Exp8(__m256 x) {
  x = _mm256_min_ps(_mm256_set1_ps(88.0f), _mm256_max_ps(_mm256_set1_ps(-87.0f), x));
  const __m256 k = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(kLn2Hi), x);
  r = _mm256_fnmadd_ps(k, _mm256_set1_ps(kLn2Lo), r);
  __m256 p = _mm256_set1_ps(kP0);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP1));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP2));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP3));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP4));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP5));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r);
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(_mm256_add_ps(p, _mm256_set1_ps(1.0f)), _mm256_castsi256_ps(e));
}

inline float HMax8(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}
inline float HMin8(__m256 v) {
  __m128 m = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_min_ps(m, _mm_movehl_ps(m, m));
  m = _mm_min_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}
inline float HSum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
#endif

#if defined(TLC_NEON)
// exp of 4 floats in the ExpClamped form: inputs clamped to [−87, 88], NaN propagates (FMAX
// and FMIN return NaN when either operand is NaN).
inline float32x4_t Exp4(float32x4_t x) {
  x = vminq_f32(vdupq_n_f32(88.0f), vmaxq_f32(vdupq_n_f32(-87.0f), x));
  const float32x4_t k = vrndnq_f32(vmulq_f32(x, vdupq_n_f32(kLog2e)));  // to nearest, ties to even
  float32x4_t r = vfmsq_f32(x, k, vdupq_n_f32(kLn2Hi));                  // x − k·ln2_hi
  r = vfmsq_f32(r, k, vdupq_n_f32(kLn2Lo));
  float32x4_t p = vdupq_n_f32(kP0);
  p = vfmaq_f32(vdupq_n_f32(kP1), p, r);
  p = vfmaq_f32(vdupq_n_f32(kP2), p, r);
  p = vfmaq_f32(vdupq_n_f32(kP3), p, r);
  p = vfmaq_f32(vdupq_n_f32(kP4), p, r);
  p = vfmaq_f32(vdupq_n_f32(kP5), p, r);
  p = vfmaq_f32(r, p, vmulq_f32(r, r));
  const int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(k), vdupq_n_s32(127)), 23);
  return vmulq_f32(vaddq_f32(p, vdupq_n_f32(1.0f)), vreinterpretq_f32_s32(e));
}
#endif

// Asymmetric u8 quantization of one row x[0..K): its range, widened to hold 0 (so 0 is exact),
// maps onto 0..255: scale = (hi − lo)/255, zero = round(−lo/scale),
//   q[k] = clamp(round_half_even(x[k]·(1/scale)) + zero, 0, 255).
// Returns false if the row holds a non-finite value. The vector paths compute exactly what
// the scalar tail does (the same rounding, in the same order), so q is the same on every CPU.
inline bool QuantizeRowU8(const float* x, uint8_t* q, int64_t K, float& scale, float& zero) {
  constexpr float kLevels = 255.f;
  float lo = 0.f, hi = 0.f;
  bool nan = false;
  int64_t k = 0;
#if defined(TLC_AVX512)
  {
    __m512 vlo = _mm512_setzero_ps(), vhi = _mm512_setzero_ps();
    __mmask16 unordered = 0;  // min/max drop NaNs: look for them
    for (; k + 16 <= K; k += 16) {
      const __m512 v = _mm512_loadu_ps(x + k);
      vlo = _mm512_min_ps(vlo, v);
      vhi = _mm512_max_ps(vhi, v);
      unordered |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    }
    lo = _mm512_reduce_min_ps(vlo);
    hi = _mm512_reduce_max_ps(vhi);
    nan = unordered != 0;
  }
#elif defined(TLC_AVX2)
  {
    __m256 vlo = _mm256_setzero_ps(), vhi = _mm256_setzero_ps(), unordered = _mm256_setzero_ps();
    for (; k + 8 <= K; k += 8) {
      const __m256 v = _mm256_loadu_ps(x + k);
      vlo = _mm256_min_ps(vlo, v);
      vhi = _mm256_max_ps(vhi, v);
      unordered = _mm256_or_ps(unordered, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    }
    lo = HMin8(vlo);
    hi = HMax8(vhi);
    nan = _mm256_movemask_ps(unordered) != 0;
  }
#elif defined(TLC_NEON)
  {
    float32x4_t vlo = vdupq_n_f32(0.f), vhi = vdupq_n_f32(0.f);
    uint32x4_t ordered = vdupq_n_u32(~0u);  // all ones while every value equals itself
    for (; k + 4 <= K; k += 4) {
      const float32x4_t v = vld1q_f32(x + k);
      vlo = vminq_f32(vlo, v);
      vhi = vmaxq_f32(vhi, v);
      ordered = vandq_u32(ordered, vceqq_f32(v, v));
    }
    lo = vminvq_f32(vlo);
    hi = vmaxvq_f32(vhi);
    nan = vminvq_u32(ordered) == 0;
  }
#endif
  for (; k < K; k++) {
    nan |= x[k] != x[k];
    lo = std::min(lo, x[k]);
    hi = std::max(hi, x[k]);
  }
  if (nan || !std::isfinite(lo) || !std::isfinite(hi)) return false;
  scale = (hi - lo) / kLevels;
  if (!(scale > 0.f)) scale = 1.f;  // an all-zero row: any scale quantizes it to 0
  zero = std::min(kLevels, std::max(0.f, std::nearbyint(-lo / scale)));
  const float inv = 1.f / scale;
  k = 0;
#if defined(TLC_AVX512)
  {
    const __m512 vinv = _mm512_set1_ps(inv), vzero = _mm512_set1_ps(zero), vmax = _mm512_set1_ps(kLevels), v0 = _mm512_setzero_ps();
    for (; k + 16 <= K; k += 16) {
      const __m512 r = _mm512_roundscale_ps(_mm512_mul_ps(_mm512_loadu_ps(x + k), vinv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      const __m512 c = _mm512_min_ps(vmax, _mm512_max_ps(v0, _mm512_add_ps(r, vzero)));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(q + k), _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(c)));
    }
  }
#elif defined(TLC_AVX2)
  {
    const __m256 vinv = _mm256_set1_ps(inv), vzero = _mm256_set1_ps(zero), vmax = _mm256_set1_ps(kLevels), v0 = _mm256_setzero_ps();
    // 8 codes per step: int32 lanes packed to u16 then u8 (values are already in 0..255)
    for (; k + 8 <= K; k += 8) {
      const __m256 r = _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + k), vinv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      const __m256i c = _mm256_cvtps_epi32(_mm256_min_ps(vmax, _mm256_max_ps(v0, _mm256_add_ps(r, vzero))));
      const __m128i w = _mm_packus_epi32(_mm256_castsi256_si128(c), _mm256_extracti128_si256(c, 1));
      _mm_storel_epi64(reinterpret_cast<__m128i*>(q + k), _mm_packus_epi16(w, w));
    }
  }
#elif defined(TLC_NEON)
  {
    const float32x4_t vinv = vdupq_n_f32(inv), vzero = vdupq_n_f32(zero), vmax = vdupq_n_f32(kLevels), v0 = vdupq_n_f32(0.f);
    // 8 codes per step: u32 lanes narrowed to u16 then u8 (values are already in 0..255)
    for (; k + 8 <= K; k += 8) {
      const float32x4_t c0 = vminq_f32(vmax, vmaxq_f32(v0, vaddq_f32(vrndnq_f32(vmulq_f32(vld1q_f32(x + k), vinv)), vzero)));
      const float32x4_t c1 = vminq_f32(vmax, vmaxq_f32(v0, vaddq_f32(vrndnq_f32(vmulq_f32(vld1q_f32(x + k + 4), vinv)), vzero)));
      const uint16x8_t w = vcombine_u16(vmovn_u32(vcvtq_u32_f32(c0)), vmovn_u32(vcvtq_u32_f32(c1)));
      vst1_u8(q + k, vmovn_u16(w));
    }
  }
#endif
  for (; k < K; k++) q[k] = static_cast<uint8_t>(std::min(kLevels, std::max(0.f, std::nearbyint(x[k] * inv) + zero)));
  return true;
}

}  // namespace simd
}  // namespace tlc
