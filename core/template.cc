#include "core/template.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <utility>

#include "core/error.h"
#include "core/text.h"

namespace sluice {

namespace {

using nlohmann::json;

// Templates come from users' files: bound what one may cost.
constexpr int kMaxNesting = 64;                   // blocks in blocks; brackets in expressions
constexpr int kMaxLinks = 256;                    // operators and filters in one tag
constexpr size_t kMaxOutputBytes = 64 << 20;      // what one render may produce
constexpr uint64_t kMaxLoopIterations = 1000000;  // loop bodies run in one render

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }
bool contains(const std::vector<std::string>& list, std::string_view word) {
  return std::find(list.begin(), list.end(), word) != list.end();
}

// ---- dates ---------------------------------------------------------------

/// The wall-clock fields of a date or ISO timestamp, as written (no zone math:
/// `ts` is already in the DAG's time zone, so its digits are what users want).
struct DateTimeFields {
  std::chrono::year_month_day date;
  int hour = 0, minute = 0, second = 0;
};

bool read_fixed(std::string_view s, size_t* pos, int width, int* out) {
  if (*pos + width > s.size()) return false;
  int value = 0;
  for (int i = 0; i < width; ++i) {
    char c = s[*pos + i];
    if (!is_digit(c)) return false;
    value = value * 10 + (c - '0');
  }
  *pos += width;
  *out = value;
  return true;
}

bool expect_char(std::string_view s, size_t* pos, char c) {
  if (*pos < s.size() && s[*pos] == c) {
    ++*pos;
    return true;
  }
  return false;
}

std::optional<DateTimeFields> parse_date_time(std::string_view s) {
  s = trim(s);
  size_t pos = 0;
  int y, m, d;
  if (!read_fixed(s, &pos, 4, &y) || !expect_char(s, &pos, '-') || !read_fixed(s, &pos, 2, &m) ||
      !expect_char(s, &pos, '-') || !read_fixed(s, &pos, 2, &d)) {
    return std::nullopt;
  }
  DateTimeFields out;
  out.date = std::chrono::year{y} / std::chrono::month{static_cast<unsigned>(m)} /
             std::chrono::day{static_cast<unsigned>(d)};
  if (!out.date.ok()) return std::nullopt;
  if (pos == s.size()) return out;
  if (s[pos] != 'T' && s[pos] != 't' && s[pos] != ' ') return std::nullopt;
  ++pos;
  if (!read_fixed(s, &pos, 2, &out.hour) || !expect_char(s, &pos, ':') ||
      !read_fixed(s, &pos, 2, &out.minute)) {
    return std::nullopt;
  }
  if (expect_char(s, &pos, ':')) {
    if (!read_fixed(s, &pos, 2, &out.second)) return std::nullopt;
    if (expect_char(s, &pos, '.')) {
      size_t digits = 0;
      while (pos < s.size() && is_digit(s[pos])) ++pos, ++digits;
      if (digits == 0) return std::nullopt;
    }
  }
  if (out.hour > 23 || out.minute > 59 || out.second > 60) return std::nullopt;
  if (pos == s.size()) return out;
  if (s[pos] == 'Z' || s[pos] == 'z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    ++pos;
    int oh, om;
    if (!read_fixed(s, &pos, 2, &oh)) return std::nullopt;
    expect_char(s, &pos, ':');
    if (!read_fixed(s, &pos, 2, &om)) return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  return out;
}

void append_padded(std::string* out, long value, int width) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%0*ld", width, value);
  out->append(buf);
}

std::string format_ymd(const std::chrono::year_month_day& ymd) {
  std::string out;
  append_padded(&out, static_cast<int>(ymd.year()), 4);
  out += '-';
  append_padded(&out, static_cast<unsigned>(ymd.month()), 2);
  out += '-';
  append_padded(&out, static_cast<unsigned>(ymd.day()), 2);
  return out;
}

constexpr std::string_view kDateDirectives = "YmdHMSjyFT%";

/// Returns the offset (within `fmt`) of the first unsupported directive, or npos.
size_t find_bad_directive(std::string_view fmt) {
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%') continue;
    if (i + 1 >= fmt.size() || kDateDirectives.find(fmt[i + 1]) == std::string_view::npos) {
      return i;
    }
    ++i;
  }
  return std::string_view::npos;
}

std::string format_fields(const DateTimeFields& f, std::string_view fmt) {
  using namespace std::chrono;
  std::string out;
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%' || i + 1 >= fmt.size()) {
      out += fmt[i];
      continue;
    }
    char c = fmt[++i];
    switch (c) {
      case 'Y':
        append_padded(&out, static_cast<int>(f.date.year()), 4);
        break;
      case 'y':
        append_padded(&out, ((static_cast<int>(f.date.year()) % 100) + 100) % 100, 2);
        break;
      case 'm':
        append_padded(&out, static_cast<unsigned>(f.date.month()), 2);
        break;
      case 'd':
        append_padded(&out, static_cast<unsigned>(f.date.day()), 2);
        break;
      case 'H':
        append_padded(&out, f.hour, 2);
        break;
      case 'M':
        append_padded(&out, f.minute, 2);
        break;
      case 'S':
        append_padded(&out, f.second, 2);
        break;
      case 'j': {
        auto first = sys_days{f.date.year() / January / 1};
        append_padded(&out, (sys_days{f.date} - first).count() + 1, 3);
        break;
      }
      case 'F':
        out += format_ymd(f.date);
        break;
      case 'T':
        append_padded(&out, f.hour, 2);
        out += ':';
        append_padded(&out, f.minute, 2);
        out += ':';
        append_padded(&out, f.second, 2);
        break;
      case '%':
        out += '%';
        break;
      default:  // rejected at parse time; kept literal for safety
        out += '%';
        out += c;
    }
  }
  return out;
}

// ---- values --------------------------------------------------------------

/// How a value appears in rendered text.
std::string to_text(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  // null is a value a user set on purpose (a param of ~); it renders as nothing
  // rather than the word "null" that would leak into commands.
  if (value.is_null()) return "";
  return value.dump();
}

std::string shell_quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  out += '\'';
  return out;
}

std::string sql_quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    out += c;
    if (c == '\'') out += '\'';
  }
  out += '\'';
  return out;
}

std::string sql_literal(const json& value) {
  if (value.is_null()) return "NULL";
  if (value.is_boolean()) return value.get<bool>() ? "TRUE" : "FALSE";
  if (value.is_number()) return value.dump();
  if (value.is_string()) return sql_quote(value.get_ref<const std::string&>());
  return sql_quote(value.dump());
}

/// Reads `text` as laid out by `fmt` (the directives of format_date but %j),
/// for macros.ds_format; nullopt when the text does not match.
std::optional<DateTimeFields> parse_with_format(std::string_view text, std::string_view fmt) {
  int year = 1970, month = 1, day = 1;
  DateTimeFields out;
  size_t pos = 0;
  auto date_part = [&](void) {
    return read_fixed(text, &pos, 4, &year) && expect_char(text, &pos, '-') &&
           read_fixed(text, &pos, 2, &month) && expect_char(text, &pos, '-') &&
           read_fixed(text, &pos, 2, &day);
  };
  auto time_part = [&](void) {
    return read_fixed(text, &pos, 2, &out.hour) && expect_char(text, &pos, ':') &&
           read_fixed(text, &pos, 2, &out.minute) && expect_char(text, &pos, ':') &&
           read_fixed(text, &pos, 2, &out.second);
  };
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%' || i + 1 >= fmt.size()) {
      if (!expect_char(text, &pos, fmt[i])) return std::nullopt;
      continue;
    }
    bool ok = false;
    switch (fmt[++i]) {
      case 'Y':
        ok = read_fixed(text, &pos, 4, &year);
        break;
      case 'y':  // as Python reads it: 69-99 are 1969-1999, 00-68 are 2000-2068
        ok = read_fixed(text, &pos, 2, &year);
        year += year >= 69 ? 1900 : 2000;
        break;
      case 'm':
        ok = read_fixed(text, &pos, 2, &month);
        break;
      case 'd':
        ok = read_fixed(text, &pos, 2, &day);
        break;
      case 'H':
        ok = read_fixed(text, &pos, 2, &out.hour);
        break;
      case 'M':
        ok = read_fixed(text, &pos, 2, &out.minute);
        break;
      case 'S':
        ok = read_fixed(text, &pos, 2, &out.second);
        break;
      case 'F':
        ok = date_part();
        break;
      case 'T':
        ok = time_part();
        break;
      case '%':
        ok = expect_char(text, &pos, '%');
        break;
      default:
        return std::nullopt;
    }
    if (!ok) return std::nullopt;
  }
  if (pos != text.size()) return std::nullopt;
  out.date = std::chrono::year{year} / std::chrono::month{static_cast<unsigned>(month)} /
             std::chrono::day{static_cast<unsigned>(day)};
  if (!out.date.ok() || out.hour > 23 || out.minute > 59 || out.second > 60) return std::nullopt;
  return out;
}

