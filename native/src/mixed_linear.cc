// Linear in bfloat16 with float32 accumulation (mixed-precision training), forward and
// backward, plus the cast and the query of what oneDNN can run here.
//
//   cast               dst[n]  = bf16(src[n])                       (round to nearest even, subnormals → ±0)
//   linear forward     xb[M,K] = bf16(x[M,K])                       (fused cast, kept for backward;
//                                                                    none when the producer wrote x in bf16)
//                      y[M,N]  = xb[M,K] · Wb[N,K]ᵀ + b[N]          (bf16 × bf16 → f32 accumulation)
//   linear backward    dyb     = bf16(dy[M,N])                      (cast once, used by both products)
//                      dx[M,K] (+)= dyb[M,N] · Wb[N,K]               (f32 out)
//                      dW[N,K] (+)= dybᵀ[N,M] · xb[M,K]              (f32 out, into the f32 gradient)
//                      db[N]   (+)= Σ_m dy[m,:]                      (in f32, from the f32 dy, in the cast's pass)
//
// Wb is the caller's bf16 copy of the f32 master weight, made once per optimizer step
// (src/engine/mixed.ts). Every product is one oneDNN matmul with bf16 sources and an f32
// destination: oneDNN accumulates in f32 and writes f32, and "(+)=" is a sum post-op in f32,
// so gradients accumulate across micro-batches in f32. Primitives are cached per shape.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <dnnl.hpp>
#include <map>
#include <memory>
#include <tuple>
#include <vector>

#include "args.h"
#include "bf16.h"
#include "common.h"
#include "onednn.h"

namespace tlc {

namespace {
using dnnl::memory;
using dt = memory::data_type;

// M, K, N, transA, transB, bias, accumulate, threads
using Key = std::tuple<int64_t, int64_t, int64_t, bool, bool, bool, bool, int>;

struct Plan {
  memory::desc a, b, c, bias;
  dnnl::matmul prim;
};

// Logical [rows, cols] of `type`; stored transposed means memory holds [cols, rows].
memory::desc Desc(int64_t rows, int64_t cols, bool transposed, dt type) {
  return transposed ? memory::desc({rows, cols}, type, {1, rows}) : memory::desc({rows, cols}, type, {cols, 1});
}

// C[M,N] (+)= op(A)[M,K] · op(B)[K,N] (+ bias[N]); A, B bf16, C and bias f32.
Plan& GetPlan(int64_t M, int64_t K, int64_t N, bool ta, bool tb, bool bias, bool acc) {
  static std::map<Key, std::unique_ptr<Plan>> cache;
  Key key{M, K, N, ta, tb, bias, acc, omp_get_max_threads()};
  auto it = cache.find(key);
  if (it != cache.end()) return *it->second;
  if (cache.size() >= 1024) cache.clear();  // shapes repeat every step; never grow without bound
  auto plan = std::make_unique<Plan>();
  plan->a = Desc(M, K, ta, dt::bf16);
  plan->b = Desc(K, N, tb, dt::bf16);
  plan->c = Desc(M, N, false, dt::f32);
  if (bias) plan->bias = memory::desc({1, N}, dt::f32, {N, 1});
  plan->prim = MakeMatmul(plan->a, plan->b, bias ? &plan->bias : nullptr, plan->c, acc);
  auto& ref = *plan;
  cache.emplace(key, std::move(plan));
  return ref;
}

void RunBf16(int64_t M, int64_t K, int64_t N, bool ta, bool tb, bool acc, const uint16_t* a, const uint16_t* b,
             const float* bias, float* c) {
  Plan& p = GetPlan(M, K, N, ta, tb, bias != nullptr, acc);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, memory(p.a, DnnlEngine(), const_cast<uint16_t*>(a))},
                                       {DNNL_ARG_WEIGHTS, memory(p.b, DnnlEngine(), const_cast<uint16_t*>(b))},
                                       {DNNL_ARG_DST, memory(p.c, DnnlEngine(), c)}};
  if (bias) args.emplace(DNNL_ARG_BIAS, memory(p.bias, DnnlEngine(), const_cast<float*>(bias)));
  p.prim.execute(DnnlStream(), args);
  DnnlStream().wait();
}

