// Fused scaled-dot-product attention (the multi-head core, no projections), forward and
// backward, computed FlashAttention-style: no [B, H, Tq, Tk] tensor is ever stored.
//
//   q: [B, Tq, H·Dh], k, v: [B, Tk, H·Dh]; head h owns columns h·Dh .. (h+1)·Dh−1
//   S = scale · Q_h·K_hᵀ + mask,  P = softmax_rows(S),  O_h = P·V_h        out: [B, Tq, H·Dh]
//   lse[b, h, i] = log Σ_j exp(S[i, j])   (the only state saved for backward)
//
//   backward (P recomputed from q, k and lse):
//     dV = Pᵀ·dO,  dP = dO·Vᵀ,  dS = P ⊙ (dP − rowsum(dO ⊙ O)),  dQ = scale·dS·K,  dK = scale·dSᵀ·Q
//
// Masks: `causal` lets query i see keys j ≤ i + (Tk − Tq) (aligned to the end); the key
// padding mask [B, Tk] (u8, 1 = real token) removes keys. A query with no visible key
// outputs zeros, gets zero gradient, and has lse = +inf.
//
// Every tensor is addressed as token rows: element (b, t, c) of q lives at
// q[offset + (b·T + t)·stride + c]. Separate q, k, v use offset 0 and stride H·Dh; the
// packed [B, T, 3·H·Dh] output of a fused QKV projection uses offsets 0, C, 2C and stride
// 3C, so q, k and v are read in place. Gradients use the same layout as their input.
//
// Work is split over (batch, head) pairs, one pair per OpenMP iteration. A thread copies
// the pair's Kᵀ (and Vᵀ) into contiguous scratch and walks the queries in panels of
// kPanel rows, so its score scratch is kPanel × Tk. With a causal mask the products skip
// the register tiles that lie wholly above the diagonal. Each pair is computed by one
// thread in a fixed order, so results do not depend on the thread count.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "args.h"
#include "common.h"
#include "simd.h"

