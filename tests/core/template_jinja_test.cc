// Sluice's templates render what Jinja2 renders: many generated templates
// (loops, conditions, set, comments, whitespace control, filters) rendered by
// both and compared. Needs python3 with jinja2 (scripts/install-deps.sh
// installs python3-jinja2); it fails without it, as a skipped comparison would prove nothing.

#include <gtest/gtest.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/template.h"
#include "tests/test_util.h"

namespace sluice {
namespace {

using nlohmann::json;

/// Random templates of the syntax both engines share, typed so that every
/// filter gets a value it takes (a type error is an error in both, but says
/// nothing about the rendering).
class TemplateGenerator {
 public:
  explicit TemplateGenerator(unsigned seed) : rng_(seed) {}

  std::string template_text() {
    Scope scope;
    return body(0, scope);
  }

 private:
  enum class Type { kText, kInt, kList, kBool };
  struct Scope {
    std::vector<std::pair<std::string, Type>> locals;
    bool in_loop = false;
  };

  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  bool chance(int percent) { return pick(100) < percent; }
  template <typename T>
  const T& one_of(const std::vector<T>& items) {
    return items[pick(static_cast<int>(items.size()))];
  }

  std::string text() {
    static const std::vector<std::string> bits = {"a",   "select ", " ",  "  ",   "\n",    "\n  ",
                                                  "x\n", ",",       "\t", "id\n", " -- c", "}"};
    if (chance(10)) return "";
    std::string out;
    for (int i = pick(3) + 1; i > 0; --i) out += one_of(bits);
    return out;
  }

  std::string open(const char* kind) {
    return std::string("{") + kind + (chance(35) ? "-" : "") + " ";
  }
  std::string close(const char* kind) { return std::string(chance(35) ? " -" : " ") + kind + "}"; }
  std::string tag(const std::string& inside) { return open("%") + inside + close("%"); }

  std::string local_of(const Scope& scope, Type type) {
    std::vector<std::string> names;
    for (const auto& [name, t] : scope.locals) {
      if (t == type) names.push_back(name);
    }
    return names.empty() ? "" : one_of(names);
  }

  std::string text_expr(int depth, const Scope& scope) {
    std::vector<std::string> atoms = {"'a'", "'x y'", "\"q\"", "''",       "ds",
                                      "s",   "empty", "m.k",   "items[0]", "m['j']"};
    std::string local = local_of(scope, Type::kText);
    if (!local.empty()) atoms.push_back(local);
    if (depth > 2) return one_of(atoms);
    switch (pick(9)) {
      case 0:
        return text_expr(depth + 1, scope) + " | upper";
      case 1:
        return text_expr(depth + 1, scope) + " | lower";
      case 2:
        return text_expr(depth + 1, scope) + " | replace('l', 'L')";
      case 3:
        return list_expr(depth + 1, scope) + " | join('-')";
      case 4:
        return "params.missing | default('d')";
      case 5:
        return "(" + text_expr(depth + 1, scope) + " if " + bool_expr(depth + 1, scope) + " else " +
               text_expr(depth + 1, scope) + ")";
      default:
        return one_of(atoms);
    }
  }

  std::string int_expr(int depth, const Scope& scope) {
    std::vector<std::string> atoms = {"0", "1", "2", "-1", "n", "zero"};
    if (scope.in_loop) {
      atoms.insert(atoms.end(), {"loop.index", "loop.index0", "loop.length", "loop.revindex"});
    }
    std::string local = local_of(scope, Type::kInt);
    if (!local.empty()) atoms.push_back(local);
    if (depth > 2) return one_of(atoms);
    switch (pick(5)) {
      case 0:
        return list_expr(depth + 1, scope) + " | length";
      case 1:
        return text_expr(depth + 1, scope) + " | length";
      default:
        return one_of(atoms);
    }
  }

  std::string list_expr(int depth, const Scope& scope) {
    std::vector<std::string> atoms = {"items", "nums", "none_list", "['a', 'b']", "[1, 2]", "[]"};
    std::string local = local_of(scope, Type::kList);
    if (!local.empty()) atoms.push_back(local);
    if (depth < 2 && chance(20)) {
      return "[" + text_expr(depth + 1, scope) + ", " + text_expr(depth + 1, scope) + "]";
    }
    return one_of(atoms);
  }

