// AVX-512 intrinsics, where the compiler targets them (the addon is built with -march=native);
// code that uses them keeps a portable path under #else.
#pragma once
#if defined(__AVX512F__)
// GCC 12 reports its own AVX-512 headers' deliberately undefined vectors as maybe-uninitialized
// (GCC bug 105593).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#endif
