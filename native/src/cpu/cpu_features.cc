// tlc_cpu: what this CPU and its operating system can run, read from cpuid and xgetbv.
// Built for the portable baseline (no instruction above x86-64-v2, none at all above the
// architecture's baseline elsewhere), so it loads on every CPU; the loader
// (src/engine/cpu.ts) reads it to choose which build of the kernels to load.
//
//   cpuFeatures() -> { arch, vendor, brand, family, model, stepping, features: { name: bool } }
#include <napi.h>

#include <cstdint>
#include <cstring>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define TLC_X86 1
#endif

namespace {

#if defined(TLC_X86)
struct Regs {
  uint32_t a = 0, b = 0, c = 0, d = 0;
};

Regs Cpuid(uint32_t leaf, uint32_t sub = 0) {
  Regs r;
  __cpuid_count(leaf, sub, r.a, r.b, r.c, r.d);
  return r;
}

// The state components the OS saves on a context switch (XCR0): a register file the OS does
// not save cannot be used, whatever cpuid says.
uint64_t Xcr0() {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

bool Bit(uint32_t reg, int bit) { return (reg >> bit) & 1u; }

void X86(Napi::Env env, Napi::Object out) {
  const Regs v0 = Cpuid(0);
  char vendor[13] = {0};
  std::memcpy(vendor, &v0.b, 4);
  std::memcpy(vendor + 4, &v0.d, 4);
  std::memcpy(vendor + 8, &v0.c, 4);
  out.Set("vendor", std::string(vendor));

  std::string brand;
  if (Cpuid(0x80000000).a >= 0x80000004) {
    char text[49] = {0};
    for (uint32_t i = 0; i < 3; i++) {
      const Regs r = Cpuid(0x80000002 + i);
      std::memcpy(text + 16 * i, &r, 16);
    }
    brand = text;
    const size_t first = brand.find_first_not_of(' '), last = brand.find_last_not_of(' ');
    brand = first == std::string::npos ? "" : brand.substr(first, last - first + 1);
  }
  out.Set("brand", brand);

  const Regs l1 = Cpuid(1);
  const uint32_t base_family = (l1.a >> 8) & 0xF, base_model = (l1.a >> 4) & 0xF;
  const uint32_t family = base_family == 0xF ? base_family + ((l1.a >> 20) & 0xFF) : base_family;
  const uint32_t model = (base_family == 0x6 || base_family == 0xF) ? base_model + (((l1.a >> 16) & 0xF) << 4) : base_model;
  out.Set("family", family);
  out.Set("model", model);
  out.Set("stepping", l1.a & 0xF);

  const Regs l7 = v0.a >= 7 ? Cpuid(7, 0) : Regs{};
  const Regs l7s1 = v0.a >= 7 && l7.a >= 1 ? Cpuid(7, 1) : Regs{};
  const Regs e1 = Cpuid(0x80000000).a >= 0x80000001 ? Cpuid(0x80000001) : Regs{};
  const bool osxsave = Bit(l1.c, 27);
  const uint64_t xcr0 = osxsave ? Xcr0() : 0;
  const bool ymm = (xcr0 & 0x6) == 0x6;             // SSE and AVX state
  const bool zmm = ymm && (xcr0 & 0xE0) == 0xE0;    // opmask, ZMM0-15 upper halves, ZMM16-31
  const bool tiles = (xcr0 & 0x60000) == 0x60000;   // AMX tile config and data

  Napi::Object f = Napi::Object::New(env);
  f.Set("sse3", Bit(l1.c, 0));
  f.Set("ssse3", Bit(l1.c, 9));
  f.Set("sse4_1", Bit(l1.c, 19));
  f.Set("sse4_2", Bit(l1.c, 20));
  f.Set("popcnt", Bit(l1.c, 23));
  f.Set("cx16", Bit(l1.c, 13));
  f.Set("lahf", Bit(e1.c, 0));
  f.Set("avx", Bit(l1.c, 28) && ymm);
  f.Set("avx2", Bit(l7.b, 5) && ymm);
  f.Set("fma", Bit(l1.c, 12) && ymm);
  f.Set("f16c", Bit(l1.c, 29) && ymm);
  f.Set("bmi1", Bit(l7.b, 3));
  f.Set("bmi2", Bit(l7.b, 8));
  f.Set("lzcnt", Bit(e1.c, 5));
  f.Set("movbe", Bit(l1.c, 22));
  f.Set("avx_vnni", Bit(l7s1.a, 4) && ymm);
  f.Set("avx512f", Bit(l7.b, 16) && zmm);
  f.Set("avx512dq", Bit(l7.b, 17) && zmm);
  f.Set("avx512cd", Bit(l7.b, 28) && zmm);
  f.Set("avx512bw", Bit(l7.b, 30) && zmm);
  f.Set("avx512vl", Bit(l7.b, 31) && zmm);
  f.Set("avx512_vnni", Bit(l7.c, 11) && zmm);
  f.Set("avx512_bf16", Bit(l7s1.a, 5) && zmm);
  f.Set("avx512_fp16", Bit(l7.d, 23) && zmm);
  f.Set("amx_tile", Bit(l7.d, 24) && tiles);
  f.Set("amx_int8", Bit(l7.d, 25) && tiles);
  f.Set("amx_bf16", Bit(l7.d, 22) && tiles);
  out.Set("features", f);
}
#endif

Napi::Value CpuFeatures(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
#if defined(TLC_X86)
  out.Set("arch", "x86_64");
  X86(env, out);
#elif defined(__aarch64__)
  out.Set("arch", "arm64");
  out.Set("vendor", "");
  out.Set("brand", "");
  out.Set("features", Napi::Object::New(env));
#else
  out.Set("arch", "other");
  out.Set("vendor", "");
  out.Set("brand", "");
  out.Set("features", Napi::Object::New(env));
#endif
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("cpuFeatures", Napi::Function::New(env, CpuFeatures));
  return exports;
}

}  // namespace

NODE_API_MODULE(tlc_cpu, Init)
