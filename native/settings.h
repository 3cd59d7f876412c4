// The addon's environment settings (RNNKIT_THREADS, RNNKIT_ISA) follow the package's one rule: unset, empty or
// "auto" means the default; any other value must be an allowed one. A bad value is not silently replaced: the
// setting is recorded here, info() reports it, and the TypeScript loader refuses the backend with an E_BACKEND
// error naming the variable, the value and the allowed values (src/backend/settings.ts).
#pragma once
#include <cctype>
#include <cstdlib>
#include <string>

namespace rnnkit {

struct BadSetting {
  std::string name;     // the variable, empty when the value was valid
  std::string value;    // as found
  std::string allowed;  // e.g. "an integer from 1 to 256, or auto"
};

// The variable's value without surrounding blanks ("" when unset).
inline std::string env_setting(const char* name) {
  const char* s = std::getenv(name);
  std::string v = s ? s : "";
  const size_t a = v.find_first_not_of(" \t\r\n"), b = v.find_last_not_of(" \t\r\n");
  v = a == std::string::npos ? "" : v.substr(a, b - a + 1);
  return v;
}

inline std::string lower(std::string v) {
  for (char& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return v;
}

// The thread pool's and the ISA dispatch's verdicts on their settings (pool.cc, isa.cc).
const BadSetting& threads_setting();
const BadSetting& isa_setting();

}  // namespace rnnkit
