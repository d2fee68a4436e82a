// Inference-only linear layers on oneDNN (f32, bf16, int8) and the JS entry points of every
// packed variant. Shapes, variants and formulas: packed_linear.h.
//
//   int8 forward (per call and per row m, dynamic):
//     lo = min(0, min x[m,:]), hi = max(0, max x[m,:]),  s_m = (hi − lo)/255,  z_m = round(−lo/s_m)
//     q[m,k] = clamp(round_half_even(x[m,k]·(1/s_m)) + z_m, 0, 255)              (u8, [M, K])
//     acc    = q · q_wᵀ                                 (oneDNN u8×s8 brgemm/VNNI → exact integers in f32)
//     y[m,n] = act(s_m·s_w[n]·(acc[m,n] − z_m·Σ_k q_w[n,k]) + b[n])             (our epilogue)
//   The scales and zero points stay out of oneDNN: with runtime scales or zero points,
//   oneDNN 2.6 falls back from its VNNI brgemm kernel to a gemm up to 40× slower at batch 1.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <tuple>

#include "common.h"
#include "onednn.h"
#include "packed_linear.h"

namespace tlc {

namespace {
using dnnl::memory;
using dt = memory::data_type;

// The row count weights are packed for; oneDNN keeps the same blocked layout for all M here.
constexpr int64_t kReferenceRows = 256;

// Weights W[N, K] as the matmul's right operand [K, N], stored row-major as [N, K].
memory::desc UserWeights(int64_t N, int64_t K, dt type) { return memory::desc({K, N}, type, {1, K}); }

// A oneDNN matmul with pre-packed weights; one primitive per (M, activation, threads).
class OneDnnLinear : public PackedLinear {
 public:
  // fuse_bias: oneDNN adds the bias (and applies the activation); else the caller does.
  OneDnnLinear(int64_t N, int64_t K, const float* bias, dt src_type, dt wei_type, bool fuse_bias = true)
      : PackedLinear(N, K, bias), src_type_(src_type), wei_type_(wei_type), fuse_bias_(fuse_bias) {}

  // Reorders user weights (row-major [N, K] of `type`) into the layout oneDNN chose. Called by
  // the derived constructor, once its attributes (which can change the choice) are in place.
  void PackFrom(const void* user, dt type) {
    weights_desc_ = Describe(kReferenceRows, Activation::none).weights_desc();
    packed_.resize(weights_desc_.get_size());
    memory src(UserWeights(N, K, type), DnnlEngine(), const_cast<void*>(user));
    memory dst(weights_desc_, DnnlEngine(), packed_.data());
    dnnl::reorder(src, dst).execute(DnnlStream(), src, dst);
    DnnlStream().wait();
  }

  size_t Bytes() const override { return packed_.size() + bias.size() * sizeof(float); }

 protected:
  dnnl::matmul::primitive_desc Describe(int64_t M, Activation act, const memory::desc* weights = nullptr) const {
    memory::desc src({M, K}, src_type_, {K, 1}), dst({M, N}, dt::f32, {N, 1});
    memory::desc wei = weights ? *weights : memory::desc({K, N}, wei_type_, memory::format_tag::any);
    dnnl::primitive_attr attr;
    attr.set_post_ops(ActivationPostOps(act));
    if (bias.empty() || !fuse_bias_) return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, wei, dst), attr, DnnlEngine());
    memory::desc b({1, N}, dt::f32, {N, 1});
    return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, wei, b, dst), attr, DnnlEngine());
  }

  dnnl::matmul& Primitive(int64_t M, Activation act) {
    auto key = std::make_tuple(M, static_cast<int>(act), omp_get_max_threads());
    auto it = prims_.find(key);
    if (it != prims_.end()) return it->second;
    if (prims_.size() >= 64) prims_.clear();  // batch shapes repeat; never grow without bound
    return prims_.emplace(key, dnnl::matmul(Describe(M, act, &weights_desc_))).first->second;
  }

  void Execute(int64_t M, Activation act, const void* src, float* y) {
    memory::desc sd({M, K}, src_type_, {K, 1}), yd({M, N}, dt::f32, {N, 1});
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, memory(sd, DnnlEngine(), const_cast<void*>(src))},
                                         {DNNL_ARG_WEIGHTS, memory(weights_desc_, DnnlEngine(), packed_.data())},
                                         {DNNL_ARG_DST, memory(yd, DnnlEngine(), y)}};
    if (!bias.empty() && fuse_bias_)
      args.emplace(DNNL_ARG_BIAS, memory({{1, N}, dt::f32, {N, 1}}, DnnlEngine(), const_cast<float*>(bias.data())));
    Primitive(M, act).execute(DnnlStream(), args);
    DnnlStream().wait();
  }

  const dt src_type_, wei_type_;
  const bool fuse_bias_;
  memory::desc weights_desc_;
  std::vector<uint8_t> packed_;
  std::map<std::tuple<int64_t, int, int>, dnnl::matmul> prims_;
};

