// Element-wise ops: residual add, accumulate, scale.
//
//   add         out[n] = a[n] + b[n]          backward: da (+)= dout, db (+)= dout
//   accumulate  dst[n] (+)= alpha · src[n]    (gradient accumulation, reshape backward, scale)
#include "common.h"

namespace tlc {

namespace {
constexpr int64_t kParallelMin = 1 << 15;  // below this, thread start-up costs more than it saves
}

// add(a, b, out, n)
static Napi::Value Add(const Napi::CallbackInfo& info) {
  int64_t n = ArgInt(info, 3, "add", "count");
  const float* a = ArgF32(info, 0, "add", "a", n);
  const float* b = ArgF32(info, 1, "add", "b", n);
  float* out = ArgF32(info, 2, "add", "output", n);
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; i++) out[i] = a[i] + b[i];
  return info.Env().Undefined();
}

// accumulate(dst, src, n, accumulate, alpha): dst = alpha·src, or dst += alpha·src
static Napi::Value Accumulate(const Napi::CallbackInfo& info) {
  int64_t n = ArgInt(info, 2, "accumulate", "count");
  float* dst = ArgF32(info, 0, "accumulate", "destination", n);
  const float* src = ArgF32(info, 1, "accumulate", "source", n);
  bool acc = ArgBool(info, 3, "accumulate", "accumulate");
  float alpha = info.Length() > 4 ? static_cast<float>(ArgNum(info, 4, "accumulate", "alpha")) : 1.0f;
  if (acc) {
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
    for (int64_t i = 0; i < n; i++) dst[i] += alpha * src[i];
  } else {
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
    for (int64_t i = 0; i < n; i++) dst[i] = alpha * src[i];
  }
  return info.Env().Undefined();
}

void RegisterElementwise(Napi::Env env, Napi::Object exports) {
  exports.Set("add", Napi::Function::New(env, Guarded<Add>));
  exports.Set("accumulate", Napi::Function::New(env, Guarded<Accumulate>));
}

}  // namespace tlc
