#include "web/request_framer.h"

#include <string>

#include "core/text.h"

namespace sluice {

namespace {

constexpr size_t kNpos = std::string_view::npos;
// A chunk-size line ("1a2b;ext=v") or the trailer section longer than these
// is no client's honest request.
constexpr size_t kMaxChunkLine = 1024;
constexpr size_t kMaxTrailers = 8 * 1024;

/// The value of a decimal Content-Length, or kNpos when it is none.
size_t parse_length(std::string_view text) {
  if (text.empty() || text.size() > 18) return kNpos;
  size_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return kNpos;
    value = value * 10 + static_cast<size_t>(c - '0');
  }
  return value;
}

/// The value of a chunk-size line's hex number (extensions after ';' are
/// ignored), or kNpos when it has none or too many digits.
size_t parse_chunk_size(std::string_view line) {
  size_t value = 0;
  size_t digits = 0;
  for (char c : line) {
    int digit = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
    if (digit < 0) {
      if (c == ';' || c == ' ' || c == '\t') break;
      return kNpos;
    }
    if (++digits > 15) return kNpos;
    value = value * 16 + static_cast<size_t>(digit);
  }
  return digits == 0 ? kNpos : value;
}

}  // namespace

RequestFramer::Status RequestFramer::scan(std::string_view data) {
  if (head_bytes_ == 0) {
    Status head = scan_head(data);
    if (head != Status::kComplete) return head;
  }
  if (chunked_) return scan_chunks(data);
  if (data.size() < head_bytes_ + body_length_) return Status::kNeedMore;
  request_bytes_ = head_bytes_ + body_length_;
  return Status::kComplete;
}

/// Finds the head's end and reads the headers that frame the body. Returns
/// kComplete once the head is whole and the body can be waited for.
RequestFramer::Status RequestFramer::scan_head(std::string_view data) {
  // "\n\r\n" ends the head whether the request line ended in CRLF or LF.
  size_t end = data.find("\n\r\n", scanned_ >= 2 ? scanned_ - 2 : 0);
  if (end == kNpos) {
    scanned_ = data.size();
    return data.size() > max_head_bytes_ ? Status::kHeadTooLarge : Status::kNeedMore;
  }
  if (end + 3 > max_head_bytes_) return Status::kHeadTooLarge;
  head_bytes_ = end + 3;
  request_bytes_ = head_bytes_;

  bool has_length = false;
  bool bad = false;
  std::string_view head = data.substr(0, head_bytes_);
  size_t line_start = head.find('\n') + 1;  // past the request line
  while (line_start < head.size()) {
    size_t line_end = head.find('\n', line_start);
    std::string_view line = head.substr(line_start, line_end - line_start);
    line_start = line_end + 1;
    size_t colon = line.find(':');
    if (colon == kNpos) continue;
    // Names match as httplib matches them: exactly, but for case.
    std::string name = to_lower(line.substr(0, colon));
    std::string_view value = trim(line.substr(colon + 1));
    if (name == "content-length") {
      size_t length = parse_length(value);
      if (length == kNpos || (has_length && length != body_length_)) bad = true;
      has_length = true;
      body_length_ = length;
    } else if (name == "transfer-encoding") {
      // Only "chunked" last frames a request body (RFC 9112 6.3).
      std::string codings = to_lower(value);
      size_t comma = codings.rfind(',');
      chunked_ = trim(comma == kNpos ? codings : codings.substr(comma + 1)) == "chunked";
      if (!chunked_) bad = true;
    } else if (name == "expect") {
      expects_continue_ = to_lower(value) == "100-continue";
    }
  }
  // Both lengths at once is how requests are smuggled past proxies.
  if (bad || (chunked_ && has_length)) {
    chunked_ = false;
    body_length_ = 0;
    return Status::kBadFraming;
  }
  if (body_length_ > max_body_bytes_) {
    body_length_ = 0;
    return Status::kBodyTooLarge;
  }
  chunk_at_ = head_bytes_;
  return Status::kComplete;
}

/// Walks the chunks that have fully arrived; chunk_at_ keeps its place.
RequestFramer::Status RequestFramer::scan_chunks(std::string_view data) {
  for (;;) {
    size_t line_end = data.find("\r\n", chunk_at_);
    if (line_end == kNpos) {
      return data.size() - chunk_at_ > kMaxChunkLine ? Status::kBadFraming : Status::kNeedMore;
    }
    size_t size = parse_chunk_size(data.substr(chunk_at_, line_end - chunk_at_));
    if (size == kNpos || line_end - chunk_at_ > kMaxChunkLine) return Status::kBadFraming;
    if (size == 0) {
      // The last chunk, then trailer lines up to an empty one.
      for (size_t at = line_end + 2;;) {
        size_t end = data.find("\r\n", at);
        if (end == kNpos) {
          return data.size() - line_end > kMaxTrailers ? Status::kBadFraming : Status::kNeedMore;
        }
        if (end == at) {
          request_bytes_ = end + 2;
          return Status::kComplete;
        }
        at = end + 2;
      }
    }
    if (size > max_body_bytes_ - body_length_) return Status::kBodyTooLarge;
    size_t data_end = line_end + 2 + size;
    if (data.size() < data_end + 2) return Status::kNeedMore;
    if (data.substr(data_end, 2) != "\r\n") return Status::kBadFraming;
    body_length_ += size;
    chunk_at_ = data_end + 2;
  }
}

}  // namespace sluice
