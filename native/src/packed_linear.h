// Inference-only linear layers whose weights are packed once for one kernel:
//
//   y[M,N] = act(x[M,K] · W[N,K]ᵀ + b[N]),   act ∈ {none, gelu (erf), gelu (tanh)}
//
// Variants (forward only; training uses linear.cc):
//   f32     oneDNN matmul, weights reordered to the kernel's blocked layout
//   bf16    oneDNN bf16 matmul: weights and activations rounded to bfloat16, f32 accumulation
//   int8    oneDNN u8×s8 matmul (VNNI): per-output-channel int8 weights, activations quantized
//           per call and per row (token) to u8 with a dynamic scale and zero point
//   kbit    2–8-bit weight-only codes, expanded per call into the matmul's layout  (kbit_linear.cc)
//   sparse  unstructured sparse weights in CSR × dense activations                   (sparse_linear.cc)
#pragma once
#include <dnnl.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tlc {

enum class Activation : int32_t { none = 0, gelu = 1, gelu_tanh = 2 };

class PackedLinear {
 public:
  PackedLinear(int64_t n, int64_t k, const float* bias) : N(n), K(k) {
    if (bias) this->bias.assign(bias, bias + n);
  }
  virtual ~PackedLinear() = default;
  // x: [M, K] -> y: [M, N]; accumulate: y += x·Wᵀ + b instead (a residual connection, act = none)
  virtual void Forward(const float* x, float* y, int64_t M, Activation act, bool accumulate) = 0;
  virtual const char* Kind() const = 0;
  // Bytes the packed weights occupy in memory (bias included).
  virtual size_t Bytes() const = 0;

  const int64_t N, K;
  std::vector<float> bias;  // empty: no bias
};

std::unique_ptr<PackedLinear> PackDenseF32(const float* w, const float* bias, int64_t N, int64_t K);
std::unique_ptr<PackedLinear> PackBf16(const float* w, const float* bias, int64_t N, int64_t K);
// codes: [N, K] in [−127, 127]; scales: [N]
std::unique_ptr<PackedLinear> PackInt8(const int8_t* codes, const float* scales, const float* bias, int64_t N, int64_t K);
// codes: [N, K] in [−(2^(bits−1)−1), 2^(bits−1)−1]; scales: [N]
std::unique_ptr<PackedLinear> PackKbit(const int8_t* codes, const float* scales, const float* bias, int64_t N, int64_t K,
                                       int bits);
std::unique_ptr<PackedLinear> PackSparse(const float* w, const float* bias, int64_t N, int64_t K);

// act (and, with accumulate, a sum into the destination) as oneDNN post-ops.
dnnl::post_ops ActivationPostOps(Activation act, bool accumulate = false);
// An activation applied in place to blocks y[rows, cols] (the same oneDNN algorithm as the
// post-op). Made outside a parallel loop, applied inside it: it holds its own reference to
// the primitive, so no cache is touched by the threads.
struct Activator {
  dnnl::eltwise_forward prim;
  int64_t rows = 0, cols = 0;
  bool active = false;
  void Apply(float* y) const;
};
Activator ActivatorFor(int64_t rows, int64_t cols, Activation act);

}  // namespace tlc
