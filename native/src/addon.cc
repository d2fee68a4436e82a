// Entry point of the tlc native addon: each op family registers its functions.
#include "common.h"

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) {
  tlc::RegisterStorage(env, exports);
  tlc::RegisterLinear(env, exports);
  tlc::RegisterElementwise(env, exports);
  tlc::RegisterAttention(env, exports);
  return exports;
}

NODE_API_MODULE(tlc_native, InitAddon)
