#pragma once
// Templates in the Jinja syntax that Airflow and dbt users write:
// `{{ expr }}`, `{% if %}`/`{% elif %}`/`{% else %}`, `{% for x in list %}`,
// `{% set name = expr %}`, `{# comments #}`, `{% raw %}`, and `-` for
// whitespace control.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace sluice {

/// One name a template reads from its context (`{{ outputs.load.rows }}`,
/// `{% for f in outputs.load.files %}`, `{% if params.full %}`). Names bound
/// inside the template (loop variables, `loop`, `set` names) are not listed.
struct TemplateReference {
  std::string name;                  // dotted path as written: "outputs.load.rows"
  std::vector<std::string> filters;  // filter names in order: {"ds_add", "shell_quote"}
  bool has_default = false;          // a `| default(...)` or `is defined` guards it
  size_t offset = 0;                 // byte offset of the `{{` or `{%` holding it
  int line = 0;                      // 1-based line of the name itself
  int column = 0;                    // 1-based column (in characters) of the name
};

/// Where a byte offset falls in a text: 1-based line and column, the column
/// counted in characters (UTF-8 code points), as editors count them.
struct TextPosition {
  int line = 1;
  int column = 1;
};
TextPosition position_in(std::string_view text, size_t offset);
/// Line `line` of `text` for a message: leading blanks dropped, tabs as
/// spaces, and cut to about 100 characters around `column` when longer.
std::string line_excerpt(std::string_view text, int line, int column);

/// A piece of rendered output and where it came from in the template.
struct RenderedSpan {
  size_t output = 0;      // where the piece starts in the output
  size_t source = 0;      // where its text or its `{{` starts in the template
  bool verbatim = false;  // text copied as is: output + k came from source + k
};

/// A parsed template.
///
/// Values render as they are: strings as is, numbers and booleans as JSON
/// text (`true`), null as nothing, lists and mappings as compact JSON.
/// Filters: `ds_add(N)`, `format_date('%Y/%m/%d')`, `default('x')` (used
/// when the name is missing or null), `shell_quote`, `sql_literal`, `join`,
/// `upper`, `lower`, `replace('a', 'b')`, `length`; `macros.ds_add(ds, N)`
/// and `macros.ds_format(ds, '%Y-%m-%d', '%Y/%m/%d')` are Airflow's
/// spellings of the date filters. A name that is not in the context is an
/// error, never an empty string, unless a `default` filter or an
/// `is defined` test guards it.
class Template {
 public:
  /// Parses `text`; throws TemplateError (with the line, the column and the
  /// problem: unclosed `{{` or block, unknown tag or filter, bad argument).
  static Template parse(std::string_view text);
  /// True when `text` contains template syntax (`{{`, `{%` or `{#`).
  static bool has_expressions(std::string_view text);

  const std::vector<TemplateReference>& references() const;

  /// Renders against `context`, a JSON object: "ds" -> context["ds"],
  /// "outputs.load.rows" -> context["outputs"]["load"]["rows"]. Throws
  /// TemplateError naming the unknown name and where it is.
  std::string render(const nlohmann::json& context) const;
  /// The same, and where each piece of the output came from in the template,
  /// so that a line of the output can be traced back to the template.
  std::string render(const nlohmann::json& context, std::vector<RenderedSpan>* spans) const;
  /// The template line that output offset `output_offset` came from, given
  /// the `spans` of a render (1 when unknown).
  int source_line(const std::vector<RenderedSpan>& spans, size_t output_offset) const;

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
