#include "worker/task_runner.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

extern char** environ;

namespace sluice {
namespace {

using SteadyClock = std::chrono::steady_clock;

// How often a waiting run looks at the cancel flag. Short, so that a cancel
// is honoured promptly; the wake-ups cost next to nothing.
constexpr Millis kCancelTick{20};
// After the direct child exited, how long output of descendants that still
// hold the pipe is read before the run ends and they are terminated.
constexpr Millis kDrainAfterExit{100};
// After SIGKILL, how long to wait for the group to disappear.
constexpr Millis kAfterKillWait{1000};
constexpr size_t kReadSize = 64 * 1024;
constexpr std::string_view kOutputPrefix = "::output ";

/// Owns a file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  bool open() const { return fd_ >= 0; }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

std::string errno_text(int err) { return std::strerror(err); }

// Moves a descriptor above the standard ones: a launcher whose own stdin or
// stdout is closed must not hand the pipe out as the child's fd 0, 1 or 2.
int above_std_fds(int fd) {
  if (fd > 2) return fd;
  int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  ::close(fd);
  return moved;
}

// True while some member of the group is alive. Zombies do not count: where
// no init reaps orphans they would keep the group "existing" forever, though
// nothing is left to stop.
bool group_alive(pid_t pgid) {
  if (pgid <= 1) return false;
  if (::kill(-pgid, 0) != 0) return errno == EPERM;
  DIR* dir = ::opendir("/proc");
  if (dir == nullptr) return true;
  bool alive = false;
  while (dirent* entry = ::readdir(dir)) {
    if (!std::isdigit(static_cast<unsigned char>(entry->d_name[0]))) continue;
    char path[300];
    std::snprintf(path, sizeof path, "/proc/%s/stat", entry->d_name);
    int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    char buf[512];
    ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    if (n <= 0) continue;
    buf[n] = '\0';
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
    const char* after_comm = std::strrchr(buf, ')');
    if (after_comm == nullptr) continue;
    char state = 0;
    int ppid = 0;
    int pgrp = 0;
    if (std::sscanf(after_comm + 1, " %c %d %d", &state, &ppid, &pgrp) != 3) continue;
    if (pgrp == pgid && state != 'Z' && state != 'X') {
      alive = true;
      break;
    }
  }
  ::closedir(dir);
  return alive;
}

// Waits until no member of the group is alive or `deadline` passes. Only used
// on the rare path where a group outlives its leader, so a short backoff
// sleep is fine here.
bool wait_group_gone(pid_t pgid, SteadyClock::time_point deadline) {
  int pause_ms = 1;
  for (;;) {
    if (!group_alive(pgid)) return true;
    auto now = SteadyClock::now();
    if (now >= deadline) return false;
    auto left = std::chrono::duration_cast<Millis>(deadline - now).count() + 1;
    ::poll(nullptr, 0, static_cast<int>(std::min<int64_t>(pause_ms, left)));
    pause_ms = std::min(pause_ms * 2, 20);
  }
}

// SIGTERM (unless already sent at `term_sent_at`), then SIGKILL once `grace`
// has passed since the SIGTERM.
void terminate_group(pid_t pgid, Millis grace,
                     std::optional<SteadyClock::time_point> term_sent_at) {
  if (pgid <= 1) return;
  if (!term_sent_at) {
    if (::kill(-pgid, SIGTERM) != 0) return;  // nothing left
    term_sent_at = SteadyClock::now();
  }
  if (wait_group_gone(pgid, *term_sent_at + grace)) return;
  ::kill(-pgid, SIGKILL);
  wait_group_gone(pgid, SteadyClock::now() + kAfterKillWait);
}

// Finds `name` in a PATH list the way execvp does; used when the task's own
// environment overrides PATH (posix_spawnp would search the launcher's PATH).
std::optional<std::string> search_path(const std::string& name, const std::string& path) {
  size_t start = 0;
  for (;;) {
    size_t end = path.find(':', start);
    std::string dir =
        path.substr(start, end == std::string::npos ? std::string::npos : end - start);
    std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + name;
    struct stat st;
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
    if (end == std::string::npos) return std::nullopt;
    start = end + 1;
  }
}

// Why the child could not enter `dir` (0 when it can).
int cwd_problem(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return errno;
  if (!S_ISDIR(st.st_mode)) return ENOTDIR;
  if (::access(dir.c_str(), X_OK) != 0) return errno;
  return 0;
}

/// Hands output to the sink in whole lines where possible.
class LineChunker {
 public:
  explicit LineChunker(const OutputSink& sink) : sink_(sink) {}
  void add(const char* data, size_t n) {
    if (!sink_) return;
    pending_.append(data, n);
    if (pending_.size() >= kReadSize) {
      flush();
      return;
    }
    size_t last_newline = pending_.rfind('\n');
    if (last_newline == std::string::npos) return;
    sink_(std::string_view(pending_).substr(0, last_newline + 1));
    pending_.erase(0, last_newline + 1);
  }
  // Passes on a partial line too: called when the output went quiet, so a
  // prompt or progress text without newline is not held back.
  void flush() {
    if (!sink_ || pending_.empty()) return;
    sink_(pending_);
    pending_.clear();
  }

