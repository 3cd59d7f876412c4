// Runtime CPU dispatch: the widest ISA this CPU supports, unless RNNKIT_ISA names a narrower one it supports.
#include "isa.h"

#include <string>

#include "settings.h"

namespace rnnkit {

namespace {
BadSetting g_isa_setting;

const Isa* choose() {
  // The tables this CPU can run, widest first.
  const Isa* usable[3];
  int n = 0;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl")) usable[n++] = &avx512::table;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) usable[n++] = &avx2::table;
#endif
  usable[n++] = &generic::table;
  // RNNKIT_ISA: one of those (by name); unset, empty or auto: the widest. Anything else is recorded (settings.h)
  // and the widest used meanwhile, since the loader refuses the backend anyway.
  const std::string raw = env_setting("RNNKIT_ISA"), want = lower(raw);
  if (want.empty() || want == "auto") return usable[0];
  std::string names;
  for (int i = 0; i < n; i++) {
    if (want == usable[i]->name) return usable[i];
    names += std::string(i ? ", " : "") + usable[i]->name;
  }
  g_isa_setting = {"RNNKIT_ISA", raw, "one of " + names + " (the instruction sets this CPU supports), or auto"};
  return usable[0];
}
}  // namespace

const Isa& isa() {
  static const Isa* chosen = choose();
  return *chosen;
}

const BadSetting& isa_setting() {
  isa();  // reads the setting
  return g_isa_setting;
}

}  // namespace rnnkit
