#pragma once
// Response bodies sent as they are or gzip-compressed by Sluice, never by
// cpp-httplib: httplib compresses every text body itself and prefers brotli
// at its slowest quality, which costs ~50 ms for app.js or a grid page.

#include <string>

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace sluice {

/// True when the request's Accept-Encoding allows gzip (and not with q=0).
bool accepts_gzip(const httplib::Request& req);

/// `data` gzip-compressed (zlib, a fast level).
std::string gzip_compress(const std::string& data);

/// Sets `body` as the response's content with `content_type`, already
/// `gzipped` or not, in a form httplib sends as it is.
void set_raw_body(httplib::Response& res, std::string body, const std::string& content_type,
                  bool gzipped);

}  // namespace sluice