 private:
  const OutputSink& sink_;
  std::string pending_;
};

int poll_ms(Millis wait) { return static_cast<int>(std::max<int64_t>(0, wait.count())); }

}  // namespace

ProcessResult RealProcessLauncher::run(const ProcessSpec& spec, const OutputSink& on_output,
                                       const std::atomic<bool>& cancel,
                                       const std::function<void(int pid)>& on_start) {
  ProcessResult result;
  const auto started = SteadyClock::now();
  auto finished = [&]() {
    result.elapsed = std::chrono::duration_cast<Millis>(SteadyClock::now() - started);
    return result;
  };
  auto cannot_start = [&](std::string message) {
    result.exit_code = 127;  // the shell's "command not found"
    result.error = std::move(message);
    return finished();
  };

  if (spec.argv.empty()) return cannot_start("cannot run an empty command");
  const std::string& name = spec.argv[0];
  if (cancel.load()) {
    result.canceled = true;
    return finished();
  }
  if (!spec.cwd.empty()) {
    if (int err = cwd_problem(spec.cwd)) {
      return cannot_start("cannot enter working directory " + spec.cwd + ": " + errno_text(err));
    }
  }

  // The environment: inherited, overlaid with the task's own.
  char** envp = environ;
  std::vector<std::string> env_storage;
  std::vector<char*> env_pointers;
  if (!spec.env.empty()) {
    for (char** entry = environ; *entry != nullptr; ++entry) {
      const char* eq = std::strchr(*entry, '=');
      std::string key(*entry, eq ? static_cast<size_t>(eq - *entry) : std::strlen(*entry));
      if (spec.env.count(key) == 0) env_pointers.push_back(*entry);
    }
    env_storage.reserve(spec.env.size());
    for (const auto& [key, value] : spec.env) env_storage.push_back(key + "=" + value);
    for (std::string& entry : env_storage) env_pointers.push_back(entry.data());
    env_pointers.push_back(nullptr);
    envp = env_pointers.data();
  }

  std::string program = name;
  bool use_path = name.find('/') == std::string::npos;
  if (use_path) {
    auto own_path = spec.env.find("PATH");
    if (own_path != spec.env.end()) {
      auto found = search_path(name, own_path->second);
      if (!found) return cannot_start("cannot run '" + name + "': " + errno_text(ENOENT));
      program = *found;
      use_path = false;
    }
  }
  std::vector<char*> argv;
  argv.reserve(spec.argv.size() + 1);
  for (const std::string& arg : spec.argv) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);

  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return cannot_start("cannot run '" + name + "': cannot create a pipe: " + errno_text(errno));
  }
  Fd out(above_std_fds(pipe_fds[0]));
  Fd out_write(above_std_fds(pipe_fds[1]));
  if (!out.open() || !out_write.open()) {
    return cannot_start("cannot run '" + name + "': cannot create a pipe: " + errno_text(errno));
  }

  // posix_spawn (a vfork-style clone in glibc) is far cheaper than fork for a
  // large parent, and reports exec errors back itself.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_write.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, out_write.get(), 2);
  if (!spec.cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, spec.cwd.c_str());
  // Descriptors another library opened without O_CLOEXEC must not leak into
  // tasks (a leaked pipe end would keep someone else's reader waiting).
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t no_signals;
  sigemptyset(&no_signals);
  posix_spawnattr_setsigmask(&attr, &no_signals);
  // Ignored signals survive exec; a launcher that ignores SIGPIPE must not
  // pass that on to shell pipelines.
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGCHLD, SIGUSR1, SIGUSR2, SIGALRM,
                  SIGTSTP, SIGTTIN, SIGTTOU}) {
    sigaddset(&defaults, sig);
  }
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  pid_t pid = 0;
  int spawn_error = use_path
                        ? ::posix_spawnp(&pid, program.c_str(), &actions, &attr, argv.data(), envp)
                        : ::posix_spawn(&pid, program.c_str(), &actions, &attr, argv.data(), envp);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  out_write.reset();
  if (spawn_error != 0) {
    // The directory may have gone between the check and the spawn.
    if (!spec.cwd.empty()) {
      if (int err = cwd_problem(spec.cwd)) {
        return cannot_start("cannot enter working directory " + spec.cwd + ": " + errno_text(err));
      }
    }
    return cannot_start("cannot run '" + name + "': " + errno_text(spawn_error));
  }

  // A pidfd turns the child's exit into a poll event, so the run notices it
  // at once even when descendants keep the output pipe open.
  Fd child_fd;
