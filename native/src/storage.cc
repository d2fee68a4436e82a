// Storage: a caching allocator for tensor memory, argument checking shared by all ops,
// copies between JS typed arrays and native memory, and the thread count.
//
// Training allocates the same sizes every step, so freed blocks are kept in free lists
// per size class and handed out again: steady-state steps never touch the system
// allocator (no page faults on fresh memory) and RSS stays flat. Sizes are rounded up to
// one of 8 classes per power of two (≤ 12.5% slack) so that sizes that vary a little
// from step to step (e.g. the number of masked tokens) share blocks. The cache is capped
// (TLC_CACHE_MB, default 4096); `trimCache` returns every cached block to the system.
#include <omp.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <unordered_map>
#include <vector>

#include "common.h"

namespace tlc {

const char* DTypeName(DType dt) {
  switch (dt) {
    case DType::f32: return "f32";
    case DType::i32: return "i32";
    case DType::u8: return "u8";
    case DType::bf16: return "bf16";
    case DType::i8: return "i8";
  }
  return "?";
}

size_t DTypeBytes(DType dt) {
  switch (dt) {
    case DType::f32: case DType::i32: return 4;
    case DType::bf16: return 2;
    case DType::u8: case DType::i8: return 1;
  }
  return 1;
}

[[noreturn]] void Fail(const Napi::Env& env, const std::string& msg) {
  throw Napi::Error::New(env, msg);
}

// ---- caching allocator -------------------------------------------------------------

namespace {
constexpr size_t kAlign = 64;  // one cache line; AVX-512 loads never straddle
std::unordered_map<size_t, std::vector<void*>> g_free_blocks;
size_t g_live_bytes = 0, g_cached_bytes = 0, g_peak_live_bytes = 0;
uint64_t g_system_allocs = 0;

size_t g_cache_limit = [] {
  const char* env = std::getenv("TLC_CACHE_MB");
  long mb = env ? std::atol(env) : 4096;
  return static_cast<size_t>(mb < 0 ? 0 : mb) << 20;
}();

// Size class of a request: a multiple of 64 bytes up to 4 KiB, then 2^k + j·2^(k−3).
size_t RoundUp(size_t bytes) {
  if (bytes <= 4096) return bytes == 0 ? kAlign : (bytes + kAlign - 1) / kAlign * kAlign;
  int k = 63 - __builtin_clzll(bytes - 1);  // 2^k < bytes <= 2^(k+1)
  size_t step = size_t{1} << (k - 3);       // eight classes between 2^k and 2^(k+1)
  return (bytes + step - 1) / step * step;
}

void* PoolAlloc(size_t rounded) {
  auto it = g_free_blocks.find(rounded);
  void* p = nullptr;
  if (it != g_free_blocks.end() && !it->second.empty()) {
    p = it->second.back();
    it->second.pop_back();
    g_cached_bytes -= rounded;
  } else {
    p = std::aligned_alloc(kAlign, rounded);
    g_system_allocs++;
  }
  if (p) {
    g_live_bytes += rounded;
    if (g_live_bytes > g_peak_live_bytes) g_peak_live_bytes = g_live_bytes;
  }
  return p;
}

void PoolFree(void* p, size_t rounded) {
  g_live_bytes -= rounded;
  if (g_cached_bytes + rounded > g_cache_limit) {
    std::free(p);
    return;
  }
  g_free_blocks[rounded].push_back(p);
  g_cached_bytes += rounded;
}

void ReleaseStorage(Storage* s) {
  if (!s->freed) {
    PoolFree(s->data, RoundUp(s->bytes));
    s->freed = true;
    s->data = nullptr;
  }
}

// ---- handles ------------------------------------------------------------------------
// handle = generation · 2^26 + slot (exact in a double). A freed slot's generation is
// bumped, so every handle to its previous contents becomes stale.
constexpr double kSlotRange = 67108864.0;  // 2^26
constexpr uint32_t kGenerations = 1u << 26;
struct Slot {
  Storage storage;
  uint32_t generation = 0;
};
std::deque<Slot> g_slots;  // a deque: slots never move, so Storage* stays valid
std::vector<uint32_t> g_free_slots;

double NewHandle(void* data, size_t bytes, DType dtype) {
  uint32_t index;
  if (!g_free_slots.empty()) {
    index = g_free_slots.back();
    g_free_slots.pop_back();
  } else {
    index = static_cast<uint32_t>(g_slots.size());
    g_slots.emplace_back();
  }
  Slot& slot = g_slots[index];
  slot.storage = Storage{data, bytes, dtype, false};
  return slot.generation * kSlotRange + index;
}
}  // namespace

Storage* LookupStorage(const Napi::Value& v, bool* stale) {
  *stale = false;
  if (!v.IsNumber()) return nullptr;
  double h = v.As<Napi::Number>().DoubleValue();
  if (!(h >= 0) || h != std::floor(h) || h >= kSlotRange * kGenerations) return nullptr;
  uint64_t index = static_cast<uint64_t>(std::fmod(h, kSlotRange));
  uint64_t generation = static_cast<uint64_t>(h / kSlotRange);
  if (index >= g_slots.size()) return nullptr;
  Slot& slot = g_slots[index];
  if (slot.generation != generation || slot.storage.freed) {
    *stale = true;
    return nullptr;
  }
  return &slot.storage;
}

static void FreeHandle(const Napi::Value& v) {
  bool stale;
  Storage* s = LookupStorage(v, &stale);
  if (!s) return;  // idempotent: freeing twice is not an error
  ReleaseStorage(s);
  uint64_t index = static_cast<uint64_t>(std::fmod(v.As<Napi::Number>().DoubleValue(), kSlotRange));
  Slot& slot = g_slots[index];
  slot.generation = (slot.generation + 1) % kGenerations;
  g_free_slots.push_back(static_cast<uint32_t>(index));
}

// ---- argument unpacking --------------------------------------------------------------

Storage* ArgStorage(const Napi::CallbackInfo& info, size_t index, const char* op, const char* name) {
  bool stale = false;
  Storage* s = index < info.Length() ? LookupStorage(info[index], &stale) : nullptr;
  if (stale) Fail(info.Env(), std::string(op) + ": " + name + " was used after it was disposed");
  if (!s) Fail(info.Env(), std::string(op) + ": " + name + " is not a tensor");
  return s;
}

static void* ArgTyped(const Napi::CallbackInfo& info, size_t index, const char* op, const char* name,
                      size_t min_elems, DType want) {
  Storage* s = ArgStorage(info, index, op, name);
  if (s->dtype != want)
    Fail(info.Env(), std::string(op) + ": " + name + " has dtype " + DTypeName(s->dtype) + ", expected " +
                         DTypeName(want));
  if (s->bytes < min_elems * DTypeBytes(want))
    Fail(info.Env(), std::string(op) + ": " + name + " holds " + std::to_string(s->bytes / DTypeBytes(want)) +
                         " elements, the op needs " + std::to_string(min_elems));
  return s->data;
}

float* ArgF32(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name, size_t n) {
  return static_cast<float*>(ArgTyped(info, i, op, name, n, DType::f32));
}
int64_t ArgInt(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  if (i >= info.Length() || !info[i].IsNumber()) Fail(info.Env(), std::string(op) + ": " + name + " must be a number");
  double v = info[i].As<Napi::Number>().DoubleValue();
  if (!std::isfinite(v) || v != std::floor(v) || std::fabs(v) > 9.0e15)
    Fail(info.Env(), std::string(op) + ": " + name + " must be an integer, got " + std::to_string(v));
  return static_cast<int64_t>(v);
}
double ArgNum(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  if (i >= info.Length() || !info[i].IsNumber()) Fail(info.Env(), std::string(op) + ": " + name + " must be a number");
  return info[i].As<Napi::Number>().DoubleValue();
}
bool ArgBool(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  if (i >= info.Length() || !info[i].IsBoolean()) Fail(info.Env(), std::string(op) + ": " + name + " must be a boolean");
  return info[i].As<Napi::Boolean>().Value();
}

// ---- exported functions --------------------------------------------------------------

// alloc(bytes, dtype, zero) -> handle
static Napi::Value Alloc(const Napi::CallbackInfo& info) {
  int64_t bytes = ArgInt(info, 0, "alloc", "bytes");
  int64_t dt = ArgInt(info, 1, "alloc", "dtype");
  bool zero = ArgBool(info, 2, "alloc", "zero");
  if (bytes < 0) Fail(info.Env(), "alloc: negative size " + std::to_string(bytes));
  if (dt < 0 || dt > 4) Fail(info.Env(), "alloc: unknown dtype code " + std::to_string(dt));
  size_t rounded = RoundUp(static_cast<size_t>(bytes));
  void* p = PoolAlloc(rounded);
  if (!p) Fail(info.Env(), "alloc: out of memory allocating " + std::to_string(bytes) + " bytes");
  if (zero) std::memset(p, 0, rounded);
  return Napi::Number::New(info.Env(), NewHandle(p, static_cast<size_t>(bytes), static_cast<DType>(dt)));
}

// free(handle): idempotent
static Napi::Value Free(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsNumber()) Fail(info.Env(), "free: argument is not a tensor");
  FreeHandle(info[0]);
  return info.Env().Undefined();
}

