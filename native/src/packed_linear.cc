// Inference-only linear layers on oneDNN (f32, bf16, int8) and the JS entry points of every
// packed variant. Shapes, variants and formulas: packed_linear.h.
//
//   int8 forward (per call and per row m, dynamic):
//     lo = min(0, min x[m,:]), hi = max(0, max x[m,:]),  s_m = (hi − lo)/255,  z_m = round(−lo/s_m)
//     q[m,k] = clamp(round_half_even(x[m,k]·(1/s_m)) + z_m, 0, 255)              (u8, [M, K])
//     acc    = q · q_wᵀ                        (oneDNN u8×s8: exact in s32, rounded once to f32)
//     y[m,n] = act(s_m·s_w[n]·(acc[m,n] − z_m·Σ_k q_w[n,k]) + b[n])             (our epilogue)
//   The scales and zero points stay out of oneDNN: with runtime scales or zero points,
//   oneDNN 2.6 falls back from its VNNI brgemm kernel to a gemm up to 40× slower at batch 1.
//   Without VNNI (AVX2, AVX-512 before Cascade Lake), oneDNN sums pairs of u8×s8 products in
//   saturating 16 bits (vpmaddubsw: 2·255·127 > 32767). There, from AVX2 up, tlc's own kernel
//   multiplies on 16-bit lanes (wide_int8.h); below AVX2 the codes are split in halves,
//   q_w = a + b with a = ⌊q_w/2⌋, b = ⌈q_w/2⌉ (both in [−64, 64], so 2·255·64 ≤ 32767), the
//   product runs once over [a; b] (2N columns, s32) and acc = q·aᵀ + q·bᵀ. Either way: the same
//   exact integers as with VNNI, from the same 8-bit activations, on every CPU. Codes already
//   within [−64, 64] (k-bit weights) need neither.
#include <omp.h>
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <deque>
#include <map>
#include <tuple>

#include "args.h"
#include "bf16.h"
#include "common.h"
#include "simd.h"
#include "onednn.h"
#include "packed_linear.h"
#include "wide_int8.h"

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
  // cols: the product's columns (N, or more when a layer multiplies several weight blocks at once)
  OneDnnLinear(int64_t N, int64_t K, const float* bias, dt src_type, dt wei_type, bool fuse_bias = true, int64_t cols = 0,
               dt dst_type = dt::f32)
      : PackedLinear(N, K, bias), src_type_(src_type), wei_type_(wei_type), dst_type_(dst_type), fuse_bias_(fuse_bias),
        cols_(cols > 0 ? cols : N) {}

  // Reorders user weights (row-major [N, K] of `type`) into the layout oneDNN chose. Called by
  // the derived constructor, once its attributes (which can change the choice) are in place.
  void PackFrom(const void* user, dt type) {
    weights_desc_ = Describe(kReferenceRows, Activation::none, false).weights_desc();
    packed_.resize(weights_desc_.get_size());
    memory src(UserWeights(cols_, K, type), DnnlEngine(), const_cast<void*>(user));
    memory dst(weights_desc_, DnnlEngine(), packed_.data());
    dnnl::reorder(src, dst).execute(DnnlStream(), src, dst);
    DnnlStream().wait();
  }

  size_t Bytes() const override { return packed_.size() + bias.size() * sizeof(float); }

 protected:
  dnnl::matmul::primitive_desc Describe(int64_t M, Activation act, bool accumulate, const memory::desc* weights = nullptr) const {
    memory::desc src({M, K}, src_type_, {K, 1}), dst({M, cols_}, dst_type_, {cols_, 1});
    memory::desc wei = weights ? *weights : memory::desc({K, cols_}, wei_type_, memory::format_tag::any);
    dnnl::primitive_attr attr;
    attr.set_post_ops(ActivationPostOps(act, accumulate));
    // the caller passes the scratchpad, so that threads can run one primitive concurrently
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    if (bias.empty() || !fuse_bias_) return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, wei, dst), attr, DnnlEngine());
    memory::desc b({1, N}, dt::f32, {N, 1});
    return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, wei, b, dst), attr, DnnlEngine());
  }

  struct Prim {
    dnnl::matmul matmul;
    size_t scratchpad_bytes;
  };

  // The primitive for M rows. single_thread: one that runs inside the caller's parallel loop,
  // one per thread (created here, outside that loop: the cache is not thread-safe).
  // Returned by value (oneDNN primitives are reference-counted handles): a copy taken before a
  // parallel loop stays valid whatever the cache does.
  Prim Primitive(int64_t M, Activation act, bool accumulate, bool single_thread = false) {
    const int threads = single_thread ? 1 : omp_get_max_threads();
    auto key = std::make_tuple(M, static_cast<int>(act) + (accumulate ? 8 : 0), threads);
    auto it = prims_.find(key);
    if (it != prims_.end()) return it->second;
    if (prims_.size() >= 64) prims_.clear();  // batch shapes repeat; never grow without bound
    const int outer = omp_get_max_threads();
    omp_set_num_threads(threads);  // oneDNN plans its work split for the threads it will have
    auto pd = Describe(M, act, accumulate, &weights_desc_);
    omp_set_num_threads(outer);
    return prims_.emplace(key, Prim{dnnl::matmul(pd), pd.scratchpad_desc().get_size()}).first->second;
  }

  void Execute(int64_t M, Activation act, const void* src, float* y, bool accumulate) { Run(Primitive(M, act, accumulate), M, src, y); }

  // Runs p (made for M rows) on this thread's stream and scratchpad; y: [M, cols] of the dst type.
  void Run(const Prim& p, int64_t M, const void* src, void* y) {
    thread_local dnnl::stream stream(DnnlEngine());
    thread_local std::vector<uint8_t> scratchpad;
    if (scratchpad.size() < p.scratchpad_bytes) scratchpad.resize(p.scratchpad_bytes);
    memory::desc sd({M, K}, src_type_, {K, 1}), yd({M, cols_}, dst_type_, {cols_, 1});
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, memory(sd, DnnlEngine(), const_cast<void*>(src))},
                                         {DNNL_ARG_WEIGHTS, memory(weights_desc_, DnnlEngine(), packed_.data())},
                                         {DNNL_ARG_DST, memory(yd, DnnlEngine(), y)},
                                         {DNNL_ARG_SCRATCHPAD, memory({{static_cast<int64_t>(p.scratchpad_bytes)}, dt::u8, {1}},
                                                                      DnnlEngine(), scratchpad.data())}};
    if (!bias.empty() && fuse_bias_)
      args.emplace(DNNL_ARG_BIAS, memory({{1, N}, dt::f32, {N, 1}}, DnnlEngine(), const_cast<float*>(bias.data())));
    p.matmul.execute(stream, args);
    stream.wait();
  }

  const dt src_type_, wei_type_, dst_type_;
  const bool fuse_bias_;
  const int64_t cols_;
  memory::desc weights_desc_;
  std::vector<uint8_t> packed_;
  std::map<std::tuple<int64_t, int, int>, Prim> prims_;
};