bool truthy(const json& v) {
  if (v.is_null()) return false;
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number_integer()) return v.get<int64_t>() != 0;
  if (v.is_number()) return v.get<double>() != 0;
  if (v.is_string()) return !v.get_ref<const std::string&>().empty();
  if (v.is_array() || v.is_object()) return !v.empty();
  return true;
}

/// "a string", "a number" ... for messages.
std::string type_name(const json& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "a boolean";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_array()) return "a list";
  return "a mapping";
}

std::string ascii_case(std::string s, bool upper) {
  for (char& c : s) {
    if (upper && c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (!upper && c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

/// The UTF-8 characters of `s`, each as a string (a loop over a string).
std::vector<std::string> characters(const std::string& s) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size();) {
    size_t n = 1;
    while (i + n < s.size() && (static_cast<unsigned char>(s[i + n]) & 0xC0) == 0x80) ++n;
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

// ---- errors --------------------------------------------------------------

/// The template's text, to turn offsets into positioned errors.
struct Source {
  Source(std::string_view t, bool multi) : text(t), multi_line(multi) {}

  std::string_view text;
  bool multi_line = false;

  /// position_in(text, offset), from where the last call left off: the
  /// parser asks in text order, and a template may have many names.
  TextPosition position(size_t offset) const {
    offset = std::min(offset, text.size());
    if (offset < cached_offset_) {
      cached_offset_ = 0;
      cached_ = TextPosition{};
    }
    for (size_t i = cached_offset_; i < offset; ++i) {
      if (text[i] == '\n') {
        ++cached_.line;
        cached_.column = 1;
      } else if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
        ++cached_.column;
      }
    }
    cached_offset_ = offset;
    return cached_;
  }

  [[noreturn]] void fail(size_t offset, const std::string& problem) const {
    TextPosition at = position(offset);
    throw TemplateError(problem, at.line, at.column, line_excerpt(text, at.line, at.column),
                        multi_line);
  }
  /// "3:5", to point from one message at another place.
  std::string where(size_t offset) const {
    TextPosition at = position(offset);
    return std::to_string(at.line) + ":" + std::to_string(at.column);
  }

 private:
  mutable size_t cached_offset_ = 0;
  mutable TextPosition cached_;
};

// ---- lexing --------------------------------------------------------------

enum class TokenKind { kName, kNumber, kString, kOp, kEnd };

struct Token {
  TokenKind kind = TokenKind::kEnd;
  std::string text;  // name, operator, number as written; the value of a string
  size_t offset = 0;
};

/// A stretch of the template: text, or the tokens of one `{{ }}` or `{% %}`.
struct Piece {
  enum class Kind { kText, kOutput, kTag, kComment };
  Kind kind = Kind::kText;
  size_t offset = 0;  // of the text, or of the `{{` / `{%`
  std::string text;
  std::vector<Token> tokens;  // ends with a kEnd token at the `}}` / `%}`
};

bool strips(char c) { return c == '-'; }

void rstrip(std::string* s) {
  size_t n = s->size();
  while (n > 0 && is_space((*s)[n - 1])) --n;
  s->resize(n);
}

/// Splits a template into pieces, applying whitespace control (`{%-`, `-%}`)
/// to the text beside each tag as Jinja does: only the text right next to it.
class Lexer {
 public:
  explicit Lexer(const Source& source) : src_(source), text_(source.text) {}

  std::vector<Piece> run() {
    while (pos_ < text_.size()) {
      size_t open = find_open(pos_);
      add_text(pos_, open);
      if (open == text_.size()) break;
      char kind = text_[open + 1];
      if (kind == '#') {
        lex_comment(open);
      } else {
        lex_tag(open, kind == '{' ? Piece::Kind::kOutput : Piece::Kind::kTag);
      }
    }
    return std::move(pieces_);
  }

 private:
  /// The next `{{`, `{%` or `{#` at or after `from`. A `{#` never closed by
  /// `#}` is text (`${#array[@]}` in shell commands), not an error.
  size_t find_open(size_t from) {
    while (true) {
      size_t at = text_.find('{', from);
      if (at == std::string_view::npos || at + 1 >= text_.size()) return text_.size();
      char next = text_[at + 1];
      if (next == '{' || next == '%') return at;
      if (next == '#' && at + 2 < no_comment_close_from_) {
        if (text_.find("#}", at + 2) != std::string_view::npos) return at;
        no_comment_close_from_ = at + 2;  // nor after: no rescan for each `{#`
      }
      from = at + 1;
    }
  }

  void add_text(size_t from, size_t to) {
    std::string text(text_.substr(from, to - from));
    if (strip_next_) {
      size_t n = 0;
      while (n < text.size() && is_space(text[n])) ++n;
      text.erase(0, n);
      from += n;
    }
    strip_next_ = false;
    if (text.empty()) return;
    Piece piece;
    piece.kind = Piece::Kind::kText;
    piece.offset = from;
    piece.text = std::move(text);
    pieces_.push_back(std::move(piece));
  }

  /// `{%-`: the text just before loses its trailing blanks.
  void strip_before() {
    if (!pieces_.empty() && pieces_.back().kind == Piece::Kind::kText &&
        pieces_.back().offset + pieces_.back().text.size() == tag_start_) {
      rstrip(&pieces_.back().text);
      if (pieces_.back().text.empty()) pieces_.pop_back();
    }
  }

  void lex_comment(size_t open) {
    tag_start_ = open;
    size_t close = text_.find("#}", open + 2);
    if (strips(text_[open + 2])) strip_before();
    pos_ = close + 2;
    strip_next_ = close > open + 2 && strips(text_[close - 1]);
    pieces_.push_back(Piece{Piece::Kind::kComment, open, "", {}});  // keeps neighbours apart
  }

  void lex_tag(size_t open, Piece::Kind kind) {
    tag_start_ = open;
    const char close_first = kind == Piece::Kind::kOutput ? '}' : '%';
    const char* what = kind == Piece::Kind::kOutput ? "'{{' is never closed with '}}'"
                                                    : "'{%' is never closed with '%}'";
    pos_ = open + 2;
    if (pos_ < text_.size() && (strips(text_[pos_]) || text_[pos_] == '+')) {
      if (strips(text_[pos_])) strip_before();
      ++pos_;
    }
    Piece piece;
    piece.kind = kind;
    piece.offset = open;
    while (true) {
      while (pos_ < text_.size() && is_space(text_[pos_])) ++pos_;
      if (pos_ >= text_.size()) src_.fail(open, what);
      char c = text_[pos_];
      if ((c == '-' || c == '+') && pos_ + 2 < text_.size() && text_[pos_ + 1] == close_first &&
          text_[pos_ + 2] == '}') {
        piece.tokens.push_back(Token{TokenKind::kEnd, "", pos_});
        strip_next_ = c == '-';
        pos_ += 3;
        break;
      }
      if (c == close_first && pos_ + 1 < text_.size() && text_[pos_ + 1] == '}') {
        piece.tokens.push_back(Token{TokenKind::kEnd, "", pos_});
        pos_ += 2;
        break;
      }
      piece.tokens.push_back(lex_token(open, what));
    }
    bool raw = kind == Piece::Kind::kTag && piece.tokens.size() == 2 &&
               piece.tokens[0].kind == TokenKind::kName && piece.tokens[0].text == "raw";
    pieces_.push_back(std::move(piece));
    if (raw) lex_raw(open);
  }

  /// After `{% raw %}`: everything up to `{% endraw %}` is text.
  void lex_raw(size_t open) {
    size_t from = pos_;
    for (size_t at = text_.find("{%", from); at != std::string_view::npos;
         at = text_.find("{%", at + 2)) {
      size_t p = at + 2;
      bool strip = p < text_.size() && strips(text_[p]);
      if (p < text_.size() && (strip || text_[p] == '+')) ++p;
      while (p < text_.size() && is_space(text_[p])) ++p;
      if (text_.substr(p, 6) != "endraw") continue;
      p += 6;
      while (p < text_.size() && is_space(text_[p])) ++p;
      bool strip_after = p < text_.size() && strips(text_[p]);
      if (p < text_.size() && (strip_after || text_[p] == '+')) ++p;
      if (text_.substr(p, 2) != "%}") continue;
      add_text(from, at);
      tag_start_ = at;
      if (strip) strip_before();
      Piece end;
      end.kind = Piece::Kind::kTag;
      end.offset = at;
      end.tokens.push_back(Token{TokenKind::kName, "endraw", at});
      end.tokens.push_back(Token{TokenKind::kEnd, "", p});
      pieces_.push_back(std::move(end));
      pos_ = p + 2;
      strip_next_ = strip_after;
      return;
    }
    src_.fail(open, "'{% raw %}' at " + src_.where(open) + " is never closed; add {% endraw %}");
  }

  Token lex_token(size_t open, const char* unclosed) {
    Token token;
    token.offset = pos_;
    char c = text_[pos_];
    if (c == '\'' || c == '"') {
      token.kind = TokenKind::kString;
      ++pos_;
      while (pos_ < text_.size() && text_[pos_] != c) {
        // A backslash escapes the quote or itself; elsewhere it stays, so
        // Windows paths and regexes pass through unchanged.
        if (text_[pos_] == '\\' && pos_ + 1 < text_.size() &&
            (text_[pos_ + 1] == c || text_[pos_ + 1] == '\\')) {
          ++pos_;
        }
        token.text += text_[pos_++];
      }
      if (pos_ >= text_.size()) {
        src_.fail(token.offset, std::string("string is never closed; ") + unclosed);
      }
      ++pos_;
      return token;
    }
    if (is_digit(c)) {
      token.kind = TokenKind::kNumber;
      size_t start = pos_;
      while (pos_ < text_.size() && is_digit(text_[pos_])) ++pos_;
      if (pos_ + 1 < text_.size() && text_[pos_] == '.' && is_digit(text_[pos_ + 1])) {
        ++pos_;
        while (pos_ < text_.size() && is_digit(text_[pos_])) ++pos_;
      }
      token.text = std::string(text_.substr(start, pos_ - start));
      return token;
    }
    if (is_name_start(c)) {
      token.kind = TokenKind::kName;
      size_t start = pos_;
      // Task ids may hold '-' (outputs.load-files.rows): a '-' between name
      // characters stays in the name. Sluice templates have no arithmetic.
      while (pos_ < text_.size() &&
             (is_name_char(text_[pos_]) ||
              (text_[pos_] == '-' && pos_ + 1 < text_.size() && is_name_char(text_[pos_ + 1])))) {
        ++pos_;
      }
      token.text = std::string(text_.substr(start, pos_ - start));
      return token;
    }
    static const char* kTwo[] = {"==", "!=", "<=", ">="};
    for (const char* op : kTwo) {
      if (text_.substr(pos_, 2) == op) {
        token.kind = TokenKind::kOp;
        token.text = op;
        pos_ += 2;
        return token;
      }
    }
    if (std::string_view("()[],.|=<>-+~:*/%{}!").find(c) != std::string_view::npos) {
      token.kind = TokenKind::kOp;
      token.text = std::string(1, c);
      ++pos_;
      return token;
    }
    (void)open;
    src_.fail(pos_, std::string("unexpected character '") + c + "'");
  }

  const Source& src_;
  std::string_view text_;
  size_t pos_ = 0;
  size_t tag_start_ = 0;
  bool strip_next_ = false;
  size_t no_comment_close_from_ = std::string_view::npos;  // no `#}` at or after it
  std::vector<Piece> pieces_;
};

// ---- the parsed form -----------------------------------------------------

enum class FilterKind {
  kDsAdd,
  kFormatDate,
  kDefault,
  kShellQuote,
  kSqlLiteral,
  kJoin,
  kUpper,
  kLower,
  kReplace,
  kLength,
};

const std::vector<std::string>& filter_names() {
  static const std::vector<std::string> names = {
      "ds_add", "format_date", "default", "shell_quote", "sql_literal",
      "join",   "upper",       "lower",   "replace",     "length"};
  return names;
}

/// One filter application with its already-checked arguments.
struct Filter {
  FilterKind kind = FilterKind::kDefault;
  std::string name;
  std::vector<json> args;
  size_t offset = 0;
};

struct Expr;
using ExprPtr = std::shared_ptr<const Expr>;

/// An expression. Trees are immutable once parsed, so copies of a Template
/// share them.
struct Expr {
  enum class Kind {
    kLiteral,    // literal
    kList,       // items
    kPath,       // root name . parts (constant keys): a name from the context or a local
    kItem,       // items[0][items[1]]
    kNot,        // not items[0]
    kAnd,        // items[0] and items[1]
    kOr,         // items[0] or items[1]
    kCompare,    // items[0] ops[0] items[1] ops[1] items[2] ...
    kTest,       // items[0] is [not] op
    kFilter,     // items[0] | filter
    kCondition,  // items[0] if items[1] else items[2] (items[2] may be null)
    kDsFormat,   // macros.ds_format(items[0], args[0], args[1])
  };
  Kind kind = Kind::kLiteral;
  size_t offset = 0;
  json literal;
  std::vector<ExprPtr> items;
  std::vector<std::string> path;  // kPath: root first
  int reference = -1;             // kPath: index in references(), -1 for a local
  std::vector<std::string> ops;
  bool negated = false;  // kTest
  Filter filter;         // kFilter; kDsFormat keeps its formats in filter.args
};

struct Node;
using NodePtr = std::shared_ptr<const Node>;
using Body = std::vector<NodePtr>;

/// A statement: text, `{{ }}`, `{% if %}`, `{% for %}` or `{% set %}`.
struct Node {
  enum class Kind { kText, kOutput, kIf, kFor, kSet, kSetBlock };
  Kind kind = Kind::kText;
  size_t offset = 0;
  std::string text;                                // kText
  ExprPtr expr;                                    // kOutput, kFor (the list), kSet
  std::vector<std::pair<ExprPtr, Body>> branches;  // kIf; the else branch has no condition
  std::string name;                                // kFor (the variable), kSet, kSetBlock
  Body body, else_body;                            // kFor, kSetBlock (body)
};

// ---- parsing -------------------------------------------------------------

const std::vector<std::string>& tag_names() {
  static const std::vector<std::string> names = {"if",     "elif", "else",   "endif", "for",
                                                 "endfor", "set",  "endset", "raw",   "endraw"};
  return names;
}

/// Turns pieces into statements, checking everything that can be checked
/// before rendering: tags, names, filters and their arguments.
class Parser {
 public:
  Parser(const Source& source, std::vector<Piece> pieces, std::vector<TemplateReference>* refs)
      : src_(source), pieces_(std::move(pieces)), refs_(refs) {}

  Body parse() {
    scopes_.emplace_back();
    Body body = parse_body(nullptr);
    return body;
  }

 private:
  struct OpenBlock {
    std::string tag;  // "if", "for", "set"
    size_t offset;
  };

  /// Statements up to a tag that ends `open` (left as the current piece), or
  /// to the end of the template when `open` is null.
  Body parse_body(const OpenBlock* open) {
    Body body;
    while (index_ < pieces_.size()) {
      const Piece& piece = pieces_[index_];
      if (piece.kind == Piece::Kind::kText) {
        auto node = std::make_shared<Node>();
        node->kind = Node::Kind::kText;
        node->offset = piece.offset;
        node->text = piece.text;
        body.push_back(std::move(node));
        ++index_;
        continue;
      }
      if (piece.kind == Piece::Kind::kComment) {
        ++index_;
        continue;
      }
      start_piece();
      if (piece.kind == Piece::Kind::kOutput) {
        if (at_end()) src_.fail(piece.offset, "empty expression '{{ }}'");
        auto node = std::make_shared<Node>();
        node->kind = Node::Kind::kOutput;
        node->offset = piece.offset;
        node->expr = parse_expression();
        expect_end("'|' or '}}'");
        body.push_back(std::move(node));
        ++index_;
        continue;
      }
      // A tag.
      if (at_end())
        src_.fail(piece.offset,
                  "empty tag '{% %}'; write {% if ... %}, {% for ... %} or {% set ... %}");
      const Token& word = token();
      if (word.kind != TokenKind::kName) {
        src_.fail(word.offset,
                  "expected a tag name (if, for, set) after '{%', found '" + word.text + "'");
      }
      const std::string& tag = word.text;
      if (tag == "elif" || tag == "else" || tag == "endif" || tag == "endfor" || tag == "endset" ||
          tag == "endraw") {
        if (open != nullptr && closes(*open, tag)) return body;
        mismatched(open, word);
      }
      ++at_;
      if (static_cast<int>(open_blocks_) >= kMaxNesting) {
        src_.fail(piece.offset,
                  "blocks are nested more than " + std::to_string(kMaxNesting) + " deep");
      }
      if (tag == "if") {
        body.push_back(parse_if());
      } else if (tag == "for") {
        body.push_back(parse_for());
      } else if (tag == "set") {
        body.push_back(parse_set());
      } else if (tag == "raw") {
        expect_end("'%}' after 'raw'");
        ++index_;  // the raw text, then the endraw the lexer found
        while (index_ < pieces_.size() && pieces_[index_].kind == Piece::Kind::kText) {
          auto node = std::make_shared<Node>();
          node->kind = Node::Kind::kText;
          node->offset = pieces_[index_].offset;
          node->text = pieces_[index_].text;
          body.push_back(std::move(node));
          ++index_;
        }
        ++index_;
      } else {
        static const std::vector<std::string> unsupported = {
            "macro",  "call", "block",      "extends", "include", "import",  "from",
            "filter", "with", "autoescape", "do",      "break",   "continue"};
        if (contains(unsupported, tag)) {
          src_.fail(word.offset, "'{% " + tag +
                                     " %}' is not supported; Sluice templates have if/elif/else, "
                                     "for, set, raw and {# comments #}");
        }
        src_.fail(word.offset, "unknown tag '" + tag + "'" + did_you_mean(tag, tag_names()) +
                                   "; tags are if, elif, else, endif, for, endfor, set, raw");
      }
    }
    if (open != nullptr) {
      std::string end = "end" + open->tag;
      src_.fail(open->offset, "'{% " + open->tag + " %}' at " + src_.where(open->offset) +
                                  " is never closed; add {% " + end + " %}");
    }
    return body;
  }

  static bool closes(const OpenBlock& open, const std::string& tag) {
    if (open.tag == "if") return tag == "elif" || tag == "else" || tag == "endif";
    if (open.tag == "for") return tag == "else" || tag == "endfor";
    if (open.tag == "set") return tag == "endset";
    return false;
  }

  [[noreturn]] void mismatched(const OpenBlock* open, const Token& word) {
    std::string tag = word.text;
    std::string opener = tag == "elif" || tag == "else" || tag == "endif" ? "if"
                         : tag == "endfor"                                ? "for"
                         : tag == "endraw"                                ? "raw"
                                                                          : "set";
    if (tag == "else" && open == nullptr) opener = "if";
    if (open == nullptr) {
      src_.fail(word.offset, "'{% " + tag + " %}' has no '{% " + opener + " %}' before it");
    }
    src_.fail(word.offset, "'{% " + tag + " %}' found while '{% " + open->tag + " %}' at " +
                               src_.where(open->offset) + " is open; close it with {% end" +
                               open->tag + " %} first");
  }

  NodePtr parse_if() {
    auto node = std::make_shared<Node>();
    node->kind = Node::Kind::kIf;
    node->offset = pieces_[index_].offset;
    OpenBlock open{"if", node->offset};
    ExprPtr condition = parse_expression();
    expect_end("'%}' after the condition");
    bool seen_else = false;
    while (true) {
      ++index_;
      ++open_blocks_;
      Body body = parse_body(&open);
      --open_blocks_;
      node->branches.emplace_back(condition, std::move(body));
      start_piece();
      const Token& word = token();
      if (word.text == "endif") {
        ++at_;
        expect_end("'%}' after 'endif'");
        ++index_;
        return node;
      }
      if (seen_else) {
        src_.fail(word.offset, "'{% " + word.text +
                                   " %}' after '{% else %}'; the else branch "
                                   "comes last, then {% endif %}");
      }
      ++at_;
      if (word.text == "elif") {
        condition = parse_expression();
        expect_end("'%}' after the condition");
      } else {
        seen_else = true;
        condition = nullptr;
        expect_end("'%}' after 'else'");
      }
    }
  }

  NodePtr parse_for() {
    auto node = std::make_shared<Node>();
    node->kind = Node::Kind::kFor;
    node->offset = pieces_[index_].offset;
    const Token& var = token();
    if (var.kind != TokenKind::kName || is_keyword(var.text)) {
      src_.fail(var.offset, "expected a variable name after 'for', as in {% for x in list %}");
    }
    node->name = var.text;
    ++at_;
    if (token().kind == TokenKind::kOp && token().text == ",") {
      src_.fail(token().offset,
                "loops over pairs (for a, b in ...) are not supported; loop over "
                "one name");
    }
    if (token().text != "in" || token().kind != TokenKind::kName) {
      src_.fail(token().offset, "expected 'in' after 'for " + node->name + "'");
    }
    ++at_;
    node->expr = parse_expression();
    expect_end("'%}' after the list");
    OpenBlock open{"for", node->offset};
    ++index_;
    scopes_.emplace_back(std::set<std::string>{node->name, "loop"});
    ++open_blocks_;
    node->body = parse_body(&open);
    scopes_.pop_back();
    start_piece();
    if (token().text == "else") {
      ++at_;
      expect_end("'%}' after 'else'");
      ++index_;
      node->else_body = parse_body(&open);
      start_piece();
      if (token().text != "endfor") mismatched(&open, token());
    }
    --open_blocks_;
    ++at_;
    expect_end("'%}' after 'endfor'");
    ++index_;
    return node;
  }

  NodePtr parse_set() {
    auto node = std::make_shared<Node>();
    node->offset = pieces_[index_].offset;
    const Token& var = token();
    if (var.kind != TokenKind::kName || is_keyword(var.text)) {
      src_.fail(var.offset, "expected a name after 'set', as in {% set name = 'value' %}");
    }
    node->name = var.text;
    ++at_;
    if (token().kind == TokenKind::kEnd) {
      // {% set name %}text{% endset %}
      node->kind = Node::Kind::kSetBlock;
      OpenBlock open{"set", node->offset};
      ++index_;
      ++open_blocks_;
      node->body = parse_body(&open);
      --open_blocks_;
      start_piece();
      ++at_;
      expect_end("'%}' after 'endset'");
    } else {
      node->kind = Node::Kind::kSet;
      if (token().text != "=") {
        src_.fail(token().offset, "expected '=' after 'set " + node->name + "'");
      }
      ++at_;
      if (at_end()) src_.fail(token().offset, "expected a value after '='");
      node->expr = parse_expression();
      expect_end("'%}' after the value");
    }
    scopes_.back().insert(node->name);
    ++index_;
    return node;
  }

  // ---- expressions ----

  void start_piece() {
    at_ = 0;
    links_ = 0;
  }

  /// Bounds `a and b and ...`, `x | f | g ...` and `x[a][b]...`: each link
  /// is a level of recursion when the expression is evaluated.
  void link(size_t offset) {
    if (++links_ > kMaxLinks) {
      src_.fail(offset, "the expression has more than " + std::to_string(kMaxLinks) +
                            " operators, filters or subscripts; split it with {% set %}");
    }
  }
  const Token& token() const { return pieces_[index_].tokens[at_]; }
  bool at_end() const { return token().kind == TokenKind::kEnd; }
  bool at_op(std::string_view op) const {
    return token().kind == TokenKind::kOp && token().text == op;
  }
  bool at_word(std::string_view word) const {
    return token().kind == TokenKind::kName && token().text == word;
  }
  static bool is_keyword(const std::string& s) {
    return s == "in" || s == "not" || s == "and" || s == "or" || s == "is" || s == "if" ||
           s == "else" || s == "true" || s == "false" || s == "none" || s == "null" ||
           s == "True" || s == "False" || s == "None";
  }

  std::string found() const {
    if (at_end()) {
      return pieces_[index_].kind == Piece::Kind::kOutput ? "'}}'" : "'%}'";
    }
    return "'" + token().text + "'";
  }

  void expect_end(const std::string& expected) {
    if (!at_end()) {
      src_.fail(token().offset, "expected " + expected + ", found " + found());
    }
  }

  void expect_op(std::string_view op, const std::string& context) {
    if (!at_op(op)) {
      src_.fail(token().offset,
                "expected '" + std::string(op) + "' " + context + ", found " + found());
    }
    ++at_;
  }

  /// Bounds brackets and `not not ...` by the nesting limit.
  struct Depth {
    explicit Depth(Parser* p, size_t offset) : parser(p) {
      if (++parser->depth_ > kMaxNesting) {
        parser->src_.fail(
            offset, "the expression is nested more than " + std::to_string(kMaxNesting) + " deep");
      }
    }
    ~Depth() { --parser->depth_; }
    Parser* parser;
  };

  static ExprPtr make(Expr::Kind kind, size_t offset, std::vector<ExprPtr> items) {
    auto e = std::make_shared<Expr>();
    e->kind = kind;
    e->offset = offset;
    e->items = std::move(items);
    return e;
  }

  ExprPtr parse_expression() {
    Depth depth(this, token().offset);
    size_t offset = token().offset;
    ExprPtr value = parse_or();
    if (at_word("if")) {
      ++at_;
      ExprPtr condition = parse_or();
      ExprPtr otherwise;
      if (at_word("else")) {
        ++at_;
        otherwise = parse_expression();
      }
      return make(Expr::Kind::kCondition, offset, {value, condition, otherwise});
    }
    return value;
  }

  ExprPtr parse_or() {
    ExprPtr left = parse_and();
    while (at_word("or")) {
      size_t offset = token().offset;
      link(offset);
      ++at_;
      left = make(Expr::Kind::kOr, offset, {left, parse_and()});
    }
    return left;
  }

  ExprPtr parse_and() {
    ExprPtr left = parse_not();
    while (at_word("and")) {
      size_t offset = token().offset;
      link(offset);
      ++at_;
      left = make(Expr::Kind::kAnd, offset, {left, parse_not()});
    }
    return left;
  }

  ExprPtr parse_not() {
    if (at_word("not")) {
      size_t offset = token().offset;
      Depth depth(this, offset);
      ++at_;
      return make(Expr::Kind::kNot, offset, {parse_not()});
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    size_t offset = token().offset;
    ExprPtr first = parse_filtered();
    auto e = std::make_shared<Expr>();
    e->kind = Expr::Kind::kCompare;
    e->offset = offset;
    e->items.push_back(first);
    while (true) {
      std::string op;
      if (token().kind == TokenKind::kOp &&
          (token().text == "==" || token().text == "!=" || token().text == "<" ||
           token().text == "<=" || token().text == ">" || token().text == ">=")) {
        op = token().text;
        ++at_;
      } else if (at_word("in")) {
        op = "in";
        ++at_;
      } else if (at_word("not") && at_ + 1 < pieces_[index_].tokens.size() &&
                 pieces_[index_].tokens[at_ + 1].kind == TokenKind::kName &&
                 pieces_[index_].tokens[at_ + 1].text == "in") {
        op = "not in";
        at_ += 2;
      } else if (token().kind == TokenKind::kOp && token().text == "=") {
        src_.fail(token().offset, "'=' assigns; compare with '=='");
      } else {
        break;
      }
      link(token().offset);
      e->ops.push_back(op);
      e->items.push_back(parse_filtered());
    }
    if (e->ops.empty()) return first;
    return e;
  }

  ExprPtr parse_filtered() {
    ExprPtr value = parse_postfix();
    if (token().kind == TokenKind::kOp && token().text.size() == 1 &&
        std::string_view("+-*/%~").find(token().text[0]) != std::string_view::npos) {
      src_.fail(token().offset, "arithmetic ('" + token().text +
                                    "') is not supported in templates; compute the value "
                                    "before the run (a param, an upstream output)");
    }
    while (at_op("|")) {
      link(token().offset);
      ++at_;
      value = parse_filter(value);
    }
    if (at_word("is")) {
      auto e = std::make_shared<Expr>();
      e->kind = Expr::Kind::kTest;
      e->offset = token().offset;
      ++at_;
      if (at_word("not")) {
        e->negated = true;
        ++at_;
      }
      if (token().kind != TokenKind::kName ||
          !contains({"defined", "undefined", "none"}, token().text)) {
        src_.fail(token().offset, "unknown test " + found() +
                                      "; tests are 'is defined', 'is undefined' and 'is none'");
      }
      e->ops.push_back(token().text);
      ++at_;
      if (e->ops[0] != "none") guard(value);
      e->items.push_back(value);
      value = e;
    }
    return value;
  }

  /// `name | default(...)` and `name is defined` make a missing name fine.
  void guard(const ExprPtr& e) {
    if (e->kind == Expr::Kind::kPath && e->reference >= 0) {
      (*refs_)[e->reference].has_default = true;
    }
    if (e->kind == Expr::Kind::kFilter) guard(e->items[0]);
  }

  /// Every filter under `e` of a path, for references().
  static void note_filter(std::vector<TemplateReference>& refs, const Expr& e,
                          const std::string& name) {
    const Expr* base = &e;
    while (base->kind == Expr::Kind::kFilter) base = base->items[0].get();
    if (base->kind == Expr::Kind::kPath && base->reference >= 0) {
      refs[base->reference].filters.push_back(name);
    }
  }

  ExprPtr parse_filter(const ExprPtr& input) {
    const Token& word = token();
    if (word.kind != TokenKind::kName) {
      src_.fail(word.offset, "expected a filter name after '|', found " + found());
    }
    auto e = std::make_shared<Expr>();
    e->kind = Expr::Kind::kFilter;
    e->offset = word.offset;
    Filter& filter = e->filter;
    filter.name = word.text;
    filter.offset = word.offset;
    static const std::map<std::string, FilterKind> kinds = {
        {"ds_add", FilterKind::kDsAdd},
        {"format_date", FilterKind::kFormatDate},
        {"default", FilterKind::kDefault},
        {"shell_quote", FilterKind::kShellQuote},
        {"sql_literal", FilterKind::kSqlLiteral},
        {"join", FilterKind::kJoin},
        {"upper", FilterKind::kUpper},
        {"lower", FilterKind::kLower},
        {"replace", FilterKind::kReplace},
        {"length", FilterKind::kLength}};
    auto kind = kinds.find(filter.name);
    if (kind == kinds.end()) {
      src_.fail(word.offset, "unknown filter '" + filter.name + "'" +
                                 did_you_mean(filter.name, filter_names()) + "; filters are " +
                                 join(filter_names(), ", "));
    }
    filter.kind = kind->second;
    ++at_;
    std::vector<size_t> offsets;
    if (at_op("(")) {
      ++at_;
      if (at_op(")")) {
        ++at_;
      } else {
        while (true) {
          offsets.push_back(token().offset);
          filter.args.push_back(parse_literal("filter arguments"));
          if (at_op(",")) {
            ++at_;
            continue;
          }
          if (at_op(")")) {
            ++at_;
            break;
          }
          src_.fail(token().offset, "expected ',' or ')' in filter arguments, found " + found());
        }
      }
    }
    const std::vector<json>& args = filter.args;
    auto want_args = [&](size_t least, size_t most, const char* takes) {
      if (args.size() < least || args.size() > most) {
        src_.fail(word.offset, "filter '" + filter.name + "' takes " + takes + ", got " +
                                   std::to_string(args.size()));
      }
    };
    auto want_string = [&](size_t i, const std::string& example) {
      if (!args[i].is_string()) {
        src_.fail(offsets[i], "filter '" + filter.name + "' needs a quoted text, e.g. " + example);
      }
    };
    switch (filter.kind) {
      case FilterKind::kDsAdd:
        want_args(1, 1, "one argument");
        if (!args[0].is_number_integer()) {
          src_.fail(offsets[0], "ds_add needs a whole number of days, e.g. ds_add(-1)");
        }
        break;
      case FilterKind::kFormatDate:
        want_args(1, 1, "one argument");
        if (!args[0].is_string()) {
          src_.fail(offsets[0], "format_date needs a quoted format, e.g. format_date('%Y/%m/%d')");
        }
        check_date_format(args[0].get_ref<const std::string&>(), offsets[0], "format_date");
        break;
      case FilterKind::kDefault:
        want_args(1, 1, "one argument");
        guard(input);
        break;
      case FilterKind::kJoin:
        want_args(0, 1, "at most one argument");
        if (!args.empty()) want_string(0, "join(', ')");
        break;
      case FilterKind::kReplace:
        want_args(2, 3, "two or three arguments");
        want_string(0, "replace('-', '_')");
        want_string(1, "replace('-', '_')");
        if (args.size() == 3 && !args[2].is_number_integer()) {
          src_.fail(offsets[2], "replace's third argument is how many to replace, a whole number");
        }
        break;
      case FilterKind::kShellQuote:
      case FilterKind::kSqlLiteral:
      case FilterKind::kUpper:
      case FilterKind::kLower:
      case FilterKind::kLength:
        want_args(0, 0, "no arguments");
        break;
    }
    note_filter(*refs_, *input, filter.name);
    e->items.push_back(input);
    return e;
  }

  void check_date_format(const std::string& fmt, size_t offset, const std::string& who) {
    size_t bad = find_bad_directive(fmt);
    if (bad != std::string_view::npos) {
      src_.fail(offset, who + ": unsupported directive '" + fmt.substr(bad, 2) +
                            "' (supported: %Y %m %d %H %M %S %j %y %F %T %%)");
    }
  }

  /// A quoted string, a number, true, false or null (for filter arguments).
  json parse_literal(const char* where) {
    const Token& t = token();
    if (t.kind == TokenKind::kString) {
      ++at_;
      return t.text;
    }
    bool negative = false;
    size_t start = t.offset;
    if ((at_op("-") || at_op("+")) && at_ + 1 < pieces_[index_].tokens.size() &&
        pieces_[index_].tokens[at_ + 1].kind == TokenKind::kNumber) {
      negative = t.text == "-";
      ++at_;
    }
    if (token().kind == TokenKind::kNumber) {
      std::string number = (negative ? "-" : "") + token().text;
      ++at_;
      try {
        if (number.find('.') != std::string::npos) return std::stod(number);
        return std::stoll(number);
      } catch (const std::exception&) {
        src_.fail(start, "number '" + number + "' is out of range");
      }
    }
    if (t.kind == TokenKind::kName) {
      const std::string& word = t.text;
      ++at_;
      if (word == "true" || word == "True") return true;
      if (word == "false" || word == "False") return false;
      if (word == "null" || word == "none" || word == "None") return nullptr;
      src_.fail(start, std::string(where) +
                           " must be quoted strings, numbers, true, false or null; got '" + word +
                           "'");
    }
    if (t.kind == TokenKind::kEnd) {
      src_.fail(start, std::string("expected a value in ") + where + ", found " + found());
    }
    src_.fail(start, "unexpected '" + t.text + "' in " + where);
  }

  ExprPtr parse_postfix() {
    ExprPtr value = parse_primary();
    while (true) {
      if (at_op(".")) {
        size_t offset = token().offset;
        ++at_;
        const Token& part = token();
        if (part.kind != TokenKind::kName && part.kind != TokenKind::kNumber) {
          src_.fail(part.offset, "malformed name: expected a name after '.', found " + found());
        }
        ++at_;
        for (const std::string& key : split(part.text, '.')) {
          value = member(value, key, offset);
        }
      } else if (at_op("[")) {
        size_t offset = token().offset;
        link(offset);
        Depth depth(this, offset);
        ++at_;
        ExprPtr key = parse_expression();
        expect_op("]", "to close '['");
        if (key->kind == Expr::Kind::kLiteral &&
            (key->literal.is_string() ||
             (key->literal.is_number_integer() && key->literal.get<int64_t>() >= 0))) {
          std::string name =
              key->literal.is_string() ? key->literal.get<std::string>() : key->literal.dump();
          value = member(value, name, offset);
        } else {
          value = make(Expr::Kind::kItem, offset, {value, key});
        }
      } else {
        return value;
      }
    }
  }

  /// `value.key`: a longer path when `value` is a path, else an item lookup.
  ExprPtr member(const ExprPtr& value, const std::string& key, size_t offset) {
    if (value->kind == Expr::Kind::kPath) {
      auto e = std::make_shared<Expr>(*value);
      e->path.push_back(key);
      if (e->reference >= 0) (*refs_)[e->reference].name += "." + key;
      return e;
    }
    auto literal = std::make_shared<Expr>();
    literal->kind = Expr::Kind::kLiteral;
    literal->offset = offset;
    literal->literal = key;
    return make(Expr::Kind::kItem, offset, {value, literal});
  }

  bool is_local(const std::string& name) const {
    for (const auto& scope : scopes_) {
      if (scope.count(name)) return true;
    }
    return false;
  }

  ExprPtr parse_primary() {
    const Token& t = token();
    size_t offset = t.offset;
    if (t.kind == TokenKind::kEnd) {
      src_.fail(offset, "expected a value, found " + found());
    }
    if (t.kind == TokenKind::kString || t.kind == TokenKind::kNumber || at_op("-") || at_op("+") ||
        (t.kind == TokenKind::kName &&
         contains({"true", "false", "True", "False", "none", "None", "null"}, t.text))) {
      if ((at_op("-") || at_op("+")) &&
          (at_ + 1 >= pieces_[index_].tokens.size() ||
           pieces_[index_].tokens[at_ + 1].kind != TokenKind::kNumber)) {
        src_.fail(offset, "arithmetic is not supported in templates; '" + t.text +
                              "' may only sign a number");
      }
      auto e = std::make_shared<Expr>();
      e->kind = Expr::Kind::kLiteral;
      e->offset = offset;
      e->literal = parse_literal("expressions");
      return e;
    }
    if (at_op("(")) {
      Depth depth(this, offset);
      ++at_;
      ExprPtr inner = parse_expression();
      expect_op(")", "to close '('");
      return inner;
    }
    if (at_op("[")) {
      Depth depth(this, offset);
      ++at_;
      std::vector<ExprPtr> items;
      while (!at_op("]")) {
        items.push_back(parse_expression());
        if (at_op(",")) {
          ++at_;
          continue;
        }
        if (!at_op("]")) {
          src_.fail(token().offset, "expected ',' or ']' in the list, found " + found());
        }
      }
      ++at_;
      return make(Expr::Kind::kList, offset, std::move(items));
    }
    if (t.kind != TokenKind::kName) {
      if (pieces_[index_].kind == Piece::Kind::kOutput && at_ == 0) {
        src_.fail(offset, "expected a name, found " + found());
      }
      src_.fail(offset, "expected a value, found " + found());
    }
    if (is_keyword(t.text)) src_.fail(offset, "expected a value, found '" + t.text + "'");
    if (t.text == "macros" && !is_local("macros")) return parse_macro();
    if (t.text == "loop" && !is_local("loop")) {
      src_.fail(offset, "'loop' is only defined inside {% for %} ... {% endfor %}");
    }
    ++at_;
    auto e = std::make_shared<Expr>();
    e->kind = Expr::Kind::kPath;
    e->offset = offset;
    e->path.push_back(t.text);
    if (!is_local(t.text)) {
      TemplateReference ref;
      ref.name = t.text;
      ref.offset = pieces_[index_].offset;
      TextPosition at = src_.position(offset);
      ref.line = at.line;
      ref.column = at.column;
      e->reference = static_cast<int>(refs_->size());
      refs_->push_back(std::move(ref));
    }
    return e;
  }

  /// `macros.ds_add(ds, -1)` and `macros.ds_format(ds, '%Y-%m-%d', '%Y/%m/%d')`.
  ExprPtr parse_macro() {
    size_t offset = token().offset;
    ++at_;
    std::string name;
    if (at_op(".")) {
      ++at_;
      if (token().kind == TokenKind::kName) name = token().text;
    }
    static const std::vector<std::string> macros = {"ds_add", "ds_format"};
    if (!contains(macros, name)) {
      src_.fail(offset, (name.empty()
                             ? std::string("'macros' needs a macro name")
                             : "unknown macro 'macros." + name + "'" + did_you_mean(name, macros)) +
                            "; macros are macros.ds_add(ds, N) and "
                            "macros.ds_format(ds, '%Y-%m-%d', '%Y/%m/%d')");
    }
    ++at_;
    expect_op("(", "after 'macros." + name + "'");
    ExprPtr value = parse_expression();
    std::vector<json> args;
    std::vector<size_t> offsets;
    while (at_op(",")) {
      ++at_;
      offsets.push_back(token().offset);
      args.push_back(parse_literal("macro arguments"));
    }
    expect_op(")", "to close 'macros." + name + "('");
    auto e = std::make_shared<Expr>();
    e->offset = offset;
    e->items.push_back(value);
    e->filter.name = "macros." + name;
    e->filter.offset = offset;
    if (name == "ds_add") {
      if (args.size() != 1 || !args[0].is_number_integer()) {
        src_.fail(offset,
                  "macros.ds_add takes a date and a whole number of days, e.g. "
                  "macros.ds_add(ds, -1)");
      }
      e->kind = Expr::Kind::kFilter;
      e->filter.kind = FilterKind::kDsAdd;
      e->filter.args = args;
      note_filter(*refs_, *value, "ds_add");
      return e;
    }
    if (args.size() != 2 || !args[0].is_string() || !args[1].is_string()) {
      src_.fail(offset,
                "macros.ds_format takes a date, its format and the new format, e.g. "
                "macros.ds_format(ds, '%Y-%m-%d', '%Y/%m/%d')");
    }
    for (size_t i = 0; i < 2; ++i) {
      const std::string& fmt = args[i].get_ref<const std::string&>();
      check_date_format(fmt, offsets[i], "macros.ds_format");
      if (i == 0 && fmt.find("%j") != std::string::npos) {
        src_.fail(offsets[i], "macros.ds_format: '%j' cannot be read, only written");
      }
    }
    e->kind = Expr::Kind::kDsFormat;
    e->filter.kind = FilterKind::kFormatDate;
    e->filter.args = args;
    note_filter(*refs_, *value, "format_date");
    return e;
  }

  const Source& src_;
  std::vector<Piece> pieces_;
  std::vector<TemplateReference>* refs_;
  size_t index_ = 0;  // the current piece
  size_t at_ = 0;     // the current token in it
  int depth_ = 0;
  int links_ = 0;  // in the current tag
  size_t open_blocks_ = 0;
  std::vector<std::set<std::string>> scopes_;  // names bound by for and set
};

}  // namespace

/// The parsed form: statements, and the names they read.
struct Template::Impl {
  std::string source;
  bool multi_line = false;
  Body body;
  std::vector<TemplateReference> references;
};

namespace {

/// The value of an expression, or why there is none: a missing name is an
/// error only where its value is used, so `default` and `is defined` can
/// stand in for it.
struct Value {
  std::optional<json> value;
  size_t offset = 0;
  std::string problem;
};

Value present(json v) { return Value{std::move(v), 0, {}}; }

/// Renders one parsed template against one context.
class Renderer {
 public:
  Renderer(const Body& body, Source source, const json& context, std::vector<RenderedSpan>* spans)
      : body_(body), src_(source), context_(context), spans_(spans) {}

  std::string run() {
    frames_.emplace_back();
    render(body_);
    return std::move(out_);
  }

 private:
  void emit(const std::string& text, size_t offset, bool verbatim) {
    if (text.empty()) return;
    if (spans_ != nullptr) spans_->push_back(RenderedSpan{out_.size(), offset, verbatim});
    out_ += text;
    if (out_.size() > kMaxOutputBytes) {
      src_.fail(offset, "the rendered text passed " + std::to_string(kMaxOutputBytes >> 20) +
                            " MiB here; a loop runs too often or a value is too large");
    }
  }

  void render(const Body& body) {
    for (const NodePtr& node : body) {
      switch (node->kind) {
        case Node::Kind::kText:
          emit(node->text, node->offset, true);
          break;
        case Node::Kind::kOutput:
          emit(to_text(need(eval(*node->expr))), node->offset, false);
          break;
        case Node::Kind::kIf:
          for (const auto& [condition, branch] : node->branches) {
            if (!condition || truthy(need(eval(*condition)))) {
              render(branch);
              break;
            }
          }
          break;
        case Node::Kind::kFor:
          render_for(*node);
          break;
        case Node::Kind::kSet:
          // As Jinja: a missing value is kept, and is an error only where used.
          frames_.back().names[node->name] = eval(*node->expr);
          break;
        case Node::Kind::kSetBlock: {
          std::string saved = std::move(out_);
          out_.clear();
          std::vector<RenderedSpan>* spans = spans_;
          spans_ = nullptr;
          render(node->body);
          spans_ = spans;
          frames_.back().names[node->name] = present(std::move(out_));
          out_ = std::move(saved);
          break;
        }
      }
    }
  }

  void render_for(const Node& node) {
    json list = need(eval(*node.expr));
    std::vector<json> items;
    if (list.is_array()) {
      items = std::move(list.get_ref<json::array_t&>());
    } else if (list.is_object()) {
      for (auto it = list.begin(); it != list.end(); ++it) items.push_back(it.key());
    } else if (list.is_string()) {
      for (std::string& c : characters(list.get<std::string>())) items.push_back(std::move(c));
    } else {
      src_.fail(node.expr->offset, "cannot loop over " + describe(*node.expr) + ", " +
                                       type_name(list) + "; loop over a list, a text or a mapping");
    }
    if (items.empty()) {
      render(node.else_body);
      return;
    }
    const size_t n = items.size();
    for (size_t i = 0; i < n; ++i) {
      if (++iterations_ > kMaxLoopIterations) {
        src_.fail(node.offset, "loops ran more than " + std::to_string(kMaxLoopIterations) +
                                   " times in one render; loop over less");
      }
      Frame& frame = frames_.emplace_back();
      frame.names[node.name] = present(std::move(items[i]));
      frame.loop_index = i;
      frame.loop_length = n;
      render(node.body);
      frames_.pop_back();
    }
  }

  const json& need(const Value& v) const {
    if (!v.value) src_.fail(v.offset, v.problem);
    return *v.value;
  }

  /// The name of what `e` reads, for messages: "'params.day'" or "the value".
  static std::string describe(const Expr& e) {
    const Expr* base = &e;
    while (base->kind == Expr::Kind::kFilter || base->kind == Expr::Kind::kDsFormat) {
      base = base->items[0].get();
    }
    if (base->kind == Expr::Kind::kPath) return "'" + join(base->path, ".") + "'";
    return "the value";
  }

  Value lookup(const Expr& e) const {
    const json* found = nullptr;
    const std::string& root = e.path[0];
    json loop;  // made only when read: loops run often, `loop` is read rarely
    for (auto frame = frames_.rbegin(); frame != frames_.rend() && !found; ++frame) {
      auto it = frame->names.find(root);
      if (it != frame->names.end()) {
        if (!it->second.value) return it->second;  // set from a missing value
        found = &*it->second.value;
      } else if (root == "loop" && frame->loop_length > 0) {
        size_t i = frame->loop_index, n = frame->loop_length;
        loop = json{{"index", i + 1},        {"index0", i}, {"first", i == 0},
                    {"last", i + 1 == n},    {"length", n}, {"revindex", n - i},
                    {"revindex0", n - i - 1}};
        found = &loop;
      }
    }
    const json* parent = &context_;  // the value that lacks the missing part
    size_t missing_at = 0;
    if (found == nullptr) {
      auto it = context_.find(root);
      if (it != context_.end()) found = &*it;
    }
    for (size_t i = 1; found != nullptr && i < e.path.size(); ++i) {
      const std::string& part = e.path[i];
      const json* next = nullptr;
      if (found->is_object()) {
        auto it = found->find(part);
        if (it != found->end()) next = &*it;
      } else if (found->is_array() && !part.empty() && part.size() < 10 &&
                 part.find_first_not_of("0123456789") == std::string::npos) {
        size_t index = std::stoul(part);
        if (index < found->size()) next = &(*found)[index];
      }
      if (next == nullptr) {
        parent = found;
        missing_at = i;
      }
      found = next;
    }
    if (found != nullptr) return present(*found);
    std::string name = join(e.path, ".");
    std::string problem = "unknown template variable '" + name + "'";
    // Suggest a sibling key: most misses are typos of a param or task name.
    if (parent->is_object()) {
      std::vector<std::string> keys;
      for (auto it = parent->begin(); it != parent->end(); ++it) keys.push_back(it.key());
      if (missing_at == 0) {
        for (const Frame& frame : frames_) {
          for (const auto& [key, value] : frame.names) keys.push_back(key);
        }
      }
      std::string match = closest_match(e.path[missing_at], keys);
      if (!match.empty()) {
        std::vector<std::string> fixed(e.path.begin(), e.path.begin() + missing_at);
        fixed.push_back(match);
        problem += " (did you mean '" + join(fixed, ".") + "'?)";
      }
    }
    return Value{std::nullopt, e.offset, problem};
  }

  Value item(const Expr& e) const {
    Value base_value = eval(*e.items[0]);
    Value key_value = eval(*e.items[1]);
    const json& base = need(base_value);
    const json& key = need(key_value);
    if (base.is_object() && key.is_string()) {
      auto it = base.find(key.get<std::string>());
      if (it != base.end()) return present(*it);
    } else if (base.is_array() && key.is_number_integer()) {
      int64_t i = key.get<int64_t>();
      int64_t size = static_cast<int64_t>(base.size());
      if (i < 0) i += size;  // as Python indexes
      if (i >= 0 && i < size) return present(base[static_cast<size_t>(i)]);
    }
    return Value{std::nullopt, e.offset,
                 describe(*e.items[0]) + " (" + type_name(base) + ") has no item " +
                     (key.is_string() ? "'" + key.get<std::string>() + "'" : key.dump())};
  }

  bool compare(const std::string& op, const json& a, const json& b, size_t offset) const {
    if (op == "==") return a == b;
    if (op == "!=") return a != b;
    if (op == "in" || op == "not in") {
      bool found = false;
      if (b.is_string()) {
        if (!a.is_string()) {
          src_.fail(offset, "'" + op + "' on a text needs a text on its left, got " + type_name(a));
        }
        found = b.get_ref<const std::string&>().find(a.get_ref<const std::string&>()) !=
                std::string::npos;
      } else if (b.is_array()) {
        found = std::find(b.begin(), b.end(), a) != b.end();
      } else if (b.is_object()) {
        found = a.is_string() && b.contains(a.get<std::string>());
      } else {
        src_.fail(offset, "'" + op + "' needs a list, a text or a mapping on its right, got " +
                              type_name(b));
      }
      return op == "in" ? found : !found;
    }
    int order = 0;
    if (a.is_number() && b.is_number()) {
      if (a.is_number_integer() && b.is_number_integer()) {
        int64_t x = a.get<int64_t>(), y = b.get<int64_t>();
        order = x < y ? -1 : x > y ? 1 : 0;
      } else {
        double x = a.get<double>(), y = b.get<double>();
        order = x < y ? -1 : x > y ? 1 : 0;
      }
    } else if (a.is_string() && b.is_string()) {
      int c = a.get_ref<const std::string&>().compare(b.get_ref<const std::string&>());
      order = c < 0 ? -1 : c > 0 ? 1 : 0;
    } else {
      src_.fail(offset,
                "cannot compare " + type_name(a) + " with " + type_name(b) + " using '" + op + "'");
    }
    if (op == "<") return order < 0;
    if (op == "<=") return order <= 0;
    if (op == ">") return order > 0;
    return order >= 0;
  }

  Value eval(const Expr& e) const {
    switch (e.kind) {
      case Expr::Kind::kLiteral:
        return present(e.literal);
      case Expr::Kind::kList: {
        json list = json::array();
        for (const ExprPtr& item : e.items) list.push_back(need(eval(*item)));
        return present(std::move(list));
      }
      case Expr::Kind::kPath:
        return lookup(e);
      case Expr::Kind::kItem:
        return item(e);
      case Expr::Kind::kNot:
        return present(!truthy(need(eval(*e.items[0]))));
      case Expr::Kind::kAnd:
      case Expr::Kind::kOr: {
        // As Python: the operand that decided, not a boolean.
        json left = need(eval(*e.items[0]));
        if (truthy(left) == (e.kind == Expr::Kind::kOr)) return present(std::move(left));
        return present(need(eval(*e.items[1])));
      }
      case Expr::Kind::kCompare: {
        json left = need(eval(*e.items[0]));
        for (size_t i = 0; i < e.ops.size(); ++i) {
          json right = need(eval(*e.items[i + 1]));
          if (!compare(e.ops[i], left, right, e.items[i + 1]->offset)) return present(false);
          left = std::move(right);
        }
        return present(true);
      }
      case Expr::Kind::kTest: {
        Value v = eval(*e.items[0]);
        bool result = e.ops[0] == "defined"     ? v.value.has_value()
                      : e.ops[0] == "undefined" ? !v.value.has_value()
                                                : need(v).is_null();
        return present(result != e.negated);
      }
      case Expr::Kind::kCondition: {
        if (truthy(need(eval(*e.items[1])))) return eval(*e.items[0]);
        if (e.items[2]) return eval(*e.items[2]);
        return present(nullptr);
      }
      case Expr::Kind::kFilter:
        return apply(e, eval(*e.items[0]));
      case Expr::Kind::kDsFormat: {
        Value v = eval(*e.items[0]);
        std::string text = to_text(need(v));
        const std::string& from = e.filter.args[0].get_ref<const std::string&>();
        auto fields = parse_with_format(text, from);
        if (!fields) {
          src_.fail(e.offset, "macros.ds_format on " + describe(*e.items[0]) + ": '" + text +
                                  "' does not match the format '" + from + "'");
        }
        return present(format_fields(*fields, e.filter.args[1].get_ref<const std::string&>()));
      }
    }
    return present(nullptr);
  }

  Value apply(const Expr& e, Value in) const {
    const Filter& filter = e.filter;
    if (filter.kind == FilterKind::kDefault) {
      if (!in.value || in.value->is_null()) return present(filter.args[0]);
      return in;
    }
    // A missing value passes through until the `default` that replaces it.
    if (!in.value) return in;
    const json& value = *in.value;
    auto fail = [&](const std::string& problem) {
      src_.fail(filter.offset,
                "filter '" + filter.name + "' on " + describe(*e.items[0]) + ": " + problem);
    };
    switch (filter.kind) {
      case FilterKind::kDsAdd: {
        std::string text = to_text(value);
        auto fields = parse_date_time(text);
        if (!fields) fail("'" + text + "' is not a date (YYYY-MM-DD)");
        auto day =
            std::chrono::sys_days{fields->date} + std::chrono::days{filter.args[0].get<int64_t>()};
        return present(format_ymd(std::chrono::year_month_day{day}));
      }
      case FilterKind::kFormatDate: {
        std::string text = to_text(value);
        auto fields = parse_date_time(text);
        if (!fields) fail("'" + text + "' is not a date or ISO timestamp");
        return present(format_fields(*fields, filter.args[0].get_ref<const std::string&>()));
      }
      case FilterKind::kShellQuote:
        return present(shell_quote(to_text(value)));
      case FilterKind::kSqlLiteral:
        return present(sql_literal(value));
      case FilterKind::kJoin: {
        std::string sep = filter.args.empty() ? "" : filter.args[0].get<std::string>();
        std::vector<std::string> parts;
        if (value.is_array()) {
          for (const json& v : value) parts.push_back(to_text(v));
        } else if (value.is_object()) {
          for (auto it = value.begin(); it != value.end(); ++it) parts.push_back(it.key());
        } else if (value.is_string()) {
          parts = characters(value.get<std::string>());
        } else {
          fail("needs a list, got " + type_name(value));
        }
        return present(join(parts, sep));
      }
      case FilterKind::kUpper:
      case FilterKind::kLower:
        return present(ascii_case(to_text(value), filter.kind == FilterKind::kUpper));
      case FilterKind::kReplace:
        return present(replace(to_text(value), filter.args));
      case FilterKind::kLength:
        if (value.is_string()) return present(characters(value.get<std::string>()).size());
        if (value.is_array() || value.is_object()) return present(value.size());
        fail("needs a list, a text or a mapping, got " + type_name(value));
      case FilterKind::kDefault:
        break;
    }
    return in;
  }

  /// Python's str.replace(old, new[, count]).
  static std::string replace(const std::string& text, const std::vector<json>& args) {
    const std::string& from = args[0].get_ref<const std::string&>();
    const std::string& to = args[1].get_ref<const std::string&>();
    int64_t left = args.size() > 2 ? args[2].get<int64_t>() : -1;
    if (left < 0) left = std::numeric_limits<int64_t>::max();
    std::string out;
    if (from.empty()) {  // between characters, and at both ends
      std::vector<std::string> chars = characters(text);
      for (const std::string& c : chars) {
        if (left-- > 0) out += to;
        out += c;
      }
      if (left > 0) out += to;
      return out;
    }
    size_t pos = 0;
    while (left > 0) {
      size_t at = text.find(from, pos);
      if (at == std::string::npos) break;
      out.append(text, pos, at - pos);
      out += to;
      pos = at + from.size();
      --left;
    }
    out.append(text, pos, std::string::npos);
    return out;
  }

  const Body& body_;
  Source src_;
  const json& context_;
  std::vector<RenderedSpan>* spans_;
  std::string out_;
  /// Names bound by `set` and loops: the template's, then one per loop turn.
  struct Frame {
    std::map<std::string, Value> names;
    size_t loop_index = 0;
    size_t loop_length = 0;  // more than 0 in a loop turn, whose `loop` this is
  };
  std::vector<Frame> frames_;
  uint64_t iterations_ = 0;
};

}  // namespace

TextPosition position_in(std::string_view text, size_t offset) {
  TextPosition at;
  offset = std::min(offset, text.size());
  size_t line_start = 0;
  for (size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++at.line;
      line_start = i + 1;
    }
  }
  for (size_t i = line_start; i < offset; ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) ++at.column;
  }
  return at;
}

std::string line_excerpt(std::string_view text, int line, int column) {
  constexpr size_t kWidth = 100;
  size_t start = 0;
  for (int l = 1; l < line && start < text.size(); ++l) {
    size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) return "";
    start = nl + 1;
  }
  size_t end = text.find('\n', start);
  std::string_view raw = text.substr(start, end == std::string_view::npos ? end : end - start);
  if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
  std::vector<std::string> chars = characters(std::string(raw));
  size_t first = 0;
  while (first < chars.size() && (chars[first] == " " || chars[first] == "\t")) ++first;
  size_t col = column > 0 ? static_cast<size_t>(column - 1) : 0;
  size_t from = first, to = chars.size();
  if (to - from > kWidth) {
    from = std::max(first, col > kWidth / 2 ? col - kWidth / 2 : 0);
    to = std::min(chars.size(), from + kWidth);
  }
  std::string out = from > first ? "..." : "";
  for (size_t i = from; i < to; ++i) out += chars[i] == "\t" ? " " : chars[i];
  if (to < chars.size()) out += "...";
  return out;
}

