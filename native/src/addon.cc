// Entry point of the tlc native addon: each op family registers its functions.
#include "common.h"

#ifndef TLC_BUILD_LEVEL
#define TLC_BUILD_LEVEL "unknown"
#endif

// buildInfo() -> { level, compiler, openmp }: which of the per-ISA builds this is (binding.gyp).
static Napi::Value BuildInfo(const Napi::CallbackInfo& info) {
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("level", TLC_BUILD_LEVEL);
  out.Set("compiler", __VERSION__);
  out.Set("openmp", _OPENMP);
  return out;
}

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) {
  exports.Set("buildInfo", Napi::Function::New(env, BuildInfo));
  tlc::RegisterStorage(env, exports);
  tlc::RegisterLinear(env, exports);
  tlc::RegisterElementwise(env, exports);
  tlc::RegisterEmbedding(env, exports);
  tlc::RegisterCrossEntropy(env, exports);
  tlc::RegisterAdamw(env, exports);
  tlc::RegisterLayerNorm(env, exports);
  tlc::RegisterActivation(env, exports);
  tlc::RegisterDropout(env, exports);
  tlc::RegisterAttention(env, exports);
  tlc::RegisterQuantize(env, exports);
  tlc::RegisterPackedLinear(env, exports);
  tlc::RegisterMixedLinear(env, exports);
  return exports;
}

NODE_API_MODULE(tlc_native, InitAddon)
