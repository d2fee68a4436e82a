// AdamW with global gradient-norm clipping, over all parameters in one call.
//
//   gradNormSquared   s[k] = Σ_i g_k[i]²                     (double, per parameter)
//   adamwStep         for every parameter k, element i (one pass over p, g, m, v):
//       g' = g·clip;  p ← p·(1 − lr·wd_k)
//       m ← β1·m + (1−β1)·g';   v ← β2·v + (1−β2)·g'²
//       p ← p − (lr / (1−β1^t)) · m / (√v / √(1−β2^t) + ε)
//
// The update reproduces torch.optim.AdamW (PyTorch 1.13, _single_tensor_adamw) to the
// float rounding: the same operation order, the scalars rounded to float where PyTorch
// rounds them, and fused multiply-adds exactly where PyTorch's CPU kernels fuse: in
// `add_` with alpha (an explicit vec::fmadd) and in `addcmul_` (contracted by the
// compiler in its AVX2/AVX-512 kernels). Checked bit for bit against torch 1.13.1.
//
// Work is split into fixed-size chunks of every parameter, so all threads stay busy
// whatever the parameter sizes, and per-chunk partial sums make the norm independent of
// the thread count.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "args.h"
#include "common.h"

namespace tlc {

namespace {
constexpr int64_t kChunk = 1 << 15;  // elements per task: 128 KiB per array

struct Chunk {
  int64_t param, begin, end;
};

std::vector<Chunk> SplitIntoChunks(const std::vector<int64_t>& sizes) {
  std::vector<Chunk> chunks;
  for (int64_t k = 0; k < static_cast<int64_t>(sizes.size()); k++)
    for (int64_t b = 0; b < sizes[k]; b += kChunk) chunks.push_back({k, b, std::min(sizes[k], b + kChunk)});
  return chunks;
}

// sizes[k] of every tensor: non-negative integers, one per tensor.
std::vector<int64_t> ArgSizes(const Args& a, uint32_t length) {
  Napi::Array arr = a.Array("sizes", length);
  std::vector<int64_t> sizes(length);
  for (uint32_t k = 0; k < length; k++) {
    const double d = a.NumAt(arr, k, "sizes");
    if (!(d >= 0 && d == std::floor(d) && d < 9.0e15))
      a.Fail("sizes", "entry " + std::to_string(k) + " must be a non-negative integer, got " + std::to_string(d));
    sizes[k] = static_cast<int64_t>(d);
  }
  return sizes;
}

// g: [n] -> Σ g² in double
double SumSquares(const float* g, int64_t n) {
  double s = 0.0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; i++) s += static_cast<double>(g[i]) * static_cast<double>(g[i]);
  return s;
}

// The float scalars of one step, rounded where PyTorch rounds them.
struct StepScalars {
  float decay;           // 1 − lr·wd
  float beta1, one_minus_beta1, beta2, one_minus_beta2;
  float neg_step_size;   // −lr / (1 − β1^t)
  float bc2_sqrt;        // √(1 − β2^t)
  float eps;
  float clip;
};

// p, g, m, v: [n] -> p, m, v updated in place. Compiled without FMA contraction, so the
// only FMAs are the explicit ones. (Builtins, not std::, because functions compiled with
// other options are not inlined here.) Each line is one PyTorch op:
#pragma GCC push_options
#pragma GCC optimize("-ffp-contract=off")
void AdamwChunk(float* __restrict p, const float* __restrict g, float* __restrict m, float* __restrict v, int64_t n,
                const StepScalars& s) {
  const StepScalars c = s;
#pragma omp simd
  for (int64_t i = 0; i < n; i++) {
    // clip_grad_norm_: grad.mul_(clip_coef)
    const float grad = g[i] * c.clip;
    // param.mul_(1 − lr·wd)
    const float param = p[i] * c.decay;
    // exp_avg.mul_(β1).add_(grad, alpha=1−β1)
    const float m1 = __builtin_fmaf(grad, c.one_minus_beta1, m[i] * c.beta1);
    // exp_avg_sq.mul_(β2).addcmul_(grad, grad, value=1−β2)
    const float v1 = __builtin_fmaf(c.one_minus_beta2 * grad, grad, v[i] * c.beta2);
    // denom = (exp_avg_sq.sqrt() / √bias_correction2).add_(ε)
    const float denom = __builtin_sqrtf(v1) / c.bc2_sqrt + c.eps;
    // param.addcdiv_(exp_avg, denom, value=−step_size)
    p[i] = param + (c.neg_step_size * m1) / denom;
    m[i] = m1;
    v[i] = v1;
  }
}
#pragma GCC pop_options
}  // namespace

