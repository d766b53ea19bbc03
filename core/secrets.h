#pragma once
// Secret values and where they hide: the password of a URL, and masking
// secrets as `***` in text, JSON and streamed output (SPEC section 1: secrets
// are never printed). The one home of URL masking.

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace sluice {

/// Where the password sits in `scheme://login:PASSWORD@host/...` as written
/// (maybe percent-encoded); {npos, 0} when there is none. The userinfo ends
/// at the authority's last '@': a raw '@' in a password is common enough.
std::pair<size_t, size_t> url_password_span(std::string_view url);

/// `text` with the password of every URL in it replaced by `***`
/// (`postgresql://u:***@h/db`), and every `password=VALUE` of a libpq
/// key=value string too. `text` may be a URL or a message quoting URLs.
std::string mask_url(std::string_view text);

/// `url` with each raw '@' of its userinfo percent-encoded, so that libpq
/// (which ends the userinfo at the first '@') reads the URL as
/// Connection::parse does. Other strings are returned unchanged.
std::string encode_userinfo(const std::string& url);

/// What a message may say about a malformed URL without quoting it (it may be
/// a password pasted in the wrong place): "its scheme is 'mysql'" or "it has
/// no scheme://".
std::string describe_url_safely(std::string_view url);

/// Replaces every occurrence of each non-empty one of `secrets` in `text`
/// with `***`; overlapping and adjacent occurrences become one `***`.
std::string mask_secrets(std::string_view text, const std::vector<std::string>& secrets);

/// `text[begin, end)` masked as a part of `text`: a secret that starts
/// before `begin` or ends after `end` still hides its bytes inside. For slices
/// of a longer text (a log read by offset), so that slices never rebuild a
/// secret when put together.
std::string mask_secrets_slice(std::string_view text, size_t begin, size_t end,
                               const std::vector<std::string>& secrets);

/// Every string (and object key) in `j` with the secrets masked, node by
/// node: the result is still valid JSON whatever a secret contains.
nlohmann::json mask_secrets_json(nlohmann::json j, const std::vector<std::string>& secrets);

/// `secrets` plus the form each takes inside a JSON string when that differs
/// (a secret with a quote, a backslash or a control character), for masking
/// text that may hold JSON.
std::vector<std::string> with_json_forms(std::vector<std::string> secrets);

/// Masks secrets in text that arrives in chunks (a task's output), so that a
/// secret split across chunks is masked too. Holds back only a tail that may
/// be the start of a secret: at most the longest secret's length - 1 bytes.
class SecretMasker {
 public:
  explicit SecretMasker(std::vector<std::string> secrets = {});

  /// Replaces the secrets; what is held back is kept.
  void set_secrets(std::vector<std::string> secrets);
  /// The masked text that is final once `chunk` arrived.
  std::string feed(std::string_view chunk);
  /// The masked rest of what was held back; the masker is empty afterwards.
  std::string finish();
  /// Bytes held back now.
  size_t held() const { return pending_.size(); }

 private:
  std::string take(bool final);

  std::vector<std::string> secrets_;  // non-empty, unique
  std::string pending_;               // not emitted yet, unmasked
  size_t pending_covered_ = 0;        // how many of its first bytes belong to a secret
  bool ends_masked_ = false;          // the output so far ends with `***`
};

}  // namespace sluice
