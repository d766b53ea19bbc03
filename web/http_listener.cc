#include "web/http_listener.h"

#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include <httplib.h>

#include "core/log.h"
#include "web/request_framer.h"

namespace sluice {

namespace {

using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Canned answers the loop sends itself, before it closes the connection.
constexpr std::string_view kTimeoutResponse =
    "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
constexpr std::string_view kHeadTooLargeResponse =
    "HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n"
    "Content-Length: 0\r\n\r\n";
constexpr std::string_view kContinueResponse = "HTTP/1.1 100 Continue\r\n\r\n";

/// One client connection and the bytes it sent that no handler has read.
struct Connection {
  Connection(int socket, std::string addr, int port, const HttpListenerOptions& options)
      : fd(socket),
        peer_addr(std::move(addr)),
        peer_port(port),
        framer(options.max_head_bytes, options.max_body_bytes) {}

  int fd;
  std::string peer_addr;
  int peer_port;
  std::string buffer;
  RequestFramer framer;
  bool sent_continue = false;
  // With a body too large or bad framing the handler answers, then it closes.
  bool close_after = false;
  bool dispatch = false;  // whole: for a handler thread
  // Answered and closing: what the client still sends is read and dropped,
  // so that closing with unread input (a reset) cannot destroy the answer.
  bool draining = false;
  size_t requests = 0;  // served on this connection
  bool keep = true;     // after the handler: may serve another request
  SteadyClock::time_point waiting_since;
  SteadyClock::time_point deadline;
  // When a handler took its last request. It ranks the connection among
  // those waiting: a client can only have sent anything on another
  // connection after this one's answer, which came after this time, whereas
  // the loop may take two connections back together, or in either order.
  SteadyClock::time_point served_at;
};

/// What a handler reads and writes: the one request the loop buffered, and
/// the socket for the response.
class ConnectionStream final : public httplib::Stream {
 public:
  ConnectionStream(const Connection& conn, milliseconds write_timeout)
      : conn_(conn), end_(conn.framer.request_bytes()), write_timeout_(write_timeout) {}

  bool is_readable() const override { return read_ < end_; }
  bool is_writable() const override { return wait_writable(); }

  ssize_t read(char* ptr, size_t size) override {
    size_t n = std::min(size, end_ - read_);
    std::copy_n(conn_.buffer.data() + read_, n, ptr);
    read_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    for (;;) {
      ssize_t n = ::send(conn_.fd, ptr, size, MSG_NOSIGNAL);
      if (n >= 0) return n;
      if (errno == EINTR) continue;
      if ((errno != EAGAIN && errno != EWOULDBLOCK) || !wait_writable()) return -1;
    }
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = conn_.peer_addr;
    port = conn_.peer_port;
  }

  void get_local_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    char host[NI_MAXHOST] = "";
    char serv[NI_MAXSERV] = "";
    if (getsockname(conn_.fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0 &&
        getnameinfo(reinterpret_cast<sockaddr*>(&addr), len, host, sizeof(host), serv, sizeof(serv),
                    NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
      ip = host;
      port = std::atoi(serv);
    }
  }

  socket_t socket() const override { return conn_.fd; }

 private:
  bool wait_writable() const {
    pollfd p{conn_.fd, POLLOUT, 0};
    int timeout = static_cast<int>(write_timeout_.count());
    int ready;
    do {
      ready = poll(&p, 1, timeout);
    } while (ready < 0 && errno == EINTR);
    return ready > 0 && (p.revents & (POLLERR | POLLHUP | POLLNVAL)) == 0;
  }

  const Connection& conn_;
  size_t read_ = 0;
  size_t end_;
  milliseconds write_timeout_;
};

/// The numeric address and port of `addr`.
std::pair<std::string, int> numeric_address(const sockaddr_storage& addr, socklen_t len) {
  char host[NI_MAXHOST] = "";
  char serv[NI_MAXSERV] = "";
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&addr), len, host, sizeof(host), serv,
                  sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    return {"", 0};
  }
  return {host, std::atoi(serv)};
}

/// A non-blocking listening socket on `bind`:`port`, or -1. Dual-stack on
/// IPv6 and SO_REUSEADDR (a quick restart), as httplib binds; no
/// SO_REUSEPORT, so a second server cannot share the port unnoticed.
int open_listening_socket(const std::string& bind, int port, int& bound_port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  std::string service = std::to_string(port);
  if (getaddrinfo(bind.c_str(), service.c_str(), &hints, &found) != 0) return -1;
  int fd = -1;
  for (addrinfo* at = found; at && fd < 0; at = at->ai_next) {
    fd = ::socket(at->ai_family, at->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, at->ai_protocol);
    if (fd < 0) continue;
    int yes = 1;
    int no = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    if (at->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &no, sizeof(no));
    if (::bind(fd, at->ai_addr, at->ai_addrlen) != 0 || ::listen(fd, SOMAXCONN) != 0) {
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(found);
  if (fd < 0) return -1;
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  bound_port = numeric_address(addr, len).second;
  return fd;
}

/// The connections this process can afford: half its file descriptors, so
/// a flood of clients never takes those the scheduler and workers need.
size_t affordable_connections(size_t wanted) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return wanted;
  return std::max<size_t>(16, std::min<size_t>(wanted, limit.rlim_cur / 2));
}

}  // namespace

/// The poll loop and the handler threads of one listening socket.
class HttpListener::Loop {
 public:
  Loop(const HttpListenerOptions& options, const Handler& handler, int listen_fd)
      : options_(options),
        handler_(handler),
        max_connections_(affordable_connections(options.max_connections)),
        listen_fd_(listen_fd),
        wake_fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    for (size_t i = 0; i < std::max<size_t>(1, options_.handler_threads); ++i) {
      handlers_.emplace_back([this] { handle_requests(); });
    }
    thread_ = std::thread([this] { run(); });
  }

