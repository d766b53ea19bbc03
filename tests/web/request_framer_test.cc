#include "web/request_framer.h"

#include <gtest/gtest.h>

#include <string>

namespace sluice {
namespace {

using Status = RequestFramer::Status;

/// Feeds `data` to a framer one byte more at a time, as a slow client sends
/// it; returns the status after the last byte.
Status feed_bytewise(RequestFramer& framer, const std::string& data) {
  Status status = Status::kNeedMore;
  for (size_t n = 1; n <= data.size() && status == Status::kNeedMore; ++n) {
    status = framer.scan(std::string_view(data).substr(0, n));
  }
  return status;
}

TEST(RequestFramerTest, AHeadWithoutBodyIsWholeAtItsEmptyLine) {
  RequestFramer framer(1024, 1024);
  std::string head = "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";
  EXPECT_EQ(framer.scan(head.substr(0, head.size() - 1)), Status::kNeedMore);
  EXPECT_EQ(framer.scan(head + "GET /next"), Status::kComplete);
  EXPECT_EQ(framer.request_bytes(), head.size());
  // A request line ending in a bare LF, as some clients send it.
  RequestFramer lf(1024, 1024);
  EXPECT_EQ(lf.scan("GET / HTTP/1.0\n\r\n"), Status::kComplete);
}

TEST(RequestFramerTest, ABodyOfContentLengthIsWaitedFor) {
  RequestFramer framer(1024, 1024);
  std::string request = "POST /x HTTP/1.1\r\ncontent-length:  5\r\n\r\nhello";
  EXPECT_EQ(feed_bytewise(framer, request), Status::kComplete);
  EXPECT_EQ(framer.request_bytes(), request.size());
  EXPECT_FALSE(framer.expects_continue());
}

TEST(RequestFramerTest, ChunkedBodiesEndAtTheLastChunkAndTrailers) {
  std::string head = "POST /x HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n";
  std::string body = "5;name=v\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n";
  RequestFramer framer(1024, 1024);
  EXPECT_EQ(feed_bytewise(framer, head + body), Status::kComplete);
  EXPECT_EQ(framer.request_bytes(), head.size() + body.size());
  // All at once, with the next request behind it.
  RequestFramer whole(1024, 1024);
  EXPECT_EQ(whole.scan(head + body + "GET / HTTP/1.1\r\n\r\n"), Status::kComplete);
  EXPECT_EQ(whole.request_bytes(), head.size() + body.size());
}

TEST(RequestFramerTest, ExpectContinueIsReported) {
  RequestFramer framer(1024, 1024);
  EXPECT_EQ(framer.scan("PUT /x HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n"),
            Status::kNeedMore);
  EXPECT_TRUE(framer.expects_continue());
}

TEST(RequestFramerTest, LimitsAndBadFramingEndTheWait) {
  RequestFramer head(64, 1024);
  EXPECT_EQ(head.scan("GET /" + std::string(100, 'a')), Status::kHeadTooLarge);

  RequestFramer body(1024, 10);
  EXPECT_EQ(body.scan("POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n"), Status::kBodyTooLarge);
  EXPECT_EQ(body.request_bytes(), 39u);  // the handler sees the head alone

  RequestFramer chunks(1024, 10);
  EXPECT_EQ(
      chunks.scan("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n5\r\n"),
      Status::kBodyTooLarge);

  for (const char* header :
       {"Content-Length: abc", "Content-Length: -1", "Content-Length: 99999999999999999999",
        "Content-Length: 5\r\nContent-Length: 6", "Transfer-Encoding: gzip",
        "Transfer-Encoding: chunked\r\nContent-Length: 5"}) {
    RequestFramer framer(1024, 1024);
    EXPECT_EQ(framer.scan(std::string("POST / HTTP/1.1\r\n") + header + "\r\n\r\nhello"),
              Status::kBadFraming)
        << header;
  }
  RequestFramer bad_chunk(1024, 1024);
  EXPECT_EQ(bad_chunk.scan("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
            Status::kBadFraming);
}

}  // namespace
}  // namespace sluice