std::vector<uint16_t>& Scratch(int which) {
  static std::vector<uint16_t> s[2];
  return s[which];
}

// dyb[M,N] = bf16(dy[M,N]) and, when db is given, db[N] (+)= Σ_m dy[m,:] in f32, in one pass
// over dy. Tasks are blocks of 64 columns; each sums its columns over m in order, the same
// deterministic sums as linear.cc's bias gradient.
void CastAndBiasGrad(const float* dy, uint16_t* dyb, float* db, int64_t M, int64_t N, bool acc) {
  if (!db) {
    CastBf16(dy, dyb, M * N);
    return;
  }
  const int64_t kCols = 64;
  const int64_t tasks = (N + kCols - 1) / kCols;
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < tasks; t++) {
    const int64_t n0 = t * kCols, n1 = std::min(N, n0 + kCols);
    float sum[kCols] = {0};
    for (int64_t m = 0; m < M; m++) {
      const float* row = dy + m * N;
      uint16_t* out = dyb + m * N;
      int64_t n = n0;
#if defined(TLC_AVX512)
      for (; n + 16 <= n1; n += 16) {
        const __m512 v = _mm512_loadu_ps(row + n);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + n), ToBf16x16(v));
        _mm512_storeu_ps(sum + (n - n0), _mm512_add_ps(_mm512_loadu_ps(sum + (n - n0)), v));
      }
#elif defined(TLC_AVX2)
      for (; n + 16 <= n1; n += 16) {
        const __m256 lo = _mm256_loadu_ps(row + n), hi = _mm256_loadu_ps(row + n + 8);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + n), ToBf16x16(lo, hi));
        _mm256_storeu_ps(sum + (n - n0), _mm256_add_ps(_mm256_loadu_ps(sum + (n - n0)), lo));
        _mm256_storeu_ps(sum + (n - n0) + 8, _mm256_add_ps(_mm256_loadu_ps(sum + (n - n0) + 8), hi));
      }
#elif defined(TLC_NEON)
      for (; n + 8 <= n1; n += 8) {
        const float32x4_t lo = vld1q_f32(row + n), hi = vld1q_f32(row + n + 4);
        vst1q_u16(out + n, ToBf16x8(lo, hi));
        vst1q_f32(sum + (n - n0), vaddq_f32(vld1q_f32(sum + (n - n0)), lo));
        vst1q_f32(sum + (n - n0) + 4, vaddq_f32(vld1q_f32(sum + (n - n0) + 4), hi));
      }
#endif
      for (; n < n1; n++) {
        out[n] = ToBf16(row[n]);
        sum[n - n0] += row[n];
      }
    }
    for (int64_t n = n0; n < n1; n++) db[n] = acc ? db[n] + sum[n - n0] : sum[n - n0];
  }
}

}  // namespace

// castBf16({ src, dst, n })     src: [n] f32 -> dst: [n] bf16
static Napi::Value CastBf16Op(const Napi::CallbackInfo& info) {
  Args a(info, "castBf16", {"src", "dst", "n"});
  const int64_t n = a.Count("n");
  const float* src = a.F32("src", n);
  uint16_t* dst = a.Bf16("dst", n);
  CastBf16(src, dst, n);
  return info.Env().Undefined();
}

