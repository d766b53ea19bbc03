#pragma once
// Small string helpers shared by the loaders and the CLI.

#include <string>
#include <string_view>
#include <vector>

namespace sluice {

/// Levenshtein distance (insert, delete, substitute; each costs 1), where
/// swapping two adjacent characters also costs 1 ("prot" -> "port").
size_t edit_distance(std::string_view a, std::string_view b);

/// The closest candidate to `word`, or "" when none is close enough to be a
/// plausible typo (distance at most max(1, len/3), case-insensitive).
std::string closest_match(std::string_view word, const std::vector<std::string>& candidates);

/// " (did you mean 'X'?)" for the closest candidate, or "" when there is none;
/// meant to be appended to an "unknown key 'foo'" message.
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates);

/// Joins `parts` with `sep` between them.
std::string join(const std::vector<std::string>& parts, std::string_view sep);

/// `text` without leading and trailing whitespace (space, tab, CR, LF, FF, VT).
std::string_view trim(std::string_view text);

/// Splits on every `sep`; empty fields are kept ("a,,b" -> {"a", "", "b"}),
/// and "" gives {""}.
std::vector<std::string> split(std::string_view text, char sep);

/// True when `text` begins / ends with `part`.
bool starts_with(std::string_view text, std::string_view part);
bool ends_with(std::string_view text, std::string_view part);

/// Percent-encodes everything but RFC 3986 unreserved characters.
std::string url_encode(std::string_view text);

/// The offset of the first byte of `text` that is not part of well-formed
/// UTF-8 (overlong forms, surrogates and code points past U+10FFFF are not),
/// or std::string_view::npos when it all is.
size_t find_invalid_utf8(std::string_view text);

/// ASCII lower/upper case copy.
std::string to_lower(std::string_view text);
std::string to_upper(std::string_view text);

}  // namespace sluice
