#include "core/template.h"

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>
#include <variant>

#include "core/error.h"
#include "core/text.h"

namespace sluice {

namespace {

using nlohmann::json;

enum class FilterKind { kDsAdd, kFormatDate, kDefault, kShellQuote, kSqlLiteral };

const std::vector<std::string>& filter_names() {
  static const std::vector<std::string> names = {"ds_add", "format_date", "default", "shell_quote",
                                                 "sql_literal"};
  return names;
}

/// One filter application with its already-checked argument.
struct Filter {
  FilterKind kind;
  std::string name;
  json arg;  // ds_add: integer days; format_date: format string; default: the value
};

/// One `{{ ... }}` expression, split into its path for fast lookup.
struct Expression {
  std::vector<std::string> path;
  std::vector<Filter> filters;
  size_t reference_index = 0;
};

/// A piece of the template: literal text, or an expression to evaluate.
using Segment = std::variant<std::string, Expression>;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' || c == '-';
}

[[noreturn]] void fail_at(size_t offset, const std::string& problem) {
  throw TemplateError("template error at offset " + std::to_string(offset) + ": " + problem);
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

// ---- parsing -------------------------------------------------------------

/// Scans one `{{ ... }}` expression starting right after the `{{`.
class ExpressionParser {
 public:
  ExpressionParser(std::string_view text, size_t open_offset)
      : text_(text), open_(open_offset), pos_(open_offset + 2) {}

  /// Parses up to and including `}}`; returns the offset just past it.
  size_t parse(Expression* expr, TemplateReference* ref) {
    skip_space();
    size_t name_start = pos_;
    while (pos_ < text_.size() && (is_name_char(text_[pos_]) || text_[pos_] == '.')) ++pos_;
    std::string_view name = text_.substr(name_start, pos_ - name_start);
    check_end_not_reached();
    if (name.empty()) {
      if (at_close()) fail_at(open_, "empty expression '{{ }}'");
      fail_at(pos_, std::string("expected a name, found '") + text_[pos_] + "'");
    }
    expr->path = split(name, '.');
    for (const auto& part : expr->path) {
      if (part.empty()) fail_at(name_start, "malformed name '" + std::string(name) + "'");
    }
    ref->name = std::string(name);
    ref->offset = open_;
    while (true) {
      skip_space();
      check_end_not_reached();
      if (at_close()) {
        pos_ += 2;
        return pos_;
      }
      if (text_[pos_] != '|') {
        fail_at(pos_, std::string("expected '|' or '}}', found '") + text_[pos_] + "'");
      }
      ++pos_;
      skip_space();
      expr->filters.push_back(parse_filter());
      ref->filters.push_back(expr->filters.back().name);
      if (expr->filters.back().kind == FilterKind::kDefault) ref->has_default = true;
    }
  }

 private:
  void skip_space() {
    while (pos_ < text_.size() && is_space(text_[pos_])) ++pos_;
  }
  bool at_close() const { return text_.substr(pos_, 2) == "}}"; }
  void check_end_not_reached() const {
    if (pos_ >= text_.size()) fail_at(open_, "'{{' is never closed with '}}'");
  }

  Filter parse_filter() {
    size_t start = pos_;
    while (pos_ < text_.size() && is_name_char(text_[pos_])) ++pos_;
    std::string name(text_.substr(start, pos_ - start));
    check_end_not_reached();
    if (name.empty()) fail_at(pos_, "expected a filter name after '|'");
    Filter filter;
    filter.name = name;
    if (name == "ds_add") {
      filter.kind = FilterKind::kDsAdd;
    } else if (name == "format_date") {
      filter.kind = FilterKind::kFormatDate;
    } else if (name == "default") {
      filter.kind = FilterKind::kDefault;
    } else if (name == "shell_quote") {
      filter.kind = FilterKind::kShellQuote;
    } else if (name == "sql_literal") {
      filter.kind = FilterKind::kSqlLiteral;
    } else {
      fail_at(start, "unknown filter '" + name + "'" + did_you_mean(name, filter_names()) +
                         "; filters are " + join(filter_names(), ", "));
    }
    std::vector<std::pair<json, size_t>> args = parse_arguments();
    auto want_args = [&](size_t n) {
      if (args.size() != n) {
        fail_at(start, "filter '" + name + "' takes " +
                           (n == 0 ? std::string("no arguments") : "one argument") + ", got " +
                           std::to_string(args.size()));
      }
    };
    switch (filter.kind) {
      case FilterKind::kDsAdd:
        want_args(1);
        if (!args[0].first.is_number_integer()) {
          fail_at(args[0].second, "ds_add needs a whole number of days, e.g. ds_add(-1)");
        }
        filter.arg = args[0].first;
        break;
      case FilterKind::kFormatDate: {
        want_args(1);
        if (!args[0].first.is_string()) {
          fail_at(args[0].second,
                  "format_date needs a quoted format, e.g. format_date('%Y/%m/%d')");
        }
        const std::string& fmt = args[0].first.get_ref<const std::string&>();
        size_t bad = find_bad_directive(fmt);
        if (bad != std::string_view::npos) {
          fail_at(args[0].second, "format_date: unsupported directive '" + fmt.substr(bad, 2) +
                                      "' (supported: %Y %m %d %H %M %S %j %y %F %T %%)");
        }
        filter.arg = args[0].first;
        break;
      }
      case FilterKind::kDefault:
        want_args(1);
        filter.arg = args[0].first;
        break;
      case FilterKind::kShellQuote:
      case FilterKind::kSqlLiteral:
        want_args(0);
        break;
    }
    return filter;
  }

  /// `(lit, lit, ...)` or nothing; each literal with its offset.
  std::vector<std::pair<json, size_t>> parse_arguments() {
    std::vector<std::pair<json, size_t>> args;
    skip_space();
    check_end_not_reached();
    if (text_[pos_] != '(') return args;
    ++pos_;
    skip_space();
    check_end_not_reached();
    if (text_[pos_] == ')') {
      ++pos_;
      return args;
    }
    while (true) {
      skip_space();
      check_end_not_reached();
      size_t at = pos_;
      args.emplace_back(parse_literal(), at);
      skip_space();
      check_end_not_reached();
      if (text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (text_[pos_] == ')') {
        ++pos_;
        return args;
      }
      fail_at(pos_,
              std::string("expected ',' or ')' in filter arguments, found '") + text_[pos_] + "'");
    }
  }

  json parse_literal() {
    char c = text_[pos_];
    if (c == '\'' || c == '"') {
      size_t start = pos_++;
      std::string value;
      while (pos_ < text_.size() && text_[pos_] != c) {
        // A backslash escapes the quote or itself; elsewhere it stays, so
        // Windows paths and regexes pass through unchanged.
        if (text_[pos_] == '\\' && pos_ + 1 < text_.size() &&
            (text_[pos_ + 1] == c || text_[pos_ + 1] == '\\')) {
          ++pos_;
        }
        value += text_[pos_++];
      }
      if (pos_ >= text_.size()) fail_at(start, "string argument is never closed");
      ++pos_;
      return value;
    }
    if (c == '-' || c == '+' || is_digit(c)) {
      size_t start = pos_;
      if (c == '-' || c == '+') ++pos_;
      size_t digits_start = pos_;
      while (pos_ < text_.size() && is_digit(text_[pos_])) ++pos_;
      bool fraction = false;
      if (pos_ < text_.size() && text_[pos_] == '.') {
        fraction = true;
        ++pos_;
        while (pos_ < text_.size() && is_digit(text_[pos_])) ++pos_;
      }
      std::string number(text_.substr(start, pos_ - start));
      if (pos_ == digits_start) fail_at(start, "malformed number '" + number + "'");
      if (number[0] == '+') number.erase(0, 1);
      try {
        if (fraction) return std::stod(number);
        return std::stoll(number);
      } catch (const std::exception&) {
        fail_at(start, "number '" + number + "' is out of range");
      }
    }
    size_t start = pos_;
    while (pos_ < text_.size() && is_name_char(text_[pos_])) ++pos_;
    std::string word(text_.substr(start, pos_ - start));
    if (word == "true") return true;
    if (word == "false") return false;
    if (word == "null" || word == "none" || word == "None") return nullptr;
    if (word.empty()) fail_at(start, std::string("unexpected '") + c + "' in filter arguments");
    fail_at(start, "filter arguments must be quoted strings, numbers, true, false or null; got '" +
                       word + "'");
  }

  std::string_view text_;
  size_t open_;
  size_t pos_;
};

}  // namespace

/// The parsed form: literal text and expressions in order.
struct Template::Impl {
  std::vector<Segment> segments;
  std::vector<TemplateReference> references;
  size_t literal_bytes = 0;  // to reserve the output once

  std::string render_expression(const Expression& expr, const json& context) const;
};

std::string Template::Impl::render_expression(const Expression& expr, const json& context) const {
  const TemplateReference& ref = references[expr.reference_index];
  // Walk the path; `found` is null when a part is missing.
  const json* found = &context;
  const json* parent = nullptr;  // the value that lacks the missing part
  size_t missing_at = expr.path.size();
  for (size_t i = 0; i < expr.path.size(); ++i) {
    const std::string& part = expr.path[i];
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
      missing_at = i;
      parent = found;
      found = nullptr;
      break;
    }
    found = next;
  }

  std::optional<json> value;
  if (found != nullptr) value = *found;
  if (!value && !ref.has_default) {
    std::string message = "unknown template variable '" + ref.name + "'";
    // Suggest a sibling key: most misses are typos of a param or task name.
    if (parent != nullptr && parent->is_object()) {
      std::vector<std::string> keys;
      for (auto it = parent->begin(); it != parent->end(); ++it) keys.push_back(it.key());
      std::string match = closest_match(expr.path[missing_at], keys);
      if (!match.empty()) {
        std::vector<std::string> fixed(expr.path.begin(), expr.path.begin() + missing_at);
        fixed.push_back(match);
        message += " (did you mean '" + join(fixed, ".") + "'?)";
      }
    }
    throw TemplateError(message);
  }

  for (const Filter& filter : expr.filters) {
    if (filter.kind == FilterKind::kDefault) {
      if (!value || value->is_null()) value = filter.arg;
      continue;
    }
    // A missing value passes through until the `default` that replaces it.
    if (!value) continue;
    auto filter_error = [&](const std::string& problem) {
      return TemplateError("filter '" + filter.name + "' on '" + ref.name + "': " + problem);
    };
    switch (filter.kind) {
      case FilterKind::kDsAdd: {
        std::string text = to_text(*value);
        auto fields = parse_date_time(text);
        if (!fields) throw filter_error("'" + text + "' is not a date (YYYY-MM-DD)");
        auto day =
            std::chrono::sys_days{fields->date} + std::chrono::days{filter.arg.get<int64_t>()};
        value = format_ymd(std::chrono::year_month_day{day});
        break;
      }
      case FilterKind::kFormatDate: {
        std::string text = to_text(*value);
        auto fields = parse_date_time(text);
        if (!fields) throw filter_error("'" + text + "' is not a date or ISO timestamp");
        value = format_fields(*fields, filter.arg.get_ref<const std::string&>());
        break;
      }
      case FilterKind::kShellQuote:
        value = shell_quote(to_text(*value));
        break;
      case FilterKind::kSqlLiteral:
        value = sql_literal(*value);
        break;
      case FilterKind::kDefault:
        break;
    }
  }
  return value ? to_text(*value) : "";
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
  size_t pos = 0;
  while (pos < text.size()) {
    size_t open = text.find("{{", pos);
    if (open == std::string_view::npos) open = text.size();
    if (open > pos) {
      impl->segments.emplace_back(std::string(text.substr(pos, open - pos)));
      impl->literal_bytes += open - pos;
    }
    if (open == text.size()) break;
    Expression expr;
    TemplateReference ref;
    pos = ExpressionParser(text, open).parse(&expr, &ref);
    expr.reference_index = impl->references.size();
    impl->references.push_back(std::move(ref));
    impl->segments.emplace_back(std::move(expr));
  }
  return Template(std::move(impl));
}

bool Template::has_expressions(std::string_view text) {
  return text.find("{{") != std::string_view::npos;
}

const std::vector<TemplateReference>& Template::references() const { return impl_->references; }

std::string Template::render(const json& context) const {
  std::string out;
  out.reserve(impl_->literal_bytes + 16 * impl_->references.size());
  for (const Segment& segment : impl_->segments) {
    if (const auto* literal = std::get_if<std::string>(&segment)) {
      out += *literal;
    } else {
      out += impl_->render_expression(std::get<Expression>(segment), context);
    }
  }
  return out;
}

std::string render_template(std::string_view text, const json& context) {
  return Template::parse(text).render(context);
}

}  // namespace sluice
