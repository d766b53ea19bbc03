// scripts/check-docker.sh: the repository's Dockerfile and compose file pass,
// and a copy with a missing COPY source or a build command the README does not
// show fails, naming the problem.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

#include "tests/test_util.h"

namespace sluice {
namespace {

struct ScriptResult {
  int exit_code = -1;
  std::string output;
};

ScriptResult check_docker(const std::string& root) {
  std::string cmd = std::string("bash ") + sluice::testing::source_dir() + "/scripts/check-docker.sh --root '" +
                    root + "' --sluice '" + testing::sluice_binary() + "' 2>&1";
  ScriptResult result;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return result;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) result.output.append(buf, n);
  int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

/// A copy of the files the script reads, with `edit` applied to the Dockerfile.
std::string copy_with(const testing::TempDir& dir, const std::string& from, const std::string& to) {
  std::string src = sluice::testing::source_dir();
  for (const char* name : {"README.md", "docker-compose.yml", ".dockerignore", "CMakeLists.txt",
                           "scripts/install-deps.sh"}) {
    dir.write(name, testing::read_file(src + "/" + name));
  }
  for (const char* folder :
       {"cmake", "core", "scheduler", "worker", "web", "cli", "migrations", "tests"}) {
    std::filesystem::create_directories(dir.file(folder));
  }
  std::string dockerfile = testing::read_file(src + "/Dockerfile");
  size_t pos = dockerfile.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  if (pos != std::string::npos) dockerfile.replace(pos, from.size(), to);
  dir.write("Dockerfile", dockerfile);
  return dir.path();
}

TEST(CheckDockerTest, TheRepositoryPasses) {
  ScriptResult r = check_docker(sluice::testing::source_dir());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("check-docker: ok"), std::string::npos) << r.output;
}

TEST(CheckDockerTest, AMissingCopySourceFails) {
  testing::TempDir dir;
  ScriptResult r = check_docker(copy_with(dir, "COPY cli ./cli", "COPY tools ./tools"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("COPY tools: no such file or folder"), std::string::npos) << r.output;
}

TEST(CheckDockerTest, ABuildCommandTheReadmeDoesNotShowFails) {
  testing::TempDir dir;
  ScriptResult r =
      check_docker(copy_with(dir, "-DCMAKE_BUILD_TYPE=Release", "-DCMAKE_BUILD_TYPE=Debug"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("which README.md does not show"), std::string::npos) << r.output;
}

TEST(CheckDockerTest, AComposeCommandSluiceRejectsFails) {
  testing::TempDir dir;
  std::string root = copy_with(dir, "USER sluice", "USER sluice");
  std::string compose = testing::read_file(dir.file("docker-compose.yml"));
  compose.replace(compose.find("[\"scheduler\"]"), 13, "[\"schedulr\"]");
  dir.write("docker-compose.yml", compose);
  ScriptResult r = check_docker(root);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("service scheduler runs `sluice schedulr`"), std::string::npos)
      << r.output;
}

}  // namespace
}  // namespace sluice
