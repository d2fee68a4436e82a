// tlc_cpu: what this CPU and its operating system can run, read from cpuid and xgetbv on
// x86-64 and from the kernel's hardware capabilities (getauxval) on arm64.
// Built for the portable baseline (no instruction above x86-64-v2, none at all above the
// architecture's baseline elsewhere), so it loads on every CPU; the loader
// (src/engine/cpu.ts) reads it to choose which build of the kernels to load.
//
//   cpuFeatures() -> { arch, vendor, brand, family, model, stepping, features: { name: bool } }
#include <napi.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define TLC_X86 1
#elif defined(__aarch64__)
#include <asm/hwcap.h>
#include <sys/auxv.h>

#include <fstream>
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

#if defined(__aarch64__)
// The CPU's name from its main ID register, as the kernel shows it (MIDR_EL1 in sysfs, else
// /proc/cpuinfo's implementer and part): a few common parts by name, others by number.
void Arm64Identity(Napi::Object out) {
  unsigned implementer = 0, part = 0;
  bool known = false;
  std::ifstream midr("/sys/devices/system/cpu/cpu0/regs/identification/midr_el1");
  unsigned long long v = 0;
  if (midr >> std::hex >> v) {
    implementer = (v >> 24) & 0xFF;
    part = (v >> 4) & 0xFFF;
    known = true;
  } else {
    std::ifstream cpuinfo("/proc/cpuinfo");
    std::string line;
    bool got_impl = false, got_part = false;
    while (std::getline(cpuinfo, line) && !(got_impl && got_part)) {
      const size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      const std::string value = line.substr(colon + 1);
      if (line.rfind("CPU implementer", 0) == 0) implementer = std::strtoul(value.c_str(), nullptr, 16), got_impl = true;
      if (line.rfind("CPU part", 0) == 0) part = std::strtoul(value.c_str(), nullptr, 16), got_part = true;
    }
    known = got_impl && got_part;
  }
  const char* vendor = !known               ? ""
                       : implementer == 0x41 ? "ARM"
                       : implementer == 0x61 ? "Apple"
                       : implementer == 0xC0 ? "Ampere"
                       : implementer == 0x48 ? "HiSilicon"
                       : implementer == 0x51 ? "Qualcomm"
                       : implementer == 0x46 ? "Fujitsu"
                                             : "other";
  std::string brand;
  if (known && implementer == 0x41) {
    switch (part) {
      case 0xD03: brand = "Cortex-A53"; break;
      case 0xD05: brand = "Cortex-A55"; break;
      case 0xD08: brand = "Cortex-A72"; break;
      case 0xD0B: brand = "Cortex-A76"; break;
      case 0xD0C: brand = "Neoverse N1"; break;
      case 0xD40: brand = "Neoverse V1"; break;
      case 0xD49: brand = "Neoverse N2"; break;
      case 0xD4F: brand = "Neoverse V2"; break;
      default: break;
    }
  }
  if (known && brand.empty()) {
    char text[48];
    std::snprintf(text, sizeof text, "implementer 0x%02X part 0x%03X", implementer, part);
    brand = text;
  }
  out.Set("vendor", vendor);
  out.Set("brand", brand);
}

// What the kernel says this CPU and its state saving support (getauxval: HWCAP, HWCAP2).
void Arm64(Napi::Env env, Napi::Object out) {
  Arm64Identity(out);
  const unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
  Napi::Object f = Napi::Object::New(env);
  f.Set("fp", (hw & HWCAP_FP) != 0);
  f.Set("asimd", (hw & HWCAP_ASIMD) != 0);
  f.Set("asimdhp", (hw & HWCAP_ASIMDHP) != 0);
  f.Set("asimddp", (hw & HWCAP_ASIMDDP) != 0);
  f.Set("atomics", (hw & HWCAP_ATOMICS) != 0);
  f.Set("sve", (hw & HWCAP_SVE) != 0);
  // kernel headers before 5.10 do not name these bits; their values are the kernel's ABI
#ifndef HWCAP2_SVE2
#define HWCAP2_SVE2 (1 << 1)
#endif
#ifndef HWCAP2_I8MM
#define HWCAP2_I8MM (1 << 13)
#endif
#ifndef HWCAP2_BF16
#define HWCAP2_BF16 (1 << 14)
#endif
  f.Set("sve2", (hw2 & HWCAP2_SVE2) != 0);
  f.Set("i8mm", (hw2 & HWCAP2_I8MM) != 0);
  f.Set("bf16", (hw2 & HWCAP2_BF16) != 0);
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
  Arm64(env, out);
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
