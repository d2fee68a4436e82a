// Linear and matmul on oneDNN, forward and backward.
//
//   linear forward     y[M,N]  = x[M,K] · W[N,K]ᵀ + b[N]
//   linear backward    dx[M,K] (+)= dy[M,N] · W[N,K]
//                      dW[N,K] (+)= dy[M,N]ᵀ · x[M,K]
//                      db[N]   (+)= Σ_m dy[m,:]
//   matmul             C[B,M,N] (+)= op(A)[B,M,K] · op(B)[B,K,N],  op = optional transpose
//
// "(+)=" means the caller chooses to overwrite or accumulate; accumulation is a oneDNN
// sum post-op, so gradient accumulation across micro-batches costs no extra pass.
// Primitives are created once per (shape, transposes, flags, threads) and cached.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <dnnl.hpp>
#include <map>
#include <memory>
#include <tuple>
#include <vector>

#include "args.h"
#include "common.h"
#include "onednn.h"

namespace tlc {

dnnl::engine& DnnlEngine() {
  static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}
dnnl::stream& DnnlStream() {
  static dnnl::stream s(DnnlEngine());
  return s;
}

dnnl::matmul MakeMatmul(const dnnl::memory::desc& a, const dnnl::memory::desc& b, const dnnl::memory::desc* bias,
                        const dnnl::memory::desc& c, bool accumulate) {
  dnnl::primitive_attr attr;
  if (accumulate) {
    dnnl::post_ops po;
    po.append_sum(1.0f);
    attr.set_post_ops(po);
  }
  auto pd = bias ? dnnl::matmul::primitive_desc(dnnl::matmul::desc(a, b, *bias, c), attr, DnnlEngine())
                 : dnnl::matmul::primitive_desc(dnnl::matmul::desc(a, b, c), attr, DnnlEngine());
  return dnnl::matmul(pd);
}

namespace {
using dnnl::memory;
dnnl::engine& Engine() { return DnnlEngine(); }
dnnl::stream& Stream() { return DnnlStream(); }

// batch, M, K, N, transA, transB, bias, accumulate, threads
using MatmulKey = std::tuple<int64_t, int64_t, int64_t, int64_t, bool, bool, bool, bool, int>;

struct MatmulPlan {
  memory::desc a, b, c, bias;
  dnnl::matmul prim;
  // oneDNN 2.6 is up to 30% slower on a plain [K, N] right operand when N >= 4K (the
  // backward-data product of a wide FFN layer) than on the same operand stored as
  // [N, K]; such plans transpose B into a scratch buffer first (a cheap O(K·N) pass).
  bool transpose_b = false;
  memory::desc b_user;
  dnnl::reorder to_transposed;
};

std::vector<float>& TransposeScratch() {
  static std::vector<float> scratch;
  return scratch;
}

memory::desc Desc(int64_t batch, int64_t rows, int64_t cols, bool transposed) {
  // Logical [batch, rows, cols]; stored transposed means memory holds [batch, cols, rows].
  if (batch == 1) {
    return transposed ? memory::desc({rows, cols}, memory::data_type::f32, {1, rows})
                      : memory::desc({rows, cols}, memory::data_type::f32, {cols, 1});
  }
  return transposed ? memory::desc({batch, rows, cols}, memory::data_type::f32, {rows * cols, 1, rows})
                    : memory::desc({batch, rows, cols}, memory::data_type::f32, {rows * cols, cols, 1});
}

MatmulPlan& Plan(int64_t batch, int64_t M, int64_t K, int64_t N, bool ta, bool tb, bool bias, bool acc) {
  static std::map<MatmulKey, std::unique_ptr<MatmulPlan>> cache;
  MatmulKey key{batch, M, K, N, ta, tb, bias, acc, omp_get_max_threads()};
  auto it = cache.find(key);
  if (it != cache.end()) return *it->second;
  // Shapes repeat every step, so the cache stays small; a workload that keeps producing
  // new shapes must not grow it without bound. Plans are only referenced during a call.
  if (cache.size() >= 1024) cache.clear();
  auto plan = std::make_unique<MatmulPlan>();
  plan->a = Desc(batch, M, K, ta);
  plan->transpose_b = batch == 1 && !tb && N >= 4 * K;
  plan->b_user = Desc(batch, K, N, tb);
  plan->b = plan->transpose_b ? Desc(batch, K, N, true) : plan->b_user;
  if (plan->transpose_b) plan->to_transposed = dnnl::reorder(dnnl::reorder::primitive_desc(Engine(), plan->b_user, Engine(), plan->b));
  plan->c = Desc(batch, M, N, false);
  if (bias) {
    plan->bias = batch == 1 ? memory::desc({1, N}, memory::data_type::f32, {N, 1})
                            : memory::desc({1, 1, N}, memory::data_type::f32, {N, N, 1});
  }
  plan->prim = MakeMatmul(plan->a, plan->b, bias ? &plan->bias : nullptr, plan->c, acc);
  auto& ref = *plan;
  cache.emplace(key, std::move(plan));
  return ref;
}

void RunMatmul(int64_t batch, int64_t M, int64_t K, int64_t N, bool ta, bool tb, bool acc, const float* a,
               const float* b, const float* bias, float* c) {
  MatmulPlan& p = Plan(batch, M, K, N, ta, tb, bias != nullptr, acc);
  const float* weights = b;
  if (p.transpose_b) {
    auto& scratch = TransposeScratch();
    if (scratch.size() < static_cast<size_t>(K * N)) scratch.resize(K * N);
    memory user(p.b_user, Engine(), const_cast<float*>(b)), transposed(p.b, Engine(), scratch.data());
    p.to_transposed.execute(Stream(), user, transposed);
    weights = scratch.data();
  }
  std::unordered_map<int, memory> args{
      {DNNL_ARG_SRC, memory(p.a, Engine(), const_cast<float*>(a))},
      {DNNL_ARG_WEIGHTS, memory(p.b, Engine(), const_cast<float*>(weights))},
      {DNNL_ARG_DST, memory(p.c, Engine(), c)}};
  if (bias) args.emplace(DNNL_ARG_BIAS, memory(p.bias, Engine(), const_cast<float*>(bias)));
  p.prim.execute(Stream(), args);
  Stream().wait();
}

// db[N] (+)= Σ_m dy[m, n]      dy: [M, N]
void BiasGrad(const float* dy, float* db, int64_t M, int64_t N, bool acc) {
  const int64_t kCols = 64;  // columns per task: one AVX-512 register row ×4
  const int64_t tasks = (N + kCols - 1) / kCols;
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < tasks; t++) {
    const int64_t n0 = t * kCols, n1 = std::min(N, n0 + kCols);
    float sum[kCols] = {0};
    for (int64_t m = 0; m < M; m++) {
      const float* row = dy + m * N;
      for (int64_t n = n0; n < n1; n++) sum[n - n0] += row[n];
    }
    for (int64_t n = n0; n < n1; n++) db[n] = acc ? db[n] + sum[n - n0] : sum[n - n0];
  }
}

}  // namespace

