// Runs the browser test (tests/web/e2e/ui_test.mjs: chromium via
// playwright-core against `sluice standalone`) from the test suite. Skipped
// when node, chromium or the npm packages are missing.

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace sluice {
namespace {

std::string shell_quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

TEST(WebUiE2eTest, TriggersARunWatchesTheGridTurnGreenAndReadsTheLog) {
  namespace fs = std::filesystem;
  const std::string e2e = sluice::testing::source_dir() + "/tests/web/e2e";
  const char* chromium_env = std::getenv("CHROMIUM");
  const std::string chromium = chromium_env && *chromium_env ? chromium_env : "/usr/bin/chromium";
  if (!fs::exists(e2e + "/node_modules/playwright-core")) {
    FAIL() << "playwright-core is not installed: run `npm install` in tests/web/e2e";
  }
  if (!fs::exists(chromium)) FAIL() << "no chromium at " << chromium << " (set CHROMIUM)";
  if (std::system("node --version > /dev/null 2>&1") != 0) FAIL() << "node is not installed";

  const char* out_env = std::getenv("SLUICE_TEST_OUTPUT");
  const std::string out_dir = out_env && *out_env
                                  ? std::string(out_env) + "/web-e2e"
                                  : (fs::current_path() / "test-output" / "web-e2e").string();
  const std::string command = "cd " + shell_quote(e2e) + " && node ui_test.mjs " +
                              shell_quote(sluice::testing::sluice_binary()) + " " + shell_quote(out_dir) + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof(buffer), pipe)) output.append(buffer, n);
  int status = pclose(pipe);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << output;
}

}  // namespace
}  // namespace sluice