namespace tlc {

namespace {

constexpr int64_t kPanel = 32;  // query rows per score panel
constexpr int kRows = 8;        // rows of C per register tile
constexpr float kInf = std::numeric_limits<float>::infinity();

int64_t RoundUp16(int64_t n) { return (n + 15) / 16 * 16; }

// ---- small dense GEMM on strided operands --------------------------------------------
//
//   C[M, N] = alpha · op(A)[M, K] · B[K, N]  (+ C when accumulate)
//   op(A)[i, k] = a[i·a_row + k·a_col]   (a_col = 1: row-major A; a_row = 1: Aᵀ stored)
//   B[k, n] = b[k·ldb + n],  C[i, n] = c[i·ldc + n]
//
// A register tile holds ROWS × WIDTH sums; B's rows are contiguous so the n loop
// vectorises, and A is only broadcast, so A may be transposed or strided for free.
//
// Causal attention makes the products banded. A Band tells which part of row i matters:
//   columns n < i + 1 + n_end      (others are left unwritten: the caller masks them)
//   k in [i + k_begin, i + 1 + k_end)  (A is zero outside, so skipping it is exact)
// checked per register tile, so a tile is computed if any of its rows needs it.

constexpr int64_t kFar = int64_t{1} << 40;

struct Band {
  int64_t n_end = kFar, k_begin = -kFar, k_end = kFar;
  Band Shifted(int64_t rows) const { return {n_end + rows, k_begin + rows, k_end + rows}; }  // from row `rows` on
};

template <int ROWS, int WIDTH>
inline void Tile(int64_t K, const float* a, int64_t a_row, int64_t a_col, const float* b, int64_t ldb, float* c,
                 int64_t ldc, float alpha, bool acc) {
  float sum[ROWS][WIDTH] = {};
  for (int64_t k = 0; k < K; k++) {
    const float* brow = b + k * ldb;
    for (int r = 0; r < ROWS; r++) {
      const float ar = a[r * a_row + k * a_col];
      for (int n = 0; n < WIDTH; n++) sum[r][n] += ar * brow[n];
    }
  }
  for (int r = 0; r < ROWS; r++) {
    float* crow = c + r * ldc;
    if (acc) {
      for (int n = 0; n < WIDTH; n++) crow[n] += alpha * sum[r][n];
    } else {
      for (int n = 0; n < WIDTH; n++) crow[n] = alpha * sum[r][n];
    }
  }
}

// The last columns (fewer than 16): same as Tile with a run-time width.
template <int ROWS>
inline void TileTail(int64_t K, int64_t width, const float* a, int64_t a_row, int64_t a_col, const float* b,
                     int64_t ldb, float* c, int64_t ldc, float alpha, bool acc) {
  float sum[ROWS][16] = {};
  for (int64_t k = 0; k < K; k++) {
    const float* brow = b + k * ldb;
    for (int r = 0; r < ROWS; r++) {
      const float ar = a[r * a_row + k * a_col];
      for (int64_t n = 0; n < width; n++) sum[r][n] += ar * brow[n];
    }
  }
  for (int r = 0; r < ROWS; r++) {
    float* crow = c + r * ldc;
    for (int64_t n = 0; n < width; n++) crow[n] = (acc ? crow[n] : 0.0f) + alpha * sum[r][n];
  }
}

struct GemmArgs {
  int64_t K;
  const float* a;
  int64_t a_row, a_col;
  const float* b;  // at column n0 of B
  int64_t ldb;
  float* c;  // at column n0 of C
  int64_t ldc;
  float alpha;
  bool acc;
  Band band;
};

// Rows [i, i + ROWS) of a column block [n0, n0 + width): WIDTH > 0 is a full tile,
// WIDTH == 0 the tail of run-time width.
template <int ROWS, int WIDTH>
inline void BandTile(const GemmArgs& g, int64_t i, int64_t n0, int64_t width) {
  const int64_t last = i + ROWS - 1;
  if (n0 >= last + 1 + g.band.n_end) return;
  const int64_t k0 = std::clamp<int64_t>(i + g.band.k_begin, 0, g.K);
  const int64_t k1 = std::clamp<int64_t>(last + 1 + g.band.k_end, k0, g.K);
  const float* a = g.a + i * g.a_row + k0 * g.a_col;
  const float* b = g.b + k0 * g.ldb;
  float* c = g.c + i * g.ldc;
  if constexpr (WIDTH > 0) Tile<ROWS, WIDTH>(k1 - k0, a, g.a_row, g.a_col, b, g.ldb, c, g.ldc, g.alpha, g.acc);
  else TileTail<ROWS>(k1 - k0, width, a, g.a_row, g.a_col, b, g.ldb, c, g.ldc, g.alpha, g.acc);
}

template <int WIDTH>
void ColumnBlock(int64_t M, const GemmArgs& g, int64_t n0, int64_t width) {
  int64_t i = 0;
  for (; i + kRows <= M; i += kRows) BandTile<kRows, WIDTH>(g, i, n0, width);
  for (; i < M; i++) BandTile<1, WIDTH>(g, i, n0, width);
}

void Gemm(int64_t M, int64_t N, int64_t K, const float* a, int64_t a_row, int64_t a_col, const float* b, int64_t ldb,
          float* c, int64_t ldc, float alpha, bool acc, const Band& band = {}) {
  GemmArgs g{K, a, a_row, a_col, b, ldb, c, ldc, alpha, acc, band};
  int64_t n = 0;
  // Column blocks outermost: a K × WIDTH slice of B stays in L1 while every row uses it.
  for (; n + 32 <= N; n += 32, g.b += 32, g.c += 32) ColumnBlock<32>(M, g, n, 32);
  for (; n + 16 <= N; n += 16, g.b += 16, g.c += 16) ColumnBlock<16>(M, g, n, 16);
  if (n < N) ColumnBlock<0>(M, g, n, N - n);
}

// C[0, M) rows as Gemm, but rows below `filled` are added to and the rest overwritten:
// running sums over query panels need no zeroing pass.
void GemmExtend(int64_t M, int64_t filled, int64_t N, int64_t K, const float* a, int64_t a_row, int64_t a_col,
                const float* b, int64_t ldb, float* c, int64_t ldc, const Band& band) {
  const int64_t old_rows = std::min(filled, M);
  if (old_rows > 0) Gemm(old_rows, N, K, a, a_row, a_col, b, ldb, c, ldc, 1.0f, true, band);
  if (M > old_rows)
    Gemm(M - old_rows, N, K, a + old_rows * a_row, a_row, a_col, b, ldb, c + old_rows * ldc, ldc, 1.0f, false,
         band.Shifted(old_rows));
}

// ---- element-wise helpers (simd.h: the same 16 lanes at every level) --------------------

using simd::LanesDot;
using simd::LanesExpInPlace;
using simd::LanesMax;

// dst[T, Dh] (contiguous) = src rows, src[t, d] = src[t·stride + d]. Token rows of one head
// are a large power-of-two stride apart, which maps them onto a few L1 sets; B operands
// that are swept once per row tile are copied first.
void CopyRows(const float* src, int64_t stride, int64_t T, int64_t Dh, float* dst) {
  for (int64_t t = 0; t < T; t++) std::copy(src + t * stride, src + t * stride + Dh, dst + t * Dh);
}

// dst rows (+)= alpha · src[T, Dh] for t < filled; rows from `filled` on are zero
void WriteRows(const float* src, int64_t filled, int64_t T, int64_t Dh, float alpha, float* dst, int64_t stride, bool acc) {
  for (int64_t t = 0; t < T; t++) {
    float* row = dst + t * stride;
    const float* s = src + t * Dh;
    if (t >= filled) {
      if (!acc) std::fill(row, row + Dh, 0.0f);
    } else if (acc) {
      for (int64_t d = 0; d < Dh; d++) row[d] += alpha * s[d];
    } else {
      for (int64_t d = 0; d < Dh; d++) row[d] = alpha * s[d];
    }
  }
}

// dst[Dh, T] = src rowsᵀ, src[t, d] = src[t·stride + d]
void TransposeRows(const float* src, int64_t stride, int64_t T, int64_t Dh, float* dst, int64_t ld) {
  // 16 tokens at a time: their rows stay in L1 while every column is written contiguously
  for (int64_t t0 = 0; t0 < T; t0 += 16) {
    const int64_t tn = std::min<int64_t>(16, T - t0);
    const float* rows = src + t0 * stride;
    for (int64_t d = 0; d < Dh; d++) {
      float* col = dst + d * ld + t0;
      for (int64_t t = 0; t < tn; t++) col[t] = rows[t * stride + d];
    }
  }
}

// ---- problem description ---------------------------------------------------------------

struct Rows {  // token-row layout of one operand
  int64_t offset, stride;
};

struct Problem {
  int64_t B, Tq, Tk, H, Dh;
  Rows q, k, v;
  bool causal;
  float scale;
  const uint8_t* key_mask;  // [B, Tk] or null

