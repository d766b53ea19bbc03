#include "worker/task_runner.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

namespace sluice {
namespace {

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

ProcessSpec shell(const std::string& script) {
  ProcessSpec spec;
  spec.argv = {"/bin/sh", "-c", script};
  return spec;
}

/// Runs a spec and keeps everything it printed.
struct Ran {
  ProcessResult result;
  std::string output;
  std::vector<std::string> chunks;
  int pid = 0;
};

Ran run(const ProcessSpec& spec, const std::atomic<bool>& cancel) {
  Ran ran;
  RealProcessLauncher launcher;
  ran.result = launcher.run(
      spec,
      [&](std::string_view chunk) {
        ran.output.append(chunk);
        ran.chunks.emplace_back(chunk);
      },
      cancel, [&](int pid) { ran.pid = pid; });
  return ran;
}

Ran run(const ProcessSpec& spec) {
  std::atomic<bool> never{false};
  return run(spec, never);
}

// True while a process of group `pgid` is alive (zombies waiting for a
// reaper do not count: there is nothing left to stop).
bool group_has_live_member(int pgid) {
  if (::kill(-pgid, 0) != 0) return false;
  DIR* dir = ::opendir("/proc");
  if (dir == nullptr) return true;
  bool alive = false;
  while (dirent* entry = ::readdir(dir)) {
    std::ifstream stat(std::string("/proc/") + entry->d_name + "/stat");
    std::string text;
    if (!std::getline(stat, text)) continue;
    size_t paren = text.rfind(')');
    if (paren == std::string::npos) continue;
    char state = 0;
    int ppid = 0;
    int pgrp = 0;
    if (std::sscanf(text.c_str() + paren + 1, " %c %d %d", &state, &ppid, &pgrp) != 3) continue;
    if (pgrp == pgid && state != 'Z' && state != 'X') alive = true;
  }
  ::closedir(dir);
  return alive;
}

// Waits up to `limit` for `condition`; true when it held in time.
template <typename Condition>
bool eventually(Condition condition, milliseconds limit = milliseconds(2000)) {
  auto deadline = SteadyClock::now() + limit;
  while (SteadyClock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(milliseconds(2));
  }
  return condition();
}

/// A temporary folder removed at the end of the test.
struct TempDir {
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "sluice_runner_XXXXXX").string();
    path = ::mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::filesystem::path path;
};

TEST(RealProcessLauncher, ReportsExitCodes) {
  EXPECT_EQ(run(shell("true")).result.exit_code, 0);
  EXPECT_TRUE(run(shell("true")).result.ok());
  Ran failed = run(shell("exit 3"));
  EXPECT_EQ(failed.result.exit_code, 3);
  EXPECT_EQ(failed.result.signal, 0);
  EXPECT_FALSE(failed.result.ok());
  EXPECT_TRUE(failed.result.error.empty());
}

TEST(RealProcessLauncher, ReportsTheKillingSignal) {
  Ran ran = run(shell("kill -USR1 $$"));
  EXPECT_EQ(ran.result.exit_code, -1);
  EXPECT_EQ(ran.result.signal, SIGUSR1);
  EXPECT_FALSE(ran.result.ok());
}

TEST(RealProcessLauncher, StreamsStdoutAndStderrMergedInOrder) {
  Ran ran = run(shell("echo one; echo two >&2; echo three"));
  EXPECT_EQ(ran.result.exit_code, 0);
  EXPECT_EQ(ran.output, "one\ntwo\nthree\n");
  for (const std::string& chunk : ran.chunks) {
    EXPECT_EQ(chunk.back(), '\n') << "chunks end on whole lines: " << chunk;
  }
}

TEST(RealProcessLauncher, DeliversOutputWhileTheProcessRuns) {
  // The first line must reach the sink before the process is allowed to end.
  TempDir dir;
  std::string gate = (dir.path / "gate").string();
  ProcessSpec spec =
      shell("echo first; while [ ! -e '" + gate + "' ]; do sleep 0.01; done; echo second");
  spec.timeout = milliseconds(5000);
  std::atomic<bool> never{false};
  std::string seen;
  RealProcessLauncher launcher;
  ProcessResult result = launcher.run(
      spec,
      [&](std::string_view chunk) {
        seen.append(chunk);
        if (seen == "first\n") std::ofstream(gate) << "go";
      },
      never);
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(seen, "first\nsecond\n");
}

TEST(RealProcessLauncher, PassesAPartialLastLine) {
  Ran ran = run(shell("printf 'a\\nno newline'"));
  EXPECT_EQ(ran.output, "a\nno newline");
}

TEST(RealProcessLauncher, StdinIsEmpty) {
  Ran ran = run(shell("cat; echo end"));
  EXPECT_EQ(ran.output, "end\n");
}

TEST(RealProcessLauncher, OverlaysTheEnvironment) {
  ::setenv("SLUICE_RUNNER_TEST_KEEP", "inherited", 1);
  ::setenv("SLUICE_RUNNER_TEST_OVERRIDE", "old", 1);
  ProcessSpec spec = shell(
      "echo \"$SLUICE_RUNNER_TEST_KEEP $SLUICE_RUNNER_TEST_OVERRIDE $SLUICE_RUNNER_TEST_NEW\"");
  spec.env = {{"SLUICE_RUNNER_TEST_OVERRIDE", "new"}, {"SLUICE_RUNNER_TEST_NEW", "added"}};
  Ran ran = run(spec);
  EXPECT_EQ(ran.output, "inherited new added\n");
  ::unsetenv("SLUICE_RUNNER_TEST_KEEP");
  ::unsetenv("SLUICE_RUNNER_TEST_OVERRIDE");
}

TEST(RealProcessLauncher, LooksUpTheProgramInPath) {
  ProcessSpec spec;
  spec.argv = {"echo", "hello"};
  Ran ran = run(spec);
  EXPECT_EQ(ran.result.exit_code, 0);
  EXPECT_EQ(ran.output, "hello\n");
}

TEST(RealProcessLauncher, UsesTheTasksOwnPathForLookup) {
  TempDir dir;
  std::filesystem::path tool = dir.path / "sluice-test-tool";
  std::ofstream(tool) << "#!/bin/sh\necho from tool\n";
  std::filesystem::permissions(tool, std::filesystem::perms::owner_all);
  ProcessSpec spec;
  spec.argv = {"sluice-test-tool"};
  spec.env = {{"PATH", dir.path.string() + ":/usr/bin:/bin"}};
  Ran ran = run(spec);
  EXPECT_EQ(ran.result.exit_code, 0) << ran.result.error;
  EXPECT_EQ(ran.output, "from tool\n");
}

TEST(RealProcessLauncher, RunsInTheGivenDirectory) {
  TempDir dir;
  ProcessSpec spec = shell("pwd -P");
  spec.cwd = dir.path.string();
  Ran ran = run(spec);
  EXPECT_EQ(ran.output, std::filesystem::canonical(dir.path).string() + "\n");
}

TEST(RealProcessLauncher, ExplainsAMissingProgram) {
  ProcessSpec spec;
  spec.argv = {"sluice-no-such-program-xyz", "arg"};
  Ran ran = run(spec);
  EXPECT_FALSE(ran.result.ok());
  EXPECT_EQ(ran.result.error, "cannot run 'sluice-no-such-program-xyz': No such file or directory");
  EXPECT_EQ(ran.pid, 0) << "nothing started";
}

TEST(RealProcessLauncher, ExplainsANonExecutableFile) {
  TempDir dir;
  std::filesystem::path file = dir.path / "plain.txt";
  std::ofstream(file) << "not a program\n";
  ProcessSpec spec;
  spec.argv = {file.string()};
  Ran ran = run(spec);
  EXPECT_EQ(ran.result.error, "cannot run '" + file.string() + "': Permission denied");
}

TEST(RealProcessLauncher, ExplainsAMissingWorkingDirectory) {
  TempDir dir;
  ProcessSpec spec = shell("echo should not run");
  spec.cwd = (dir.path / "missing").string();
  Ran ran = run(spec);
  EXPECT_FALSE(ran.result.ok());
  EXPECT_EQ(ran.result.error,
            "cannot enter working directory " + spec.cwd + ": No such file or directory");
  EXPECT_EQ(ran.output, "");
}

TEST(RealProcessLauncher, TimeoutTerminatesTheWholeGroup) {
  // The grandchild `sleep 30` would outlive a launcher that only signals its child.
  ProcessSpec spec = shell("sh -c 'sleep 30 & wait'; echo not reached");
  spec.timeout = milliseconds(200);
  spec.kill_grace = milliseconds(2000);
  Ran ran = run(spec);
  EXPECT_TRUE(ran.result.timed_out);
  EXPECT_FALSE(ran.result.canceled);
  EXPECT_FALSE(ran.result.ok());
  EXPECT_GE(ran.result.elapsed, milliseconds(200));
  EXPECT_LT(ran.result.elapsed, milliseconds(2000));
  EXPECT_EQ(ran.output, "");
  ASSERT_GT(ran.pid, 1);
  EXPECT_TRUE(eventually([&] { return !group_has_live_member(ran.pid); }));
}

TEST(RealProcessLauncher, TimeoutOfASimpleSleep) {
  ProcessSpec spec = shell("sleep 10");
  spec.timeout = milliseconds(200);
  Ran ran = run(spec);
  EXPECT_TRUE(ran.result.timed_out);
  EXPECT_EQ(ran.result.exit_code, -1);
  EXPECT_EQ(ran.result.signal, SIGTERM);
  EXPECT_LT(ran.result.elapsed, milliseconds(2000));
}

TEST(RealProcessLauncher, CancelFromAnotherThread) {
  ProcessSpec spec = shell("echo started; sleep 10");
  std::atomic<bool> cancel{false};
  std::atomic<bool> started{false};
  std::thread canceller([&] {
    eventually([&] { return started.load(); }, milliseconds(5000));
    cancel = true;
  });
  RealProcessLauncher launcher;
  int pid = 0;
  auto begin = SteadyClock::now();
  ProcessResult result = launcher.run(
      spec,
      [&](std::string_view chunk) {
        if (chunk.find("started") != std::string_view::npos) started = true;
      },
      cancel, [&](int p) { pid = p; });
  auto took = SteadyClock::now() - begin;
  canceller.join();
  EXPECT_TRUE(result.canceled);
  EXPECT_FALSE(result.timed_out);
  EXPECT_FALSE(result.ok());
  EXPECT_LT(took, milliseconds(2000));
  EXPECT_TRUE(eventually([&] { return !group_has_live_member(pid); }));
}

TEST(RealProcessLauncher, AlreadyCanceledStartsNothing) {
  std::atomic<bool> cancel{true};
  Ran ran = run(shell("echo ran"), cancel);
  EXPECT_TRUE(ran.result.canceled);
  EXPECT_EQ(ran.pid, 0);
  EXPECT_EQ(ran.output, "");
}

TEST(RealProcessLauncher, IgnoringSigtermEarnsSigkillAfterTheGrace) {
  // The shell prints "ready" only once the trap is set, so the timeout cannot
  // hit it before.
  ProcessSpec spec = shell("trap '' TERM; echo ready; while :; do sleep 0.05; done");
  spec.timeout = milliseconds(200);
  spec.kill_grace = milliseconds(300);
  Ran ran = run(spec);
  EXPECT_EQ(ran.output, "ready\n");
  EXPECT_TRUE(ran.result.timed_out);
  EXPECT_EQ(ran.result.signal, SIGKILL);
  EXPECT_GE(ran.result.elapsed, milliseconds(500));
  EXPECT_LT(ran.result.elapsed, milliseconds(3000));
  EXPECT_TRUE(eventually([&] { return !group_has_live_member(ran.pid); }));
}

TEST(RealProcessLauncher, ReturnsWhenTheChildExitsThoughABackgroundJobHoldsThePipe) {
  ProcessSpec spec = shell("sleep 30 & echo done");
  Ran ran = run(spec);
  EXPECT_EQ(ran.result.exit_code, 0);
  EXPECT_TRUE(ran.result.ok());
  EXPECT_EQ(ran.output, "done\n");
  EXPECT_LT(ran.result.elapsed, milliseconds(2000));
  EXPECT_TRUE(eventually([&] { return !group_has_live_member(ran.pid); }))
      << "the background sleep is stopped with the task";
}

TEST(RealProcessLauncher, ReturnsPromptlyForAQuickCommand) {
  // The product chains thousands of short tasks: no polling delay per spawn.
  // A poll of 50 ms or more per spawn would take 2.5 s here; the bound leaves
  // room for a loaded machine (the tests run two at a time, under ASan).
  auto begin = SteadyClock::now();
  for (int i = 0; i < 50; ++i) ASSERT_EQ(run(shell("true")).result.exit_code, 0);
  EXPECT_LT(SteadyClock::now() - begin, milliseconds(2500));
}

TEST(OutputParser, RecordsOutputLines) {
  OutputParser parser;
  parser.feed("hello\n::output rows=42\n::output path=/tmp/a b=c\nbye\n");
  parser.finish();
  std::map<std::string, std::string> expected = {{"rows", "42"}, {"path", "/tmp/a b=c"}};
  EXPECT_EQ(parser.outputs(), expected);
}

TEST(OutputParser, JoinsLinesSplitAcrossChunks) {
  OutputParser parser;
  parser.feed("::out");
  parser.feed("put ke");
  parser.feed("y=val");
  parser.feed("ue\n::output other=1");
  EXPECT_EQ(parser.outputs().size(), 1u) << "the unfinished last line waits";
  parser.finish();
  std::map<std::string, std::string> expected = {{"key", "value"}, {"other", "1"}};
  EXPECT_EQ(parser.outputs(), expected);
}

TEST(OutputParser, StripsCarriageReturnAndKeepsTheLastValue) {
  OutputParser parser;
  parser.feed("::output a=1\r\n::output a=2\r\n::output empty=\n");
  parser.finish();
  std::map<std::string, std::string> expected = {{"a", "2"}, {"empty", ""}};
  EXPECT_EQ(parser.outputs(), expected);
}

TEST(OutputParser, IgnoresMalformedLines) {
  OutputParser parser;
  parser.feed(
      "::output =novalue\n"
      "::output bad key=1\n"
      "::output noequals\n"
      " ::output indented=1\n"
      "::outputx=1\n"
      "::output ok.key-1_a=yes\n");
  parser.finish();
  std::map<std::string, std::string> expected = {{"ok.key-1_a", "yes"}};
  EXPECT_EQ(parser.outputs(), expected);
}

TEST(OutputParser, LongOrdinaryLinesDoNotConfuseIt) {
  OutputParser parser;
  parser.feed(std::string(100000, 'x'));
  parser.feed("::output not=this\n::output real=1\n");
  parser.finish();
  std::map<std::string, std::string> expected = {{"real", "1"}};
  EXPECT_EQ(parser.outputs(), expected);
}

TEST(KillProcessGroup, ReportsAMissingGroup) {
  // A finished child's group no longer exists.
  Ran ran = run(shell("true"));
  ASSERT_GT(ran.pid, 1);
  EXPECT_TRUE(eventually([&] { return !group_has_live_member(ran.pid); }));
  EXPECT_FALSE(kill_process_group(ran.pid, milliseconds(100)));
  EXPECT_FALSE(kill_process_group(0, milliseconds(100)));
  EXPECT_FALSE(kill_process_group(1, milliseconds(100)));
}

TEST(KillProcessGroup, KillsAGroupLeftBehind) {
  // Given a group started by a launcher that went away (simulated by
  // starting it ourselves in its own group).
  // It says "ready" once SIGTERM is ignored, so the test cannot signal early.
  int ready_pipe[2];
  ASSERT_EQ(::pipe(ready_pipe), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::setpgid(0, 0);
    ::dup2(ready_pipe[1], 1);
    ::close(ready_pipe[0]);
    ::close(ready_pipe[1]);
    ::execl("/bin/sh", "sh", "-c", "trap '' TERM; sleep 30 & echo ready; wait",
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::setpgid(pid, pid);
  ::close(ready_pipe[1]);
  char ready[6] = {};
  ASSERT_EQ(::read(ready_pipe[0], ready, 5), 5);
  ::close(ready_pipe[0]);
  ASSERT_STREQ(ready, "ready");
  auto begin = SteadyClock::now();
  EXPECT_TRUE(kill_process_group(pid, milliseconds(200)));
  EXPECT_GE(SteadyClock::now() - begin, milliseconds(150)) << "SIGTERM is ignored: waits the grace";
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
  EXPECT_TRUE(eventually([&] { return !group_has_live_member(pid); }));
}

}  // namespace
}  // namespace sluice
