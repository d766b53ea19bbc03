#pragma once
// Process log lines on stderr: "2026-02-03T02:00:00.123Z INFO scheduler: text".

#include <string>
#include <vector>

namespace sluice {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

/// Lines below this level are dropped (default kInfo; SLUICE_LOG_LEVEL=debug).
void set_log_level(LogLevel level);
LogLevel log_level();

/// Secrets masked in every line logged from now on (the configuration's).
void set_log_secrets(std::vector<std::string> secrets);

void log(LogLevel level, const std::string& component, const std::string& message);
inline void log_info(const std::string& component, const std::string& message) {
  log(LogLevel::kInfo, component, message);
}
inline void log_warn(const std::string& component, const std::string& message) {
  log(LogLevel::kWarn, component, message);
}
inline void log_error(const std::string& component, const std::string& message) {
  log(LogLevel::kError, component, message);
}
inline void log_debug(const std::string& component, const std::string& message) {
  log(LogLevel::kDebug, component, message);
}

}  // namespace sluice
