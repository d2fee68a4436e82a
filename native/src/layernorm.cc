// Layer normalisation over the last dimension, forward and backward.
//
//   forward    x: [M, C], gamma: [C], beta: [C] -> y: [M, C], mean: [M], rstd: [M]
//              y = x̂·gamma + beta,  x̂ = (x − mean)·rstd,  rstd = 1/√(var + eps)  (biased variance)
//              y is f32, or bf16 when its only consumer is a bf16 product (mixed precision):
//              then each row is computed in f32 exactly as for an f32 y and rounded once, so
//              the product sees the values it would have cast itself. Backward needs x, not y.
//   backward   dy, x: [M, C], gamma: [C], mean, rstd: [M] -> dx: [M, C], dgamma: [C], dbeta: [C]
//              g = dy·gamma
//              dx     (+)= rstd·(g − mean_c(g) − x̂·mean_c(g·x̂))
//              dgamma (+)= Σ_m dy·x̂,   dbeta (+)= Σ_m dy
//
// Rows are independent and split over threads. The gamma/beta gradients are column sums
// over rows: each fixed block of rows writes partial sums to a scratch buffer, then the
// blocks are added in order. The blocks depend only on M, so results do not depend on
// the thread count.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "args.h"
#include "bf16.h"
#include "common.h"

