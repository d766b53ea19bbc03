#pragma once
// Where one HTTP/1.1 request ends in the bytes a connection has received:
// the listener hands a request to a handler thread only once it is whole.

#include <cstddef>
#include <string_view>

namespace sluice {

/// Finds the end of the request at the start of a connection's buffer,
/// reading no more of it than framing needs (RFC 9112 section 6).
class RequestFramer {
 public:
  enum class Status {
    kNeedMore,      // the request is not complete yet
    kComplete,      // request_bytes() bytes make the whole request
    kHeadTooLarge,  // no end of head within max_head_bytes
    kBodyTooLarge,  // the body is (or says it is) longer than max_body_bytes
    kBadFraming,    // a Content-Length or chunked body that cannot be read
  };

  RequestFramer(size_t max_head_bytes, size_t max_body_bytes)
      : max_head_bytes_(max_head_bytes), max_body_bytes_(max_body_bytes) {}

  /// Looks at `data`, the bytes received so far; between calls `data` only
  /// grows, so a call resumes where the last one stopped.
  Status scan(std::string_view data);
  /// Forgets the request, for the next one on the connection.
  void reset() { *this = RequestFramer(max_head_bytes_, max_body_bytes_); }

  /// The request head's length (request line, headers, empty line), or 0
  /// while it is incomplete.
  size_t head_bytes() const { return head_bytes_; }
  /// The whole request's length once complete; with a body too large or bad
  /// framing, the head's length (what a handler may read).
  size_t request_bytes() const { return request_bytes_; }
  /// True when the head asks for "100 Continue" before the client sends the
  /// body.
  bool expects_continue() const { return expects_continue_; }

 private:
  Status scan_head(std::string_view data);
  Status scan_chunks(std::string_view data);

  size_t max_head_bytes_;
  size_t max_body_bytes_;
  size_t scanned_ = 0;  // bytes of `data` searched for the head's end
  size_t head_bytes_ = 0;
  size_t request_bytes_ = 0;
  bool chunked_ = false;
  size_t body_length_ = 0;  // with Content-Length
  size_t chunk_at_ = 0;     // with chunks: where the next chunk-size line starts
  bool expects_continue_ = false;
};

}  // namespace sluice
