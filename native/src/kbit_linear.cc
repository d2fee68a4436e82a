// k-bit weight-only linear (2–8 bits), inference only.
//
//   y[M,N] = act(x[M,K] · Ŵ[N,K]ᵀ + b[N]),   Ŵ[n,k] = q[n,k]·s[n],  q ∈ [−qmax, qmax], qmax = 2^(bits−1) − 1
//
// The codes stay packed in memory: `bits` per weight plus one scale per output channel.
// They are stored in the order of oneDNN's blocked weight layout for this matmul, so that a
// call expands them with one streaming pass (u → u − qmax as f32, no gathers, no per-element
// scale) into a scratch buffer that oneDNN multiplies directly; the scales s[n] are the
// matmul's per-channel output scales and the bias is folded in as b[n]/s[n] (oneDNN 2.x
// applies the bias before the scale). Activations stay f32.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <map>
#include <tuple>

#include "common.h"
#include "onednn.h"
#include "packed_linear.h"

namespace tlc {

namespace {
using dnnl::memory;
using dt = memory::data_type;

constexpr int64_t kReferenceRows = 256;  // the row count the blocked layout is chosen for

// out[i] = u_i − qmax for the codes u packed LSB-first, `bits` each, i ∈ [begin, end)
template <int BITS>
void Expand(const uint8_t* packed, float* out, int64_t begin, int64_t end) {
  constexpr int kQmax = (1 << (BITS - 1)) - 1;
  constexpr uint32_t kMask = (1u << BITS) - 1;
  if constexpr (8 % BITS == 0) {  // 2, 4, 8 bits: whole codes per byte
    constexpr int kPerByte = 8 / BITS;
#pragma omp simd
    for (int64_t i = begin; i < end; i++)
      out[i] = static_cast<float>(static_cast<int>((packed[i / kPerByte] >> ((i % kPerByte) * BITS)) & kMask) - kQmax);
  } else {
#pragma omp simd
    for (int64_t i = begin; i < end; i++) {
      const int64_t bit = i * BITS;
      const uint32_t window = packed[bit >> 3] | (static_cast<uint32_t>(packed[(bit >> 3) + 1]) << 8);
      out[i] = static_cast<float>(static_cast<int>((window >> (bit & 7)) & kMask) - kQmax);
    }
  }
}

using ExpandFn = void (*)(const uint8_t*, float*, int64_t, int64_t);
ExpandFn ExpandFor(int bits) {
  switch (bits) {
    case 2: return Expand<2>;
    case 3: return Expand<3>;
    case 4: return Expand<4>;
    case 5: return Expand<5>;
    case 6: return Expand<6>;
    case 7: return Expand<7>;
    default: return Expand<8>;
  }
}

// Scratch for the expanded weights, shared by all k-bit layers (they run one at a time).
std::vector<float>& ExpandedScratch() {
  static std::vector<float> scratch;
  return scratch;
}

class KbitLinear final : public PackedLinear {
 public:
  KbitLinear(const int8_t* codes, const float* scales, const float* bias, int64_t N, int64_t K, int bits)
      : PackedLinear(N, K, bias), bits_(bits), expand_(ExpandFor(bits)), out_scales_(N), folded_bias_(N) {
    for (int64_t n = 0; n < N; n++) {
      out_scales_[n] = scales[n] > 0.f ? scales[n] : 1.f;  // a zero row has codes 0: any scale works
      folded_bias_[n] = bias ? bias[n] / out_scales_[n] : 0.f;
      if (!std::isfinite(folded_bias_[n]))
        throw std::runtime_error("k-bit linear: bias / scale of row " + std::to_string(n) + " overflows float (scale " + std::to_string(scales[n]) + ")");
    }
    weights_desc_ = Describe(kReferenceRows, Activation::none, false, nullptr).weights_desc();
    elements_ = static_cast<int64_t>(weights_desc_.get_size() / sizeof(float));
    // Where each (k, n) lands in the blocked layout: reorder a plain matrix of 1-based source
    // indices (n·K + k + 1) with oneDNN itself; padding positions come out 0.
    std::vector<int32_t> plain(N * K), blocked(elements_, 0);
    for (int64_t i = 0; i < N * K; i++) plain[i] = static_cast<int32_t>(i + 1);
    dnnl_memory_desc_t as_s32 = weights_desc_.data;
    as_s32.data_type = dnnl_s32;
    memory src({{K, N}, dt::s32, {1, K}}, DnnlEngine(), plain.data()), dst(memory::desc(as_s32), DnnlEngine(), blocked.data());
    dnnl::reorder(src, dst).execute(DnnlStream(), src, dst);
    DnnlStream().wait();
    const int qmax = (1 << (bits - 1)) - 1;
    packed_.assign((elements_ * bits + 7) / 8 + 1, 0);  // +1: the 16-bit read window of the last code
    for (int64_t i = 0; i < elements_; i++) {
      const uint32_t u = static_cast<uint32_t>((blocked[i] > 0 ? codes[blocked[i] - 1] : 0) + qmax);
      const int64_t bit = i * bits;
      const uint32_t shifted = u << (bit & 7);
      packed_[bit >> 3] |= static_cast<uint8_t>(shifted);
      packed_[(bit >> 3) + 1] |= static_cast<uint8_t>(shifted >> 8);
    }
  }

