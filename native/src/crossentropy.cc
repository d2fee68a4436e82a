// Fused softmax cross-entropy over a vocabulary, forward and backward.
//
//   forward   lse[n]  = log Σ_v exp(logits[n, v])
//             loss    = 1/count · Σ_{n kept} lse[n] − (1−ε)·logits[n, t_n] − ε·mean_v logits[n, v]
//   backward  dlogits[n, v] (+)= g/count · (exp(logits[n, v] − lse[n]) − (1−ε)·[v = t_n] − ε/V)
//
// with t_n = targets[n]; rows whose target is the ignore index are not "kept": they add
// nothing to the loss and get a zero gradient. ε is PyTorch's label smoothing:
// (1−ε)·nll + ε·mean_v(−log p_v). `count` is the number of kept rows; with none the loss
// is 0. The loss is summed in row order in double, so it does not depend on the thread
// count. The softmax is never materialised: forward reads the logits once from memory
// (the row max, then the exp-sum from cache), backward reads them once more and writes
// the gradient.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "args.h"
#include "common.h"
#include "simd.h"

namespace tlc {

namespace {

// Per-row kernels, one path per level (simd.h): AVX-512 computes exp with vscalefps (Exp16),
// AVX2 and NEON with the exponent bits (Exp8, Exp4), the portable path in a form the compiler vectorises
// (this needs -fno-trapping-math). All use the same polynomial and accuracy (about 1 ulp).
//
//   RowMax(x)                          max_v x[v]                       x: [V]
//   RowExpSum(x, next, shift, ...)     Σ exp(x[v] − shift), Σ x[v], and max_v next[v]
//   RowGrad(x, d, lse, scale, off)     d[v] (+)= scale·exp(x[v] − lse) − off     d: [V]
//
// RowExpSum also takes the max of the *next* row: that row streams in from memory while
// this one, already in cache, keeps the arithmetic units busy.

#if defined(TLC_AVX512)
using simd::Exp16;
using simd::TailMask16;

float RowMax(const float* x, int64_t V) {
  __m512 m = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  int64_t v = 0;
  for (; v + 16 <= V; v += 16) m = _mm512_max_ps(m, _mm512_loadu_ps(x + v));
  if (v < V) {
    const __mmask16 k = TailMask16(V - v);
    m = _mm512_mask_max_ps(m, k, m, _mm512_maskz_loadu_ps(k, x + v));
  }
  return _mm512_reduce_max_ps(m);
}

void RowExpSum(const float* x, const float* next, int64_t V, float shift, float* sum_exp, float* sum_x,
               float* next_max) {
  const __m512 sh = _mm512_set1_ps(shift);
  __m512 se = _mm512_setzero_ps(), sx = _mm512_setzero_ps();
  __m512 nm = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  int64_t v = 0;
  for (; v + 16 <= V; v += 16) {
    const __m512 xv = _mm512_loadu_ps(x + v);
    se = _mm512_add_ps(se, Exp16(_mm512_sub_ps(xv, sh)));
    sx = _mm512_add_ps(sx, xv);
    nm = _mm512_max_ps(nm, _mm512_loadu_ps(next + v));
  }
  if (v < V) {
    const __mmask16 k = TailMask16(V - v);
    const __m512 xv = _mm512_maskz_loadu_ps(k, x + v);
    se = _mm512_mask_add_ps(se, k, se, Exp16(_mm512_sub_ps(xv, sh)));
    sx = _mm512_mask_add_ps(sx, k, sx, xv);
    nm = _mm512_mask_max_ps(nm, k, nm, _mm512_maskz_loadu_ps(k, next + v));
  }
  *sum_exp = _mm512_reduce_add_ps(se);
  *sum_x = _mm512_reduce_add_ps(sx);
  *next_max = _mm512_reduce_max_ps(nm);
}

void RowGrad(const float* x, float* d, int64_t V, float lse, float scale, float off, bool accumulate) {
  const __m512 l = _mm512_set1_ps(lse), a = _mm512_set1_ps(scale), o = _mm512_set1_ps(off);
  int64_t v = 0;
  for (; v + 16 <= V; v += 16) {
    __m512 g = _mm512_fmsub_ps(a, Exp16(_mm512_sub_ps(_mm512_loadu_ps(x + v), l)), o);
    if (accumulate) g = _mm512_add_ps(_mm512_loadu_ps(d + v), g);
    _mm512_storeu_ps(d + v, g);
  }
  if (v < V) {
    const __mmask16 k = TailMask16(V - v);
    __m512 g = _mm512_fmsub_ps(a, Exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + v), l)), o);
    if (accumulate) g = _mm512_add_ps(_mm512_maskz_loadu_ps(k, d + v), g);
    _mm512_mask_storeu_ps(d + v, k, g);
  }
}

