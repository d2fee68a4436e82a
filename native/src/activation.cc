// Activations: GELU (exact erf form and tanh approximation) and tanh, forward and backward.
//
//   gelu       y[n] = x·Φ(x),  Φ(x) = ½·erfc(−x/√2)                       approximate = false
//              y[n] = ½·x·(1 + tanh(u)),  u = √(2/π)·(x + 0.044715·x³)     approximate = true
//              y is f32, or bf16 when its only consumer is a bf16 product (mixed precision):
//              computed in f32 as for an f32 y, then rounded once (backward needs x, not y)
//   gelu bwd   dx[n] (+)= dy[n]·gelu'(x[n])
//   tanh       y[n] = tanh(x[n])
//   tanh bwd   dx[n] (+)= dy[n]·(1 − y[n]²)
//
// libm's erf/tanh are scalar calls, so loops around them do not vectorise. These kernels
// use near-minimax polynomial fits instead, arranged so that no step cancels: the
// exponential in float (with its argument split to keep x² exact), the erfc factor,
// the reciprocals and the final products in double. Results are within 2 float ulps
// (1.7 measured) of the exact values in both tails, the derivatives likewise relative to
// the size of their terms. Every step is plain arithmetic, so vector and scalar
// iterations agree and results do not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "args.h"
#include "bf16.h"
#include "common.h"

