// Unstructured-sparse linear, inference only: CSR weights × dense activations.
//
//   y[M,N] = act(x[M,K] · W[N,K]ᵀ + b[N]),   W stored as CSR: for row n, (col, value) pairs
//
// Work is split over tiles of kTile = 64 input rows. A tile is transposed into a panel
// P[K][64] (kept in L2), so each nonzero W[n,k] becomes one broadcast multiply-add of the
// contiguous 64-vector P[k][·] into four AVX-512 (eight AVX2) accumulators: the FMAs are spent on nonzero
// weights only (a last tile shorter than 64 rows also multiplies its zero padding), and the
// cost falls linearly with the density. Outputs of 16 channels at a time are
// transposed back into y's rows with the bias, then the activation runs on the tile's rows.
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>
#include "common.h"
#include "simd.h"
#include "packed_linear.h"

namespace tlc {

namespace {
constexpr int64_t kTile = 64;   // input rows per task = 4 × 16 float lanes
constexpr int64_t kBlock = 16;  // channels transposed back together

// P[k][r] = x[m0 + r, k] for r < rows, 0 for rows ≤ r < kTile      x: [·, K] -> P: [K, kTile]
void TransposeTile(const float* x, int64_t K, int64_t rows, float* P) {
  for (int64_t k0 = 0; k0 < K; k0 += 16) {
    const int64_t k1 = std::min(K, k0 + 16);
    for (int64_t r = 0; r < kTile; r++)
      for (int64_t k = k0; k < k1; k++) P[k * kTile + r] = r < rows ? x[r * K + k] : 0.f;
  }
}

// O[c][r] = Σ_j val[j]·P[col[j]][r] over the nonzeros j of channel n0 + c      -> O: [kBlock, kTile]
void ChannelBlock(const int64_t* row_ptr, const int32_t* col, const float* val, int64_t n0, int64_t n1, const float* P, float* O) {
  for (int64_t n = n0; n < n1; n++) {
    float* out = O + (n - n0) * kTile;
#if defined(TLC_AVX512)
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
    for (int64_t j = row_ptr[n]; j < row_ptr[n + 1]; j++) {
      const __m512 w = _mm512_set1_ps(val[j]);
      const float* p = P + static_cast<int64_t>(col[j]) * kTile;
      a0 = _mm512_fmadd_ps(w, _mm512_load_ps(p), a0);
      a1 = _mm512_fmadd_ps(w, _mm512_load_ps(p + 16), a1);
      a2 = _mm512_fmadd_ps(w, _mm512_load_ps(p + 32), a2);
      a3 = _mm512_fmadd_ps(w, _mm512_load_ps(p + 48), a3);
    }
    _mm512_store_ps(out, a0);
    _mm512_store_ps(out + 16, a1);
    _mm512_store_ps(out + 32, a2);
    _mm512_store_ps(out + 48, a3);
#elif defined(TLC_AVX2)
    __m256 a[8];
    for (int i = 0; i < 8; i++) a[i] = _mm256_setzero_ps();
    for (int64_t j = row_ptr[n]; j < row_ptr[n + 1]; j++) {
      const __m256 w = _mm256_set1_ps(val[j]);
      const float* p = P + static_cast<int64_t>(col[j]) * kTile;
      for (int i = 0; i < 8; i++) a[i] = _mm256_fmadd_ps(w, _mm256_load_ps(p + 8 * i), a[i]);
    }
    for (int i = 0; i < 8; i++) _mm256_store_ps(out + 8 * i, a[i]);
#elif defined(TLC_NEON)
    float32x4_t a[16];  // 16 of aarch64's 32 vector registers
    for (int i = 0; i < 16; i++) a[i] = vdupq_n_f32(0.f);
    for (int64_t j = row_ptr[n]; j < row_ptr[n + 1]; j++) {
      const float32x4_t w = vdupq_n_f32(val[j]);
      const float* p = P + static_cast<int64_t>(col[j]) * kTile;
      for (int i = 0; i < 16; i++) a[i] = vfmaq_f32(a[i], w, vld1q_f32(p + 4 * i));
    }
    for (int i = 0; i < 16; i++) vst1q_f32(out + 4 * i, a[i]);
#else
    float acc[kTile] = {0};
    for (int64_t j = row_ptr[n]; j < row_ptr[n + 1]; j++) {
      const float w = val[j];
      const float* p = P + static_cast<int64_t>(col[j]) * kTile;
#pragma omp simd
      for (int64_t r = 0; r < kTile; r++) acc[r] += w * p[r];
    }
    std::memcpy(out, acc, sizeof(acc));
#endif
  }
}

class SparseLinear final : public PackedLinear {
 public:
  SparseLinear(const float* w, const float* bias, int64_t N, int64_t K) : PackedLinear(N, K, bias) {
    row_ptr_.reserve(N + 1);
    row_ptr_.push_back(0);
    for (int64_t n = 0; n < N; n++) {
      for (int64_t k = 0; k < K; k++)
        if (w[n * K + k] != 0.f) {
          col_.push_back(static_cast<int32_t>(k));
          val_.push_back(w[n * K + k]);
        }
      row_ptr_.push_back(static_cast<int64_t>(col_.size()));
    }
  }