#elif defined(TLC_AVX2)
using simd::Exp8;

float RowMax(const float* x, int64_t V) {
  __m256 m = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  int64_t v = 0;
  for (; v + 8 <= V; v += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(x + v));
  float r = simd::HMax8(m);
  for (; v < V; v++) r = x[v] > r ? x[v] : r;
  return r;
}

void RowExpSum(const float* x, const float* next, int64_t V, float shift, float* sum_exp, float* sum_x,
               float* next_max) {
  const __m256 sh = _mm256_set1_ps(shift);
  __m256 se = _mm256_setzero_ps(), sx = _mm256_setzero_ps();
  __m256 nm = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  int64_t v = 0;
  for (; v + 8 <= V; v += 8) {
    const __m256 xv = _mm256_loadu_ps(x + v);
    se = _mm256_add_ps(se, Exp8(_mm256_sub_ps(xv, sh)));
    sx = _mm256_add_ps(sx, xv);
    nm = _mm256_max_ps(nm, _mm256_loadu_ps(next + v));
  }
  float e = simd::HSum8(se), s = simd::HSum8(sx), n = simd::HMax8(nm);
  for (; v < V; v++) {
    e += simd::ExpClamped(x[v] - shift);
    s += x[v];
    n = next[v] > n ? next[v] : n;
  }
  *sum_exp = e;
  *sum_x = s;
  *next_max = n;
}

void RowGrad(const float* x, float* d, int64_t V, float lse, float scale, float off, bool accumulate) {
  const __m256 l = _mm256_set1_ps(lse), a = _mm256_set1_ps(scale), o = _mm256_set1_ps(off);
  int64_t v = 0;
  for (; v + 8 <= V; v += 8) {
    __m256 g = _mm256_fmsub_ps(a, Exp8(_mm256_sub_ps(_mm256_loadu_ps(x + v), l)), o);
    if (accumulate) g = _mm256_add_ps(_mm256_loadu_ps(d + v), g);
    _mm256_storeu_ps(d + v, g);
  }
  for (; v < V; v++) {
    const float g = scale * simd::ExpClamped(x[v] - lse) - off;
    d[v] = accumulate ? d[v] + g : g;
  }
}

#elif defined(TLC_NEON)
using simd::Exp4;

float RowMax(const float* x, int64_t V) {
  float32x4_t m = vdupq_n_f32(-std::numeric_limits<float>::infinity());
  int64_t v = 0;
  for (; v + 4 <= V; v += 4) m = vmaxq_f32(m, vld1q_f32(x + v));
  float r = vmaxvq_f32(m);
  for (; v < V; v++) r = x[v] > r ? x[v] : r;
  return r;
}

// two accumulators per sum: the adds of one step do not wait on the previous step's
void RowExpSum(const float* x, const float* next, int64_t V, float shift, float* sum_exp, float* sum_x,
               float* next_max) {
  const float32x4_t sh = vdupq_n_f32(shift);
  float32x4_t se0 = vdupq_n_f32(0.f), se1 = se0, sx0 = se0, sx1 = se0;
  float32x4_t nm = vdupq_n_f32(-std::numeric_limits<float>::infinity());
  int64_t v = 0;
  for (; v + 8 <= V; v += 8) {
    const float32x4_t x0 = vld1q_f32(x + v), x1 = vld1q_f32(x + v + 4);
    se0 = vaddq_f32(se0, Exp4(vsubq_f32(x0, sh)));
    se1 = vaddq_f32(se1, Exp4(vsubq_f32(x1, sh)));
    sx0 = vaddq_f32(sx0, x0);
    sx1 = vaddq_f32(sx1, x1);
    nm = vmaxq_f32(nm, vmaxq_f32(vld1q_f32(next + v), vld1q_f32(next + v + 4)));
  }
  float e = vaddvq_f32(vaddq_f32(se0, se1)), s = vaddvq_f32(vaddq_f32(sx0, sx1)), n = vmaxvq_f32(nm);
  for (; v < V; v++) {
    e += simd::ExpClamped(x[v] - shift);
    s += x[v];
    n = next[v] > n ? next[v] : n;
  }
  *sum_exp = e;
  *sum_x = s;
  *next_max = n;
}

void RowGrad(const float* x, float* d, int64_t V, float lse, float scale, float off, bool accumulate) {
  const float32x4_t l = vdupq_n_f32(lse), a = vdupq_n_f32(scale), o = vdupq_n_f32(off);
  int64_t v = 0;
  for (; v + 4 <= V; v += 4) {
    float32x4_t g = vnegq_f32(vfmsq_f32(o, a, Exp4(vsubq_f32(vld1q_f32(x + v), l))));  // a·e − o, fused
    if (accumulate) g = vaddq_f32(vld1q_f32(d + v), g);
    vst1q_f32(d + v, g);
  }
  for (; v < V; v++) {
    const float g = scale * simd::ExpClamped(x[v] - lse) - off;
    d[v] = accumulate ? d[v] + g : g;
  }
}

