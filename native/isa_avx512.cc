// AVX-512 build of native/isa_impl.h (compiled with -mavx512f -mavx512vl -mfma).
#if defined(__x86_64__) || defined(__i386__)
#define RNNKIT_NS avx512
#define RNNKIT_VW 16
#include "isa_impl.h"
#endif