class DenseF32 final : public OneDnnLinear {
 public:
  DenseF32(const float* w, const float* bias, int64_t N, int64_t K) : OneDnnLinear(N, K, bias, dt::f32, dt::f32) {
    PackFrom(w, dt::f32);
  }
  const char* Kind() const override { return "f32"; }
  void Forward(const float* x, float* y, int64_t M, Activation act, bool accumulate) override { Execute(M, act, x, y, accumulate); }
};

class DenseBf16 final : public OneDnnLinear {
 public:
  DenseBf16(const float* w, const float* bias, int64_t N, int64_t K) : OneDnnLinear(N, K, bias, dt::bf16, dt::bf16) {
    PackFrom(w, dt::f32);  // the reorder rounds to bf16
  }
  const char* Kind() const override { return "bf16"; }
  void Forward(const float* x, float* y, int64_t M, Activation act, bool accumulate) override {
    const int64_t n = M * K;
    if (static_cast<int64_t>(src_.size()) < n) src_.resize(n);
    CastBf16(x, src_.data(), n);
    Execute(M, act, src_.data(), y, accumulate);
  }

 private:
  std::vector<uint16_t> src_;
};

// Whether oneDNN sums u8×s8 products exactly in 32 bits here (VNNI, AMX), or in pairs that
// saturate at 16 bits (see the top of this file).
bool ExactInt8Products() {
#if defined(__aarch64__)
  // oneDNN 2.6 on aarch64 has no saturating 16-bit pair sums: its u8×s8 products accumulate
  // in s32 at every ISA it dispatches to (checked against the integer reference by the tests)
  return true;
#else
  static const bool exact = [] {
    const unsigned isa = static_cast<unsigned>(dnnl_get_effective_cpu_isa());
    return (isa & dnnl_cpu_isa_avx512_core_vnni) == dnnl_cpu_isa_avx512_core_vnni ||
           (isa & dnnl_cpu_isa_avx2_vnni) == dnnl_cpu_isa_avx2_vnni;
  }();
  return exact;
#endif
}

// How u8 × s8 products run: on oneDNN as they are (VNNI, AMX, or codes within [−64, 64]), on
// tlc's 16-bit kernel (no VNNI, AVX2 and above: wide_int8.h), or on oneDNN over split codes
// (no VNNI, below AVX2).
enum class Int8Path { onednn, wide, split };

