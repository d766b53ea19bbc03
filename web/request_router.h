#pragma once
// httplib's request parsing and routing, apart from its connection handling:
// the HttpListener reads requests and hands them over whole.

#include <atomic>
#include <thread>

#include <httplib.h>

namespace sluice {

/// An httplib::Server whose routes run on streams the HttpListener passes in;
/// httplib never accepts a client connection itself.
class RequestRouter : public httplib::Server {
 public:
  RequestRouter() = default;
  ~RequestRouter() override { stop_accept_loop(); }
  RequestRouter(const RequestRouter&) = delete;
  RequestRouter& operator=(const RequestRouter&) = delete;

  /// Reads one request from the stream, runs its route and writes the
  /// response (see HttpListener::Handler).
  using httplib::Server::process_request;

  /// httplib writes a body from a content provider only while is_running(),
  /// which only its own accept loop sets. So that loop runs, on a listening
  /// Unix socket whose name is removed at once: no client can reach it.
  /// Throws UserError when no such socket can be made.
  void start_accept_loop();
  /// Ends the accept loop and joins its thread. Safe to call twice.
  void stop_accept_loop();

 private:
  std::thread loop_;
  std::atomic<bool> loop_returned_{false};
};

}  // namespace sluice