namespace tlc {

namespace {
constexpr int64_t kMaxRowBlocks = 64;  // partial sums for dgamma/dbeta: enough blocks to keep 64 threads busy
constexpr int64_t kColumnTile = 64;    // columns per task in the final reduction
constexpr int64_t kParallelMin = 1 << 14;  // elements; below this, waking threads costs more than it saves

// Mean and 1/std of one row.   x: [C] -> mean, rstd
// Two passes in float: the second sums squares of deviations from the first estimate of
// the mean (no E[x²] − E[x]² cancellation when the mean is large next to the spread) and
// also sums the deviations themselves, which corrects that estimate's rounding error.
inline void RowMoments(const float* x, int64_t C, float eps, float& mean, float& rstd) {
  float sum = 0.f;
#pragma omp simd reduction(+ : sum)
  for (int64_t c = 0; c < C; c++) sum += x[c];
  const float m0 = sum / static_cast<float>(C);
  float dsum = 0.f, dsq = 0.f;
#pragma omp simd reduction(+ : dsum, dsq)
  for (int64_t c = 0; c < C; c++) {
    const float d = x[c] - m0;
    dsum += d;
    dsq += d * d;
  }
  const float dm = dsum / static_cast<float>(C);
  // one rounding (an explicit fma, as FMA builds contract it): the same variance at every
  // level, and an infinite dsq stays infinite where dm² overflows too (inf − inf would be NaN)
  const float var = std::max(std::fma(-dm, dm, dsq / static_cast<float>(C)), 0.f);
  mean = m0 + dm;
  rstd = 1.f / std::sqrt(var + eps);
}

// y[c] = (x[c] − mean)·rstd·gamma[c] + beta[c]: one function for the f32 and bf16 outputs.
inline void NormalizeRow(const float* x, int64_t C, float mean, float rstd, const float* gamma, const float* beta, float* y) {
#pragma omp simd
  for (int64_t c = 0; c < C; c++) y[c] = (x[c] - mean) * rstd * gamma[c] + beta[c];
}

// Thread-local so repeated calls reuse it; resized (rarely) before any parallel region.
std::vector<float>& Scratch(size_t floats) {
  thread_local std::vector<float> buf;
  if (buf.size() < floats) buf.resize(floats);
  return buf;
}
}  // namespace

// layerNormForward({ x, gamma, beta, y, mean, rstd, rows, channels, eps })
//   x: [rows, channels], gamma, beta: [channels] -> y: [rows, channels] f32 or bf16,
//   mean, rstd: [rows] | null (saved for backward when given)
static Napi::Value LayerNormForward(const Napi::CallbackInfo& info) {
  Args a(info, "layerNorm", {"x", "gamma", "beta", "y", "mean", "rstd", "rows", "channels", "eps"});
  const int64_t M = a.Dim("rows"), C = a.Dim("channels");
  const double eps_d = a.Num("eps");
  if (!(eps_d > 0.0) || !std::isfinite(eps_d)) a.Fail("eps", "must be positive, got " + std::to_string(eps_d));
  const float eps = static_cast<float>(eps_d);
  const float* x = a.F32("x", M * C);
  const float* gamma = a.F32("gamma", C);
  const float* beta = a.F32("beta", C);
  const bool bf16_out = a.DTypeOf("y") == DType::bf16;
  float* y = bf16_out ? nullptr : a.F32("y", M * C);
  uint16_t* y_bf16 = bf16_out ? a.Bf16("y", M * C) : nullptr;
  float* mean_out = a.OptF32("mean", M);
  float* rstd_out = a.OptF32("rstd", M);
#pragma omp parallel for schedule(static) if (M * C > kParallelMin)
  for (int64_t m = 0; m < M; m++) {
    const float* xr = x + m * C;
    float mean, rstd;
    RowMoments(xr, C, eps, mean, rstd);
    if (mean_out) mean_out[m] = mean;
    if (rstd_out) rstd_out[m] = rstd;
    if (bf16_out) {
      // each thread's own row in f32, resized on its first use (only ever by that thread)
      thread_local std::vector<float> row;
      if (static_cast<int64_t>(row.size()) < C) row.resize(C);
      NormalizeRow(xr, C, mean, rstd, gamma, beta, row.data());
      CastBf16Span(row.data(), y_bf16 + m * C, C);
    } else {
      NormalizeRow(xr, C, mean, rstd, gamma, beta, y + m * C);
    }
  }
  return info.Env().Undefined();
}

// layerNormBackward({ dy, x, gamma, mean, rstd, dx, dGamma, dBeta, rows, channels,
//                      accumulateDx, accumulateDgamma, accumulateDbeta })
//   dy, x: [rows, channels], gamma: [channels], mean, rstd: [rows]
//   -> dx: [rows, channels] | null, dGamma, dBeta: [channels] | null
static Napi::Value LayerNormBackward(const Napi::CallbackInfo& info) {
  Args a(info, "layerNorm backward", {"dy", "x", "gamma", "mean", "rstd", "dx", "dGamma", "dBeta", "rows", "channels",
                                      "accumulateDx", "accumulateDgamma", "accumulateDbeta"});
  const int64_t M = a.Dim("rows"), C = a.Dim("channels");
  const bool acc_dx = a.Bool("accumulateDx"), acc_dg = a.Bool("accumulateDgamma"), acc_db = a.Bool("accumulateDbeta");
  const float* dy = a.F32("dy", M * C);
  const float* x = a.F32("x", M * C);
  const float* gamma = a.F32("gamma", C);
  const float* mean = a.F32("mean", M);
  const float* rstd = a.F32("rstd", M);
  float* dx = a.OptF32("dx", M * C);
  float* dgamma = a.OptF32("dGamma", C);
  float* dbeta = a.OptF32("dBeta", C);
  const bool param_grads = dgamma || dbeta;

  // Row blocks for the parameter gradients: a function of M only.
  const int64_t block_rows = (M + kMaxRowBlocks - 1) / kMaxRowBlocks;
  const int64_t blocks = (M + block_rows - 1) / block_rows;
  // partial[b]: [2, C] = (Σ dy·x̂, Σ dy) over the rows of block b
  float* partial = param_grads ? Scratch(static_cast<size_t>(blocks * 2 * C)).data() : nullptr;
  const float inv_c = 1.f / static_cast<float>(C);

#pragma omp parallel for schedule(static) if (M * C > kParallelMin)
  for (int64_t b = 0; b < blocks; b++) {
    float* pg = partial ? partial + b * 2 * C : nullptr;
    float* pb = partial ? pg + C : nullptr;
    if (pg) std::fill(pg, pg + 2 * C, 0.f);
    const int64_t m_end = std::min(M, (b + 1) * block_rows);
    for (int64_t m = b * block_rows; m < m_end; m++) {
      const float* xr = x + m * C;
      const float* dyr = dy + m * C;
      const float mu = mean[m], rs = rstd[m];
      float sum_g = 0.f, sum_gx = 0.f;  // Σ g, Σ g·x̂ over the row
      if (pg) {  // the same pass adds the row into the block's partial sums
#pragma omp simd reduction(+ : sum_g, sum_gx)
        for (int64_t c = 0; c < C; c++) {
          const float xh = (xr[c] - mu) * rs;
          const float g = dyr[c] * gamma[c];
          sum_g += g;
          sum_gx += g * xh;
          pg[c] += dyr[c] * xh;
          pb[c] += dyr[c];
        }
      } else {
#pragma omp simd reduction(+ : sum_g, sum_gx)
        for (int64_t c = 0; c < C; c++) {
          const float xh = (xr[c] - mu) * rs;
          const float g = dyr[c] * gamma[c];
          sum_g += g;
          sum_gx += g * xh;
        }
      }
      if (dx) {
        float* dxr = dx + m * C;
        const float a = sum_g * inv_c, k = sum_gx * inv_c;
        if (acc_dx) {
#pragma omp simd
          for (int64_t c = 0; c < C; c++) {
            const float xh = (xr[c] - mu) * rs;
            dxr[c] += rs * (dyr[c] * gamma[c] - a - xh * k);
          }
        } else {
#pragma omp simd
          for (int64_t c = 0; c < C; c++) {
            const float xh = (xr[c] - mu) * rs;
            dxr[c] = rs * (dyr[c] * gamma[c] - a - xh * k);
          }
        }
      }
    }
  }

  if (param_grads) {
    // Add the blocks' partial sums in block order.
    const int64_t tiles = (C + kColumnTile - 1) / kColumnTile;
#pragma omp parallel for schedule(static) if (blocks * C > kParallelMin)
    for (int64_t t = 0; t < tiles; t++) {
      const int64_t c0 = t * kColumnTile, c1 = std::min(C, c0 + kColumnTile);
      float sg[kColumnTile] = {0}, sb[kColumnTile] = {0};
      for (int64_t b = 0; b < blocks; b++) {
        const float* pg = partial + b * 2 * C;
        const float* pb = pg + C;
#pragma omp simd
        for (int64_t c = c0; c < c1; c++) {
          sg[c - c0] += pg[c];
          sb[c - c0] += pb[c];
        }
      }
      for (int64_t c = c0; c < c1; c++) {
        if (dgamma) dgamma[c] = acc_dg ? dgamma[c] + sg[c - c0] : sg[c - c0];
        if (dbeta) dbeta[c] = acc_db ? dbeta[c] + sb[c - c0] : sb[c - c0];
      }
    }
  }
  return info.Env().Undefined();
}

void RegisterLayerNorm(Napi::Env env, Napi::Object exports) {
  exports.Set("layerNormForward", Napi::Function::New(env, Guarded<LayerNormForward>));
  exports.Set("layerNormBackward", Napi::Function::New(env, Guarded<LayerNormBackward>));
}

}  // namespace tlc