#ifdef SYS_pidfd_open
  child_fd.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
#endif

  bool exited = false;
  int status = 0;
  std::optional<SteadyClock::time_point> exited_at;
  std::optional<SteadyClock::time_point> term_sent_at;
  bool kill_sent = false;
  const auto deadline = spec.timeout ? started + *spec.timeout : SteadyClock::time_point::max();
  LineChunker chunker(on_output);
  std::string buffer(kReadSize, '\0');
  Millis fallback_pause{1};  // without a pidfd: how long to wait before looking again

  auto reap = [&](int flags) {
    int st = 0;
    pid_t got;
    do {
      got = ::waitpid(pid, &st, flags);
    } while (got < 0 && errno == EINTR);
    if (got == pid) {
      exited = true;
      status = st;
      exited_at = SteadyClock::now();
    }
  };

  try {
    if (on_start) on_start(pid);
    for (;;) {
      auto now = SteadyClock::now();
      if (!term_sent_at && !exited) {
        if (cancel.load(std::memory_order_relaxed)) {
          result.canceled = true;
        } else if (now >= deadline) {
          result.timed_out = true;
        }
        if (result.canceled || result.timed_out) {
          ::kill(-pid, SIGTERM);
          term_sent_at = now;
        }
      }
      if (term_sent_at && !kill_sent && !exited && now >= *term_sent_at + spec.kill_grace) {
        ::kill(-pid, SIGKILL);
        kill_sent = true;
      }
      if (!exited && !child_fd.open()) reap(WNOHANG);
      if (exited && (!out.open() || now >= *exited_at + kDrainAfterExit)) break;

      Millis wait = kCancelTick;
      if (!term_sent_at && deadline != SteadyClock::time_point::max()) {
        wait = std::min(wait, std::chrono::ceil<Millis>(deadline - now));
      }
      if (term_sent_at && !kill_sent) {
        wait = std::min(wait, std::chrono::ceil<Millis>(*term_sent_at + spec.kill_grace - now));
      }
      if (exited)
        wait = std::min(wait, std::chrono::ceil<Millis>(*exited_at + kDrainAfterExit - now));
      if (!exited && !child_fd.open()) {
        wait = std::min(wait, fallback_pause);
        fallback_pause = std::min(fallback_pause * 2, kCancelTick);
      }

      pollfd fds[2];
      nfds_t count = 0;
      int out_slot = -1;
      int child_slot = -1;
      if (out.open()) {
        out_slot = static_cast<int>(count);
        fds[count++] = {out.get(), POLLIN, 0};
      }
      if (child_fd.open() && !exited) {
        child_slot = static_cast<int>(count);
        fds[count++] = {child_fd.get(), POLLIN, 0};
      }
      int ready = ::poll(fds, count, poll_ms(wait));
      if (ready < 0) {
        if (errno == EINTR) continue;
        break;  // cannot happen with valid descriptors; end rather than spin
      }
      if (ready == 0) {
        chunker.flush();
        continue;
      }
      if (out_slot >= 0 && fds[out_slot].revents != 0) {
        ssize_t n = ::read(out.get(), buffer.data(), buffer.size());
        if (n > 0) {
          chunker.add(buffer.data(), static_cast<size_t>(n));
        } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
          out.reset();
        }
      }
      if (child_slot >= 0 && fds[child_slot].revents != 0) reap(WNOHANG);
    }
    chunker.flush();
  } catch (...) {
    // A throwing sink or start callback must not leave the task running.
    ::kill(-pid, SIGKILL);
    if (!exited) reap(0);
    throw;
  }
  if (!exited) {
    ::kill(-pid, SIGKILL);
    reap(0);
  }
  out.reset();  // descendants still writing get EPIPE

  // Descendants left in the group (a backgrounded `sleep &`) end with the task.
  // The leader is reaped, but its id stays reserved as long as the group has
  // members, so signalling the group cannot hit an unrelated process.
  terminate_group(pid, spec.kill_grace, term_sent_at);

  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.exit_code = -1;
    result.signal = WTERMSIG(status);
  }
  return finished();
}