  // keys visible to query row i are j < VisibleEnd(i) (before the padding mask)
  int64_t VisibleEnd(int64_t i) const { return causal ? std::clamp<int64_t>(i + 1 + Tk - Tq, 0, Tk) : Tk; }

  // Bands of the products of the query panel starting at row i0 (dense unless causal):
  // [queries, keys] results (S, dP); sums over keys (P·V, dS·K); [keys, ·] sums over the
  // panel's queries (Pᵀ·dO, dSᵀ·Q).
  Band ScoreBand(int64_t i0) const { return causal ? Band{i0 + Tk - Tq, -kFar, kFar} : Band{}; }
  Band KeySumBand(int64_t i0) const { return causal ? Band{kFar, -kFar, i0 + Tk - Tq} : Band{}; }
  Band QuerySumBand(int64_t i0) const { return causal ? Band{kFar, -(i0 + Tk - Tq), kFar} : Band{}; }
  // ld of the per-thread score rows and transposed K/V: whole cache lines, but not a
  // power of two, so successive rows do not compete for the same L1 sets
  int64_t Ld() const { return RoundUp16(Tk) + 16; }
};

// S[rows, cols] = scale · Q_panel · Kᵀ, then each row turned into probabilities
// exp(S − lse) over its visible keys and zero elsewhere (causal, padding). When `lse_out`
// is set the rows are normalised and lse written (forward); otherwise `lse_in` is used
// (backward). Rows with no visible key become all zero.
void PanelProbabilities(const Problem& p, const float* q_rows, const float* kt, const uint8_t* key_mask, int64_t i0,
                        int64_t rows, int64_t cols, float* S, float* lse_out, const float* lse_in) {
  const int64_t ld = p.Ld();
  Gemm(rows, cols, p.Dh, q_rows, p.q.stride, 1, kt, ld, S, ld, p.scale, false, p.ScoreBand(i0));
  for (int64_t r = 0; r < rows; r++) {
    float* row = S + r * ld;
    const int64_t end = std::min(cols, p.VisibleEnd(i0 + r));  // the band may leave S unwritten past it
    std::fill(row + end, row + cols, 0.0f);
    if (key_mask)
      for (int64_t j = 0; j < end; j++) row[j] = key_mask[j] ? row[j] : -kInf;
    if (lse_out) {
      const float m = LanesMax(row, end);
      if (m == -kInf) {  // nothing visible
        std::fill(row, row + end, 0.0f);
        lse_out[r] = kInf;
        continue;
      }
      const float sum = LanesExpInPlace(row, end, m);
      const float inv = 1.0f / sum;
      for (int64_t j = 0; j < end; j++) row[j] *= inv;
      lse_out[r] = m + std::log(sum);
    } else if (lse_in[r] == kInf) {
      std::fill(row, row + end, 0.0f);
    } else {
      LanesExpInPlace(row, end, lse_in[r]);
    }
  }
}

// keys needed by query panel [i0, i0+rows): 0 means the whole panel sees nothing
int64_t PanelKeys(const Problem& p, int64_t i0, int64_t rows) { return p.VisibleEnd(i0 + rows - 1); }

// ---- kernels ----------------------------------------------------------------------------

// q: [B, Tq, H·Dh] rows, k, v: [B, Tk, H·Dh] rows, key_mask: [B, Tk] | null
//   -> out: [B, Tq, H·Dh] (contiguous), lse: [B, H, Tq]
void AttentionForwardKernel(const Problem& p, const float* q, const float* k, const float* v, float* out, float* lse) {
  const int64_t C = p.H * p.Dh, ld = p.Ld();
  // Kᵀ [Dh, ld], V [Tk, Dh], score panel [kPanel, ld]
  const int64_t per_thread = p.Dh * ld + p.Tk * p.Dh + kPanel * ld;
  std::vector<float> scratch(static_cast<size_t>(per_thread * omp_get_max_threads()));
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t bh = 0; bh < p.B * p.H; bh++) {
    const int64_t b = bh / p.H, h = bh % p.H;
    float* kt = scratch.data() + omp_get_thread_num() * per_thread;
    float* vc = kt + p.Dh * ld;
    float* S = vc + p.Tk * p.Dh;
    const float* qb = q + p.q.offset + b * p.Tq * p.q.stride + h * p.Dh;
    const float* kb = k + p.k.offset + b * p.Tk * p.k.stride + h * p.Dh;
    const float* vb = v + p.v.offset + b * p.Tk * p.v.stride + h * p.Dh;
    float* ob = out + b * p.Tq * C + h * p.Dh;
    float* lb = lse + bh * p.Tq;
    const uint8_t* mask = p.key_mask ? p.key_mask + b * p.Tk : nullptr;
    TransposeRows(kb, p.k.stride, p.Tk, p.Dh, kt, ld);
    CopyRows(vb, p.v.stride, p.Tk, p.Dh, vc);
    for (int64_t i0 = 0; i0 < p.Tq; i0 += kPanel) {
      const int64_t rows = std::min(kPanel, p.Tq - i0), cols = PanelKeys(p, i0, rows);
      if (cols == 0) {
        for (int64_t r = 0; r < rows; r++) {
          std::fill(ob + (i0 + r) * C, ob + (i0 + r) * C + p.Dh, 0.0f);
          lb[i0 + r] = kInf;
        }
        continue;
      }
      PanelProbabilities(p, qb + i0 * p.q.stride, kt, mask, i0, rows, cols, S, lb + i0, nullptr);
      Gemm(rows, p.Dh, cols, S, ld, 1, vc, p.Dh, ob + i0 * C, C, 1.0f, false, p.KeySumBand(i0));  // O = P·V
    }
  }
}

// dout, out: [B, Tq, H·Dh] (contiguous), q/k/v rows as forward, lse: [B, H, Tq]
//   -> dq (+)= ∂/∂q, dk (+)= ∂/∂k, dv (+)= ∂/∂v, each in its input's row layout; any may be null.
// Within one (b, h) the gradients are finished in the order dq, dk, dv: when q, k and v
// are the same tensor the caller passes one buffer, overwriting for q and adding for k, v.
void AttentionBackwardKernel(const Problem& p, const float* dout, const float* q, const float* k, const float* v,
                             const float* out, const float* lse, float* dq, float* dk, float* dv, bool acc_dq,
                             bool acc_dk, bool acc_dv) {
  const int64_t C = p.H * p.Dh, ld = p.Ld(), Dh = p.Dh;
  const bool need_ds = dq || dk;
  // Kᵀ, Vᵀ [Dh, ld]; K, dK and dV sums [Tk, Dh]; Q and dO panels [kPanel, Dh];
  // P and dS panels [kPanel, ld]; rowsum(dO ⊙ O) [kPanel]
  const int64_t per_thread = 2 * Dh * ld + 3 * p.Tk * Dh + 2 * kPanel * Dh + 2 * kPanel * ld + kPanel;
  std::vector<float> scratch(static_cast<size_t>(per_thread * omp_get_max_threads()));
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t bh = 0; bh < p.B * p.H; bh++) {
    const int64_t b = bh / p.H, h = bh % p.H;
    float* kt = scratch.data() + omp_get_thread_num() * per_thread;
    float* vt = kt + Dh * ld;
    float* kc = vt + Dh * ld;
    float* dk_sum = kc + p.Tk * Dh;
    float* dv_sum = dk_sum + p.Tk * Dh;
    float* q_panel = dv_sum + p.Tk * Dh;
    float* do_panel = q_panel + kPanel * Dh;
    float* P = do_panel + kPanel * Dh;
    float* dS = P + kPanel * ld;
    float* rowdot = dS + kPanel * ld;
    const float* qb = q + p.q.offset + b * p.Tq * p.q.stride + h * Dh;
    const float* kb = k + p.k.offset + b * p.Tk * p.k.stride + h * Dh;
    const float* vb = v + p.v.offset + b * p.Tk * p.v.stride + h * Dh;
    const float* dob = dout + b * p.Tq * C + h * Dh;
    const float* ob = out + b * p.Tq * C + h * Dh;
    const float* lb = lse + bh * p.Tq;
    float* dqb = dq ? dq + p.q.offset + b * p.Tq * p.q.stride + h * Dh : nullptr;
    const uint8_t* mask = p.key_mask ? p.key_mask + b * p.Tk : nullptr;

    TransposeRows(kb, p.k.stride, p.Tk, Dh, kt, ld);
    if (need_ds) TransposeRows(vb, p.v.stride, p.Tk, Dh, vt, ld);
    if (dq) CopyRows(kb, p.k.stride, p.Tk, Dh, kc);
    int64_t filled = 0;  // rows of dk_sum, dv_sum holding sums; panels only ever see more keys

    for (int64_t i0 = 0; i0 < p.Tq; i0 += kPanel) {
      const int64_t rows = std::min(kPanel, p.Tq - i0), cols = PanelKeys(p, i0, rows);
      if (cols == 0) {  // the panel sees no key: dq rows are zero, dk and dv get nothing
        if (dqb && !acc_dq)
          for (int64_t r = 0; r < rows; r++) std::fill(dqb + (i0 + r) * p.q.stride, dqb + (i0 + r) * p.q.stride + Dh, 0.0f);
        continue;
      }
      const float* q_rows = qb + i0 * p.q.stride;
      CopyRows(dob + i0 * C, C, rows, Dh, do_panel);
      if (dk) CopyRows(q_rows, p.q.stride, rows, Dh, q_panel);
      PanelProbabilities(p, q_rows, kt, mask, i0, rows, cols, P, nullptr, lb + i0);
      if (dv) GemmExtend(cols, filled, Dh, rows, P, 1, ld, do_panel, Dh, dv_sum, Dh, p.QuerySumBand(i0));  // dV += Pᵀ·dO
      if (!need_ds) {
        filled = cols;
        continue;
      }
      Gemm(rows, cols, Dh, do_panel, Dh, 1, vt, ld, dS, ld, 1.0f, false, p.ScoreBand(i0));  // dP = dO·Vᵀ
      for (int64_t r = 0; r < rows; r++) rowdot[r] = LanesDot(do_panel + r * Dh, ob + (i0 + r) * C, Dh);
      for (int64_t r = 0; r < rows; r++) {  // dS = P ⊙ (dP − rowsum(dO ⊙ O))
        const float* prow = P + r * ld;
        float* drow = dS + r * ld;
        const float D = rowdot[r];
        const int64_t end = std::min(cols, p.VisibleEnd(i0 + r));  // dP past it may be unwritten
        for (int64_t j = 0; j < end; j++) drow[j] = prow[j] * (drow[j] - D);
        std::fill(drow + end, drow + cols, 0.0f);
      }
      if (dk) GemmExtend(cols, filled, Dh, rows, dS, 1, ld, q_panel, Dh, dk_sum, Dh, p.QuerySumBand(i0));  // dK += dSᵀ·Q
      if (dqb) {  // dQ = scale·dS·K; keys past `cols` have dS = 0
        float* dq_rows = dqb + i0 * p.q.stride;
        Gemm(rows, Dh, cols, dS, ld, 1, kc, Dh, dq_rows, p.q.stride, p.scale, acc_dq, p.KeySumBand(i0));
      }
      filled = cols;
    }
    // keys no query saw (rows ≥ filled) have zero gradient
    if (dk) WriteRows(dk_sum, filled, p.Tk, Dh, p.scale, dk + p.k.offset + b * p.Tk * p.k.stride + h * Dh, p.k.stride, acc_dk);
    if (dv) WriteRows(dv_sum, filled, p.Tk, Dh, 1.0f, dv + p.v.offset + b * p.Tk * p.v.stride + h * Dh, p.v.stride, acc_dv);
  }
}

