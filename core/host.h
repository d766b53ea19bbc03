#pragma once
// The machine a process runs on, as workers and schedulers report it.

#include <string>

namespace sluice {

/// This machine's host name, or "unknown".
std::string host_name();

}  // namespace sluice