// Typed array <-> storage copies. Offsets and counts are in elements of the storage dtype.
static void CheckTypedArray(const Napi::CallbackInfo& info, const Storage* s, const Napi::TypedArray& ta,
                            const char* op, int64_t offset) {
  size_t elem = DTypeBytes(s->dtype);
  if (ta.ElementSize() != elem)
    Fail(info.Env(), std::string(op) + ": typed array element size " + std::to_string(ta.ElementSize()) +
                         " does not match tensor dtype " + DTypeName(s->dtype));
  if (offset < 0 || (static_cast<size_t>(offset) + ta.ElementLength()) * elem > s->bytes)
    Fail(info.Env(), std::string(op) + ": range [" + std::to_string(offset) + ", " +
                         std::to_string(offset + ta.ElementLength()) + ") is outside the tensor of " +
                         std::to_string(s->bytes / elem) + " elements");
}

// write(handle, typedArray, offsetElems)
static Napi::Value Write(const Napi::CallbackInfo& info) {
  Storage* s = ArgStorage(info, 0, "write", "tensor");
  if (!info[1].IsTypedArray()) Fail(info.Env(), "write: source is not a typed array");
  auto ta = info[1].As<Napi::TypedArray>();
  int64_t off = ArgInt(info, 2, "write", "offset");
  CheckTypedArray(info, s, ta, "write", off);
  auto ab = ta.ArrayBuffer();
  std::memcpy(static_cast<char*>(s->data) + off * DTypeBytes(s->dtype),
              static_cast<char*>(ab.Data()) + ta.ByteOffset(), ta.ByteLength());
  return info.Env().Undefined();
}