Int8Path ChooseInt8Path(const int8_t* codes, int64_t N, int64_t K) {
  if (ExactInt8Products()) return Int8Path::onednn;
  bool small = true;
  for (int64_t i = 0; i < N * K && small; i++) small = codes[i] <= 64 && codes[i] >= -64;
  if (small) return Int8Path::onednn;
  return WideInt8Codes::Available() ? Int8Path::wide : Int8Path::split;
}

// [a; b]: rows n of a = ⌊codes/2⌋ then rows n of b = ⌈codes/2⌉              -> [2N, K]
std::vector<int8_t> SplitCodes(const int8_t* codes, int64_t N, int64_t K) {
  std::vector<int8_t> halves(2 * N * K);
  for (int64_t i = 0; i < N * K; i++) {
    const int8_t lo = static_cast<int8_t>(codes[i] >> 1);  // arithmetic shift: ⌊c/2⌋
    halves[i] = lo;
    halves[N * K + i] = static_cast<int8_t>(codes[i] - lo);
  }
  return halves;
}

class Int8Linear final : public OneDnnLinear {
 public:
  Int8Linear(const int8_t* codes, const float* scales, const float* bias, int64_t N, int64_t K, Int8Path path)
      : OneDnnLinear(N, K, bias, dt::u8, dt::s8, /*fuse_bias=*/false, path == Int8Path::split ? 2 * N : N,
                     path == Int8Path::split ? dt::s32 : dt::f32),
        path_(path), weight_scales_(scales, scales + N), column_sums_(N, 0) {
    if (path == Int8Path::wide) {
      wide_ = std::make_unique<WideInt8Codes>(codes, N, K);
    } else if (path == Int8Path::split) {
      PackFrom(SplitCodes(codes, N, K).data(), dt::s8);
    } else {
      PackFrom(codes, dt::s8);
    }
    for (int64_t n = 0; n < N; n++)
      for (int64_t k = 0; k < K; k++) column_sums_[n] += codes[n * K + k];
  }
  const char* Kind() const override { return "int8"; }
  size_t Bytes() const override {
    return OneDnnLinear::Bytes() + (wide_ ? wide_->Bytes() : 0) + (weight_scales_.size() + column_sums_.size()) * sizeof(float);
  }

  // Rows per chunk: the chunk's integer products (and, in the MLP, its hidden rows) stay in
  // L2; the chunks split evenly over the threads.
  static int64_t ChunkRows(int64_t M, int64_t widest) {
    const int64_t limit = std::max<int64_t>(16, std::min<int64_t>(256, (1 << 17) / widest));
    const int64_t threads = omp_get_max_threads();
    const int64_t chunks = threads * ((M + threads * limit - 1) / (threads * limit));
    return (M + chunks - 1) / chunks;
  }

  // The single-thread primitives for chunks of `chunk` rows and for the last, shorter one.
  struct ChunkPrims {
    Prim full, tail;
    const Prim& For(int64_t rows, int64_t chunk) const { return rows == chunk ? full : tail; }
  };
  ChunkPrims PrepareChunks(int64_t M, int64_t chunk) {
    if (path_ == Int8Path::wide) return {};
    ChunkPrims c{Primitive(std::min(M, chunk), Activation::none, false, true), {}};
    c.tail = M % chunk ? Primitive(M % chunk, Activation::none, false, true) : c.full;
    return c;
  }
  // acc[rows, N] = q[rows, K] · q_wᵀ, integers summed exactly in s32 and rounded once to f32;
  // runs on the calling thread
  void IntegerProduct(const Prim& p, const uint8_t* q, int64_t rows, float* acc) {
    if (path_ == Int8Path::wide) return wide_->Product(q, rows, acc);
    if (path_ == Int8Path::onednn) return Run(p, rows, q, acc);
    thread_local std::vector<int32_t> halves;  // [rows, 2N]: q·aᵀ then q·bᵀ per row
    if (static_cast<int64_t>(halves.size()) < rows * 2 * N) halves.resize(rows * 2 * N);
    Run(p, rows, q, halves.data());
    for (int64_t r = 0; r < rows; r++) {
      const int32_t* h = halves.data() + r * 2 * N;
      float* out = acc + r * N;
#pragma omp simd
      for (int64_t n = 0; n < N; n++) out[n] = static_cast<float>(h[n] + h[N + n]);
    }
  }

