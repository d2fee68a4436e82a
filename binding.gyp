{
  "targets": [
    {
      "target_name": "tlc_native",
      "sources": [
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
        "native/src/sparse_linear.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions", "-O2"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-O2"],
      "cflags_cc": ["-std=c++17", "-O3", "-march=native", "-fno-math-errno", "-fno-trapping-math", "-fopenmp", "-fexceptions", "-Wall", "-Wno-unused-parameter"],
      "libraries": ["-ldnnl", "-fopenmp"],
      "ldflags": ["-fopenmp"]
    }
  ],
  "variables": {
    "tlc_has_mpi": "<!(command -v mpicc >/dev/null 2>&1 && echo 1 || echo 0)"
  },
  "conditions": [
    ["tlc_has_mpi==1", {
      "targets": [
        {
          "target_name": "tlc_mpi",
          "sources": ["native/src/mpi.cc"],
          "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
          "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
          "cflags!": ["-fno-exceptions"],
          "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
          "cflags_cc": ["-std=c++17", "-O2", "-fexceptions", "-Wall", "<!@(mpicc --showme:compile)"],
          "libraries": ["<!@(mpicc --showme:link)", "-ldl"]
        }
      ]
    }]
  ]
}
