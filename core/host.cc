#include "core/host.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <vector>

namespace sluice {

std::string host_name() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "unknown";
  return buf;
}

std::string user_name() {
  std::vector<char> buf(4096);
  passwd entry{};
  passwd* found = nullptr;
  if (getpwuid_r(geteuid(), &entry, buf.data(), buf.size(), &found) == 0 && found) {
    return found->pw_name;
  }
  const char* env = std::getenv("USER");
  return env && *env ? env : "unknown";
}

}  // namespace sluice
