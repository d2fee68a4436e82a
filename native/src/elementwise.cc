// Element-wise ops: residual add, accumulate, scale.
//
//   add         out[n] = a[n] + b[n]          backward: da (+)= dout, db (+)= dout
//   accumulate  dst[n] (+)= alpha · src[n]    (gradient accumulation, reshape backward, scale)
#include "args.h"
#include "common.h"

namespace tlc {

namespace {
constexpr int64_t kParallelMin = 1 << 15;  // below this, thread start-up costs more than it saves
}

// add({ a, b, out, n })     a, b: [n] -> out: [n]
static Napi::Value Add(const Napi::CallbackInfo& info) {
  Args args(info, "add", {"a", "b", "out", "n"});
  const int64_t n = args.Count("n");
  const float* a = args.F32("a", n);
  const float* b = args.F32("b", n);
  float* out = args.F32("out", n);
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; i++) out[i] = a[i] + b[i];
  return info.Env().Undefined();
}

// accumulate({ dst, src, n, accumulate, alpha? })     src: [n] -> dst: [n] = alpha·src, or += alpha·src
//   alpha defaults to 1
static Napi::Value Accumulate(const Napi::CallbackInfo& info) {
  Args args(info, "accumulate", {"dst", "src", "n", "accumulate", "alpha"});
  const int64_t n = args.Count("n");
  float* dst = args.F32("dst", n);
  const float* src = args.F32("src", n);
  const bool acc = args.Bool("accumulate");
  const float alpha = static_cast<float>(args.Num("alpha", 1.0));
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
