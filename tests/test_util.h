#pragma once
// Helpers for tests that run the real `sluice` binary and other processes.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sluice::testing {

/// A temporary folder, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  /// Writes `content` to `name` (folders created as needed); returns the path.
  std::string write(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

std::string read_file(const std::string& path);

/// The outcome of a finished command.
struct CommandOutput {
  int exit_code = -1;
  std::string out;
  std::string err;
};

/// Runs the sluice binary under test with `args` in `cwd`, waits for it.
CommandOutput run_sluice(const std::vector<std::string>& args, const std::string& cwd,
                         const std::map<std::string, std::string>& env = {});

/// A background process (in its own process group); killed on destruction.
class Process {
 public:
  /// Starts `argv` in `cwd`; stdout and stderr go to `log_file`.
  Process(const std::vector<std::string>& argv, const std::string& cwd,
          const std::string& log_file, const std::map<std::string, std::string>& env = {});
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  int pid() const { return pid_; }
  void kill(int signal);
  /// Waits for the process to exit; returns its exit status or -1 on timeout.
  int wait(std::chrono::milliseconds timeout);
  bool running();
  /// "still running", "exited with N" or "killed by signal N": for failure
  /// messages of tests that wait on the process.
  std::string status_text();

 private:
  int pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
};

/// Starts `sluice ARGS...` in the background.
std::vector<std::string> sluice_argv(const std::vector<std::string>& args);

/// Polls `condition` every 20 ms until it holds or `timeout` passes.
bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

/// The path of the sluice binary under test.
std::string sluice_binary();

/// The repository's root folder (examples, fixtures, scripts).
std::string source_dir();

/// A port of 127.0.0.1 that nothing listened on a moment ago.
int free_port();

/// A webhook receiver on 127.0.0.1: records the body and signature of each
/// POST to /hook, and answers 200 or what answer_with set.
class WebhookReceiver {
 public:
  struct Hit {
    nlohmann::json body;
    std::string raw;
    std::string signature;  // X-Sluice-Signature
    int status = 200;       // what the receiver answered
  };
  WebhookReceiver();
  ~WebhookReceiver();
  WebhookReceiver(const WebhookReceiver&) = delete;
  WebhookReceiver& operator=(const WebhookReceiver&) = delete;

  /// Listens on `port` (0: any free port); returns the port, -1 when taken.
  int start(int port = 0);
  void stop();
  std::vector<Hit> hits();
  std::vector<Hit> hits_of(const std::string& event);
  /// Answers every POST with `status` and `body` from now on, also across
  /// stop and start.
  void answer_with(int status, const std::string& body = "");

 private:
  struct Server;
  struct Answer;
  std::unique_ptr<Answer> answer_;
  std::unique_ptr<Server> server_;
};

}  // namespace sluice::testing
