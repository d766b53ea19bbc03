#pragma once
// The machine a process runs on, as workers and schedulers report it.

#include <string>

namespace sluice {

/// This machine's host name, or "unknown".
std::string host_name();

/// The name of the user this process runs as ($USER when the system has no
/// entry for it), or "unknown".
std::string user_name();

}  // namespace sluice