// gradNormSquared({ grads: tensor[], sizes: number[] }) -> number[]: Σ g² per tensor
//   grads[k]: [sizes[k]] -> result[k]
static Napi::Value GradNormSquared(const Napi::CallbackInfo& info) {
  Args a(info, "gradNormSquared", {"grads", "sizes"});
  Napi::Array grads_arg = a.Array("grads");
  const uint32_t count = grads_arg.Length();
  std::vector<int64_t> sizes = ArgSizes(a, count);
  std::vector<const float*> grads(count);
  for (uint32_t k = 0; k < count; k++) grads[k] = a.F32At(grads_arg, k, "grads", sizes[k]);

  const std::vector<Chunk> chunks = SplitIntoChunks(sizes);
  std::vector<double> partial(chunks.size());
  const int64_t num_chunks = static_cast<int64_t>(chunks.size());
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < num_chunks; c++) {
    const Chunk& ch = chunks[c];
    partial[c] = SumSquares(grads[ch.param] + ch.begin, ch.end - ch.begin);
  }
  std::vector<double> per_param(count, 0.0);
  for (int64_t c = 0; c < num_chunks; c++) per_param[chunks[c].param] += partial[c];  // chunk order

  Napi::Array out = Napi::Array::New(info.Env(), count);
  for (uint32_t k = 0; k < count; k++) out.Set(k, Napi::Number::New(info.Env(), per_param[k]));
  return out;
}

// adamwStep({ params, grads, m, v: tensor[], sizes, weightDecays: number[],
//             lr, beta1, beta2, eps, step, clipScale })
//   params[k], grads[k], m[k], v[k]: [sizes[k]] -> params, m, v updated in place
static Napi::Value AdamwStep(const Napi::CallbackInfo& info) {
  Args a(info, "adamw", {"params", "grads", "m", "v", "sizes", "weightDecays", "lr", "beta1", "beta2", "eps", "step",
                         "clipScale"});
  Napi::Array params_arg = a.Array("params");
  const uint32_t count = params_arg.Length();
  Napi::Array grads_arg = a.Array("grads", count);
  Napi::Array m_arg = a.Array("m", count);
  Napi::Array v_arg = a.Array("v", count);
  std::vector<int64_t> sizes = ArgSizes(a, count);
  Napi::Array wd_arg = a.Array("weightDecays", count);
  const double lr = a.Num("lr"), beta1 = a.Num("beta1"), beta2 = a.Num("beta2"), eps = a.Num("eps");
  const int64_t step = a.Dim("step");
  const double clip = a.Num("clipScale");
  if (!(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1))
    a.Fail("betas must be in [0, 1), got " + std::to_string(beta1) + ", " + std::to_string(beta2));

  std::vector<float*> p(count), m(count), v(count);
  std::vector<const float*> g(count);
  std::vector<float> decay(count);
  for (uint32_t k = 0; k < count; k++) {
    p[k] = a.F32At(params_arg, k, "params", sizes[k]);
    g[k] = a.F32At(grads_arg, k, "grads", sizes[k]);
    m[k] = a.F32At(m_arg, k, "m", sizes[k]);
    v[k] = a.F32At(v_arg, k, "v", sizes[k]);
    decay[k] = static_cast<float>(1.0 - lr * a.NumAt(wd_arg, k, "weightDecays"));
  }

  // PyTorch computes these in Python floats (double) and rounds them to float at use.
  const double bias_correction1 = 1.0 - std::pow(beta1, static_cast<double>(step));
  const double bias_correction2 = 1.0 - std::pow(beta2, static_cast<double>(step));
  StepScalars base;
  base.decay = 1.0f;
  base.beta1 = static_cast<float>(beta1);
  base.one_minus_beta1 = static_cast<float>(1.0 - beta1);
  base.beta2 = static_cast<float>(beta2);
  base.one_minus_beta2 = static_cast<float>(1.0 - beta2);
  base.neg_step_size = static_cast<float>(-(lr / bias_correction1));
  base.bc2_sqrt = static_cast<float>(std::sqrt(bias_correction2));
  base.eps = static_cast<float>(eps);
  base.clip = static_cast<float>(clip);

  const std::vector<Chunk> chunks = SplitIntoChunks(sizes);
  const int64_t num_chunks = static_cast<int64_t>(chunks.size());
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < num_chunks; c++) {
    const Chunk& ch = chunks[c];
    StepScalars s = base;
    s.decay = decay[ch.param];
    const int64_t k = ch.param, b = ch.begin;
    AdamwChunk(p[k] + b, g[k] + b, m[k] + b, v[k] + b, ch.end - b, s);
  }
  return info.Env().Undefined();
}

void RegisterAdamw(Napi::Env env, Napi::Object exports) {
  exports.Set("gradNormSquared", Napi::Function::New(env, Guarded<GradNormSquared>));
  exports.Set("adamwStep", Napi::Function::New(env, Guarded<AdamwStep>));
}

}  // namespace tlc
