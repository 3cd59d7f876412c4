// Portable build of native/isa_impl.h: 4-wide vectors, which the compiler maps to SSE2 on x86-64 and NEON
// on arm64.
#define RNNKIT_NS generic
#define RNNKIT_VW 4
#include "isa_impl.h"