  // y[n] (+)= s_x·s_w[n]·(acc[n] − z_x·Σ_k q_w[n,k]) + b[n]      one row
  void Epilogue(const float* acc, float* y, float sx, float zx, bool accumulate) const {
    const float* sw = weight_scales_.data();
    const float* cs = column_sums_.data();
    const float* bs = bias.empty() ? nullptr : bias.data();
    // four loops rather than branches inside one, so that each vectorises
    if (accumulate && bs) {
#pragma omp simd
      for (int64_t n = 0; n < N; n++) y[n] += std::fma(sx * sw[n], acc[n] - zx * cs[n], bs[n]);
    } else if (accumulate) {
#pragma omp simd
      for (int64_t n = 0; n < N; n++) y[n] += sx * sw[n] * (acc[n] - zx * cs[n]);
    } else if (bs) {
#pragma omp simd
      for (int64_t n = 0; n < N; n++) y[n] = std::fma(sx * sw[n], acc[n] - zx * cs[n], bs[n]);
    } else {
#pragma omp simd
      for (int64_t n = 0; n < N; n++) y[n] = sx * sw[n] * (acc[n] - zx * cs[n]);
    }
  }

  // Buffers of one thread for one chunk: quantized rows, their scales and zero points,
  // integer products, and (in the MLP) the hidden rows.
  struct Scratch {
    std::vector<uint8_t> q;
    std::vector<float> scale, zero, acc, hidden;
    void Reserve(int64_t rows, int64_t in, int64_t out) {
      if (static_cast<int64_t>(q.size()) < rows * in) q.resize(rows * in);
      if (static_cast<int64_t>(acc.size()) < rows * out) acc.resize(rows * out);
      if (static_cast<int64_t>(scale.size()) < rows) scale.resize(rows), zero.resize(rows);
    }
  };

  // Quantizes x[rows, cols] row by row into s.q, s.scale, s.zero; false if a value is not finite.
  static bool QuantizeChunk(const float* x, int64_t rows, int64_t cols, Scratch& s) {
    bool finite = true;
    for (int64_t r = 0; r < rows; r++) finite = simd::QuantizeRowU8(x + r * cols, s.q.data() + r * cols, cols, s.scale[r], s.zero[r]) && finite;
    return finite;
  }

  // Each thread takes whole chunks and runs quantization, product, epilogue and activation
  // on them alone: one parallel region per call, no barrier between the steps.
  void Forward(const float* x, float* y, int64_t M, Activation act, bool accumulate) override {
    const int64_t chunk = ChunkRows(M, N), chunks = (M + chunk - 1) / chunk;
    auto& scratch = ThreadScratch();
    for (auto& s : scratch) s.Reserve(chunk, K, N);
    const ChunkPrims prims = PrepareChunks(M, chunk);
    const Activator full = ActivatorFor(std::min(M, chunk), N, act), tail = ActivatorFor(M % chunk, N, act);
    ParallelChunks(chunks, [&](int64_t c, Scratch& s) {
      const int64_t m0 = c * chunk, rows = std::min(chunk, M - m0);
      if (!QuantizeChunk(x + m0 * K, rows, K, s)) throw std::runtime_error("int8 linear: the input holds a non-finite value");
      IntegerProduct(prims.For(rows, chunk), s.q.data(), rows, s.acc.data());
      for (int64_t r = 0; r < rows; r++) Epilogue(s.acc.data() + r * N, y + (m0 + r) * N, s.scale[r], s.zero[r], accumulate);
      (rows == chunk ? full : tail).Apply(y + m0 * N);
    });
  }

  static std::vector<Scratch>& ThreadScratch() {
    static std::vector<Scratch> scratch;  // calls come from the one JavaScript thread
    if (static_cast<int>(scratch.size()) < omp_get_max_threads()) scratch.resize(omp_get_max_threads());
    return scratch;
  }

  // Runs body(chunk, this thread's scratch) for every chunk, statically split over the
  // threads; the first exception is rethrown after the loop.
  template <typename Body>
  static void ParallelChunks(int64_t chunks, Body body) {
    auto& scratch = ThreadScratch();
    std::string error;
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < chunks; c++) {
      try {
        body(c, scratch[omp_get_thread_num()]);
      } catch (const std::exception& e) {
#pragma omp critical
        if (error.empty()) error = e.what();
      }
    }
    if (!error.empty()) throw std::runtime_error(error);
  }

 private:
  const Int8Path path_;
  std::unique_ptr<WideInt8Codes> wide_;
  std::vector<float> weight_scales_, column_sums_;
};