// matmul({ a, b, c, batch, m, k, n, transA, transB, accumulate })
//   a: [batch, m, k] (stored [batch, k, m] when transA), b: [batch, k, n] (stored [batch, n, k]
//   when transB) -> c: [batch, m, n]
static Napi::Value Matmul(const Napi::CallbackInfo& info) {
  Args a(info, "matmul", {"a", "b", "c", "batch", "m", "k", "n", "transA", "transB", "accumulate"});
  const int64_t batch = a.Dim("batch"), M = a.Dim("m"), K = a.Dim("k"), N = a.Dim("n");
  const bool ta = a.Bool("transA"), tb = a.Bool("transB"), acc = a.Bool("accumulate");
  const float* A = a.F32("a", batch * M * K);
  const float* B = a.F32("b", batch * K * N);
  float* C = a.F32("c", batch * M * N);
  RunMatmul(batch, M, K, N, ta, tb, acc, A, B, nullptr, C);
  return info.Env().Undefined();
}

// linearForward({ x, w, b, y, m, k, n })     x: [m, k], w: [n, k], b: [n] | null -> y: [m, n]
static Napi::Value LinearForward(const Napi::CallbackInfo& info) {
  Args a(info, "linear", {"x", "w", "b", "y", "m", "k", "n"});
  const int64_t M = a.Dim("m"), K = a.Dim("k"), N = a.Dim("n");
  const float* x = a.F32("x", M * K);
  const float* w = a.F32("w", N * K);
  const float* b = a.OptF32("b", N);
  float* y = a.F32("y", M * N);
  RunMatmul(1, M, K, N, false, true, false, x, w, b, y);
  return info.Env().Undefined();
}

