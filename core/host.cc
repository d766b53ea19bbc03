#include "core/host.h"

#include <unistd.h>

namespace sluice {

std::string host_name() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "unknown";
  return buf;
}

}  // namespace sluice