// The MLP of a Transformer block on two int8 layers, chunk by chunk of rows:
//   y[M, C] (+)= fc2(act(fc1(x[M, C])))
// Row m of y depends only on row m of x, and a chunk's rows are read before they are
// written, so y may be x itself (the residual of a post-LN block).
// The hidden activations [chunk, F] go from fc1's integer products through the epilogue and
// the activation straight into fc2's u8 input while they are in L2: the [M, F] hidden matrix,
// the largest activation of the block, is never written to memory in f32.
void Int8Mlp(Int8Linear& fc1, Int8Linear& fc2, const float* x, float* y, int64_t M, Activation act, bool accumulate) {
  const int64_t C = fc1.K, F = fc1.N, N = fc2.N;
  const int64_t chunk = Int8Linear::ChunkRows(M, std::max(F, N)), chunks = (M + chunk - 1) / chunk;
  for (auto& s : Int8Linear::ThreadScratch()) {
    s.Reserve(chunk, std::max(C, F), std::max(F, N));
    if (static_cast<int64_t>(s.hidden.size()) < chunk * F) s.hidden.resize(chunk * F);
  }
  const auto prims1 = fc1.PrepareChunks(M, chunk), prims2 = fc2.PrepareChunks(M, chunk);
  const Activator full = ActivatorFor(std::min(M, chunk), F, act), tail = ActivatorFor(M % chunk, F, act);
  Int8Linear::ParallelChunks(chunks, [&](int64_t c, Int8Linear::Scratch& s) {
    const int64_t m0 = c * chunk, rows = std::min(chunk, M - m0);
    float* h = s.hidden.data();
    if (!Int8Linear::QuantizeChunk(x + m0 * C, rows, C, s)) throw std::runtime_error("int8 MLP: the input holds a non-finite value");
    fc1.IntegerProduct(prims1.For(rows, chunk), s.q.data(), rows, s.acc.data());
    for (int64_t r = 0; r < rows; r++) fc1.Epilogue(s.acc.data() + r * F, h + r * F, s.scale[r], s.zero[r], false);
    (rows == chunk ? full : tail).Apply(h);
    if (!Int8Linear::QuantizeChunk(h, rows, F, s)) throw std::runtime_error("int8 MLP: a hidden activation is not finite");
    fc2.IntegerProduct(prims2.For(rows, chunk), s.q.data(), rows, s.acc.data());
    for (int64_t r = 0; r < rows; r++) fc2.Epilogue(s.acc.data() + r * N, y + (m0 + r) * N, s.scale[r], s.zero[r], accumulate);
  });
}

Activation ArgActivation(const Args& a) {
  const int64_t act = a.Int("activation");
  if (act < 0 || act > 2) a.Fail("activation", "must be 0 (none), 1 (gelu) or 2 (gelu_tanh), got " + std::to_string(act));
  return static_cast<Activation>(act);
}

// A typed array of exactly `elems` elements; nullptr for null when `optional`.
template <typename T>
const T* ArgTypedArray(const Args& a, const char* field, napi_typedarray_type type, int64_t elems, bool optional) {
  Napi::Value v = a.Value(field);
  if (optional && v.IsNull()) return nullptr;
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type)
    a.Fail(field, std::string("must be a ") + (type == napi_float32_array ? "Float32Array" : "Int8Array") +
                      (optional ? " or null" : "") + ", got " + DescribeValue(v));
  auto ta = v.As<Napi::TypedArray>();
  if (static_cast<int64_t>(ta.ElementLength()) != elems)
    a.Fail(field, "has " + std::to_string(ta.ElementLength()) + " elements, expected " + std::to_string(elems));
  return reinterpret_cast<const T*>(static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset());
}

// ---- handles ---------------------------------------------------------------------------
// A packed layer lives until freePackedLinear frees it; the garbage collector never does.
// JavaScript holds a number, −(1 + generation·2^26 + slot): negative, so that it is never
// taken for a tensor handle (those are ≥ 0), and stale once its layer is freed (the
// slot's generation moves on).
constexpr double kPackedSlotRange = 67108864.0;  // 2^26
constexpr uint32_t kPackedGenerations = 1u << 26;
struct PackedSlot {
  std::unique_ptr<PackedLinear> layer;
  size_t bytes = 0;
  uint32_t generation = 0;
};
std::deque<PackedSlot> g_packed;
std::vector<uint32_t> g_free_packed;
size_t g_packed_count = 0, g_packed_bytes = 0;

double NewPackedHandle(std::unique_ptr<PackedLinear> layer) {
  uint32_t index;
  if (!g_free_packed.empty()) {
    index = g_free_packed.back();
    g_free_packed.pop_back();
  } else {
    index = static_cast<uint32_t>(g_packed.size());
    g_packed.emplace_back();
  }
  PackedSlot& slot = g_packed[index];
  slot.bytes = layer->Bytes();
  slot.layer = std::move(layer);
  g_packed_count++;
  g_packed_bytes += slot.bytes;
  return -(1.0 + slot.generation * kPackedSlotRange + index);
}