void OutputParser::feed(std::string_view chunk) {
  size_t start = 0;
  for (;;) {
    size_t newline = chunk.find('\n', start);
    if (newline == std::string_view::npos) break;
    std::string_view piece = chunk.substr(start, newline - start);
    if (partial_.empty()) {
      take_line(piece);
    } else {
      partial_.append(piece);
      take_line(partial_);
      partial_.clear();
    }
    start = newline + 1;
  }
  partial_.append(chunk.substr(start));
  // A long line that cannot be an output line is kept only as far as needed
  // to know that, so binary or huge output does not pile up in memory.
  size_t head = std::min(partial_.size(), kOutputPrefix.size());
  if (partial_.size() > kOutputPrefix.size() &&
      std::string_view(partial_).substr(0, head) != kOutputPrefix.substr(0, head)) {
    partial_.resize(kOutputPrefix.size());
  }
}

void OutputParser::finish() {
  if (partial_.empty()) return;
  take_line(partial_);
  partial_.clear();
}

void OutputParser::take_line(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.substr(0, kOutputPrefix.size()) != kOutputPrefix) return;
  line.remove_prefix(kOutputPrefix.size());
  while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
  size_t eq = line.find('=');
  if (eq == std::string_view::npos || eq == 0) return;
  std::string_view key = line.substr(0, eq);
  for (char c : key) {
    bool allowed = std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
    if (!allowed) return;
  }
  outputs_[std::string(key)] = std::string(line.substr(eq + 1));
}

bool kill_process_group(int pgid, Millis grace) {
  // 0 and 1 would mean our own group and every process: never.
  if (pgid <= 1) return false;
  if (!group_alive(pgid)) return false;
  terminate_group(pgid, grace, std::nullopt);
  return true;
}

}  // namespace sluice
