#include "core/secrets.h"

#include <algorithm>
#include <bitset>
#include <cctype>

#include <nlohmann/json.hpp>

namespace sluice {
namespace {

constexpr std::string_view kMask = "***";

bool scheme_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '.' || c == '-';
}

bool ends_authority(char c) {
  return c == '/' || c == '?' || c == '#' || std::isspace(static_cast<unsigned char>(c)) ||
         static_cast<unsigned char>(c) < 0x20;
}

/// The userinfo of the URL whose "://" is at `sep` in `text`: [start, at),
/// where `at` is the authority's last '@'; {npos, npos} when it has none.
std::pair<size_t, size_t> userinfo_at(std::string_view text, size_t sep) {
  size_t start = sep + 3;
  size_t end = start;
  while (end < text.size() && !ends_authority(text[end])) ++end;
  size_t at = text.substr(0, end).rfind('@');
  if (at == std::string_view::npos || at < start) return {std::string_view::npos, 0};
  return {start, at};
}

/// Where a scheme that ends at `sep` ("postgresql" before "://") starts, or
/// npos when the text before `sep` is no scheme.
size_t scheme_start(std::string_view text, size_t sep) {
  size_t start = sep;
  while (start > 0 && scheme_char(text[start - 1])) --start;
  if (start == sep || !std::isalpha(static_cast<unsigned char>(text[start]))) {
    return std::string_view::npos;
  }
  return start;
}

/// `text` with the value of every `password=VALUE` (libpq key=value strings,
/// quoted or not) replaced by `***`.
std::string mask_key_value_passwords(std::string out) {
  static const std::string kKey = "password";
  size_t key = out.find(kKey);
  while (key != std::string::npos) {
    size_t eq = out.find_first_not_of(" \t", key + kKey.size());
    if (eq == std::string::npos || out[eq] != '=') {
      key = out.find(kKey, key + kKey.size());
      continue;
    }
    size_t start = out.find_first_not_of(" \t", eq + 1);
    if (start == std::string::npos) break;
    size_t end;
    if (out[start] == '\'') {
      end = start + 1;
      while (end < out.size() && out[end] != '\'') end += out[end] == '\\' ? 2 : 1;
      end = std::min(end + 1, out.size());
    } else {
      end = out.find_first_of(" \t\r\n&", start);
      if (end == std::string::npos) end = out.size();
    }
    out.replace(start, end - start, kMask);
    key = out.find(kKey, start + kMask.size());
  }
  return out;
}

/// Non-empty secrets, each once.
std::vector<std::string> usable(std::vector<std::string> secrets) {
  secrets.erase(std::remove(secrets.begin(), secrets.end(), std::string()), secrets.end());
  std::sort(secrets.begin(), secrets.end());
  secrets.erase(std::unique(secrets.begin(), secrets.end()), secrets.end());
  return secrets;
}

/// Where one pass of scan() ended.
struct ScanEnd {
  size_t stop;           // the first byte not passed (held back)
  size_t covered_until;  // bytes before this belong to an occurrence of a secret
  bool ends_masked;      // `out` ends with `***`
};

/// Appends `text[begin, end)` to `out` with each run of bytes that belongs to
/// an occurrence of a secret replaced by one `***`. Occurrences are looked for
/// from position 0, so one that starts before `begin` still counts; bytes
/// before `covered_until` count as covered already. Unless `final`, stops at
/// the first position where `text` ends inside what may be a secret.
ScanEnd scan(std::string_view text, size_t begin, size_t end,
             const std::vector<std::string>& secrets, size_t covered_until, bool ends_masked,
             bool final, std::string& out) {
  std::bitset<256> first;
  for (const std::string& s : secrets) first.set(static_cast<unsigned char>(s[0]));
  out.reserve(out.size() + (end - std::min(begin, end)));
  size_t i = 0;
  for (; i < end; ++i) {
    if (first.test(static_cast<unsigned char>(text[i]))) {
      bool may_start_here = false;
      const size_t left = text.size() - i;
      for (const std::string& s : secrets) {
        if (s[0] != text[i]) continue;
        if (left >= s.size()) {
          if (text.compare(i, s.size(), s) == 0) {
            covered_until = std::max(covered_until, i + s.size());
          }
        } else if (!final && text.substr(i) == std::string_view(s).substr(0, left)) {
          may_start_here = true;
        }
      }
      if (may_start_here) break;
    }
    if (i < begin) continue;
    if (i < covered_until) {
      if (!ends_masked) out += kMask;
      ends_masked = true;
    } else {
      out += text[i];
      ends_masked = false;
    }
  }
  return {i, covered_until, ends_masked};
}

}  // namespace

