// Shared helpers for the native addon: storage handles, argument unpacking, errors.
// Every exported op validates its arguments *before* touching memory, so a bad call from
// JavaScript becomes a JS exception naming the op, never a segfault. Ops with more than a
// few arguments take one object of named fields (args.h); the positional helpers below
// serve the storage functions, whose one to three arguments cannot be confused.
#pragma once
#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <string>

namespace tlc {

enum class DType : int32_t { f32 = 0, i32 = 1, u8 = 2, bf16 = 3, i8 = 4 };

const char* DTypeName(DType dt);
size_t DTypeBytes(DType dt);

// A block of native memory. JavaScript refers to it by a numeric handle (slot index and
// generation), never by a GC-managed object, so freeing is explicit and immediate and a
// stale handle is detected: its generation no longer matches the slot's.
struct Storage {
  void* data = nullptr;
  size_t bytes = 0;
  DType dtype = DType::f32;
  bool freed = true;
};

// Resolves a handle to its live storage, or nullptr if it is not a handle or was freed.
Storage* LookupStorage(const Napi::Value& v, bool* stale);

[[noreturn]] void Fail(const Napi::Env& env, const std::string& msg);

// Unpacks argument `index` as a live storage (of f32 holding at least `min_elems`
// elements); throws "<op>: <name> ..." otherwise.
Storage* ArgStorage(const Napi::CallbackInfo& info, size_t index, const char* op, const char* name);
float* ArgF32(const Napi::CallbackInfo& info, size_t index, const char* op, const char* name, size_t min_elems);

int64_t ArgInt(const Napi::CallbackInfo& info, size_t index, const char* op, const char* name);
double ArgNum(const Napi::CallbackInfo& info, size_t index, const char* op, const char* name);
bool ArgBool(const Napi::CallbackInfo& info, size_t index, const char* op, const char* name);

// Every exported function is wrapped in Guarded<>: a C++ exception that is not already a
// JS error (std::bad_alloc, a dnnl::error from oneDNN) becomes a JS error naming its cause
// instead of terminating the process.
template <Napi::Value (*F)(const Napi::CallbackInfo&)>
Napi::Value Guarded(const Napi::CallbackInfo& info) {
  try {
    return F(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw Napi::Error::New(info.Env(), "out of memory in a native kernel");
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string("native kernel failed: ") + e.what());
  }
}

// Packed linear layers alive (packLinear'ed, not yet freed) and the bytes they hold.
void PackedLinearStats(size_t* count, size_t* bytes);

// Per-family registration, called once from addon.cc.
void RegisterStorage(Napi::Env env, Napi::Object exports);
void RegisterLinear(Napi::Env env, Napi::Object exports);
void RegisterElementwise(Napi::Env env, Napi::Object exports);
void RegisterEmbedding(Napi::Env env, Napi::Object exports);
void RegisterCrossEntropy(Napi::Env env, Napi::Object exports);
void RegisterAdamw(Napi::Env env, Napi::Object exports);
void RegisterLayerNorm(Napi::Env env, Napi::Object exports);
void RegisterActivation(Napi::Env env, Napi::Object exports);
void RegisterDropout(Napi::Env env, Napi::Object exports);
void RegisterAttention(Napi::Env env, Napi::Object exports);
void RegisterQuantize(Napi::Env env, Napi::Object exports);
void RegisterPackedLinear(Napi::Env env, Napi::Object exports);
void RegisterMixedLinear(Napi::Env env, Napi::Object exports);

}  // namespace tlc
