#include "web/request_router.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "core/error.h"

namespace sluice {

void RequestRouter::start_accept_loop() {
  if (loop_.joinable()) return;
  std::string folder = std::filesystem::temp_directory_path().string();
  std::string dir_template = folder + "/sluice-web-XXXXXX";
  const char* dir = mkdtemp(dir_template.data());  // mode 0700: ours alone
  std::string path = dir ? std::string(dir) + "/s" : "";
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  bool ok = fd >= 0 && !path.empty() && path.size() < sizeof(addr.sun_path);
  if (ok) {
    std::copy(path.begin(), path.end(), addr.sun_path);
    ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 && ::listen(fd, 1) == 0;
  }
  if (dir) {
    unlink(path.c_str());
    rmdir(dir);
  }
  if (!ok) {
    if (fd >= 0) close(fd);
    throw UserError("cannot start the web server: cannot make a Unix socket in " + folder +
                    " (set TMPDIR to a short, writable folder)");
  }
  // The loop never accepts a connection, so it needs no threads.
  new_task_queue = [] { return new httplib::ThreadPool(0); };
  svr_sock_ = fd;
  loop_returned_ = false;
  loop_ = std::thread([this] {
    listen_after_bind();
    loop_returned_ = true;
  });
  while (!is_running() && !loop_returned_) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (loop_returned_) {
    loop_.join();
    throw UserError("cannot start the web server: its request loop ended at once");
  }
}

void RequestRouter::stop_accept_loop() {
  if (!loop_.joinable()) return;
  while (!loop_returned_) {
    if (is_running()) {
      stop();
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  loop_.join();
}

}  // namespace sluice