// read(handle, typedArray, offsetElems): fills the typed array
static Napi::Value Read(const Napi::CallbackInfo& info) {
  Storage* s = ArgStorage(info, 0, "read", "tensor");
  if (!info[1].IsTypedArray()) Fail(info.Env(), "read: destination is not a typed array");
  auto ta = info[1].As<Napi::TypedArray>();
  int64_t off = ArgInt(info, 2, "read", "offset");
  CheckTypedArray(info, s, ta, "read", off);
  auto ab = ta.ArrayBuffer();
  std::memcpy(static_cast<char*>(ab.Data()) + ta.ByteOffset(),
              static_cast<char*>(s->data) + off * DTypeBytes(s->dtype), ta.ByteLength());
  return info.Env().Undefined();
}

// copy(dst, src, bytes): raw byte copy between two live storages of the same dtype
static Napi::Value Copy(const Napi::CallbackInfo& info) {
  Storage* d = ArgStorage(info, 0, "copy", "destination");
  Storage* s = ArgStorage(info, 1, "copy", "source");
  int64_t bytes = ArgInt(info, 2, "copy", "bytes");
  if (d->dtype != s->dtype) Fail(info.Env(), std::string("copy: dtype ") + DTypeName(s->dtype) + " -> " + DTypeName(d->dtype));
  if (bytes < 0 || static_cast<size_t>(bytes) > d->bytes || static_cast<size_t>(bytes) > s->bytes)
    Fail(info.Env(), "copy: " + std::to_string(bytes) + " bytes exceed a tensor's size");
  std::memcpy(d->data, s->data, bytes);
  return info.Env().Undefined();
}