// ---- argument unpacking -----------------------------------------------------------------

// Reads the fields both directions share: batch, tq, tk, heads, headSize, the three
// (offset, stride) pairs, causal and scale.
Problem ReadProblem(const Args& a) {
  Problem p{};
  p.B = a.Dim("batch");
  p.Tq = a.Dim("tq");
  p.Tk = a.Dim("tk");
  p.H = a.Dim("heads");
  p.Dh = a.Dim("headSize");
  const int64_t C = p.H * p.Dh;
  const char* names[3] = {"q", "k", "v"};
  const char* offsets[3] = {"qOffset", "kOffset", "vOffset"};
  const char* strides[3] = {"qStride", "kStride", "vStride"};
  Rows* layouts[3] = {&p.q, &p.k, &p.v};
  for (int i = 0; i < 3; i++) {
    Rows& r = *layouts[i];
    r.offset = a.Count(offsets[i]);
    r.stride = a.Int(strides[i]);
    if (r.stride < r.offset + C)
      a.Fail(std::string(names[i]) + " rows (offset " + std::to_string(r.offset) + ", stride " +
             std::to_string(r.stride) + ") cannot hold " + std::to_string(C) + " columns");
  }
  p.causal = a.Bool("causal");
  const double scale = a.Num("scale");
  if (!std::isfinite(scale)) a.Fail("scale", "must be finite, got " + std::to_string(scale));
  p.scale = static_cast<float>(scale);
  return p;
}

