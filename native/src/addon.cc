// Entry point of the tlc native addon: each op family registers its functions.
#include "common.h"

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) {
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