// fill(handle, value, count): f32 fill, or byte-wise zero for other dtypes
static Napi::Value Fill(const Napi::CallbackInfo& info) {
  Storage* s = ArgStorage(info, 0, "fill", "tensor");
  double v = ArgNum(info, 1, "fill", "value");
  if (s->dtype == DType::f32) {
    float* p = static_cast<float*>(s->data);
    int64_t n = static_cast<int64_t>(s->bytes / 4);
    float fv = static_cast<float>(v);
#pragma omp parallel for schedule(static) if (n > (1 << 16))
    for (int64_t i = 0; i < n; i++) p[i] = fv;
  } else if (s->dtype == DType::i32) {
    int32_t* p = static_cast<int32_t*>(s->data);
    int64_t n = static_cast<int64_t>(s->bytes / 4);
    for (int64_t i = 0; i < n; i++) p[i] = static_cast<int32_t>(v);
  } else {
    if (v != 0) Fail(info.Env(), std::string("fill: only zero-fill is supported for dtype ") + DTypeName(s->dtype));
    std::memset(s->data, 0, s->bytes);
  }
  return info.Env().Undefined();
}

// firstNonFinite(handle, count) -> index of the first NaN/Inf, or -1
static Napi::Value FirstNonFinite(const Napi::CallbackInfo& info) {
  int64_t n = ArgInt(info, 1, "firstNonFinite", "count");
  const float* p = ArgF32(info, 0, "firstNonFinite", "tensor", n);
  int64_t first = -1;
  for (int64_t i = 0; i < n; i++) {
    if (!std::isfinite(p[i])) { first = i; break; }
  }
  return Napi::Number::New(info.Env(), static_cast<double>(first));
}

static Napi::Value Stats(const Napi::CallbackInfo& info) {
  auto o = Napi::Object::New(info.Env());
  o.Set("liveBytes", static_cast<double>(g_live_bytes));
  o.Set("cachedBytes", static_cast<double>(g_cached_bytes));
  o.Set("peakLiveBytes", static_cast<double>(g_peak_live_bytes));
  o.Set("systemAllocs", static_cast<double>(g_system_allocs));
  size_t packed_count = 0, packed_bytes = 0;
  PackedLinearStats(&packed_count, &packed_bytes);
  o.Set("packedLinears", static_cast<double>(packed_count));
  o.Set("packedLinearBytes", static_cast<double>(packed_bytes));
  return o;
}

// The peak starts again from the live bytes now (to measure one step's activations).
static Napi::Value ResetPeak(const Napi::CallbackInfo& info) {
  g_peak_live_bytes = g_live_bytes;
  return info.Env().Undefined();
}

static Napi::Value TrimCache(const Napi::CallbackInfo& info) {
  for (auto& kv : g_free_blocks)
    for (void* p : kv.second) std::free(p);
  g_free_blocks.clear();
  g_cached_bytes = 0;
  return info.Env().Undefined();
}

static Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  int64_t n = ArgInt(info, 0, "setThreads", "threads");
  if (n < 1) Fail(info.Env(), "setThreads: thread count must be >= 1, got " + std::to_string(n));
  omp_set_num_threads(static_cast<int>(n));
  return info.Env().Undefined();
}

static Napi::Value GetThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), omp_get_max_threads());
}

void RegisterStorage(Napi::Env env, Napi::Object exports) {
  exports.Set("alloc", Napi::Function::New(env, Guarded<Alloc>));
  exports.Set("free", Napi::Function::New(env, Guarded<Free>));
  exports.Set("write", Napi::Function::New(env, Guarded<Write>));
  exports.Set("read", Napi::Function::New(env, Guarded<Read>));
  exports.Set("copy", Napi::Function::New(env, Guarded<Copy>));
  exports.Set("fill", Napi::Function::New(env, Guarded<Fill>));
  exports.Set("firstNonFinite", Napi::Function::New(env, Guarded<FirstNonFinite>));
  exports.Set("stats", Napi::Function::New(env, Guarded<Stats>));
  exports.Set("trimCache", Napi::Function::New(env, Guarded<TrimCache>));
  exports.Set("resetPeak", Napi::Function::New(env, Guarded<ResetPeak>));
  exports.Set("setThreads", Napi::Function::New(env, Guarded<SetThreads>));
  exports.Set("getThreads", Napi::Function::New(env, Guarded<GetThreads>));
}

}  // namespace tlc
