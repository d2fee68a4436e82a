{
  # One portable build: the kernels are compiled once per x86-64 level and the loader
  # (src/engine/cpu.ts) loads the one this CPU runs best (TLC_MAX_ISA caps it). Each build
  # is a whole addon, so no code compiled for one level can be called from another.
  #   tlc_native_sse41   x86-64-v2 (SSE4.2, POPCNT): every 64-bit x86 CPU since ~2009
  #   tlc_native_avx2    x86-64-v3 (AVX2, FMA, BMI2, F16C): Haswell, Zen 1 and later
  #   tlc_native_avx512  x86-64-v4 (AVX-512 F/BW/CD/DQ/VL): Skylake-SP, Zen 4 and later
  #   tlc_cpu            cpuid and xgetbv, baseline only: it tells the loader what the CPU has
  # On arm64 (built there, or cross-built by scripts/build-arm64.sh) the kernels have one build:
  #   tlc_native_armv8   ARMv8-A with Advanced SIMD (NEON), which every arm64 CPU has
  "variables": {
    "tlc_has_mpi%": "<!(command -v mpicc >/dev/null 2>&1 && echo 1 || echo 0)",
    "tlc_mpi_cflags%": "<!(command -v mpicc >/dev/null 2>&1 && mpicc --showme:compile || true)",
    "tlc_mpi_libs%": "<!(command -v mpicc >/dev/null 2>&1 && mpicc --showme:link || true)",
    "tlc_kernel_sources": [
      "native/src/addon.cc",
      "native/src/storage.cc",
      "native/src/args.cc",
      "native/src/linear.cc",
      "native/src/mixed_linear.cc",
      "native/src/elementwise.cc",
      "native/src/embedding.cc",
      "native/src/crossentropy.cc",
      "native/src/adamw.cc",
      "native/src/layernorm.cc",
      "native/src/activation.cc",
      "native/src/dropout.cc",
      "native/src/attention.cc",
      "native/src/quantize.cc",
      "native/src/packed_linear.cc",
      "native/src/kbit_linear.cc",
      "native/src/wide_int8.cc",
      "native/src/sparse_linear.cc"
    ],
    # oneDNN and OpenMP's runtime are looked for next to the addon first (scripts/bundle-runtime.sh
    # puts them there); an RPATH, not a RUNPATH, so that it also serves oneDNN's own dependencies
    "tlc_kernel_ldflags": ["-Wl,--disable-new-dtags", "-Wl,-rpath,'$$ORIGIN/lib'"],
    "tlc_kernel_cflags": ["-std=c++17", "-O3", "-fno-math-errno", "-fno-trapping-math", "-fopenmp", "-fexceptions", "-Wall", "-Wno-unused-parameter"]
  },
  "target_defaults": {
    "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
    "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
    "cflags!": ["-fno-exceptions", "-O2"],
    "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-O2"]
  },
  "targets": [
    {
      "target_name": "tlc_cpu",
      "sources": ["native/src/cpu/cpu_features.cc"],
      "cflags_cc": ["-std=c++17", "-O2", "-fexceptions", "-Wall"]
    }
  ],
  "conditions": [
    ["target_arch=='x64'", {
      "targets": [
        {
          "target_name": "tlc_native_sse41",
          "sources": ["<@(tlc_kernel_sources)"],
          "defines": ["TLC_BUILD_LEVEL=\"sse41\""],
          "cflags_cc": ["<@(tlc_kernel_cflags)", "-march=x86-64-v2", "-mtune=generic"],
          "libraries": ["-ldnnl", "-fopenmp"],
          "ldflags": ["-fopenmp", "<@(tlc_kernel_ldflags)"]
        },
        {
          "target_name": "tlc_native_avx2",
          "sources": ["<@(tlc_kernel_sources)"],
          "defines": ["TLC_BUILD_LEVEL=\"avx2\""],
          "cflags_cc": ["<@(tlc_kernel_cflags)", "-march=x86-64-v3", "-mtune=generic"],
          "libraries": ["-ldnnl", "-fopenmp"],
          "ldflags": ["-fopenmp", "<@(tlc_kernel_ldflags)"]
        },
        {
          "target_name": "tlc_native_avx512",
          "sources": ["<@(tlc_kernel_sources)"],
          "defines": ["TLC_BUILD_LEVEL=\"avx512\""],
          "cflags_cc": ["<@(tlc_kernel_cflags)", "-march=x86-64-v4", "-mtune=generic", "-mprefer-vector-width=512"],
          "libraries": ["-ldnnl", "-fopenmp"],
          "ldflags": ["-fopenmp", "<@(tlc_kernel_ldflags)"]
        }
      ]
    }],
    ["target_arch=='arm64'", {
      "targets": [
        {
          "target_name": "tlc_native_armv8",
          "sources": ["<@(tlc_kernel_sources)"],
          "defines": ["TLC_BUILD_LEVEL=\"armv8\""],
          "cflags_cc": ["<@(tlc_kernel_cflags)", "-march=armv8-a", "-mtune=generic"],
          "libraries": ["-ldnnl", "-fopenmp"],
          "ldflags": ["-fopenmp", "<@(tlc_kernel_ldflags)"]
        }
      ]
    }],
    ["tlc_has_mpi==1", {
      "targets": [
        {
          "target_name": "tlc_mpi",
          "sources": ["native/src/mpi.cc"],
          "cflags_cc": ["-std=c++17", "-O2", "-fexceptions", "-Wall", "<!@(echo <(tlc_mpi_cflags))"],
          "libraries": ["<!@(echo <(tlc_mpi_libs))", "-ldl"]
        }
      ]
    }]
  ]
}