namespace tlc {

namespace {
constexpr int64_t kParallelMin = 1 << 14;  // below this, thread start-up costs more than it saves

constexpr float kLog2e = 1.44269504f;
constexpr float kLn2Hi = 0.693147182f;       // ln 2 rounded to float
constexpr float kLn2Lo = -1.90465430e-09f;   // ln 2 − kLn2Hi
constexpr float kRoundMagic = 12582912.f;    // 1.5·2²³: adding it rounds to an integer
constexpr double kSqrtHalf = 0.7071067811865476;    // 1/√2
constexpr double kInvSqrt2Pi = 0.3989422804014327;  // 1/√(2π)
constexpr double kGeluBeta = 0.7978845608028654;  // √(2/π)
constexpr double kGeluKappa = 0.044715;

// c0 + t·(c1 + t·(c2 + ...)), unrolled at compile time so the caller's loop vectorises.
template <typename F, typename... Rest>
inline F Horner(F t, F c, Rest... rest) {
  if constexpr (sizeof...(rest) == 0) return c;
  else return std::fma(Horner<F>(t, static_cast<F>(rest)...), t, c);
}

// cond ? a : b on the bits. GCC does not if-convert a float select into which it has
// sunk a division or conversion (they may trap), and the whole loop would stay scalar.
template <typename F, typename Bits>
inline F SelectBits(bool cond, F a, F b) {
  const Bits mask = cond ? Bits(-1) : Bits(0);
  Bits a_bits, b_bits;
  std::memcpy(&a_bits, &a, sizeof(F));
  std::memcpy(&b_bits, &b, sizeof(F));
  const Bits bits = (a_bits & mask) | (b_bits & ~mask);
  F out;
  std::memcpy(&out, &bits, sizeof(F));
  return out;
}
inline float Select(bool cond, float a, float b) { return SelectBits<float, int32_t>(cond, a, b); }
inline double Select(bool cond, double a, double b) { return SelectBits<double, int64_t>(cond, a, b); }

// 1/d in double for finite d ≥ 1: a float reciprocal refined by one Newton step (relative
// error ~1e-14). Double division is several times slower than float division.
inline double Reciprocal(double d) {
  const double q = 1.f / static_cast<float>(d);
  return std::fma(q, std::fma(-q, d, 1.0), q);
}

// e^(hi + lo) for hi ≤ 0 and |lo| ≪ 1, to ~1 float ulp. `lo` carries the rounding error
// of `hi` where hi is large (e^(−x²/2) needs x² to more than float precision). The
// polynomial runs in float; the power of two is applied in double, so results far below
// the float range stay exact (callers multiply them by large factors or round them
// once at the end). Returns 0 below e^−200, which no float result can see. NaN propagates.
inline double ExpNeg(float hi, float lo) {
  const bool underflow = hi < -200.f;
  hi = underflow ? -200.f : hi;
  lo = Select(underflow, 0.f, lo);  // lo may be ±inf or NaN when hi is −inf
  // hi = k·ln2 + r, |r| ≤ ln2/2; e^(hi+lo) = 2^k·e^(r+lo)
  const float shifted = std::fma(hi, kLog2e, kRoundMagic);
  const float k = shifted - kRoundMagic;
  const float r = std::fma(-k, kLn2Lo, std::fma(-k, kLn2Hi, hi)) + lo;
  // near-minimax on |r| ≤ 0.35, relative error 2e-9
  const float p = Horner(r, 1.0f, 1.0f, 0.5f, 0.166664049f, 0.0416663401f, 0.00837595854f, 0.00139421481f);
  // The low mantissa bits of `shifted` hold k; build the double 2^k from them.
  int32_t shifted_bits, magic_bits;
  std::memcpy(&shifted_bits, &shifted, 4);
  std::memcpy(&magic_bits, &kRoundMagic, 4);
  const int64_t scale_bits = (static_cast<int64_t>(shifted_bits - magic_bits) + 1023) << 52;
  double scale;
  std::memcpy(&scale, &scale_bits, 8);
  return Select(underflow, 0.0, static_cast<double>(p) * scale);
}

// K(t) = e^(a²)·erfc(a)/t with t = 2/(2 + a), so that erfc(a) = t·K(t)·e^(−a²). K is smooth
// and lies in [0.28, 1] for a ≥ 0. Near-minimax fit on a ∈ [0, 9.5], relative error 7e-10;
// beyond a = 9.5 (|x| > 13.4), results are subnormal floats at most. Evaluated in double: in
// float, the rounding of t alone, amplified ~2× through K, costs 2 ulps.
inline double ErfcScaled(double t) {
  return Horner(t, 0.28210042163360344, 0.28192594632886714, 0.24907841461742256, 0.158812156365005,
                0.17255811958482845, -0.3124834134536165, 0.6855310071142928, -1.2815770245261913,
                1.323333487795414, -0.7691731040079277, 0.24266705869246613, -0.03277307022023533);
}

// Standard normal CDF Φ(x), relatively accurate in both tails: the upper tail is
// 1 − ½erfc (no cancellation), the lower tail ½erfc directly. `gauss` receives
// e^(−x²/2) for the derivative; x² is split into two floats so that it is exact.
inline double NormalCdf(float x, double& gauss) {
  // |x| is capped where e^(−x²/2) is 0 anyway, so that t stays finite (inf·0 would be NaN)
  const float ax = std::fabs(x);
  const double a = Select(ax < 1e4f, ax, 1e4f) * kSqrtHalf;
  const double t = 2.0 * Reciprocal(2.0 + a);
  const float x2_hi = x * x, x2_lo = std::fma(x, x, -x2_hi);
  gauss = ExpNeg(-0.5f * x2_hi, -0.5f * x2_lo);
  const double half_erfc = 0.5 * t * ErfcScaled(t) * gauss;  // ½·erfc(|x|/√2)
  return Select(x >= 0.f, 1.0 - half_erfc, half_erfc);
}

// For the tanh form: s = ½(1 + tanh u) = 1/(1 + e^(−2u)) and its complement 1 − s, both
// from e = e^(−2|u|) ≤ 1, so neither overflows or cancels. 2u is formed in double: in
// float its rounding error, times |2u|, would show in the lower tail.
inline void TanhGate(float x, double& s, double& s_complement) {
  const double xd = x;
  double minus_w = -std::fabs(2.0 * kGeluBeta * xd * (1.0 + kGeluKappa * xd * xd));  // −2|u|
  minus_w = Select(minus_w < -1e4, -1e4, minus_w);  // keeps the float conversion in range
  const float w_hi = static_cast<float>(minus_w);
  const float w_lo = static_cast<float>(minus_w - static_cast<double>(w_hi));
  const double e = ExpNeg(w_hi, w_lo);
  const double large = Reciprocal(1.0 + e), small = e * large;
  const bool positive = x >= 0.f;  // u has the sign of x
  s = Select(positive, large, small);
  s_complement = Select(positive, small, large);
}

inline float Tanh(float x) {
  const float ax = std::fabs(x);
  const double e = ExpNeg(-2.f * ax, 0.f);
  const float large = static_cast<float>((1.0 - e) * Reciprocal(1.0 + e));
  // Below 0.55 the quotient above cancels; there tanh x = x + x³·P(x²), P near-minimax
  // on x² ∈ [0, 0.3025] with relative error 1e-8.
  const float x2 = x * x;
  const float small = std::fma(ax * x2, Horner(x2, -0.333333313f, 0.133331135f, -0.0539094284f, 0.0213093888f, -0.00661022775f), ax);
  return std::copysign(Select(ax < 0.55f, small, large), x);
}

// dx[i] (+)= dy[i]·derivative(src[i]). `derivative` is a pure function of one value (no
// captured pointers, which would turn the loads into gathers); two loops rather than a
// branch inside one, so that each vectorises.
template <typename Derivative>
void BackwardLoop(const float* dy, const float* src, float* dx, int64_t n, bool acc, Derivative derivative) {
  if (acc) {
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
    for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * derivative(src[i]);
  } else {
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
    for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * derivative(src[i]);
  }
}
}  // namespace

// y[i] = gelu(x[i]) for i < n, on the calling thread; x and y may alias.
static inline void GeluSpan(const float* x, float* y, int64_t n, bool approx) {
  if (approx) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
      double s, s_complement;
      TanhGate(x[i], s, s_complement);
      y[i] = static_cast<float>(x[i] * s);
    }
  } else {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
      double gauss;
      y[i] = static_cast<float>(x[i] * NormalCdf(x[i], gauss));
    }
  }
}