  std::string bool_expr(int depth, const Scope& scope) {
    std::vector<std::string> atoms = {"flag",  "off",  "true",      "false", "s",
                                      "empty", "nums", "none_list", "zero",  "n"};
    if (scope.in_loop) atoms.insert(atoms.end(), {"loop.first", "loop.last"});
    if (depth > 2) return one_of(atoms);
    static const std::vector<std::string> int_ops = {"==", "!=", "<", "<=", ">", ">="};
    switch (pick(12)) {
      case 0:
        return "not " + bool_expr(depth + 1, scope);
      case 1:
        return bool_expr(depth + 1, scope) + " and " + bool_expr(depth + 1, scope);
      case 2:
        return bool_expr(depth + 1, scope) + " or " + bool_expr(depth + 1, scope);
      case 3:
        return int_expr(depth + 1, scope) + " " + one_of(int_ops) + " " +
               int_expr(depth + 1, scope);
      case 4:
        return text_expr(depth + 1, scope) + (chance(50) ? " == " : " != ") +
               text_expr(depth + 1, scope);
      case 5:
        return text_expr(depth + 1, scope) + (chance(50) ? " in " : " not in ") +
               (chance(50) ? text_expr(depth + 1, scope) : list_expr(depth + 1, scope));
      case 6:
        return one_of(std::vector<std::string>{"params.missing", "m.k", "m.zz", "ds"}) +
               (chance(50) ? " is defined" : " is not defined");
      case 7:
        return "(" + bool_expr(depth + 1, scope) + ")";
      case 8:
        return text_expr(depth + 1, scope) + " < " + text_expr(depth + 1, scope);
      default:
        return one_of(atoms);
    }
  }

  std::string any_expr(const Scope& scope) {
    switch (pick(4)) {
      case 0:
        return int_expr(0, scope);
      case 1:
        return list_expr(0, scope);
      case 2:
        return bool_expr(0, scope);
      default:
        return text_expr(0, scope);
    }
  }

  std::string body(int depth, Scope& scope) {
    std::string out;
    for (int i = pick(4) + 1; i > 0; --i) {
      out += text();
      int kind = depth >= 3 ? pick(3) : pick(7);
      switch (kind) {
        case 0:
        case 1:
          out += open("{") + any_expr(scope) + close("}");
          break;
        case 2:
          out += open("#") + "note" + close("#");
          break;
        case 3: {
          out += tag("if " + bool_expr(0, scope));
          Scope inner = scope;
          out += body(depth + 1, inner);
          for (int e = pick(3); e > 0; --e) {
            out += tag("elif " + bool_expr(0, scope));
            Scope branch = scope;
            out += body(depth + 1, branch);
          }
          if (chance(50)) {
            out += tag("else");
            Scope branch = scope;
            out += body(depth + 1, branch);
          }
          out += tag("endif");
          break;
        }
        case 4: {
          std::string var = "v" + std::to_string(depth);
          bool numbers = chance(40);
          std::string list =
              numbers
                  ? one_of(std::vector<std::string>{"nums", "[3, 1]"})
                  : one_of(std::vector<std::string>{"items", "none_list", "['p', 'q']", "'ab'"});
          out += tag("for " + var + " in " + list);
          Scope inner = scope;
          inner.in_loop = true;
          inner.locals.emplace_back(var, numbers ? Type::kInt : Type::kText);
          out += body(depth + 1, inner);
          if (chance(25)) {
            out += tag("else");
            Scope branch = scope;
            out += body(depth + 1, branch);
          }
          out += tag("endfor");
          break;
        }
        case 5: {
          std::string var = "s" + std::to_string(scope.locals.size());
          out += tag("set " + var + " = " + text_expr(0, scope));
          scope.locals.emplace_back(var, Type::kText);
          break;
        }
        default:
          out += tag("set l" + std::to_string(scope.locals.size()) + " = " + list_expr(0, scope));
          scope.locals.emplace_back("l" + std::to_string(scope.locals.size()), Type::kList);
          break;
      }
    }
    out += text();
    return out;
  }

