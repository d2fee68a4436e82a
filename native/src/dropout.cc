// Dropout with a counter-based random number generator: no RNG state and no stored mask.
//
//   forward    y[i]  = x[i]·keep(i)/(1 − p)
//   backward   dx[i] (+)= dy[i]·keep(i)/(1 − p)
//   keep(i)    = u(seed, offset + i) ≥ p
//   u(seed, c) = top 24 bits of SplitMix64(Mix64(seed + γ) + c·γ), divided by 2²⁴
//
// The mask is a pure function of (seed, offset + i): the backward pass regenerates it,
// and it is the same for any thread count or vector width.
#include <cmath>
#include <cstdint>

#include "args.h"
#include "common.h"

namespace tlc {

namespace {
constexpr int64_t kParallelMin = 1 << 14;
constexpr uint64_t kGamma = 0x9E3779B97F4A7C15ull;  // SplitMix64 increment (golden ratio)
constexpr double kMaxCounter = 4503599627370496.0;   // 2⁵²: seeds and counters stay exact in JS numbers

// SplitMix64 output function: a bijective 64-bit mixer.
inline uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

struct DropoutArgs {
  int64_t n;
  uint64_t key;        // scrambled seed
  uint64_t offset;     // counter of element 0
  uint64_t threshold;  // keep iff the 24-bit draw ≥ threshold = ⌈p·2²⁴⌉
  float scale;         // 1/(1 − p)
};

DropoutArgs ParseArgs(const Args& args) {
  DropoutArgs a;
  a.n = args.Count("n");
  const double p = args.Num("p");
  const int64_t seed = args.Int("seed");
  const int64_t offset = args.Int("offset");
  if (!(p >= 0.0 && p < 1.0)) args.Fail("p", "must be in [0, 1), got " + std::to_string(p));
  if (seed < 0 || static_cast<double>(seed) > kMaxCounter)
    args.Fail("seed", "must be an integer in [0, 2^52], got " + std::to_string(seed));
  if (offset < 0 || static_cast<double>(offset) + static_cast<double>(a.n) > kMaxCounter)
    args.Fail("offset " + std::to_string(offset) + " + n " + std::to_string(a.n) + " is outside [0, 2^52]");
  a.key = Mix64(static_cast<uint64_t>(seed) + kGamma);
  a.offset = static_cast<uint64_t>(offset);
  a.threshold = static_cast<uint64_t>(std::ceil(p * 16777216.0));  // exact: p·2²⁴ is a scaling by a power of two
  a.scale = static_cast<float>(1.0 / (1.0 - p));
  return a;
}

// Per-element multiplier: 1/(1 − p) where kept, 0 where dropped. Multiplying (rather than
// selecting) keeps NaN and Inf visible in dropped positions, as x·mask does.
inline float MaskScale(const DropoutArgs& a, int64_t i) {
  const uint64_t draw = Mix64(a.key + (a.offset + static_cast<uint64_t>(i)) * kGamma) >> 40;
  return draw >= a.threshold ? a.scale : 0.0f;
}
}  // namespace

// dropoutForward({ x, y, n, p, seed, offset })     x: [n] -> y: [n]
static Napi::Value DropoutForward(const Napi::CallbackInfo& info) {
  Args args(info, "dropout", {"x", "y", "n", "p", "seed", "offset"});
  const DropoutArgs a = ParseArgs(args);
  const float* x = args.F32("x", a.n);
  float* y = args.F32("y", a.n);
  const int64_t n = a.n;
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; i++) y[i] = x[i] * MaskScale(a, i);
  return info.Env().Undefined();
}

// dropoutBackward({ dy, dx, n, p, seed, offset, accumulate })     dy: [n] -> dx: [n]
static Napi::Value DropoutBackward(const Napi::CallbackInfo& info) {
  Args args(info, "dropout backward", {"dy", "dx", "n", "p", "seed", "offset", "accumulate"});
  const DropoutArgs a = ParseArgs(args);
  const bool acc = args.Bool("accumulate");
  const float* dy = args.F32("dy", a.n);
  float* dx = args.F32("dx", a.n);
  const int64_t n = a.n;
  if (acc) {
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
    for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * MaskScale(a, i);
  } else {
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
    for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * MaskScale(a, i);
  }
  return info.Env().Undefined();
}

void RegisterDropout(Napi::Env env, Napi::Object exports) {
  exports.Set("dropoutForward", Napi::Function::New(env, Guarded<DropoutForward>));
  exports.Set("dropoutBackward", Napi::Function::New(env, Guarded<DropoutBackward>));
}

}  // namespace tlc