Template::Template(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Template::Template(const Template& other) : impl_(std::make_unique<Impl>(*other.impl_)) {}
Template& Template::operator=(const Template& other) {
  if (this != &other) impl_ = std::make_unique<Impl>(*other.impl_);
  return *this;
}
Template::Template(Template&&) noexcept = default;
Template& Template::operator=(Template&&) noexcept = default;
Template::~Template() = default;

Template Template::parse(std::string_view text) {
  auto impl = std::make_unique<Impl>();
  impl->source = std::string(text);
  size_t newline = text.find('\n');
  impl->multi_line = newline != std::string_view::npos && newline + 1 < text.size();
  Source source{impl->source, impl->multi_line};
  std::vector<Piece> pieces = Lexer(source).run();
  impl->body = Parser(source, std::move(pieces), &impl->references).parse();
  return Template(std::move(impl));
}

bool Template::has_expressions(std::string_view text) {
  return text.find("{{") != std::string_view::npos || text.find("{%") != std::string_view::npos ||
         text.find("{#") != std::string_view::npos;
}

const std::vector<TemplateReference>& Template::references() const { return impl_->references; }

std::string Template::render(const json& context) const {
  return Renderer(impl_->body, {impl_->source, impl_->multi_line}, context, nullptr).run();
}

std::string Template::render(const json& context, std::vector<RenderedSpan>* spans) const {
  return Renderer(impl_->body, {impl_->source, impl_->multi_line}, context, spans).run();
}

int Template::source_line(const std::vector<RenderedSpan>& spans, size_t output_offset) const {
  auto after = std::upper_bound(
      spans.begin(), spans.end(), output_offset,
      [](size_t offset, const RenderedSpan& span) { return offset < span.output; });
  if (after == spans.begin()) return 1;
  const RenderedSpan& span = *std::prev(after);
  size_t source = span.source + (span.verbatim ? output_offset - span.output : 0);
  return position_in(impl_->source, source).line;
}

std::string render_template(std::string_view text, const json& context) {
  return Template::parse(text).render(context);
}

}  // namespace sluice