  ~Loop() {
    stopping_ = true;
    wake();
    thread_.join();
    close(wake_fd_);
  }

 private:
  void wake() {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof(one));
  }

  void run() {
    while (!stopping_) poll_once();
    close(listen_fd_);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      shutdown_ = true;
    }
    ready_cv_.notify_all();
    for (std::thread& t : handlers_) t.join();
    for (auto& conn : waiting_) close_connection(*conn);
    for (auto& conn : ready_) close_connection(*conn);
    for (auto& conn : returned_) close_connection(*conn);
  }

  /// One wait for activity and what follows from it: reading, accepting,
  /// taking back connections from handlers, dispatching, closing.
  void poll_once() {
    auto now = SteadyClock::now();
    auto next_deadline = now + milliseconds(1000);
    std::vector<pollfd> fds;
    fds.reserve(waiting_.size() + 2);
    fds.push_back({wake_fd_, POLLIN, 0});
    bool accepting = now >= accept_paused_until_;
    fds.push_back({accepting ? listen_fd_ : -1, POLLIN, 0});
    for (const auto& conn : waiting_) {
      fds.push_back({conn->fd, POLLIN, 0});
      next_deadline = std::min(next_deadline, conn->deadline);
    }
    if (!accepting) next_deadline = std::min(next_deadline, accept_paused_until_);
    auto wait = std::chrono::ceil<milliseconds>(next_deadline - now).count();
    int ready = poll(fds.data(), fds.size(), static_cast<int>(std::max<int64_t>(0, wait)));
    if (ready < 0 && errno != EINTR) {
      log_error("web", std::string("poll failed: ") + std::strerror(errno));
      std::this_thread::sleep_for(milliseconds(10));
      return;
    }
    now = SteadyClock::now();
    size_t polled = waiting_.size();
    for (size_t i = 0; i < polled; ++i) {
      Connection& conn = *waiting_[i];
      if (fds[i + 2].revents != 0) receive(conn);
      if (conn.fd >= 0 && !conn.dispatch && now >= conn.deadline) {
        // Part of a request came, too slowly: say so. An idle keep-alive
        // connection just ends.
        if (!conn.buffer.empty() && !conn.draining) send_now(conn, kTimeoutResponse);
        close_connection(conn);
      }
    }
    if (fds[0].revents != 0) take_back_returned(now);
    if (fds[1].revents != 0) accept_new(now);
    dispatch_and_drop_closed();
  }

  /// Reads what has arrived; marks the connection for a handler once its
  /// request is whole.
  void receive(Connection& conn) {
    char chunk[16384];
    // At most 1 MB a turn: a fast sender cannot keep the loop from others.
    for (int turn = 0; turn < 64; ++turn) {
      ssize_t n = ::recv(conn.fd, chunk, sizeof(chunk), 0);
      if (n > 0 && conn.draining) continue;
      if (n > 0) {
        conn.buffer.append(chunk, static_cast<size_t>(n));
        if (static_cast<size_t>(n) < sizeof(chunk)) break;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      // Closed by the client, or reset. A whole request sent before a
      // half-close still gets its answer.
      frame(conn, SteadyClock::now());
      if (n == 0 && conn.dispatch) {
        conn.close_after = true;
      } else {
        close_connection(conn);
      }
      return;
    }
    frame(conn, SteadyClock::now());
  }

  /// Decides, from the bytes buffered, whether the request is whole.
  void frame(Connection& conn, SteadyClock::time_point now) {
    if (conn.fd < 0 || conn.draining) return;
    if (conn.framer.head_bytes() == 0) {
      // Empty lines before a request line are ignored (RFC 9112 2.2), as
      // clients that end a body with an extra CRLF send them.
      size_t blank = std::min(conn.buffer.find_first_not_of("\r\n"), conn.buffer.size());
      if (blank > 0) {
        conn.buffer.erase(0, blank);
        conn.framer.reset();
      }
    }
    if (conn.buffer.empty()) return;
    bool head_was_complete = conn.framer.head_bytes() > 0;
    switch (conn.framer.scan(conn.buffer)) {
      case RequestFramer::Status::kNeedMore:
        if (!head_was_complete && conn.framer.head_bytes() > 0) {
          // The body has its own, longer time.
          conn.deadline = now + options_.body_timeout;
          if (conn.framer.expects_continue() && !conn.sent_continue) {
            send_now(conn, kContinueResponse);
            conn.sent_continue = true;
          }
        }
        return;
      case RequestFramer::Status::kComplete:
        conn.dispatch = true;
        return;
      case RequestFramer::Status::kHeadTooLarge:
        send_now(conn, kHeadTooLargeResponse);
        close_connection(conn);
        return;
      case RequestFramer::Status::kBodyTooLarge:
      case RequestFramer::Status::kBadFraming:
        // The handler sees the head alone and answers (413, 400).
        conn.close_after = true;
        conn.dispatch = true;
        return;
    }
  }

  void accept_new(SteadyClock::time_point now) {
    for (int i = 0; i < 256; ++i) {
      sockaddr_storage addr{};
      socklen_t len = sizeof(addr);
      int fd = accept4(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len,
                       SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          // Out of descriptors: free one, or wait a little for handlers.
          if (!evict_longest_waiting("")) accept_paused_until_ = now + milliseconds(100);
        }
        return;
      }
      auto [peer, port] = numeric_address(addr, len);
      auto known = per_client_.find(peer);
      bool at_client_cap =
          known != per_client_.end() && known->second >= options_.max_connections_per_client;
      // Room is made by closing what waits longest: a client that holds its
      // connections idle loses them, not the server its next client.
      if ((at_client_cap && !evict_longest_waiting(peer)) ||
          (open_ >= max_connections_ && !evict_longest_waiting(""))) {
        close_socket(fd);
        continue;
      }
      ++per_client_[peer];
      ++open_;
      auto conn = std::make_unique<Connection>(fd, peer, port, options_);
      start_waiting(*conn, now);
      waiting_.push_back(std::move(conn));
    }
  }

  /// Closes the waiting connection (of `peer`, or of anyone when empty) that
  /// has waited longest for a request. False when there is none.
  bool evict_longest_waiting(const std::string& peer) {
    Connection* oldest = nullptr;
    for (const auto& conn : waiting_) {
      if (conn->fd < 0 || conn->dispatch || (!peer.empty() && conn->peer_addr != peer)) continue;
      if (!oldest || conn->waiting_since < oldest->waiting_since) oldest = conn.get();
    }
    if (!oldest) return false;
    close_connection(*oldest);
    return true;
  }

  /// The connection waits for a request from now on (its time to send one
  /// counts from now); `since` ranks it against others that wait.
  void start_waiting(Connection& conn, SteadyClock::time_point now,
                     std::optional<SteadyClock::time_point> since = std::nullopt) {
    conn.waiting_since = since.value_or(now);
    conn.deadline = now + options_.request_timeout;
  }

  /// Connections whose request a handler finished: closed, or waiting for
  /// the next request (which may have arrived already).
  void take_back_returned(SteadyClock::time_point now) {
    uint64_t count;
    [[maybe_unused]] ssize_t n = ::read(wake_fd_, &count, sizeof(count));
    std::deque<std::unique_ptr<Connection>> returned;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      returned.swap(returned_);
    }
    for (auto& conn : returned) {
      if (!conn->keep) {
        // A body the handler did not read may still be on its way.
        if (!conn->close_after && conn->buffer.empty()) {
          close_connection(*conn);
          continue;
        }
        shutdown(conn->fd, SHUT_WR);
        conn->draining = true;
        conn->buffer.clear();
        start_waiting(*conn, now, conn->served_at);
        waiting_.push_back(std::move(conn));
        continue;
      }
      start_waiting(*conn, now, conn->served_at);
      frame(*conn, now);
      if (conn->fd >= 0) waiting_.push_back(std::move(conn));
    }
  }

  /// Hands whole requests to the handler threads and forgets closed
  /// connections.
  void dispatch_and_drop_closed() {
    std::vector<std::unique_ptr<Connection>> still_waiting;
    still_waiting.reserve(waiting_.size());
    size_t dispatched = 0;
    for (auto& conn : waiting_) {
      if (conn->fd < 0) continue;
      if (!conn->dispatch) {
        still_waiting.push_back(std::move(conn));
        continue;
      }
      std::lock_guard<std::mutex> lock(mutex_);
      ready_.push_back(std::move(conn));
      ++dispatched;
    }
    waiting_.swap(still_waiting);
    for (size_t i = 0; i < dispatched; ++i) ready_cv_.notify_one();
  }

  /// A handler thread: runs whole requests until the loop stops.
  void handle_requests() {
    for (;;) {
      std::unique_ptr<Connection> conn;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        ready_cv_.wait(lock, [this] { return shutdown_ || !ready_.empty(); });
        if (shutdown_) return;
        conn = std::move(ready_.front());
        ready_.pop_front();
      }
      conn->served_at = SteadyClock::now();
      serve(*conn);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        returned_.push_back(std::move(conn));
      }
      wake();
    }
  }

  void serve(Connection& conn) {
    bool last =
        stopping_ || conn.close_after || conn.requests + 1 >= options_.max_requests_per_connection;
    bool closed = false;
    bool ok = false;
    try {
      ConnectionStream stream(conn, options_.write_timeout);
      ok = handler_(stream, last, closed);
    } catch (const std::exception& e) {
      log_error("web", std::string("request failed: ") + e.what());
    }
    ++conn.requests;
    conn.keep = ok && !last && !closed;
    // What follows the request (pipelined requests) stays for the next one.
    conn.buffer.erase(0, conn.framer.request_bytes());
    conn.framer.reset();
    conn.sent_continue = false;
    conn.dispatch = false;
  }

  void send_now(const Connection& conn, std::string_view response) {
    [[maybe_unused]] ssize_t n =
        ::send(conn.fd, response.data(), response.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  }

  static void close_socket(int fd) {
    shutdown(fd, SHUT_RDWR);
    close(fd);
  }

  void close_connection(Connection& conn) {
    if (conn.fd < 0) return;
    close_socket(conn.fd);
    conn.fd = -1;
    auto it = per_client_.find(conn.peer_addr);
    if (it != per_client_.end() && --it->second == 0) per_client_.erase(it);
    --open_;
  }

  const HttpListenerOptions& options_;
  const Handler& handler_;
  const size_t max_connections_;
  const int listen_fd_;
  const int wake_fd_;
  std::atomic<bool> stopping_{false};

  // The loop thread's own.
  std::vector<std::unique_ptr<Connection>> waiting_;
  std::unordered_map<std::string, size_t> per_client_;  // open connections by address
  size_t open_ = 0;
  SteadyClock::time_point accept_paused_until_{};

  std::mutex mutex_;
  std::condition_variable ready_cv_;
  std::deque<std::unique_ptr<Connection>> ready_;     // GUARDED_BY(mutex_)
  std::deque<std::unique_ptr<Connection>> returned_;  // GUARDED_BY(mutex_)
  bool shutdown_ = false;                             // GUARDED_BY(mutex_)

  std::vector<std::thread> handlers_;
  std::thread thread_;
};

HttpListener::HttpListener(HttpListenerOptions options, Handler handler)
    : options_(std::move(options)), handler_(std::move(handler)) {}

HttpListener::~HttpListener() { stop(); }

int HttpListener::listen(const std::string& bind, int port) {
  if (loop_) return -1;
  int bound = -1;
  int fd = open_listening_socket(bind, port, bound);
  if (fd < 0) return -1;
  loop_ = std::make_unique<Loop>(options_, handler_, fd);
  return bound;
}

void HttpListener::stop() { loop_.reset(); }

}  // namespace sluice