constexpr int64_t kGeluBlock = 2048;  // values per task; an f32 block of them stays in L1

// y[i] = gelu(x[i]) for i < n, written as f32 or (Out = uint16_t) rounded once to bf16:
// a bf16 block goes through an f32 buffer in L1, so its f32 result never reaches memory.
template <typename Out>
static void GeluRows(const float* x, Out* y, int64_t n, bool approx) {
  const int64_t blocks = (n + kGeluBlock - 1) / kGeluBlock;
#pragma omp parallel for schedule(static) if (n > kParallelMin)
  for (int64_t b = 0; b < blocks; b++) {
    const int64_t i0 = b * kGeluBlock, len = std::min(kGeluBlock, n - i0);
    if constexpr (std::is_same_v<Out, float>) {
      GeluSpan(x + i0, y + i0, len, approx);
    } else {
      float buf[kGeluBlock];
      GeluSpan(x + i0, buf, len, approx);
      CastBf16Span(buf, y + i0, len);
    }
  }
}

// geluForward({ x, y, n, approximate })     x: [n] -> y: [n] f32 or bf16
static Napi::Value GeluForward(const Napi::CallbackInfo& info) {
  Args a(info, "gelu", {"x", "y", "n", "approximate"});
  const int64_t n = a.Count("n");
  const bool approx = a.Bool("approximate");
  const float* x = a.F32("x", n);
  if (a.DTypeOf("y") == DType::bf16) GeluRows(x, a.Bf16("y", n), n, approx);
  else GeluRows(x, a.F32("y", n), n, approx);
  return info.Env().Undefined();
}

// geluBackward({ dy, x, dx, n, approximate, accumulate })     dy, x: [n] -> dx: [n]
//   exact:  gelu'(x) = Φ(x) + x·φ(x),  φ(x) = e^(−x²/2)/√(2π)
//   tanh:   with s = ½(1 + tanh u), 1 − s = s·e^(−2u):
//           gelu'(x) = s + x·2s(1 − s)·u',  u' = √(2/π)·(1 + 3·0.044715·x²)
static Napi::Value GeluBackward(const Napi::CallbackInfo& info) {
  Args a(info, "gelu backward", {"dy", "x", "dx", "n", "approximate", "accumulate"});
  const int64_t n = a.Count("n");
  const bool approx = a.Bool("approximate");
  const bool acc = a.Bool("accumulate");
  const float* dy = a.F32("dy", n);
  const float* x = a.F32("x", n);
  float* dx = a.F32("dx", n);
  if (approx) {
    BackwardLoop(dy, x, dx, n, acc, [](float v) {
      double s, s_complement;
      TanhGate(v, s, s_complement);
      const double du = kGeluBeta * (1.0 + 3.0 * kGeluKappa * static_cast<double>(v) * v);
      return static_cast<float>(s + 2.0 * v * du * (s * s_complement));
    });
  } else {
    BackwardLoop(dy, x, dx, n, acc, [](float v) {
      double gauss;
      const double cdf = NormalCdf(v, gauss);
      return static_cast<float>(cdf + v * kInvSqrt2Pi * gauss);
    });
  }
  return info.Env().Undefined();
}

// tanhForward({ x, y, n })     x: [n] -> y: [n]
static Napi::Value TanhForward(const Napi::CallbackInfo& info) {
  Args a(info, "tanh", {"x", "y", "n"});
  const int64_t n = a.Count("n");
  const float* x = a.F32("x", n);
  float* y = a.F32("y", n);
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; i++) y[i] = Tanh(x[i]);
  return info.Env().Undefined();
}

// tanhBackward({ dy, y, dx, n, accumulate })     dy, y: [n] -> dx: [n]; y is the forward output
static Napi::Value TanhBackward(const Napi::CallbackInfo& info) {
  Args a(info, "tanh backward", {"dy", "y", "dx", "n", "accumulate"});
  const int64_t n = a.Count("n");
  const bool acc = a.Bool("accumulate");
  const float* dy = a.F32("dy", n);
  const float* y = a.F32("y", n);
  float* dx = a.F32("dx", n);
  BackwardLoop(dy, y, dx, n, acc, [](float yi) { return std::fma(-yi, yi, 1.f); });
  return info.Env().Undefined();
}

void RegisterActivation(Napi::Env env, Napi::Object exports) {
  exports.Set("geluForward", Napi::Function::New(env, Guarded<GeluForward>));
  exports.Set("geluBackward", Napi::Function::New(env, Guarded<GeluBackward>));
  exports.Set("tanhForward", Napi::Function::New(env, Guarded<TanhForward>));
  exports.Set("tanhBackward", Napi::Function::New(env, Guarded<TanhBackward>));
}

}  // namespace tlc