  const char* Kind() const override { return "kbit"; }
  size_t Bytes() const override { return packed_.size() + (out_scales_.size() + folded_bias_.size()) * sizeof(float); }

  // x: [M, K] -> y: [M, N]
  void Forward(const float* x, float* y, int64_t M, Activation act, bool accumulate) override {
    auto& scratch = ExpandedScratch();
    if (static_cast<int64_t>(scratch.size()) < elements_) scratch.resize(elements_);
    float* w = scratch.data();
    const int64_t chunk = 4096;  // codes per task: whole bytes for every bit width
    const int64_t chunks = (elements_ + chunk - 1) / chunk;
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < chunks; c++) expand_(packed_.data(), w, c * chunk, std::min(elements_, (c + 1) * chunk));
    std::unordered_map<int, memory> args{
        {DNNL_ARG_SRC, memory({{M, K}, dt::f32, {K, 1}}, DnnlEngine(), const_cast<float*>(x))},
        {DNNL_ARG_WEIGHTS, memory(weights_desc_, DnnlEngine(), w)},
        {DNNL_ARG_DST, memory({{M, N}, dt::f32, {N, 1}}, DnnlEngine(), y)}};
    if (!bias.empty()) args.emplace(DNNL_ARG_BIAS, memory({{1, N}, dt::f32, {N, 1}}, DnnlEngine(), folded_bias_.data()));
    Primitive(M, act, accumulate).execute(DnnlStream(), args);
    DnnlStream().wait();
  }

 private:
  dnnl::matmul::primitive_desc Describe(int64_t M, Activation act, bool accumulate, const memory::desc* weights) const {
    memory::desc src({M, K}, dt::f32, {K, 1}), dst({M, N}, dt::f32, {N, 1});
    memory::desc wei = weights ? *weights : memory::desc({K, N}, dt::f32, memory::format_tag::any);
    dnnl::primitive_attr attr;
    attr.set_output_scales(1 << 1, out_scales_);
    attr.set_post_ops(ActivationPostOps(act, accumulate));
    auto desc = bias.empty() ? dnnl::matmul::desc(src, wei, dst)
                             : dnnl::matmul::desc(src, wei, memory::desc({1, N}, dt::f32, {N, 1}), dst);
    return dnnl::matmul::primitive_desc(desc, attr, DnnlEngine());
  }

  dnnl::matmul& Primitive(int64_t M, Activation act, bool accumulate) {
    auto key = std::make_tuple(M, static_cast<int>(act) + (accumulate ? 8 : 0), omp_get_max_threads());
    auto it = prims_.find(key);
    if (it != prims_.end()) return it->second;
    if (prims_.size() >= 64) prims_.clear();
    return prims_.emplace(key, dnnl::matmul(Describe(M, act, accumulate, &weights_desc_))).first->second;
  }

  const int bits_;
  ExpandFn expand_;
  std::vector<float> out_scales_, folded_bias_;
  memory::desc weights_desc_;
  int64_t elements_ = 0;
  std::vector<uint8_t> packed_;
  std::map<std::tuple<int64_t, int, int>, dnnl::matmul> prims_;
};
}  // namespace

std::unique_ptr<PackedLinear> PackKbit(const int8_t* codes, const float* scales, const float* bias, int64_t N, int64_t K,
                                       int bits) {
  return std::make_unique<KbitLinear>(codes, scales, bias, N, K, bits);
}

}  // namespace tlc
