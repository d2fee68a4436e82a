// k-bit weight-only linear (2–8 bits), inference only.
//
//   y[M,N] = act(x[M,K] · Ŵ[N,K]ᵀ + b[N]),   Ŵ[n,k] = q[n,k] · s[n],  q ∈ [−qmax, qmax], qmax = 2^(bits−1) − 1
//
// The codes stay packed in memory (bits per weight plus one scale per output channel). Each
// forward pass walks the output in panels of kPanel channels: it dequantizes one panel into a
// small f32 buffer [K, kPanel] that stays in cache, then multiplies it with oneDNN, writing
// straight into that panel's columns of y. The full f32 weight matrix never exists.
//
// Packed layout, per panel p (channels n0 .. n0+w−1): for each k, the w codes u = q + qmax
// (non-negative, < 2^bits) LSB-first in ceil(w·bits/8) bytes.
#include <omp.h>

#include <algorithm>
#include <map>
#include <tuple>

#include "common.h"
#include "onednn.h"
#include "packed_linear.h"

namespace tlc {

namespace {
using dnnl::memory;
using dt = memory::data_type;

constexpr int64_t kPanel = 128;  // channels per panel: [K, 128] f32 fits in L2 for K ≤ 2048

int64_t RowBytes(int64_t width, int bits) { return (width * bits + 7) / 8; }

// codes u of one packed k-row -> out[j] = (u_j − qmax)·scale[j], j < width
template <int BITS>
void DequantRow(const uint8_t* row, const float* scale, float* out, int64_t width) {
  constexpr int kQmax = (1 << (BITS - 1)) - 1;
  constexpr uint32_t kMask = (1u << BITS) - 1;
#pragma omp simd
  for (int64_t j = 0; j < width; j++) {
    const int64_t bit = j * BITS;
    const uint32_t window = row[bit >> 3] | (static_cast<uint32_t>(row[(bit >> 3) + 1]) << 8);
    const int u = static_cast<int>((window >> (bit & 7)) & kMask);
    out[j] = static_cast<float>(u - kQmax) * scale[j];
  }
}

using DequantFn = void (*)(const uint8_t*, const float*, float*, int64_t);
DequantFn DequantFor(int bits) {
  switch (bits) {
    case 2: return DequantRow<2>;
    case 3: return DequantRow<3>;
    case 4: return DequantRow<4>;
    case 5: return DequantRow<5>;
    case 6: return DequantRow<6>;
    case 7: return DequantRow<7>;
    default: return DequantRow<8>;
  }
}

class KbitLinear final : public PackedLinear {
 public:
  KbitLinear(const int8_t* codes, const float* scales, const float* bias, int64_t N, int64_t K, int bits)
      : PackedLinear(N, K, bias), bits_(bits), scales_(scales, scales + N), dequant_(DequantFor(bits)) {
    const int qmax = (1 << (bits - 1)) - 1;
    for (int64_t n0 = 0; n0 < N; n0 += kPanel) {
      const int64_t w = std::min(kPanel, N - n0), rb = RowBytes(w, bits);
      panel_offset_.push_back(static_cast<int64_t>(packed_.size()));
      packed_.resize(packed_.size() + K * rb + 1, 0);  // +1: the 16-bit read window of the last code
      uint8_t* base = packed_.data() + panel_offset_.back();
      for (int64_t k = 0; k < K; k++)
        for (int64_t j = 0; j < w; j++) {
          const uint32_t u = static_cast<uint32_t>(codes[(n0 + j) * K + k] + qmax);
          const int64_t bit = j * bits;
          const uint32_t shifted = u << (bit & 7);
          base[k * rb + (bit >> 3)] |= static_cast<uint8_t>(shifted);
          base[k * rb + (bit >> 3) + 1] |= static_cast<uint8_t>(shifted >> 8);
        }
    }
  }

  const char* Kind() const override { return "kbit"; }
  size_t Bytes() const override { return packed_.size() + (scales_.size() + bias.size()) * sizeof(float); }

  // x: [M, K] -> y: [M, N]
  void Forward(const float* x, float* y, int64_t M, Activation act) override {
    panel_.resize(K * kPanel);
    for (size_t p = 0; p < panel_offset_.size(); p++) {
      const int64_t n0 = static_cast<int64_t>(p) * kPanel, w = std::min(kPanel, N - n0), rb = RowBytes(w, bits_);
      const uint8_t* base = packed_.data() + panel_offset_[p];
      float* panel = panel_.data();
#pragma omp parallel for schedule(static) if (K * w > (1 << 14))
      for (int64_t k = 0; k < K; k++) dequant_(base + k * rb, scales_.data() + n0, panel + k * w, w);
      std::unordered_map<int, memory> args{
          {DNNL_ARG_SRC, memory({{M, K}, dt::f32, {K, 1}}, DnnlEngine(), const_cast<float*>(x))},
          {DNNL_ARG_WEIGHTS, memory({{K, w}, dt::f32, {w, 1}}, DnnlEngine(), panel)},
          {DNNL_ARG_DST, memory({{M, w}, dt::f32, {N, 1}}, DnnlEngine(), y + n0)}};
      if (!bias.empty()) args.emplace(DNNL_ARG_BIAS, memory({{1, w}, dt::f32, {w, 1}}, DnnlEngine(), bias.data() + n0));
      Primitive(M, w, act).execute(DnnlStream(), args);
    }
    DnnlStream().wait();
  }

 private:
  dnnl::matmul& Primitive(int64_t M, int64_t w, Activation act) {
    auto key = std::make_tuple(M, w, static_cast<int>(act), omp_get_max_threads());
    auto it = prims_.find(key);
    if (it != prims_.end()) return it->second;
    if (prims_.size() >= 64) prims_.clear();
    memory::desc src({M, K}, dt::f32, {K, 1}), wei({K, w}, dt::f32, {w, 1}), dst({M, w}, dt::f32, {N, 1});
    dnnl::primitive_attr attr;
    attr.set_post_ops(ActivationPostOps(act));
    auto desc = bias.empty() ? dnnl::matmul::desc(src, wei, dst)
                             : dnnl::matmul::desc(src, wei, memory::desc({1, w}, dt::f32, {w, 1}), dst);
    return prims_.emplace(key, dnnl::matmul(dnnl::matmul::primitive_desc(desc, attr, DnnlEngine()))).first->second;
  }

  const int bits_;
  std::vector<float> scales_;
  DequantFn dequant_;
  std::vector<uint8_t> packed_;
  std::vector<int64_t> panel_offset_;
  std::vector<float> panel_;
  std::map<std::tuple<int64_t, int64_t, int, int>, dnnl::matmul> prims_;
};
}  // namespace

std::unique_ptr<PackedLinear> PackKbit(const int8_t* codes, const float* scales, const float* bias, int64_t N, int64_t K,
                                       int bits) {
  return std::make_unique<KbitLinear>(codes, scales, bias, N, K, bits);
}

}  // namespace tlc
