// AVX2 + FMA build of native/isa_impl.h (compiled with -mavx2 -mfma).
#if defined(__x86_64__) || defined(__i386__)
#define RNNKIT_NS avx2
#define RNNKIT_VW 8
#include "isa_impl.h"
#endif