#else  // portable
using simd::ExpClamped;

float RowMax(const float* x, int64_t V) {
  float m = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : m)
  for (int64_t v = 0; v < V; v++) m = x[v] > m ? x[v] : m;
  return m;
}

void RowExpSum(const float* x, const float* next, int64_t V, float shift, float* sum_exp, float* sum_x,
               float* next_max) {
  float se = 0.0f, sx = 0.0f, nm = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(+ : se, sx) reduction(max : nm)
  for (int64_t v = 0; v < V; v++) {
    se += ExpClamped(x[v] - shift);
    sx += x[v];
    nm = next[v] > nm ? next[v] : nm;
  }
  *sum_exp = se;
  *sum_x = sx;
  *next_max = nm;
}

void RowGrad(const float* x, float* d, int64_t V, float lse, float scale, float off, bool accumulate) {
  if (accumulate) {
#pragma omp simd
    for (int64_t v = 0; v < V; v++) d[v] += scale * ExpClamped(x[v] - lse) - off;
  } else {
#pragma omp simd
    for (int64_t v = 0; v < V; v++) d[v] = scale * ExpClamped(x[v] - lse) - off;
  }
}

#endif

bool Kept(int32_t target, int64_t ignore_index) { return target != ignore_index; }

// Counts kept targets; throws on the first target that is neither in [0, V) nor the
// ignore index. Serial: it runs before any write and costs nothing next to the logits.
int64_t CheckTargets(const Napi::CallbackInfo& info, const char* op, const int32_t* targets, int64_t N, int64_t V,
                     int64_t ignore_index) {
  int64_t count = 0;
  for (int64_t n = 0; n < N; n++) {
    const int32_t t = targets[n];
    if (!Kept(t, ignore_index)) continue;
    if (t < 0 || t >= V)
      Fail(info.Env(), std::string(op) + ": target " + std::to_string(t) + " at position " + std::to_string(n) +
                           " is outside the vocabulary of " + std::to_string(V) + " (and is not the ignore index " +
                           std::to_string(ignore_index) + ")");
    count++;
  }
  return count;
}

void CheckSmoothing(const Args& a, double smoothing) {
  if (!(smoothing >= 0.0 && smoothing <= 1.0))
    a.Fail("labelSmoothing", "must be in [0, 1], got " + std::to_string(smoothing));
}

// logits: [N, V], targets: [N] -> lse: [N], row_loss: [N] (0 for ignored rows)
// Each thread takes a contiguous block of rows so that it can read ahead into the next.
void CrossEntropyRows(const float* logits, const int32_t* targets, float* lse, double* row_loss, int64_t N, int64_t V,
                      int64_t ignore_index, double smoothing) {
#pragma omp parallel
  {
    const int64_t T = omp_get_num_threads(), t = omp_get_thread_num();
    const int64_t n0 = N * t / T, n1 = N * (t + 1) / T;
    bool have_max = false;  // next_max already holds the max of row n
    float next_max = 0.0f;
    for (int64_t n = n0; n < n1; n++) {
      const float* x = logits + n * V;
      const int32_t target = targets[n];
      if (!Kept(target, ignore_index)) {
        lse[n] = 0.0f;
        row_loss[n] = 0.0;
        have_max = false;
        continue;
      }
      const float row_max = have_max ? next_max : RowMax(x, V);
      const bool read_ahead = n + 1 < n1 && Kept(targets[n + 1], ignore_index);
      float sum_exp, sum_x;
      RowExpSum(x, read_ahead ? x + V : x, V, row_max, &sum_exp, &sum_x, &next_max);
      have_max = read_ahead;
      const double row_lse = static_cast<double>(row_max) + std::log(static_cast<double>(sum_exp));
      lse[n] = static_cast<float>(row_lse);
      row_loss[n] = row_lse - (1.0 - smoothing) * x[target] - smoothing * (static_cast<double>(sum_x) / V);
    }
  }
}

// logits: [N, V], targets: [N], lse: [N] -> dlogits: [N, V] (+)= scale·(softmax − smoothed one-hot)
void CrossEntropyGrad(const float* logits, const int32_t* targets, const float* lse, float* dlogits, int64_t N,
                      int64_t V, int64_t ignore_index, float smoothing, float scale, bool accumulate) {
  const float off_target = scale * smoothing / static_cast<float>(V);
  const float on_target = scale * (1.0f - smoothing);
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; n++) {
    const float* x = logits + n * V;
    float* d = dlogits + n * V;
    const int32_t t = targets[n];
    if (!Kept(t, ignore_index)) {
      if (!accumulate) std::memset(d, 0, V * sizeof(float));
      continue;
    }
    RowGrad(x, d, V, lse[n], scale, off_target, accumulate);
    d[t] -= on_target;
  }
}
}  // namespace