  std::mt19937 rng_;
};

bool jinja_available() { return std::system("python3 -c 'import jinja2' >/dev/null 2>&1") == 0; }

/// Jinja2's renderings of `templates` against `context`.
json render_with_jinja(const json& context, const std::vector<std::string>& templates) {
  testing::TempDir dir;
  std::string input =
      dir.write("cases.json", json{{"context", context}, {"templates", templates}}.dump());
  std::string command = "python3 " + testing::source_dir() + "/tests/core/jinja_render.py " +
                        input + " > " + dir.file("out.json");
  if (std::system(command.c_str()) != 0) return nullptr;
  return json::parse(testing::read_file(dir.file("out.json")), nullptr, false);
}

json differential_context() {
  return json{{"ds", "2026-02-03"},
              {"n", 3},
              {"zero", 0},
              {"empty", ""},
              {"s", "Hello world"},
              {"items", {"a", "b", "c"}},
              {"nums", {1, 2, 3}},
              {"none_list", json::array()},
              {"flag", true},
              {"off", false},
              {"m", {{"j", "w"}, {"k", "v"}}},
              {"params", json::object()}};
}

TEST(TemplateJinjaTest, GeneratedTemplatesRenderAsJinja2RendersThem) {
  if (!jinja_available()) {
    FAIL() << "python3 with jinja2 is not installed: run scripts/install-deps.sh";
  }
  TemplateGenerator generator(20260203);
  std::vector<std::string> templates;
  for (int i = 0; i < 600; ++i) templates.push_back(generator.template_text());
  json context = differential_context();
  json expected = render_with_jinja(context, templates);
  ASSERT_TRUE(expected.is_array() && expected.size() == templates.size());
  int rendered = 0, failures = 0;
  for (size_t i = 0; i < templates.size(); ++i) {
    std::string ours;
    std::string error;
    try {
      ours = render_template(templates[i], context);
    } catch (const TemplateError& e) {
      error = e.what();
    }
    const json& want = expected[i];
    if (want.contains("out")) {
      ++rendered;
      EXPECT_EQ(error, "") << "template: " << templates[i];
      if (error.empty()) {
        EXPECT_EQ(ours, want["out"].get<std::string>()) << "template: " << templates[i];
      }
    } else {
      EXPECT_NE(error, "") << "Jinja2 failed (" << want["error"] << ") where Sluice rendered "
                           << json(ours) << " from: " << templates[i];
    }
    if (::testing::Test::HasFailure() && ++failures > 10) break;
  }
  // The generator is mostly of things that render, not of errors.
  EXPECT_GT(rendered, 500);
}

TEST(TemplateJinjaTest, HandWrittenCasesRenderAsJinja2RendersThem) {
  if (!jinja_available()) {
    FAIL() << "python3 with jinja2 is not installed: run scripts/install-deps.sh";
  }
  // The hand-written expectations of template_test.cc, checked against the
  // reference itself.
  std::vector<std::string> templates = {
      "{% set payment_methods = ['credit_card', 'coupon', 'bank_transfer', 'gift_card'] %}\n"
      "select order_id,\n"
      "  {% for payment_method in payment_methods -%}\n"
      "  sum(case when payment_method = '{{ payment_method }}' then amount else 0 end) as "
      "{{ payment_method }}_amount{% if not loop.last %},{% endif %}\n"
      "  {% endfor -%}\n"
      "  sum(amount) as total_amount\n"
      "from payments group by order_id\n",
      "{% for x in items %}{{ loop.index }}/{{ loop.length }}:{{ x }}{% if not loop.last %}, "
      "{% endif %}{% endfor %}",
      "a\n  {%- if flag %}\n  b\n  {%- endif %}\nc {#- note -#}  d",
      "{% raw %}{{ kept }}{% endraw %}",
  };
  json context = differential_context();
  json expected = render_with_jinja(context, templates);
  ASSERT_TRUE(expected.is_array() && expected.size() == templates.size());
  for (size_t i = 0; i < templates.size(); ++i) {
    ASSERT_TRUE(expected[i].contains("out")) << expected[i];
    EXPECT_EQ(render_template(templates[i], context), expected[i]["out"].get<std::string>());
  }
}

}  // namespace
}  // namespace sluice
