// Inference-only linear layers on oneDNN (f32, bf16, int8) and the JS entry points of every
// packed variant. Shapes, variants and formulas: packed_linear.h.
//
//   int8 forward (per call, dynamic):
//     rmin = min(0, min x), rmax = max(0, max x),  s_x = (rmax − rmin)/255,  z = round(−rmin/s_x)
//     q_x  = clamp(round_half_even(x / s_x) + z, 0, 255)                        (u8, [M, K])
//     y    = act(s_x·s_w[n] · Σ_k (q_x[m,k] − z)·q_w[n,k] + b[n])                (oneDNN u8×s8 → f32)
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
  OneDnnLinear(int64_t N, int64_t K, const float* bias, dt src_type, dt wei_type)
      : PackedLinear(N, K, bias), src_type_(src_type), wei_type_(wei_type) {}

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
  virtual dnnl::primitive_attr Attributes(Activation act) const {
    dnnl::primitive_attr attr;
    attr.set_post_ops(ActivationPostOps(act));
    return attr;
  }

  dnnl::matmul::primitive_desc Describe(int64_t M, Activation act, const memory::desc* weights = nullptr) const {
    memory::desc src({M, K}, src_type_, {K, 1}), dst({M, N}, dt::f32, {N, 1});
    memory::desc wei = weights ? *weights : memory::desc({K, N}, wei_type_, memory::format_tag::any);
    auto attr = Attributes(act);
    if (bias.empty()) return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, wei, dst), attr, DnnlEngine());
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

  void Execute(int64_t M, Activation act, const void* src, float* y, std::unordered_map<int, memory> extra = {}) {
    memory::desc sd({M, K}, src_type_, {K, 1}), yd({M, N}, dt::f32, {N, 1});
    extra.emplace(DNNL_ARG_SRC, memory(sd, DnnlEngine(), const_cast<void*>(src)));
    extra.emplace(DNNL_ARG_WEIGHTS, memory(weights_desc_, DnnlEngine(), packed_.data()));
    extra.emplace(DNNL_ARG_DST, memory(yd, DnnlEngine(), y));
    if (!bias.empty() && !extra.count(DNNL_ARG_BIAS))
      extra.emplace(DNNL_ARG_BIAS, memory({{1, N}, dt::f32, {N, 1}}, DnnlEngine(), bias.data()));
    Primitive(M, act).execute(DnnlStream(), extra);
    DnnlStream().wait();
  }

  const dt src_type_, wei_type_;
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
      : OneDnnLinear(N, K, bias, dt::u8, dt::s8), weight_scales_(scales, scales + N), out_scales_(N), call_bias_(N) {
    PackFrom(codes, dt::s8);
  }
  const char* Kind() const override { return "int8"; }
  size_t Bytes() const override { return OneDnnLinear::Bytes() + weight_scales_.size() * sizeof(float); }

  void Forward(const float* x, float* y, int64_t M, Activation act) override {
    const int64_t n = M * K;
    if (static_cast<int64_t>(q_.size()) < n) q_.resize(n);
    float lo = 0.f, hi = 0.f;  // the range always holds 0, so 0 is exact
#pragma omp parallel for simd reduction(min : lo) reduction(max : hi) schedule(static) if (n > (1 << 15))
    for (int64_t i = 0; i < n; i++) {
      lo = std::min(lo, x[i]);
      hi = std::max(hi, x[i]);
    }
    if (!std::isfinite(lo) || !std::isfinite(hi)) throw std::runtime_error("int8 linear: the input holds a non-finite value");
    float sx = (hi - lo) / 255.f;
    int32_t zp = 0;
    if (sx > 0.f) zp = static_cast<int32_t>(std::min(255.f, std::max(0.f, std::nearbyint(-lo / sx))));
    else sx = 1.f;  // all zeros: any scale quantizes them to 0
    uint8_t* q = q_.data();
    const float zf = static_cast<float>(zp);
#pragma omp parallel for simd schedule(static) if (n > (1 << 15))
    for (int64_t i = 0; i < n; i++) q[i] = static_cast<uint8_t>(std::min(255.f, std::max(0.f, std::nearbyint(x[i] / sx) + zf)));
    // oneDNN 2.x applies the bias before the output scale: pass b / scale.
    for (int64_t j = 0; j < N; j++) {
      out_scales_[j] = sx * (weight_scales_[j] > 0.f ? weight_scales_[j] : 1.f);
      if (!bias.empty()) call_bias_[j] = bias[j] / out_scales_[j];
    }
    std::unordered_map<int, memory> extra{
        {DNNL_ARG_ATTR_OUTPUT_SCALES, memory({{N}, dt::f32, {1}}, DnnlEngine(), out_scales_.data())},
        {DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC, memory({{1}, dt::s32, {1}}, DnnlEngine(), &zp)}};
    if (!bias.empty()) extra.emplace(DNNL_ARG_BIAS, memory({{1, N}, dt::f32, {N, 1}}, DnnlEngine(), call_bias_.data()));
    Execute(M, act, q, y, std::move(extra));
  }

 protected:
  dnnl::primitive_attr Attributes(Activation act) const override {
    auto attr = OneDnnLinear::Attributes(act);
    attr.set_output_scales(1 << 1, {DNNL_RUNTIME_F32_VAL});
    attr.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});
    return attr;
  }

 private:
  std::vector<float> weight_scales_, out_scales_, call_bias_;
  std::vector<uint8_t> q_;
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

void ApplyActivation(float* y, int64_t count, Activation act) {
  if (act != Activation::none) GeluRows(y, y, count, act == Activation::gelu_tanh);
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
