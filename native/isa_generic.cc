// Portable build of native/isa_impl.h: 4-wide vectors, which the compiler maps to SSE2 on x86-64 and to NEON
// (ASIMD) on arm64, where it is the only build: there isa_impl.h takes an 8 x 12 micro-tile for AArch64's 32
// vector registers and fmla by element (fused multiply-add), and CMakeLists.txt leaves out the AVX builds.
#define RNNKIT_NS generic
#define RNNKIT_VW 4
#include "isa_impl.h"
