// Fake quantization for quantization-aware training: symmetric, uniform, one scale per row.
//
//   forward    x: [R, C] -> y: [R, C], scales: [R]
//              qmax     = 2^(bits−1) − 1
//              scale_r  = max_c |x[r, c]| / qmax                       (float division)
//              q        = clamp(nearbyint(x / scale_r), −qmax, qmax)   (round half to even)
//              y        = q · scale_r;   a row of zeros (scale 0) gives y = 0
//   backward   dy: [n] -> dx: [n]
//              dx (+)= dy   (straight-through estimator)
//
// Every operation is one correctly rounded float operation (division, rounding to an
// integer, product), so a JavaScript implementation that rounds each step to float32
// reproduces y bit for bit; src/compress/quantize.ts relies on that.
//
// The straight-through gradient is the identity everywhere. Clipping would zero it for
// |x| > qmax·scale, but with max-abs scales no element lies outside that range, so there
// is nothing to clip.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "args.h"
#include "common.h"

namespace tlc {

namespace {
constexpr int64_t kParallelMin = 1 << 14;  // elements; below this, waking threads costs more than it saves

// One row.   x: [C] -> y: [C]; returns the row's scale
inline float FakeQuantizeRow(const float* x, float* y, int64_t C, float qmax) {
  float max_abs = 0.f;
#pragma omp simd reduction(max : max_abs)
  for (int64_t c = 0; c < C; c++) max_abs = std::max(max_abs, std::fabs(x[c]));
  const float scale = max_abs / qmax;
  if (!(scale > 0.f)) {
    // All zeros (or a max that underflows): every code is 0.
    for (int64_t c = 0; c < C; c++) y[c] = 0.f;
    return scale;
  }
#pragma omp simd
  for (int64_t c = 0; c < C; c++) {
    float q = std::nearbyint(x[c] / scale);
    q = std::min(std::max(q, -qmax), qmax);
    y[c] = (q + 0.f) * scale;  // + 0 turns a −0 code into +0, so pruned zeros stay +0
  }
  return scale;
}
}  // namespace

// fakeQuantizeForward({ x, y, scales, rows, cols, bits })
//   x: [rows, cols] -> y: [rows, cols], scales: [rows] | null (written when given)
static Napi::Value FakeQuantizeForward(const Napi::CallbackInfo& info) {
  Args a(info, "fakeQuantize", {"x", "y", "scales", "rows", "cols", "bits"});
  const int64_t R = a.Count("rows"), C = a.Count("cols");
  const int64_t bits = a.Int("bits");
  if (bits < 2 || bits > 8) a.Fail("bits", "must be 2 to 8, got " + std::to_string(bits));
  const float* x = a.F32("x", R * C);
  float* y = a.F32("y", R * C);
  float* scales = a.OptF32("scales", R);
  const float qmax = static_cast<float>((1 << (bits - 1)) - 1);

#pragma omp parallel for schedule(static) if (R * C > kParallelMin)
  for (int64_t r = 0; r < R; r++) {
    const float s = FakeQuantizeRow(x + r * C, y + r * C, C, qmax);
    if (scales) scales[r] = s;
  }
  return info.Env().Undefined();
}

// fakeQuantize backward is the straight-through estimator, dx (+)= dy: the shared
// `accumulate` kernel of elementwise.cc does it, so there is no second copy here.

void RegisterQuantize(Napi::Env env, Napi::Object exports) {
  exports.Set("fakeQuantizeForward", Napi::Function::New(env, Guarded<FakeQuantizeForward>));
}

}  // namespace tlc