// elements a tensor must hold to contain every row of the layout
int64_t RowsExtent(const Rows& r, int64_t tokens, int64_t C) { return (tokens - 1) * r.stride + r.offset + C; }

}  // namespace

// attentionForward({ q, k, v, out, lse, keyMask, batch, tq, tk, heads, headSize,
//                    qOffset, qStride, kOffset, kStride, vOffset, vStride, causal, scale })
//   q: [batch, tq, heads·headSize] rows, k, v: [batch, tk, heads·headSize] rows, keyMask: [batch, tk] u8 | null
//   -> out: [batch, tq, heads·headSize], lse: [batch, heads, tq]
static Napi::Value AttentionForward(const Napi::CallbackInfo& info) {
  Args a(info, "attention", {"q", "k", "v", "out", "lse", "keyMask", "batch", "tq", "tk", "heads", "headSize",
                             "qOffset", "qStride", "kOffset", "kStride", "vOffset", "vStride", "causal", "scale"});
  Problem p = ReadProblem(a);
  const int64_t C = p.H * p.Dh;
  const float* q = a.F32("q", RowsExtent(p.q, p.B * p.Tq, C));
  const float* k = a.F32("k", RowsExtent(p.k, p.B * p.Tk, C));
  const float* v = a.F32("v", RowsExtent(p.v, p.B * p.Tk, C));
  float* out = a.F32("out", p.B * p.Tq * C);
  float* lse = a.F32("lse", p.B * p.H * p.Tq);
  p.key_mask = a.OptU8("keyMask", p.B * p.Tk);
  AttentionForwardKernel(p, q, k, v, out, lse);
  return info.Env().Undefined();
}