std::pair<size_t, size_t> url_password_span(std::string_view url) {
  size_t sep = url.find("://");
  if (sep == std::string_view::npos) return {std::string_view::npos, 0};
  auto [start, at] = userinfo_at(url, sep);
  if (start == std::string_view::npos) return {std::string_view::npos, 0};
  size_t colon = url.find(':', start);
  if (colon == std::string_view::npos || colon > at) return {std::string_view::npos, 0};
  return {colon + 1, at - colon - 1};
}

std::string mask_url(std::string_view text) {
  std::string out;
  size_t copied = 0;
  size_t sep = text.find("://");
  while (sep != std::string_view::npos) {
    size_t next = sep + 3;
    if (scheme_start(text, sep) != std::string_view::npos) {
      auto [start, at] = userinfo_at(text, sep);
      if (start != std::string_view::npos) {
        size_t colon = text.find(':', start);
        if (colon != std::string_view::npos && colon < at) {
          out.append(text.substr(copied, colon + 1 - copied));
          out += kMask;
          copied = at;
        }
        next = at;
      }
    }
    sep = text.find("://", next);
  }
  out.append(text.substr(copied));
  return mask_key_value_passwords(std::move(out));
}

std::string encode_userinfo(const std::string& url) {
  size_t sep = url.find("://");
  if (sep == std::string::npos) return url;
  auto [start, at] = userinfo_at(url, sep);
  if (start == std::string::npos) return url;
  std::string out = url.substr(0, start);
  for (size_t i = start; i < at; ++i) {
    if (url[i] == '@') {
      out += "%40";
    } else {
      out += url[i];
    }
  }
  return out + url.substr(at);
}

std::string describe_url_safely(std::string_view url) {
  size_t sep = url.find("://");
  if (sep == std::string_view::npos) return "it is not a URL (it has no scheme://)";
  size_t start = scheme_start(url, sep);
  if (start != 0 || sep > 32) return "it does not start with a scheme such as postgresql://";
  return "its scheme is '" + std::string(url.substr(0, sep)) + "'";
}

std::string mask_secrets(std::string_view text, const std::vector<std::string>& secrets) {
  return mask_secrets_slice(text, 0, text.size(), secrets);
}

std::string mask_secrets_slice(std::string_view text, size_t begin, size_t end,
                               const std::vector<std::string>& secrets) {
  end = std::min(end, text.size());
  if (begin >= end) return "";
  std::vector<std::string> list = usable(secrets);
  if (list.empty()) return std::string(text.substr(begin, end - begin));
  std::string out;
  scan(text, begin, end, list, 0, false, /*final=*/true, out);
  return out;
}

nlohmann::json mask_secrets_json(nlohmann::json j, const std::vector<std::string>& secrets) {
  std::vector<std::string> list = usable(secrets);
  if (list.empty()) return j;
  auto walk = [&list](auto& self, nlohmann::json& node) -> void {
    if (node.is_string()) {
      node = mask_secrets(node.get_ref<const std::string&>(), list);
    } else if (node.is_object()) {
      nlohmann::json masked = nlohmann::json::object();
      for (auto it = node.begin(); it != node.end(); ++it) {
        self(self, it.value());
        masked[mask_secrets(it.key(), list)] = std::move(it.value());
      }
      node = std::move(masked);
    } else if (node.is_array()) {
      for (auto& child : node) self(self, child);
    }
  };
  walk(walk, j);
  return j;
}

std::vector<std::string> with_json_forms(std::vector<std::string> secrets) {
  std::vector<std::string> out = usable(std::move(secrets));
  size_t n = out.size();
  for (size_t i = 0; i < n; ++i) {
    std::string dumped =
        nlohmann::json(out[i]).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    std::string inner = dumped.substr(1, dumped.size() - 2);
    if (inner != out[i]) out.push_back(std::move(inner));
  }
  return usable(std::move(out));
}

// ---- SecretMasker ------------------------------------------------------------

SecretMasker::SecretMasker(std::vector<std::string> secrets) : secrets_(usable(std::move(secrets))) {}

void SecretMasker::set_secrets(std::vector<std::string> secrets) {
  secrets_ = usable(std::move(secrets));
}

std::string SecretMasker::feed(std::string_view chunk) {
  if (secrets_.empty() && pending_.empty()) return std::string(chunk);
  pending_.append(chunk);
  return take(/*final=*/false);
}

std::string SecretMasker::finish() { return take(/*final=*/true); }

std::string SecretMasker::take(bool final) {
  std::string out;
  ScanEnd end = scan(pending_, 0, pending_.size(), secrets_, pending_covered_, ends_masked_,
                     final, out);
  pending_.erase(0, end.stop);
  pending_covered_ = end.covered_until > end.stop ? end.covered_until - end.stop : 0;
  ends_masked_ = end.ends_masked;
  return out;
}

}  // namespace sluice