// crossEntropyForward({ logits, targets, lse, loss, n, vocab, ignoreIndex, labelSmoothing }) -> count
//   logits: [n, vocab], targets: [n] i32 -> lse: [n] (saved for backward), loss: [1]
static Napi::Value CrossEntropyForward(const Napi::CallbackInfo& info) {
  const char* op = "crossEntropy";
  Args a(info, op, {"logits", "targets", "lse", "loss", "n", "vocab", "ignoreIndex", "labelSmoothing"});
  const int64_t N = a.Dim("n"), V = a.Dim("vocab");
  const int64_t ignore_index = a.Int("ignoreIndex");
  const double smoothing = a.Num("labelSmoothing");
  CheckSmoothing(a, smoothing);
  const float* logits = a.F32("logits", N * V);
  const int32_t* targets = a.I32("targets", N);
  float* lse = a.F32("lse", N);
  float* loss = a.F32("loss", 1);
  const int64_t count = CheckTargets(info, op, targets, N, V, ignore_index);
  std::vector<double> row_loss(N);
  CrossEntropyRows(logits, targets, lse, row_loss.data(), N, V, ignore_index, smoothing);
  double total = 0.0;
  for (int64_t n = 0; n < N; n++) total += row_loss[n];  // fixed order: thread-count independent
  loss[0] = count > 0 ? static_cast<float>(total / static_cast<double>(count)) : 0.0f;
  return Napi::Number::New(info.Env(), static_cast<double>(count));
}

// crossEntropyBackward({ dLoss, logits, targets, lse, dLogits, n, vocab, ignoreIndex, labelSmoothing, count, accumulate })
//   dLoss: [1], logits: [n, vocab], targets: [n], lse: [n] -> dLogits: [n, vocab]
static Napi::Value CrossEntropyBackward(const Napi::CallbackInfo& info) {
  const char* op = "crossEntropy backward";
  Args a(info, op, {"dLoss", "logits", "targets", "lse", "dLogits", "n", "vocab", "ignoreIndex", "labelSmoothing",
                    "count", "accumulate"});
  const int64_t N = a.Dim("n"), V = a.Dim("vocab");
  const int64_t ignore_index = a.Int("ignoreIndex");
  const double smoothing = a.Num("labelSmoothing");
  const int64_t count = a.Count("count");
  const bool acc = a.Bool("accumulate");
  CheckSmoothing(a, smoothing);
  const float* dloss = a.F32("dLoss", 1);
  const float* logits = a.F32("logits", N * V);
  const int32_t* targets = a.I32("targets", N);
  const float* lse = a.F32("lse", N);
  float* dlogits = a.F32("dLogits", N * V);
  // Re-checked: the targets index the gradient rows, and may have changed since forward.
  if (CheckTargets(info, op, targets, N, V, ignore_index) != count) a.Fail("the targets changed between forward and backward");
  const float scale = count > 0 ? static_cast<float>(static_cast<double>(dloss[0]) / static_cast<double>(count)) : 0.0f;
  CrossEntropyGrad(logits, targets, lse, dlogits, N, V, ignore_index, static_cast<float>(smoothing), scale, acc);
  return info.Env().Undefined();
}

// crossEntropyCount({ targets, n, ignoreIndex }) -> number of targets that are not the ignore index
//   targets: [n] i32
static Napi::Value CrossEntropyCount(const Napi::CallbackInfo& info) {
  Args a(info, "countTargets", {"targets", "n", "ignoreIndex"});
  const int64_t N = a.Count("n");
  const int64_t ignore_index = a.Int("ignoreIndex");
  const int32_t* targets = a.I32("targets", N);
  int64_t count = 0;
  for (int64_t n = 0; n < N; n++) count += Kept(targets[n], ignore_index) ? 1 : 0;
  return Napi::Number::New(info.Env(), static_cast<double>(count));
}

void RegisterCrossEntropy(Napi::Env env, Napi::Object exports) {
  exports.Set("crossEntropyForward", Napi::Function::New(env, Guarded<CrossEntropyForward>));
  exports.Set("crossEntropyBackward", Napi::Function::New(env, Guarded<CrossEntropyBackward>));
  exports.Set("crossEntropyCount", Napi::Function::New(env, Guarded<CrossEntropyCount>));
}

}  // namespace tlc