// The slot a handle names while its layer is live (its index in *index); nullptr if `v` is
// not a packed-layer handle (*stale = false) or its layer was freed (*stale = true).
PackedSlot* LookupPacked(const Napi::Value& v, bool* stale, uint32_t* index_out = nullptr) {
  *stale = false;
  if (!v.IsNumber()) return nullptr;
  const double h = -1.0 - v.As<Napi::Number>().DoubleValue();
  if (!(h >= 0) || h != std::floor(h) || h >= kPackedSlotRange * kPackedGenerations) return nullptr;
  const uint64_t index = static_cast<uint64_t>(std::fmod(h, kPackedSlotRange));
  const uint64_t generation = static_cast<uint64_t>(h / kPackedSlotRange);
  if (index >= g_packed.size()) return nullptr;
  PackedSlot& slot = g_packed[index];
  if (slot.generation != generation || !slot.layer) {
    *stale = true;
    return nullptr;
  }
  if (index_out) *index_out = static_cast<uint32_t>(index);
  return &slot;
}

PackedLinear* ArgPacked(const Args& a, const char* field) {
  Napi::Value v = a.Value(field);
  bool stale = false;
  PackedSlot* slot = LookupPacked(v, &stale);
  if (stale) a.Fail(field, "is a packed linear layer that was used after it was disposed");
  if (!slot) a.Fail(field, "is not a packed linear layer (got " + DescribeValue(v) + ")");
  return slot->layer.get();
}

// The one argument of packedLinearInfo / freePackedLinear.
PackedSlot* PackedHandleArg(const Napi::CallbackInfo& info, const char* op, bool allow_stale, uint32_t* index = nullptr) {
  bool stale = false;
  PackedSlot* slot = info.Length() == 1 ? LookupPacked(info[0], &stale, index) : nullptr;
  if (stale && allow_stale) return nullptr;
  if (stale) Fail(info.Env(), std::string(op) + ": the packed linear layer was used after it was disposed");
  if (!slot)
    Fail(info.Env(), std::string(op) + ": the argument is not a packed linear layer" +
                         (info.Length() == 1 ? " (got " + DescribeValue(info[0]) + ")" : ""));
  return slot;
}
}  // namespace

dnnl::post_ops ActivationPostOps(Activation act, bool accumulate) {
  dnnl::post_ops po;
  if (act == Activation::gelu) po.append_eltwise(1.0f, dnnl::algorithm::eltwise_gelu_erf, 0.f, 0.f);
  if (act == Activation::gelu_tanh) po.append_eltwise(1.0f, dnnl::algorithm::eltwise_gelu_tanh, 0.f, 0.f);
  if (accumulate) po.append_sum(1.0f);
  return po;
}

Activator ActivatorFor(int64_t rows, int64_t cols, Activation act) {
  Activator a;
  if (act == Activation::none || rows <= 0) return a;
  static std::map<std::tuple<int64_t, int64_t, int>, dnnl::eltwise_forward> cache;
  auto key = std::make_tuple(rows, cols, static_cast<int>(act));
  auto it = cache.find(key);
  if (it == cache.end()) {
    if (cache.size() >= 256) cache.clear();  // the copy returned below stays valid
    memory::desc d({rows, cols}, dt::f32, {cols, 1});
    auto alg = act == Activation::gelu ? dnnl::algorithm::eltwise_gelu_erf : dnnl::algorithm::eltwise_gelu_tanh;
    dnnl::eltwise_forward::desc desc(dnnl::prop_kind::forward_inference, alg, d, 0.f, 0.f);
    it = cache.emplace(key, dnnl::eltwise_forward(dnnl::eltwise_forward::primitive_desc(desc, DnnlEngine()))).first;
  }
  a.prim = it->second;
  a.rows = rows;
  a.cols = cols;
  a.active = true;
  return a;
}

void Activator::Apply(float* y) const {
  if (!active) return;
  // one stream per thread: blocks run concurrently inside the caller's parallel loop
  thread_local dnnl::stream stream(DnnlEngine());
  memory m({{rows, cols}, dt::f32, {cols, 1}}, DnnlEngine(), y);
  prim.execute(stream, {{DNNL_ARG_SRC, m}, {DNNL_ARG_DST, m}});
  stream.wait();
}

