#include "web/http_body.h"

#include <zlib.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <stdexcept>

#include <httplib.h>

namespace sluice {

bool accepts_gzip(const httplib::Request& req) {
  std::string accept = req.get_header_value("Accept-Encoding");
  size_t at = accept.find("gzip");
  if (at == std::string::npos) return false;
  size_t end = accept.find(',', at);
  std::string item = accept.substr(at, end == std::string::npos ? std::string::npos : end - at);
  size_t q = item.find("q=");
  if (q == std::string::npos) return true;
  // A header never fails a request: a q that is no number ("q=abc", "q=")
  // reads as 0, so the body goes out uncompressed, which every client takes.
  return std::strtod(item.c_str() + q + 2, nullptr) > 0;
}

std::string gzip_compress(const std::string& data) {
  z_stream zs{};
  // 15 + 16: a gzip header; level 6 is zlib's default, fast for small bodies.
  if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::runtime_error("zlib: deflateInit2 failed");
  }
  std::string out(deflateBound(&zs, static_cast<uLong>(data.size())), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) throw std::runtime_error("zlib: deflate did not finish");
  return out;
}

void set_raw_body(httplib::Response& res, std::string body, const std::string& content_type,
                  bool gzipped) {
  // A sized content provider is written as it is: httplib compresses only
  // `res.body` and chunked providers.
  res.body.clear();
  if (gzipped) res.set_header("Content-Encoding", "gzip");
  res.set_header("Vary", "Accept-Encoding");
  auto data = std::make_shared<const std::string>(std::move(body));
  res.set_content_provider(
      data->size(), content_type,
      [data](size_t offset, size_t length, httplib::DataSink& sink) {
        // Ranges are ignored (see server.cc); this only keeps a slip there
        // from reading past the body.
        if (offset > data->size()) return false;
        return sink.write(data->data() + offset, std::min(length, data->size() - offset));
      });
}

}  // namespace sluice
