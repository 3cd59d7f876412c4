// Runtime CPU dispatch: the widest ISA this CPU supports, unless RNNKIT_ISA names another.
#include "isa.h"

#include <cstdlib>
#include <cstring>

namespace rnnkit {

static const Isa* choose() {
  const char* want = std::getenv("RNNKIT_ISA");
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  const bool has512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
  const bool has2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (want && std::strcmp(want, "generic") == 0) return &generic::table;
  if (want && std::strcmp(want, "avx2") == 0 && has2) return &avx2::table;
  if (has512 && !(want && std::strcmp(want, "avx2") == 0)) return &avx512::table;
  if (has2) return &avx2::table;
#else
  (void)want;
#endif
  return &generic::table;
}

const Isa& isa() {
  static const Isa* chosen = choose();
  return *chosen;
}

}  // namespace rnnkit