// linearBf16Forward({ x, w, b, y, xBf16, m, k, n })
//   x: [m, k] f32 or bf16, w: [n, k] bf16, b: [n] f32 | null -> y: [m, n] f32,
//   xBf16: [m, k] bf16 | null (bf16(x), written when given for an f32 x: backward's copy of
//   x; null for a bf16 x, which is its own copy)
static Napi::Value LinearBf16Forward(const Napi::CallbackInfo& info) {
  Args a(info, "linear bf16", {"x", "w", "b", "y", "xBf16", "m", "k", "n"});
  const int64_t M = a.Dim("m"), K = a.Dim("k"), N = a.Dim("n");
  const uint16_t* w = a.Bf16("w", N * K);
  const float* b = a.OptF32("b", N);
  float* y = a.F32("y", M * N);
  if (a.DTypeOf("x") == DType::bf16) {
    if (!a.IsNull("xBf16")) a.Fail("xBf16", "must be null when x is already bf16");
    RunBf16(M, K, N, false, true, false, a.Bf16("x", M * K), w, b, y);  // [M,K]·[N,K]ᵀ
    return info.Env().Undefined();
  }
  const float* x = a.F32("x", M * K);
  uint16_t* xb = a.IsNull("xBf16") ? nullptr : a.Bf16("xBf16", M * K);
  if (!xb) {
    auto& s = Scratch(0);
    if (static_cast<int64_t>(s.size()) < M * K) s.resize(M * K);
    xb = s.data();
  }
  CastBf16(x, xb, M * K);
  RunBf16(M, K, N, false, true, false, xb, w, b, y);  // [M,K]·[N,K]ᵀ
  return info.Env().Undefined();
}

// linearBf16Backward({ dy, x, w, dx, dw, db, m, k, n, accumulateDx, accumulateDw, accumulateDb })
//   dy: [m, n] f32, x: [m, k] bf16 (the forward pass's xBf16), w: [n, k] bf16
//   -> dx: [m, k] f32 | null, dw: [n, k] f32 | null, db: [n] f32 | null
static Napi::Value LinearBf16Backward(const Napi::CallbackInfo& info) {
  Args a(info, "linear bf16 backward",
         {"dy", "x", "w", "dx", "dw", "db", "m", "k", "n", "accumulateDx", "accumulateDw", "accumulateDb"});
  const int64_t M = a.Dim("m"), K = a.Dim("k"), N = a.Dim("n");
  const bool acc_dx = a.Bool("accumulateDx"), acc_dw = a.Bool("accumulateDw"), acc_db = a.Bool("accumulateDb");
  const float* dy = a.F32("dy", M * N);
  const uint16_t* x = a.Bf16("x", M * K);
  const uint16_t* w = a.Bf16("w", N * K);
  float* dx = a.OptF32("dx", M * K);
  float* dw = a.OptF32("dw", N * K);
  float* db = a.OptF32("db", N);
  if (dx || dw) {
    auto& s = Scratch(1);
    if (static_cast<int64_t>(s.size()) < M * N) s.resize(M * N);
    CastAndBiasGrad(dy, s.data(), db, M, N, acc_db);                           // dyb, and db from the f32 dy
    if (dx) RunBf16(M, N, K, false, false, acc_dx, s.data(), w, nullptr, dx);  // [M,N]·[N,K]
    if (dw) RunBf16(N, M, K, true, false, acc_dw, s.data(), x, nullptr, dw);   // [N,M]·[M,K]
  } else if (db) {
    auto& s = Scratch(1);
    if (static_cast<int64_t>(s.size()) < M * N) s.resize(M * N);
    CastAndBiasGrad(dy, s.data(), db, M, N, acc_db);
  }
  return info.Env().Undefined();
}

