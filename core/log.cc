#include "core/log.h"

#include <atomic>
#include <cstdio>
#include <mutex>

#include "core/secrets.h"
#include "core/time.h"

namespace sluice {
namespace {

std::atomic<LogLevel> g_level{LogLevel::kInfo};
std::mutex g_mu;
std::vector<std::string> g_secrets;  // GUARDED_BY(g_mu)

const char* level_name(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "DEBUG";
    case LogLevel::kInfo: return "INFO";
    case LogLevel::kWarn: return "WARN";
    case LogLevel::kError: return "ERROR";
  }
  return "?";
}

}  // namespace

void set_log_level(LogLevel level) { g_level = level; }

void set_log_secrets(std::vector<std::string> secrets) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_secrets = std::move(secrets);
}
LogLevel log_level() { return g_level; }

void log(LogLevel level, const std::string& component, const std::string& message) {
  if (level < g_level.load()) return;
  std::string line = format_iso(RealClock().now()) + " " + level_name(level) + " " + component +
                     ": " + message + "\n";
  std::lock_guard<std::mutex> lock(g_mu);
  if (!g_secrets.empty()) line = mask_secrets(line, g_secrets);
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace sluice
