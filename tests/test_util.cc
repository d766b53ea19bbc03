#include "tests/test_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <httplib.h>

namespace sluice::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/sluice-test.XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed");
  path_ = buf.data();
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::write(const std::string& name, const std::string& content) const {
  std::string p = file(name);
  std::filesystem::create_directories(std::filesystem::path(p).parent_path());
  std::ofstream(p, std::ios::binary) << content;
  return p;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string sluice_binary() { return SLUICE_BINARY; }

std::string source_dir() { return SLUICE_SOURCE_DIR; }

std::vector<std::string> sluice_argv(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {sluice_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

namespace {

/// What a forked child needs to exec a command, built before the fork: a
/// test process has threads (webhook receivers, web servers), and a child
/// forked from it may only make async-signal-safe calls. Allocating or
/// setenv() there can deadlock on a lock another thread held at the fork,
/// leaving a child that never starts.
class ChildCommand {
 public:
  ChildCommand(const std::vector<std::string>& argv, const std::string& cwd,
               const std::map<std::string, std::string>& env)
      : argv_(argv), cwd_(cwd) {
    std::map<std::string, std::string> merged;
    for (char** e = environ; *e; ++e) {
      std::string entry(*e);
      size_t eq = entry.find('=');
      if (eq != std::string::npos) merged[entry.substr(0, eq)] = entry.substr(eq + 1);
    }
    for (const auto& [k, v] : env) merged[k] = v;
    for (const auto& [k, v] : merged) env_.push_back(k + "=" + v);
    for (std::string& a : argv_) argv_ptrs_.push_back(a.data());
    argv_ptrs_.push_back(nullptr);
    for (std::string& e : env_) env_ptrs_.push_back(e.data());
    env_ptrs_.push_back(nullptr);
  }

  /// In the child: changes directory and execs; never returns.
  [[noreturn]] void exec() const {
    if (!cwd_.empty() && chdir(cwd_.c_str()) != 0) _exit(126);
    execvpe(argv_ptrs_[0], argv_ptrs_.data(), env_ptrs_.data());
    // Only async-signal-safe calls here: say why on stderr and end.
    const char* what = strerror(errno);
    const char prefix[] = "test helper: cannot exec ";
    (void)!write(2, prefix, sizeof(prefix) - 1);
    (void)!write(2, argv_ptrs_[0], strlen(argv_ptrs_[0]));
    (void)!write(2, ": ", 2);
    (void)!write(2, what, strlen(what));
    (void)!write(2, "\n", 1);
    _exit(127);
  }

 private:
  std::vector<std::string> argv_;
  std::string cwd_;
  std::vector<std::string> env_;
  std::vector<char*> argv_ptrs_;
  std::vector<char*> env_ptrs_;
};

}  // namespace

CommandOutput run_sluice(const std::vector<std::string>& args, const std::string& cwd,
                         const std::map<std::string, std::string>& env) {
  TempDir tmp;
  std::string out_file = tmp.file("out");
  std::string err_file = tmp.file("err");
  ChildCommand command(sluice_argv(args), cwd, env);
  pid_t pid = fork();
  if (pid == 0) {
    int out = open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int in = open("/dev/null", O_RDONLY);
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    command.exec();
  }
  int status = 0;
  waitpid(pid, &status, 0);
  CommandOutput result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = read_file(out_file);
  result.err = read_file(err_file);
  return result;
}

Process::Process(const std::vector<std::string>& argv, const std::string& cwd,
                 const std::string& log_file, const std::map<std::string, std::string>& env) {
  ChildCommand command(argv, cwd, env);
  pid_ = fork();
  if (pid_ == 0) {
    setpgid(0, 0);
    int log = open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    int in = open("/dev/null", O_RDONLY);
    dup2(in, 0);
    dup2(log, 1);
    dup2(log, 2);
    command.exec();
  }
  setpgid(pid_, pid_);
}

Process::~Process() {
  if (!reaped_ && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    waitpid(pid_, &status_, 0);
  }
}

void Process::kill(int signal) {
  if (!reaped_) ::kill(pid_, signal);
}

bool Process::running() {
  if (reaped_) return false;
  int r = waitpid(pid_, &status_, WNOHANG);
  if (r == pid_) reaped_ = true;
  return !reaped_;
}

std::string Process::status_text() {
  if (running()) return "still running";
  if (WIFEXITED(status_)) return "exited with " + std::to_string(WEXITSTATUS(status_));
  return "killed by signal " + std::to_string(WTERMSIG(status_));
}

int Process::wait(std::chrono::milliseconds timeout) {
  bool done = wait_until([&] { return !running(); }, timeout);
  if (!done) return -1;
  return WIFEXITED(status_) ? WEXITSTATUS(status_) : 128 + WTERMSIG(status_);
}

int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t length = sizeof(addr);
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

struct WebhookReceiver::Server {
  httplib::Server http;
  std::thread thread;
  std::mutex mu;
  std::vector<Hit> hits;  // GUARDED_BY(mu)
};

struct WebhookReceiver::Answer {
  std::mutex mu;
  int status = 200;  // GUARDED_BY(mu)
  std::string body;  // GUARDED_BY(mu)
};

WebhookReceiver::WebhookReceiver() : answer_(std::make_unique<Answer>()) {}
WebhookReceiver::~WebhookReceiver() { stop(); }

void WebhookReceiver::answer_with(int status, const std::string& body) {
  std::lock_guard<std::mutex> lock(answer_->mu);
  answer_->status = status;
  answer_->body = body;
}

int WebhookReceiver::start(int port) {
  stop();
  server_ = std::make_unique<Server>();
  Server* s = server_.get();
  Answer* answer = answer_.get();
  s->http.Post("/hook", [s, answer](const httplib::Request& req, httplib::Response& res) {
    {
      std::lock_guard<std::mutex> lock(answer->mu);
      res.status = answer->status;
      if (!answer->body.empty()) res.set_content(answer->body, "text/plain");
    }
    std::lock_guard<std::mutex> lock(s->mu);
    s->hits.push_back({nlohmann::json::parse(req.body, nullptr, false), req.body,
                       req.get_header_value("X-Sluice-Signature"), res.status});
  });
  int bound = port == 0 ? s->http.bind_to_any_port("127.0.0.1")
                        : (s->http.bind_to_port("127.0.0.1", port) ? port : -1);
  if (bound < 0) {
    server_.reset();
    return -1;
  }
  s->thread = std::thread([s] { s->http.listen_after_bind(); });
  while (!s->http.is_running()) std::this_thread::yield();
  return bound;
}

void WebhookReceiver::stop() {
  if (!server_) return;
  server_->http.stop();
  if (server_->thread.joinable()) server_->thread.join();
  server_.reset();
}

std::vector<WebhookReceiver::Hit> WebhookReceiver::hits() {
  if (!server_) return {};
  std::lock_guard<std::mutex> lock(server_->mu);
  return server_->hits;
}

std::vector<WebhookReceiver::Hit> WebhookReceiver::hits_of(const std::string& event) {
  std::vector<Hit> out;
  for (const Hit& h : hits()) {
    if (h.body.value("event", "") == event) out.push_back(h);
  }
  return out;
}

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace sluice::testing
