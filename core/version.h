#pragma once
// This build's version, as `sluice --version` and /metrics (sluice_build_info) say it.

namespace sluice {

inline constexpr const char* kSluiceVersion = "0.1.0";

}  // namespace sluice