std::unique_ptr<PackedLinear> PackDenseF32(const float* w, const float* bias, int64_t N, int64_t K) {
  return std::make_unique<DenseF32>(w, bias, N, K);
}
std::unique_ptr<PackedLinear> PackBf16(const float* w, const float* bias, int64_t N, int64_t K) {
  return std::make_unique<DenseBf16>(w, bias, N, K);
}
std::unique_ptr<PackedLinear> PackInt8(const int8_t* codes, const float* scales, const float* bias, int64_t N, int64_t K) {
  return std::make_unique<Int8Linear>(codes, scales, bias, N, K, ChooseInt8Path(codes, N, K));
}

// packLinear({ kind, weights, bias, n, k }) -> handle              kind f32 | bf16 | sparse
// packLinear({ kind, codes, scales, bits, bias, n, k }) -> handle  kind int8 | kbit
//   weights: Float32Array [n·k] (row-major [n, k]); codes: Int8Array [n·k]; scales: Float32Array [n];
//   bias: Float32Array [n] | null. The layer lives until freePackedLinear(handle).
static Napi::Value PackLinear(const Napi::CallbackInfo& info) {
  Args a(info, "packLinear", {"kind", "weights", "codes", "scales", "bits", "bias", "n", "k"});
  const std::string kind = a.String("kind");
  const bool dense = kind == "f32" || kind == "bf16" || kind == "sparse";
  const bool coded = kind == "int8" || kind == "kbit";
  if (!dense && !coded) a.Fail("kind", "\"" + kind + "\" is unknown (f32, bf16, int8, kbit, sparse)");
  static const char* const kCodedOnly[] = {"codes", "scales", "bits"};
  static const char* const kDenseOnly[] = {"weights"};
  for (const char* field : kCodedOnly)
    if (dense && a.Has(field)) a.Fail(field, "does not apply to kind \"" + kind + "\"");
  for (const char* field : kDenseOnly)
    if (coded && a.Has(field)) a.Fail(field, "does not apply to kind \"" + kind + "\"");
  const int64_t N = a.Dim("n"), K = a.Dim("k");
  if (N > INT32_MAX) a.Fail("n", "must be a 32-bit size, got " + std::to_string(N));
  if (K > INT32_MAX) a.Fail("k", "must be a 32-bit size, got " + std::to_string(K));
  const float* bias = ArgTypedArray<float>(a, "bias", napi_float32_array, N, true);
  for (int64_t n = 0; bias && n < N; n++)
    if (!std::isfinite(bias[n])) a.Fail("bias", "holds a non-finite value at " + std::to_string(n));
  std::unique_ptr<PackedLinear> packed;
  if (dense) {
    const float* w = ArgTypedArray<float>(a, "weights", napi_float32_array, N * K, false);
    for (int64_t i = 0; i < N * K; i++)
      if (!std::isfinite(w[i])) a.Fail("weights", "hold a non-finite value at " + std::to_string(i));
    packed = kind == "f32" ? PackDenseF32(w, bias, N, K) : kind == "bf16" ? PackBf16(w, bias, N, K) : PackSparse(w, bias, N, K);
  } else {
    const int8_t* codes = ArgTypedArray<int8_t>(a, "codes", napi_int8_array, N * K, false);
    const float* scales = ArgTypedArray<float>(a, "scales", napi_float32_array, N, false);
    for (int64_t n = 0; n < N; n++)
      if (!(std::isfinite(scales[n]) && scales[n] >= 0.f))
        a.Fail("scales", "entry " + std::to_string(n) + " (" + std::to_string(scales[n]) + ") is not a finite non-negative number");
    const int64_t bits = a.Int("bits");
    if (kind == "int8" && bits != 8) a.Fail("bits", "must be 8 for int8, got " + std::to_string(bits));
    if (bits < 2 || bits > 8) a.Fail("bits", "must be 2 to 8, got " + std::to_string(bits));
    const int qmax = (1 << (bits - 1)) - 1;
    for (int64_t i = 0; i < N * K; i++)
      if (codes[i] < -qmax || codes[i] > qmax)
        a.Fail("codes", "holds " + std::to_string(codes[i]) + " at " + std::to_string(i) + ", outside ±" +
                            std::to_string(qmax) + " for " + std::to_string(bits) + " bits");
    packed = kind == "int8" ? PackInt8(codes, scales, bias, N, K) : PackKbit(codes, scales, bias, N, K, static_cast<int>(bits));
  }
  return Napi::Number::New(info.Env(), NewPackedHandle(std::move(packed)));
}

// freePackedLinear(handle): releases the packed weights and the layer's primitives.
// Idempotent: freeing a freed layer again does nothing.
static Napi::Value FreePackedLinear(const Napi::CallbackInfo& info) {
  uint32_t index = 0;
  PackedSlot* slot = PackedHandleArg(info, "freePackedLinear", /*allow_stale=*/true, &index);
  if (!slot) return info.Env().Undefined();
  g_packed_count--;
  g_packed_bytes -= slot->bytes;
  slot->layer.reset();
  slot->bytes = 0;
  slot->generation = (slot->generation + 1) % kPackedGenerations;
  g_free_packed.push_back(index);
  return info.Env().Undefined();
}

