#pragma once
// Running a command as a child process: own process group, streamed output,
// timeout, cancellation.

#include <atomic>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/time.h"

namespace sluice {

/// What to run.
struct ProcessSpec {
  std::vector<std::string> argv;  // argv[0] is looked up in PATH
  std::map<std::string, std::string> env;  // added to (overriding) the inherited environment
  std::string cwd;  // empty: inherit
  std::optional<Millis> timeout;
  Millis kill_grace{std::chrono::seconds(5)};  // SIGTERM -> SIGKILL
};

/// How a process ended.
struct ProcessResult {
  int exit_code = -1;   // -1 when killed by a signal
  int signal = 0;       // the terminating signal, 0 when it exited
  bool timed_out = false;
  bool canceled = false;
  Millis elapsed{0};
  std::string error;    // could not start: "cannot run 'x': No such file or directory"
  bool ok() const { return exit_code == 0 && !timed_out && !canceled && error.empty(); }
};

/// Receives output as it arrives, in chunks of whole lines where possible.
using OutputSink = std::function<void(std::string_view chunk)>;

/// Launches processes. Wraps running task subcommands, so tests can substitute
/// a fake that records what ran.
class ProcessLauncher {
 public:
  virtual ~ProcessLauncher() = default;
  /// Runs `spec` to its end, calling `on_output` with stdout and stderr
  /// (merged) as it arrives and `on_start` with the child's pid (which is also
  /// its process group id) once started. `cancel` set to true terminates the
  /// process group (SIGTERM, then SIGKILL after kill_grace). On timeout the
  /// same, and the result says timed_out. Never throws for a failing child.
  virtual ProcessResult run(const ProcessSpec& spec, const OutputSink& on_output,
                            const std::atomic<bool>& cancel,
                            const std::function<void(int pid)>& on_start = {}) = 0;
};

/// The real launcher: fork/exec (or posix_spawn) in a new process group.
class RealProcessLauncher : public ProcessLauncher {
 public:
  ProcessResult run(const ProcessSpec& spec, const OutputSink& on_output,
                    const std::atomic<bool>& cancel,
                    const std::function<void(int pid)>& on_start = {}) override;
};

/// Splits "::output key=value" lines out of task output. Feed it chunks; it
/// keeps partial lines between calls.
class OutputParser {
 public:
  void feed(std::string_view chunk);
  void finish();  // flush a last line without newline
  const std::map<std::string, std::string>& outputs() const { return outputs_; }

 private:
  void take_line(std::string_view line);
  std::string partial_;
  std::map<std::string, std::string> outputs_;
};

/// Kills a process group left behind by a dead worker: SIGTERM, then SIGKILL
/// after `grace`. Returns false when no such group exists.
bool kill_process_group(int pgid, Millis grace);

}  // namespace sluice