// benchMatmulBf16({ m, k, n, transA, transB, iterations }) -> median seconds per call of a raw
// oneDNN bf16 × bf16 → f32 matmul [m, k] · [k, n] on buffers it owns (the bf16 peak).
static Napi::Value BenchMatmulBf16(const Napi::CallbackInfo& info) {
  Args a(info, "benchMatmulBf16", {"m", "k", "n", "transA", "transB", "iterations"});
  const int64_t M = a.Dim("m"), K = a.Dim("k"), N = a.Dim("n");
  const bool ta = a.Bool("transA"), tb = a.Bool("transB");
  const int64_t iters = a.Dim("iterations");
  std::vector<uint16_t> A(M * K, ToBf16(0.5f)), B(K * N, ToBf16(0.25f));
  std::vector<float> C(M * N);
  for (int i = 0; i < 2; i++) RunBf16(M, K, N, ta, tb, false, A.data(), B.data(), nullptr, C.data());  // warm-up
  std::vector<double> times;
  for (int64_t i = 0; i < iters; i++) {
    auto t0 = std::chrono::steady_clock::now();
    RunBf16(M, K, N, ta, tb, false, A.data(), B.data(), nullptr, C.data());
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  return Napi::Number::New(info.Env(), times[times.size() / 2]);
}

// onednnInfo() -> { isa, version, bf16Matmul, bf16Native }
//   isa: the instruction set oneDNN dispatches to (after ONEDNN_MAX_CPU_ISA);
//   bf16Matmul: oneDNN builds a bf16 × bf16 → f32 matmul here (tried, not assumed: oneDNN
//   2.6 has none below AVX-512); bf16Native: it runs it on bf16 dot products (AVX512-BF16, AMX)
//   rather than emulating them on AVX-512.
static Napi::Value OnednnInfo(const Napi::CallbackInfo& info) {
  const unsigned isa = static_cast<unsigned>(dnnl_get_effective_cpu_isa());
#if defined(__aarch64__)
  // oneDNN 2.6 returns its aarch64 ISA's bits through the x86-named type: ASIMD = 0x1, then
  // one bit per SVE vector length (128, 256, 384, 512) on top. None of the x86 names applies.
  auto has = [](unsigned) { return false; };
  const char* name = (isa & 0x10u) ? "sve_512" : (isa & 0x8u) ? "sve_384" : (isa & 0x4u) ? "sve_256" : (isa & 0x2u) ? "sve_128" : (isa & 0x1u) ? "asimd" : "any";
#else
  auto has = [isa](unsigned want) { return (isa & want) == want; };
  const char* name = has(dnnl_cpu_isa_avx512_core_amx)    ? "avx512_core_amx"
                     : has(dnnl_cpu_isa_avx512_core_bf16) ? "avx512_core_bf16"
                     : has(dnnl_cpu_isa_avx512_core_vnni) ? "avx512_core_vnni"
                     : has(dnnl_cpu_isa_avx512_core)      ? "avx512_core"
                     : has(dnnl_cpu_isa_avx2_vnni)        ? "avx2_vnni"
                     : has(dnnl_cpu_isa_avx2)             ? "avx2"
                     : has(dnnl_cpu_isa_avx)              ? "avx"
                     : has(dnnl_cpu_isa_sse41)            ? "sse41"
                                                          : "any";
#endif
  bool bf16 = true;
  try {
    memory::desc a({64, 64}, dt::bf16, {64, 1}), b({64, 64}, dt::bf16, {64, 1}), c({64, 64}, dt::f32, {64, 1});
    dnnl::matmul::primitive_desc(dnnl::matmul::desc(a, b, c), DnnlEngine());
  } catch (const dnnl::error&) {
    bf16 = false;
  }
  const dnnl_version_t* v = dnnl_version();
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("isa", name);
  out.Set("version", std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch));
  out.Set("bf16Matmul", bf16);
  out.Set("bf16Native", bf16 && has(dnnl_cpu_isa_avx512_core_bf16));
  out.Set("int8Vnni", has(dnnl_cpu_isa_avx512_core_vnni) || has(dnnl_cpu_isa_avx2_vnni));
  return out;
}

void RegisterMixedLinear(Napi::Env env, Napi::Object exports) {
  exports.Set("castBf16", Napi::Function::New(env, Guarded<CastBf16Op>));
  exports.Set("linearBf16Forward", Napi::Function::New(env, Guarded<LinearBf16Forward>));
  exports.Set("linearBf16Backward", Napi::Function::New(env, Guarded<LinearBf16Backward>));
  exports.Set("benchMatmulBf16", Napi::Function::New(env, Guarded<BenchMatmulBf16>));
  exports.Set("onednnInfo", Napi::Function::New(env, Guarded<OnednnInfo>));
}

}  // namespace tlc