// attentionBackward({ dOut, q, k, v, out, lse, keyMask, dq, dk, dv, batch, tq, tk, heads, headSize,
//                     qOffset, qStride, kOffset, kStride, vOffset, vStride, causal, scale,
//                     accumulateDq, accumulateDk, accumulateDv })
//   dOut, out: [batch, tq, heads·headSize], q/k/v rows as forward, lse: [batch, heads, tq]
//   -> dq, dk, dv (each null or in its input's row layout)
static Napi::Value AttentionBackward(const Napi::CallbackInfo& info) {
  Args a(info, "attention backward", {"dOut", "q", "k", "v", "out", "lse", "keyMask", "dq", "dk", "dv",
                                      "batch", "tq", "tk", "heads", "headSize", "qOffset", "qStride", "kOffset",
                                      "kStride", "vOffset", "vStride", "causal", "scale",
                                      "accumulateDq", "accumulateDk", "accumulateDv"});
  Problem p = ReadProblem(a);
  const int64_t C = p.H * p.Dh;
  const bool acc_dq = a.Bool("accumulateDq"), acc_dk = a.Bool("accumulateDk"), acc_dv = a.Bool("accumulateDv");
  const float* dout = a.F32("dOut", p.B * p.Tq * C);
  const float* q = a.F32("q", RowsExtent(p.q, p.B * p.Tq, C));
  const float* k = a.F32("k", RowsExtent(p.k, p.B * p.Tk, C));
  const float* v = a.F32("v", RowsExtent(p.v, p.B * p.Tk, C));
  const float* out = a.F32("out", p.B * p.Tq * C);
  const float* lse = a.F32("lse", p.B * p.H * p.Tq);
  p.key_mask = a.OptU8("keyMask", p.B * p.Tk);
  float* dq = a.OptF32("dq", RowsExtent(p.q, p.B * p.Tq, C));
  float* dk = a.OptF32("dk", RowsExtent(p.k, p.B * p.Tk, C));
  float* dv = a.OptF32("dv", RowsExtent(p.v, p.B * p.Tk, C));
  AttentionBackwardKernel(p, dout, q, k, v, out, lse, dq, dk, dv, acc_dq, acc_dk, acc_dv);
  return info.Env().Undefined();
}

void RegisterAttention(Napi::Env env, Napi::Object exports) {
  exports.Set("attentionForward", Napi::Function::New(env, Guarded<AttentionForward>));
  exports.Set("attentionBackward", Napi::Function::New(env, Guarded<AttentionBackward>));
}

}  // namespace tlc