// packedLinearForward({ layer, x, y, m, activation, accumulate })     x: [m, k] -> y: [m, n]
//   activation: 0 none, 1 gelu, 2 gelu_tanh; accumulate: y += x·Wᵀ + b (no activation)
static Napi::Value PackedLinearForward(const Napi::CallbackInfo& info) {
  Args a(info, "packed linear", {"layer", "x", "y", "m", "activation", "accumulate"});
  PackedLinear* p = ArgPacked(a, "layer");
  const int64_t M = a.Dim("m");
  if (M > INT32_MAX) a.Fail("m", "must be a 32-bit size, got " + std::to_string(M));
  const Activation act = ArgActivation(a);
  const bool accumulate = a.Bool("accumulate");
  if (accumulate && act != Activation::none) a.Fail("accumulate takes no activation");
  const float* x = a.F32("x", M * p->K);
  float* y = a.F32("y", M * p->N);
  if (x == y) a.Fail("x and y must not alias");
  p->Forward(x, y, M, act, accumulate);
  return info.Env().Undefined();
}

// packedMlpForward({ fc1, fc2, x, y, m, activation, accumulate })
//   x: [m, C] -> y: [m, C] (+)= fc2(act(fc1(x))), fc1: C -> F and fc2: F -> C both int8
static Napi::Value PackedMlpForward(const Napi::CallbackInfo& info) {
  Args a(info, "packed MLP", {"fc1", "fc2", "x", "y", "m", "activation", "accumulate"});
  auto* fc1 = dynamic_cast<Int8Linear*>(ArgPacked(a, "fc1"));
  auto* fc2 = dynamic_cast<Int8Linear*>(ArgPacked(a, "fc2"));
  if (!fc1 || !fc2) a.Fail("both layers must be int8");
  if (fc1->N != fc2->K) a.Fail("fc1 has " + std::to_string(fc1->N) + " outputs, fc2 takes " + std::to_string(fc2->K));
  if (a.Value("x").StrictEquals(a.Value("y")) && fc2->N != fc1->K)
    a.Fail("output may be the input only when both have the same width");
  const int64_t M = a.Dim("m");
  if (M > INT32_MAX) a.Fail("m", "must be a 32-bit size, got " + std::to_string(M));
  const Activation act = ArgActivation(a);
  const bool accumulate = a.Bool("accumulate");
  const float* x = a.F32("x", M * fc1->K);
  float* y = a.F32("y", M * fc2->N);
  Int8Mlp(*fc1, *fc2, x, y, M, act, accumulate);
  return info.Env().Undefined();
}

// packedLinearInfo(handle) -> { kind, rows: N, cols: K, bytes }
static Napi::Value PackedLinearInfo(const Napi::CallbackInfo& info) {
  PackedLinear* p = PackedHandleArg(info, "packedLinearInfo", /*allow_stale=*/false)->layer.get();
  auto o = Napi::Object::New(info.Env());
  o.Set("kind", p->Kind());
  o.Set("rows", static_cast<double>(p->N));
  o.Set("cols", static_cast<double>(p->K));
  o.Set("bytes", static_cast<double>(p->Bytes()));
  return o;
}

void PackedLinearStats(size_t* count, size_t* bytes) {
  *count = g_packed_count;
  *bytes = g_packed_bytes;
}

// int8Kernel() -> { vnni, wide }: whether oneDNN sums u8×s8 exactly here (VNNI, AMX), and
// whether this build has the 16-bit kernel that 8-bit codes run on without it (else: split codes).
static Napi::Value Int8Kernel(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("vnni", ExactInt8Products());
  o.Set("wide", WideInt8Codes::Available());
  return o;
}

void RegisterPackedLinear(Napi::Env env, Napi::Object exports) {
  exports.Set("packLinear", Napi::Function::New(env, Guarded<PackLinear>));
  exports.Set("packedLinearForward", Napi::Function::New(env, Guarded<PackedLinearForward>));
  exports.Set("packedLinearInfo", Napi::Function::New(env, Guarded<PackedLinearInfo>));
  exports.Set("int8Kernel", Napi::Function::New(env, Guarded<Int8Kernel>));
  exports.Set("packedMlpForward", Napi::Function::New(env, Guarded<PackedMlpForward>));
  exports.Set("freePackedLinear", Napi::Function::New(env, Guarded<FreePackedLinear>));
}

}  // namespace tlc