// linearBackward({ dy, x, w, dx, dw, db, m, k, n, accumulateDx, accumulateDw, accumulateDb })
//   dy: [m, n], x: [m, k], w: [n, k] -> dx: [m, k] | null, dw: [n, k] | null, db: [n] | null
static Napi::Value LinearBackward(const Napi::CallbackInfo& info) {
  Args a(info, "linear backward",
         {"dy", "x", "w", "dx", "dw", "db", "m", "k", "n", "accumulateDx", "accumulateDw", "accumulateDb"});
  const int64_t M = a.Dim("m"), K = a.Dim("k"), N = a.Dim("n");
  const bool acc_dx = a.Bool("accumulateDx"), acc_dw = a.Bool("accumulateDw"), acc_db = a.Bool("accumulateDb");
  const float* dy = a.F32("dy", M * N);
  const float* x = a.F32("x", M * K);
  const float* w = a.F32("w", N * K);
  float* dx = a.OptF32("dx", M * K);
  float* dw = a.OptF32("dw", N * K);
  float* db = a.OptF32("db", N);
  if (dx) RunMatmul(1, M, N, K, false, false, acc_dx, dy, w, nullptr, dx);  // [M,N]·[N,K]
  if (dw) RunMatmul(1, N, M, K, true, false, acc_dw, dy, x, nullptr, dw);   // [N,M]·[M,K]
  if (db) BiasGrad(dy, db, M, N, acc_db);
  return info.Env().Undefined();
}

// benchMatmul({ m, k, n, transA, transB, iterations }) -> median seconds per call of a raw
// oneDNN matmul [m, k] · [k, n] on buffers it owns: the baseline the kernel benchmark
// compares tlc's ops with.
static Napi::Value BenchMatmul(const Napi::CallbackInfo& info) {
  Args a(info, "benchMatmul", {"m", "k", "n", "transA", "transB", "iterations"});
  const int64_t M = a.Dim("m"), K = a.Dim("k"), N = a.Dim("n");
  const bool ta = a.Bool("transA"), tb = a.Bool("transB");
  const int64_t iters = a.Dim("iterations");
  std::vector<float> A(M * K, 0.5f), B(K * N, 0.25f), C(M * N);
  for (int i = 0; i < 2; i++) RunMatmul(1, M, K, N, ta, tb, false, A.data(), B.data(), nullptr, C.data());  // warm-up
  std::vector<double> times;
  for (int64_t i = 0; i < iters; i++) {
    auto t0 = std::chrono::steady_clock::now();
    RunMatmul(1, M, K, N, ta, tb, false, A.data(), B.data(), nullptr, C.data());
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  return Napi::Number::New(info.Env(), times[times.size() / 2]);  // median: robust to a noisy neighbour
}

void RegisterLinear(Napi::Env env, Napi::Object exports) {
  exports.Set("matmul", Napi::Function::New(env, Guarded<Matmul>));
  exports.Set("linearForward", Napi::Function::New(env, Guarded<LinearForward>));
  exports.Set("linearBackward", Napi::Function::New(env, Guarded<LinearBackward>));
  exports.Set("benchMatmul", Napi::Function::New(env, Guarded<BenchMatmul>));
}

}  // namespace tlc