class DenseF32 final : public OneDnnLinear {
 public:
  DenseF32(const float* w, const float* bias, int64_t N, int64_t K) : OneDnnLinear(N, K, bias, dt::f32, dt::f32) {
    PackFrom(w, dt::f32);
  }
  const char* Kind() const override { return "f32"; }
  void Forward(const float* x, float* y, int64_t M, Activation act) override { Execute(M, act, x, y); }
};

// float → bfloat16, round to nearest even (finite inputs).
inline uint16_t ToBf16(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  return static_cast<uint16_t>((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
}

class DenseBf16 final : public OneDnnLinear {
 public:
  DenseBf16(const float* w, const float* bias, int64_t N, int64_t K) : OneDnnLinear(N, K, bias, dt::bf16, dt::bf16) {
    PackFrom(w, dt::f32);  // the reorder rounds to bf16
  }
  const char* Kind() const override { return "bf16"; }
  void Forward(const float* x, float* y, int64_t M, Activation act) override {
    const int64_t n = M * K;
    if (static_cast<int64_t>(src_.size()) < n) src_.resize(n);
    uint16_t* s = src_.data();
#pragma omp parallel for simd schedule(static) if (n > (1 << 15))
    for (int64_t i = 0; i < n; i++) s[i] = ToBf16(x[i]);
    Execute(M, act, s, y);
  }

 private:
  std::vector<uint16_t> src_;
};

class Int8Linear final : public OneDnnLinear {
 public:
  Int8Linear(const int8_t* codes, const float* scales, const float* bias, int64_t N, int64_t K)
      : OneDnnLinear(N, K, bias, dt::u8, dt::s8, /*fuse_bias=*/false), weight_scales_(scales, scales + N), column_sums_(N, 0) {
    PackFrom(codes, dt::s8);
    for (int64_t n = 0; n < N; n++)
      for (int64_t k = 0; k < K; k++) column_sums_[n] += codes[n * K + k];
  }
  const char* Kind() const override { return "int8"; }
  size_t Bytes() const override { return OneDnnLinear::Bytes() + (weight_scales_.size() + column_sums_.size()) * sizeof(float); }

  void Forward(const float* x, float* y, int64_t M, Activation act) override {
    if (static_cast<int64_t>(q_.size()) < M * K) q_.resize(M * K);
    row_scale_.resize(M);
    row_zero_.resize(M);
    bool finite = true;
#pragma omp parallel for schedule(static) reduction(&& : finite) if (M * K > (1 << 15))
    for (int64_t m = 0; m < M; m++) finite = QuantizeRow(x + m * K, q_.data() + m * K, K, row_scale_[m], row_zero_[m]) && finite;
    if (!finite) throw std::runtime_error("int8 linear: the input holds a non-finite value");
    Execute(M, Activation::none, q_.data(), y);  // y = Σ_k q_x·q_w, exact integers held in f32
    const int64_t blocks = (M + kEpilogueRows - 1) / kEpilogueRows;
    PrepareActivation(std::min(M, kEpilogueRows), N, act);
    PrepareActivation(M % kEpilogueRows, N, act);
#pragma omp parallel for schedule(static) if (M * N > (1 << 15))
    for (int64_t b = 0; b < blocks; b++) {
      const int64_t m0 = b * kEpilogueRows, rows = std::min(kEpilogueRows, M - m0);
      for (int64_t m = m0; m < m0 + rows; m++) {
        float* yr = y + m * N;
        const float sx = row_scale_[m], zx = row_zero_[m];
        const float* sw = weight_scales_.data();
        const float* cs = column_sums_.data();
        if (bias.empty()) {
#pragma omp simd
          for (int64_t n = 0; n < N; n++) yr[n] = sx * sw[n] * (yr[n] - zx * cs[n]);
        } else {
          const float* bs = bias.data();
#pragma omp simd
          for (int64_t n = 0; n < N; n++) yr[n] = std::fma(sx * sw[n], yr[n] - zx * cs[n], bs[n]);
        }
      }
      ActivateBlock(y + m0 * N, rows, N, act);
    }
  }

 private:
  static constexpr int64_t kEpilogueRows = 32;

  // Asymmetric u8 quantization of one row: its range (widened to hold 0, so 0 is exact)
  // maps onto 0..255. Returns false if the row holds a non-finite value.
  static bool QuantizeRow(const float* x, uint8_t* q, int64_t K, float& scale, float& zero) {
    float lo = 0.f, hi = 0.f;
#pragma omp simd reduction(min : lo) reduction(max : hi)
    for (int64_t k = 0; k < K; k++) {
      lo = std::min(lo, x[k]);
      hi = std::max(hi, x[k]);
    }
    if (!std::isfinite(lo) || !std::isfinite(hi)) return false;
    scale = (hi - lo) / 255.f;
    if (!(scale > 0.f)) scale = 1.f;  // an all-zero row: any scale quantizes it to 0
    zero = std::min(255.f, std::max(0.f, std::nearbyint(-lo / scale)));
    const float inv = 1.f / scale;
#pragma omp simd
    for (int64_t k = 0; k < K; k++) q[k] = static_cast<uint8_t>(std::min(255.f, std::max(0.f, std::nearbyint(x[k] * inv) + zero)));
    return true;
  }

  std::vector<float> weight_scales_, column_sums_;
  std::vector<uint8_t> q_;
  std::vector<float> row_scale_, row_zero_;
};

Activation ArgActivation(const Napi::CallbackInfo& info, size_t index, const char* op) {
  int64_t a = ArgInt(info, index, op, "activation");
  if (a < 0 || a > 2) Fail(info.Env(), std::string(op) + ": activation must be 0 (none), 1 (gelu) or 2 (gelu_tanh), got " + std::to_string(a));
  return static_cast<Activation>(a);
}

template <typename T>
const T* ArgTypedArray(const Napi::CallbackInfo& info, size_t index, const char* op, const char* name, napi_typedarray_type type,
                       size_t elems, bool optional) {
  if (optional && (info[index].IsNull() || info[index].IsUndefined())) return nullptr;
  if (!info[index].IsTypedArray() || info[index].As<Napi::TypedArray>().TypedArrayType() != type)
    Fail(info.Env(), std::string(op) + ": " + name + " must be a " +
                         (type == napi_float32_array ? "Float32Array" : "Int8Array"));
  auto ta = info[index].As<Napi::TypedArray>();
  if (ta.ElementLength() != elems)
    Fail(info.Env(), std::string(op) + ": " + name + " has " + std::to_string(ta.ElementLength()) + " elements, expected " +
                         std::to_string(elems));
  return reinterpret_cast<const T*>(static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset());
}

PackedLinear* ArgPacked(const Napi::CallbackInfo& info, size_t index, const char* op) {
  if (!info[index].IsExternal()) Fail(info.Env(), std::string(op) + ": not a packed linear layer");
  return info[index].As<Napi::External<PackedLinear>>().Data();
}
}  // namespace

dnnl::post_ops ActivationPostOps(Activation act) {
  dnnl::post_ops po;
  if (act == Activation::gelu) po.append_eltwise(1.0f, dnnl::algorithm::eltwise_gelu_erf, 0.f, 0.f);
  if (act == Activation::gelu_tanh) po.append_eltwise(1.0f, dnnl::algorithm::eltwise_gelu_tanh, 0.f, 0.f);
  return po;
}

// Eltwise primitives for ActivateBlock, by (rows, cols, activation). Created outside
// parallel regions (PrepareActivation), only looked up inside them.
std::map<std::tuple<int64_t, int64_t, int>, dnnl::eltwise_forward>& ActivationPrimitives() {
  static std::map<std::tuple<int64_t, int64_t, int>, dnnl::eltwise_forward> cache;
  return cache;
}

void PrepareActivation(int64_t rows, int64_t cols, Activation act) {
  if (act == Activation::none || rows <= 0) return;
  auto& cache = ActivationPrimitives();
  auto key = std::make_tuple(rows, cols, static_cast<int>(act));
  if (cache.count(key)) return;
  if (cache.size() >= 256) cache.clear();
  memory::desc d({rows, cols}, dt::f32, {cols, 1});
  auto alg = act == Activation::gelu ? dnnl::algorithm::eltwise_gelu_erf : dnnl::algorithm::eltwise_gelu_tanh;
  dnnl::eltwise_forward::desc desc(dnnl::prop_kind::forward_inference, alg, d, 0.f, 0.f);
  cache.emplace(key, dnnl::eltwise_forward(dnnl::eltwise_forward::primitive_desc(desc, DnnlEngine())));
}

void ActivateBlock(float* y, int64_t rows, int64_t cols, Activation act) {
  if (act == Activation::none) return;
  // one stream per thread: blocks run concurrently inside the caller's parallel loop
  thread_local dnnl::stream stream(DnnlEngine());
  memory m({{rows, cols}, dt::f32, {cols, 1}}, DnnlEngine(), y);
  ActivationPrimitives().at(std::make_tuple(rows, cols, static_cast<int>(act))).execute(stream, {{DNNL_ARG_SRC, m}, {DNNL_ARG_DST, m}});
  stream.wait();
}

std::unique_ptr<PackedLinear> PackDenseF32(const float* w, const float* bias, int64_t N, int64_t K) {
  return std::make_unique<DenseF32>(w, bias, N, K);
}
std::unique_ptr<PackedLinear> PackBf16(const float* w, const float* bias, int64_t N, int64_t K) {
  return std::make_unique<DenseBf16>(w, bias, N, K);
}
std::unique_ptr<PackedLinear> PackInt8(const int8_t* codes, const float* scales, const float* bias, int64_t N, int64_t K) {
  return std::make_unique<Int8Linear>(codes, scales, bias, N, K);
}

// packLinear(kind, weights, scales|null, bias|null, N, K, bits) -> external
//   kind f32 | bf16 | sparse: weights Float32Array [N·K]
//   kind int8 | kbit:         weights Int8Array codes [N·K], scales Float32Array [N]
static Napi::Value PackLinear(const Napi::CallbackInfo& info) {
  const char* op = "packLinear";
  if (!info[0].IsString()) Fail(info.Env(), "packLinear: kind must be a string");
  std::string kind = info[0].As<Napi::String>();
  int64_t N = ArgInt(info, 4, op, "N"), K = ArgInt(info, 5, op, "K"), bits = ArgInt(info, 6, op, "bits");
  if (N <= 0 || K <= 0) Fail(info.Env(), "packLinear: N and K must be positive");
  const float* bias = ArgTypedArray<float>(info, 3, op, "bias", napi_float32_array, N, true);
  std::unique_ptr<PackedLinear> packed;
  if (kind == "f32" || kind == "bf16" || kind == "sparse") {
    const float* w = ArgTypedArray<float>(info, 1, op, "weights", napi_float32_array, N * K, false);
    for (int64_t i = 0; i < N * K; i++)
      if (!std::isfinite(w[i])) Fail(info.Env(), "packLinear: weights hold a non-finite value at " + std::to_string(i));
    packed = kind == "f32" ? PackDenseF32(w, bias, N, K) : kind == "bf16" ? PackBf16(w, bias, N, K) : PackSparse(w, bias, N, K);
  } else if (kind == "int8" || kind == "kbit") {
    const int8_t* codes = ArgTypedArray<int8_t>(info, 1, op, "codes", napi_int8_array, N * K, false);
    const float* scales = ArgTypedArray<float>(info, 2, op, "scales", napi_float32_array, N, false);
    if (kind == "int8" && bits != 8) Fail(info.Env(), "packLinear: int8 takes bits = 8");
    if (bits < 2 || bits > 8) Fail(info.Env(), "packLinear: bits must be 2 to 8, got " + std::to_string(bits));
    const int qmax = (1 << (bits - 1)) - 1;
    for (int64_t i = 0; i < N * K; i++)
      if (codes[i] < -qmax || codes[i] > qmax)
        Fail(info.Env(), "packLinear: code " + std::to_string(codes[i]) + " at " + std::to_string(i) + " is outside ±" +
                             std::to_string(qmax) + " for " + std::to_string(bits) + " bits");
    packed = kind == "int8" ? PackInt8(codes, scales, bias, N, K) : PackKbit(codes, scales, bias, N, K, static_cast<int>(bits));
  } else {
    Fail(info.Env(), "packLinear: unknown kind \"" + kind + "\" (f32, bf16, int8, kbit, sparse)");
  }
  const int64_t bytes = static_cast<int64_t>(packed->Bytes());
  Napi::MemoryManagement::AdjustExternalMemory(info.Env(), bytes);
  return Napi::External<PackedLinear>::New(info.Env(), packed.release(), [bytes](Napi::Env env, PackedLinear* p) {
    Napi::MemoryManagement::AdjustExternalMemory(env, -bytes);
    delete p;
  });
}

// packedLinearForward(packed, x, y, M, activation)     x: [M, K] -> y: [M, N]
static Napi::Value PackedLinearForward(const Napi::CallbackInfo& info) {
  const char* op = "packed linear";
  PackedLinear* p = ArgPacked(info, 0, op);
  int64_t M = ArgInt(info, 3, op, "M");
  if (M <= 0) Fail(info.Env(), "packed linear: M must be positive, got " + std::to_string(M));
  Activation act = ArgActivation(info, 4, op);
  const float* x = ArgF32(info, 1, op, "input", M * p->K);
  float* y = ArgF32(info, 2, op, "output", M * p->N);
  p->Forward(x, y, M, act);
  return info.Env().Undefined();
}

// packedLinearInfo(packed) -> { kind, rows: N, cols: K, bytes }
static Napi::Value PackedLinearInfo(const Napi::CallbackInfo& info) {
  PackedLinear* p = ArgPacked(info, 0, "packedLinearInfo");
  auto o = Napi::Object::New(info.Env());
  o.Set("kind", p->Kind());
  o.Set("rows", static_cast<double>(p->N));
  o.Set("cols", static_cast<double>(p->K));
  o.Set("bytes", static_cast<double>(p->Bytes()));
  return o;
}

void RegisterPackedLinear(Napi::Env env, Napi::Object exports) {
  exports.Set("packLinear", Napi::Function::New(env, Guarded<PackLinear>));
  exports.Set("packedLinearForward", Napi::Function::New(env, Guarded<PackedLinearForward>));
  exports.Set("packedLinearInfo", Napi::Function::New(env, Guarded<PackedLinearInfo>));
}

}  // namespace tlc
