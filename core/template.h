#pragma once
// Templates: `{{ name }}`, `{{ a.b.c }}`, `{{ x | filter(arg) | filter }}`.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace sluice {

/// One `{{ ... }}` reference in a template.
struct TemplateReference {
  std::string name;                  // dotted path as written: "outputs.load.rows"
  std::vector<std::string> filters;  // filter names in order: {"ds_add", "shell_quote"}
  bool has_default = false;          // a `| default(...)` filter is present
  size_t offset = 0;                 // byte offset of the `{{` in the text
};

/// A parsed template. Text outside `{{ }}` is copied as is.
///
/// Filters: `ds_add(N)` (date string plus N days), `format_date('%Y/%m/%d')`
/// (reformat a date or ISO timestamp), `default('x')` (used when the name is
/// missing), `shell_quote` (POSIX single-quoted), `sql_literal` (SQL string
/// literal with '' doubling; numbers and null unquoted).
/// A name that is not in the context is an error, never an empty string,
/// unless a `default` filter follows it.
class Template {
 public:
  /// Parses `text`; throws TemplateError (with the offset and the problem:
  /// unclosed `{{`, unknown filter, bad filter argument) on malformed input.
  static Template parse(std::string_view text);
  /// True when `text` contains `{{`.
  static bool has_expressions(std::string_view text);

  const std::vector<TemplateReference>& references() const;

  /// Renders against `context`, a JSON object: "ds" -> context["ds"],
  /// "outputs.load.rows" -> context["outputs"]["load"]["rows"]. Strings are
  /// inserted as is, numbers and booleans as JSON text, objects/arrays as
  /// compact JSON. Throws TemplateError naming the unknown name.
  std::string render(const nlohmann::json& context) const;

  Template(const Template&);
  Template& operator=(const Template&);
  Template(Template&&) noexcept;
  Template& operator=(Template&&) noexcept;
  ~Template();

 private:
  struct Impl;
  explicit Template(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Renders `text` against `context` in one step.
std::string render_template(std::string_view text, const nlohmann::json& context);

}  // namespace sluice
