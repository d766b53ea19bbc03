#pragma once
// Accepting HTTP connections so that idle or slow clients cannot starve the
// server: one thread polls every connection and hands a connection to the
// handler threads only once a whole request has arrived (issue 21, item 3).

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

namespace httplib {
class Stream;
}

namespace sluice {

/// Limits on what a client may hold; every connection counts against them.
struct HttpListenerOptions {
  /// A request head must arrive within this after the connection opens or
  /// after the previous response; then the connection closes (408 when part
  /// of a request had come).
  std::chrono::milliseconds request_timeout{5000};
  /// A request's body must arrive within this after its head.
  std::chrono::milliseconds body_timeout{30000};
  /// How long a response write waits for the client to read.
  std::chrono::milliseconds write_timeout{5000};
  /// Connections one client address may hold; a new one beyond closes that
  /// client's connection that has waited longest for a request.
  size_t max_connections_per_client = 32;
  /// Connections in all; the file descriptor limit may lower it.
  size_t max_connections = 4096;
  /// Threads that run requests.
  size_t handler_threads = 8;
  /// A request head (request line and headers) larger than this gets 431.
  size_t max_head_bytes = 64 * 1024;
  /// Bodies up to this size are read before the request is handled; a larger
  /// declared Content-Length reaches the handler with no body to read.
  size_t max_body_bytes = 1 << 20;
  /// Requests served on one connection before it closes.
  size_t max_requests_per_connection = 100;
};

/// Accepts connections on one port and waits for all of them in one poll
/// loop; a connection reaches a handler thread only once its request head,
/// and a body of declared length, has arrived.
class HttpListener {
 public:
  /// Handles one request read from `stream` and writes its response; with
  /// `close` the response says the connection ends. Returns false when the
  /// connection must close; sets `closed` when the client asked to close it.
  using Handler = std::function<bool(httplib::Stream& stream, bool close, bool& closed)>;

  HttpListener(HttpListenerOptions options, Handler handler);
  ~HttpListener();
  HttpListener(const HttpListener&) = delete;
  HttpListener& operator=(const HttpListener&) = delete;

  /// Binds `bind`:`port` (0: any free port) and serves from background
  /// threads. Returns the bound port, or -1 when the address cannot be bound.
  int listen(const std::string& bind, int port);
  /// Stops accepting, lets running requests finish, closes every connection
  /// and joins the threads. Safe to call twice.
  void stop();

 private:
  class Loop;
  std::unique_ptr<Loop> loop_;
  HttpListenerOptions options_;
  Handler handler_;
};

}  // namespace sluice