  const char* Kind() const override { return "sparse"; }
  size_t Bytes() const override {
    return row_ptr_.size() * sizeof(int64_t) + col_.size() * sizeof(int32_t) + (val_.size() + bias.size()) * sizeof(float);
  }

  // x: [M, K] -> y: [M, N]
  void Forward(const float* x, float* y, int64_t M, Activation act, bool accumulate) override {
    const int64_t tiles = (M + kTile - 1) / kTile;
    const Activator full = ActivatorFor(std::min(M, kTile), N, act), tail = ActivatorFor(M % kTile, N, act);
    bool out_of_memory = false;
    std::string error;
#pragma omp parallel
    {
      // a multiple of the alignment, as aligned_alloc requires
      float* P = static_cast<float*>(std::aligned_alloc(64, ((K * kTile * sizeof(float) + 63) / 64) * 64));
      if (!P) {
#pragma omp atomic write
        out_of_memory = true;
      }
      alignas(64) float O[kBlock * kTile];
#pragma omp for schedule(static)
      for (int64_t t = 0; t < tiles; t++) {
        if (!P) continue;
        const int64_t m0 = t * kTile, rows = std::min(kTile, M - m0);
        TransposeTile(x + m0 * K, K, rows, P);
        for (int64_t n0 = 0; n0 < N; n0 += kBlock) {
          const int64_t n1 = std::min(N, n0 + kBlock);
          ChannelBlock(row_ptr_.data(), col_.data(), val_.data(), n0, n1, P, O);
          for (int64_t r = 0; r < rows; r++) {
            float* yr = y + (m0 + r) * N;
            for (int64_t n = n0; n < n1; n++) {
              const float v = O[(n - n0) * kTile + r] + (bias.empty() ? 0.f : bias[n]);
              yr[n] = accumulate ? yr[n] + v : v;
            }
          }
        }
        try {
          (rows == kTile ? full : tail).Apply(y + m0 * N);
        } catch (const std::exception& e) {  // must not leave the parallel region
#pragma omp critical
          if (error.empty()) error = e.what();
        }
      }
      std::free(P);
    }
    if (out_of_memory) throw std::bad_alloc();
    if (!error.empty()) throw std::runtime_error(error);
  }

 private:
  std::vector<int64_t> row_ptr_;
  std::vector<int32_t> col_;
  std::vector<float> val_;
};
}  // namespace

std::unique_ptr<PackedLinear> PackSparse(const float* w, const float* bias, int64_t N, int64_t K) {
  return std::make_unique<SparseLinear>(w, bias, N, K);
}

}  // namespace tlc
