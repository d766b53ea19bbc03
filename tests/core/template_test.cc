#include "core/template.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "core/error.h"

namespace sluice {
namespace {

using nlohmann::json;

json sample_context() {
  return json{
      {"ds", "2026-02-03"},
      {"ts", "2026-02-03T02:00:00+01:00"},
      {"ts_utc", "2026-02-03T01:00:00Z"},
      {"try_number", 2},
      {"ratio", 0.5},
      {"flag", true},
      {"nothing", nullptr},
      {"params", {{"country", "us"}, {"quote", "it's"}, {"limit", 10}}},
      {"outputs",
       {{"load", {{"rows", 1234}, {"files", json::array({"a.csv", "b.csv"})}}},
        {"t", {{"files", json::array({"x.csv", "y.csv"})}}}}},
      {"env", {{"HOME_DIR", "/home/me"}}},
      {"conn", {{"warehouse", {{"host", "db.internal"}, {"port", 5433}}}}},
  };
}

// Renders `text` against the sample context.
std::string render(const std::string& text) { return render_template(text, sample_context()); }

// The message of the TemplateError that `fn` throws, or "" when none.
template <typename Fn>
std::string template_error(Fn fn) {
  try {
    fn();
  } catch (const TemplateError& e) {
    return e.what();
  }
  return "";
}

std::string parse_error(const std::string& text) {
  return template_error([&] { Template::parse(text); });
}

std::string render_error(const std::string& text) {
  return template_error([&] { render(text); });
}

TEST(TemplateTest, TextWithoutExpressionsIsCopiedAsIs) {
  EXPECT_EQ(render("echo hello } { }"), "echo hello } { }");
  EXPECT_EQ(render(""), "");
  EXPECT_FALSE(Template::has_expressions("awk '{print $1}'"));
  EXPECT_TRUE(Template::has_expressions("x {{ ds }}"));
}

TEST(TemplateTest, SubstitutesSimpleAndDottedNames) {
  EXPECT_EQ(render("day={{ ds }}"), "day=2026-02-03");
  EXPECT_EQ(render("{{ds}}|{{  ds  }}"), "2026-02-03|2026-02-03");
  EXPECT_EQ(render("{{ params.country }}-{{ outputs.load.rows }}"), "us-1234");
  EXPECT_EQ(render("{{ env.HOME_DIR }}"), "/home/me");
  EXPECT_EQ(render("{{ conn.warehouse.host }}:{{ conn.warehouse.port }}"), "db.internal:5433");
}

TEST(TemplateTest, NonStringValuesRenderAsJsonText) {
  EXPECT_EQ(render("{{ try_number }} {{ ratio }} {{ flag }}"), "2 0.5 true");
  EXPECT_EQ(render("{{ outputs.load.files }}"), R"(["a.csv","b.csv"])");
  EXPECT_EQ(render("{{ nothing }}"), "");
}

TEST(TemplateTest, ArraysAreIndexableByNumber) {
  EXPECT_EQ(render("{{ outputs.t.files.0 }},{{ outputs.t.files.1 }}"), "x.csv,y.csv");
  EXPECT_NE(render_error("{{ outputs.t.files.2 }}").find("'outputs.t.files.2'"), std::string::npos);
}

TEST(TemplateTest, UnknownNameIsAnErrorNamingTheFullDottedName) {
  std::string message = render_error("select '{{ params.contry }}'");
  EXPECT_NE(message.find("unknown template variable 'params.contry'"), std::string::npos)
      << message;
  EXPECT_NE(message.find("did you mean 'params.country'?"), std::string::npos) << message;

  EXPECT_NE(render_error("{{ env.UNSET_VAR }}").find("'env.UNSET_VAR'"), std::string::npos);
  // A name below a scalar is missing too, not a crash.
  EXPECT_NE(render_error("{{ ds.year }}").find("'ds.year'"), std::string::npos);
  EXPECT_NE(render_error("{{ nope }}").find("'nope'"), std::string::npos);
}

TEST(TemplateTest, DefaultFilterReplacesMissingAndNullValues) {
  EXPECT_EQ(render("{{ env.UNSET | default('fallback') }}"), "fallback");
  EXPECT_EQ(render("{{ env.UNSET | default(\"dq\") }}"), "dq");
  EXPECT_EQ(render("{{ params.missing | default(0) }}"), "0");
  EXPECT_EQ(render("{{ params.missing | default(-2.5) }}"), "-2.5");
  EXPECT_EQ(render("{{ nothing | default('was null') }}"), "was null");
  EXPECT_EQ(render("{{ params.country | default('xx') }}"), "us");
  EXPECT_EQ(render("{{ params.missing|default('a \\'q\\'') }}"), "a 'q'");
}

TEST(TemplateTest, DsAddShiftsDatesAcrossMonthsYearsAndLeapDays) {
  EXPECT_EQ(render("{{ ds | ds_add(1) }}"), "2026-02-04");
  EXPECT_EQ(render("{{ ds | ds_add(-3) }}"), "2026-01-31");
  EXPECT_EQ(render("{{ ds | ds_add(0) }}"), "2026-02-03");
  EXPECT_EQ(render("{{ ds | ds_add(365) }}"), "2027-02-03");
  EXPECT_EQ(render_template("{{ d | ds_add(1) }}", json{{"d", "2024-02-28"}}), "2024-02-29");
  EXPECT_EQ(render_template("{{ d | ds_add(1) }}", json{{"d", "2025-12-31"}}), "2026-01-01");
  // An ISO timestamp contributes its date part as written.
  EXPECT_EQ(render("{{ ts | ds_add(-1) }}"), "2026-02-02");
}

TEST(TemplateTest, DsAddRejectsNonDatesAtRenderAndBadArgumentsAtParse) {
  std::string message = render_error("{{ params.country | ds_add(1) }}");
  EXPECT_NE(message.find("ds_add"), std::string::npos) << message;
  EXPECT_NE(message.find("'us' is not a date"), std::string::npos) << message;
  EXPECT_NE(parse_error("{{ ds | ds_add('x') }}").find("whole number"), std::string::npos);
  EXPECT_NE(parse_error("{{ ds | ds_add(1.5) }}").find("whole number"), std::string::npos);
  EXPECT_NE(parse_error("{{ ds | ds_add }}").find("takes one argument"), std::string::npos);
  EXPECT_NE(parse_error("{{ ds | ds_add(1, 2) }}").find("got 2"), std::string::npos);
}

TEST(TemplateTest, FormatDateReformatsDatesAndTimestampsWithoutShiftingZones) {
  EXPECT_EQ(render("{{ ds | format_date('%Y/%m/%d') }}"), "2026/02/03");
  EXPECT_EQ(render("{{ ts | format_date('%Y%m%d %H:%M:%S') }}"), "20260203 02:00:00");
  EXPECT_EQ(render("{{ ts_utc | format_date(\"%H h\") }}"), "01 h");
  EXPECT_EQ(render("{{ ds | format_date('day %j of %y, 100%%') }}"), "day 034 of 26, 100%");
  EXPECT_EQ(render("{{ ts | format_date('%F %T') }}"), "2026-02-03 02:00:00");
  EXPECT_EQ(render_template("{{ t | format_date('%j') }}", json{{"t", "2024-12-31T23:59:59.5Z"}}),
            "366");
}

TEST(TemplateTest, FormatDateRejectsUnsupportedDirectivesAndNonDates) {
  std::string message = parse_error("{{ ds | format_date('%Y %Q') }}");
  EXPECT_NE(message.find("'%Q'"), std::string::npos) << message;
  EXPECT_NE(parse_error("{{ ds | format_date(3) }}").find("quoted format"), std::string::npos);
  EXPECT_NE(render_error("{{ params.country | format_date('%Y') }}").find("not a date"),
            std::string::npos);
  EXPECT_NE(render_error("{{ x | format_date('%Y') }}").find("unknown template variable 'x'"),
            std::string::npos);
}

TEST(TemplateTest, ShellQuoteUsesPosixSingleQuotes) {
  EXPECT_EQ(render("{{ ds | shell_quote }}"), "'2026-02-03'");
  EXPECT_EQ(render("{{ params.quote | shell_quote }}"), "'it'\\''s'");
  EXPECT_EQ(render_template("{{ s | shell_quote }}", json{{"s", ""}}), "''");
}

// Runs `printf %s QUOTED` through /bin/sh and returns what it printed.
std::string echo_through_shell(const std::string& quoted) {
  std::string command = "printf %s " + quoted;
  std::string full = "sh -c " + render_template("{{ c | shell_quote }}", json{{"c", command}});
  FILE* pipe = popen(full.c_str(), "r");
  if (pipe == nullptr) return "<popen failed>";
  std::string out;
  char buf[256];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  pclose(pipe);
  return out;
}

TEST(TemplateTest, ShellQuoteSurvivesARoundTripThroughTheShell) {
  const std::vector<std::string> nasty = {
      "plain",
      "it's",
      "''",
      "a b\tc",
      "$(touch /nonexistent/pwned) `id` $HOME ${X:-y}",
      "; rm -rf / # \\ \" ' & | < > * ? [a] ~",
      "line1\nline2",
      "-n",
      "%s %d",
      "",
      "\xc3\xa9t\xc3\xa9 \xe2\x9c\x93",
  };
  for (const auto& s : nasty) {
    std::string quoted = render_template("{{ s | shell_quote }}", json{{"s", s}});
    EXPECT_EQ(echo_through_shell(quoted), s) << "quoted as " << quoted;
  }
}

TEST(TemplateTest, SqlLiteralQuotesStringsAndLeavesNumbersAndNull) {
  EXPECT_EQ(render("{{ params.quote | sql_literal }}"), "'it''s'");
  EXPECT_EQ(render("{{ params.limit | sql_literal }}"), "10");
  EXPECT_EQ(render("{{ ratio | sql_literal }}"), "0.5");
  EXPECT_EQ(render("{{ nothing | sql_literal }}"), "NULL");
  EXPECT_EQ(render("{{ flag | sql_literal }}"), "TRUE");
  // A string that looks like a number is still a string.
  EXPECT_EQ(render_template("{{ v | sql_literal }}", json{{"v", "42"}}), "'42'");
  EXPECT_EQ(render_template("{{ v | sql_literal }}", json{{"v", "'; DROP TABLE t; --"}}),
            "'''; DROP TABLE t; --'");
}

TEST(TemplateTest, FiltersChainLeftToRight) {
  EXPECT_EQ(render("{{ ds | ds_add(-1) | format_date('%Y%m%d') }}"), "20260202");
  EXPECT_EQ(render("{{ ds | ds_add(1) | sql_literal }}"), "'2026-02-04'");
  EXPECT_EQ(render("{{ params.quote | sql_literal | shell_quote }}"), "''\\''it'\\'''\\''s'\\'''");
  // Filters before `default` let a missing value through to it.
  EXPECT_EQ(render("{{ params.day | ds_add(1) | default('none') | shell_quote }}"), "'none'");
  EXPECT_EQ(render("{{ params.day | default(null) | sql_literal }}"), "NULL");
  EXPECT_EQ(render("{{ params.day | default('2026-01-31') | ds_add(1) }}"), "2026-02-01");
}

TEST(TemplateTest, UnknownFilterIsAParseErrorWithPositionAndSuggestion) {
  std::string message = parse_error("run {{ ds | shell_quot }}");
  EXPECT_NE(message.find("unknown filter 'shell_quot'"), std::string::npos) << message;
  EXPECT_NE(message.find("line 1, column 13"), std::string::npos) << message;
  EXPECT_NE(message.find("did you mean 'shell_quote'?"), std::string::npos) << message;
}

TEST(TemplateTest, UnclosedExpressionIsAParseErrorNamingThePosition) {
  std::string message = parse_error("echo {{ ds ");
  EXPECT_NE(message.find("line 1, column 6"), std::string::npos) << message;
  EXPECT_NE(message.find("never closed"), std::string::npos) << message;
  EXPECT_NE(parse_error("a {{ ds }} b {{").find("column 14"), std::string::npos);
  EXPECT_NE(parse_error("{{ x | default('}}')").find("never closed"), std::string::npos);
}

TEST(TemplateTest, MalformedExpressionsAreParseErrors) {
  EXPECT_NE(parse_error("{{ }}").find("empty expression"), std::string::npos);
  EXPECT_NE(parse_error("{{ a..b }}").find("malformed name"), std::string::npos);
  EXPECT_NE(parse_error("{{ a b }}").find("expected '|' or '}}'"), std::string::npos);
  EXPECT_NE(parse_error("{{ a | }}").find("filter name"), std::string::npos);
  EXPECT_NE(parse_error("{{ a | shell_quote(1) }}").find("no arguments"), std::string::npos);
  EXPECT_NE(parse_error("{{ a | default(bare) }}").find("quoted strings"), std::string::npos);
  EXPECT_NE(parse_error("{{ a | default('x' }}").find("expected ',' or ')'"), std::string::npos);
}

TEST(TemplateTest, QuotedBracesInsideArgumentsDoNotCloseTheExpression) {
  EXPECT_EQ(render("{{ missing | default('}}') }}!"), "}}!");
}

TEST(TemplateTest, ReferencesListNamesFiltersDefaultsAndOffsets) {
  Template t = Template::parse(
      "cp {{ outputs.load.rows }} {{ ds | ds_add(-1) | shell_quote }} {{env.X|default('')}}");
  const auto& refs = t.references();
  ASSERT_EQ(refs.size(), 3u);
  EXPECT_EQ(refs[0].name, "outputs.load.rows");
  EXPECT_TRUE(refs[0].filters.empty());
  EXPECT_FALSE(refs[0].has_default);
  EXPECT_EQ(refs[0].offset, 3u);
  EXPECT_EQ(refs[1].name, "ds");
  EXPECT_EQ(refs[1].filters, (std::vector<std::string>{"ds_add", "shell_quote"}));
  EXPECT_FALSE(refs[1].has_default);
  EXPECT_EQ(refs[1].offset, 27u);
  EXPECT_EQ(refs[2].name, "env.X");
  EXPECT_EQ(refs[2].filters, (std::vector<std::string>{"default"}));
  EXPECT_TRUE(refs[2].has_default);
  EXPECT_EQ(refs[2].offset, 63u);
}

TEST(TemplateTest, ParsedTemplateRendersManyTimesAndCopiesIndependently) {
  Template t = Template::parse("{{ ds }}/{{ params.country }}");
  EXPECT_EQ(t.render(json{{"ds", "2026-01-01"}, {"params", {{"country", "de"}}}}), "2026-01-01/de");
  EXPECT_EQ(t.render(json{{"ds", "2026-01-02"}, {"params", {{"country", "fr"}}}}), "2026-01-02/fr");
  Template copy = t;
  Template moved = std::move(t);
  copy = Template::parse("{{ ds }}");
  EXPECT_EQ(moved.render(sample_context()), "2026-02-03/us");
  EXPECT_EQ(copy.render(sample_context()), "2026-02-03");
  EXPECT_EQ(moved.references().size(), 2u);
}

// ---- control flow (expected outputs are Jinja2's; template_jinja_test.cc
// checks the same texts against Jinja2 itself when it is installed) ----

TEST(TemplateTest, ForLoopOverASetListRendersLikeDbtsJaffleShop) {
  const std::string text =
      "{% set payment_methods = ['credit_card', 'coupon', 'bank_transfer', 'gift_card'] %}\n"
      "select order_id,\n"
      "  {% for payment_method in payment_methods -%}\n"
      "  sum(case when payment_method = '{{ payment_method }}' then amount else 0 end) as "
      "{{ payment_method }}_amount{% if not loop.last %},{% endif %}\n"
      "  {% endfor -%}\n"
      "  sum(amount) as total_amount\n"
      "from payments group by order_id\n";
  EXPECT_EQ(render(text),
            "\nselect order_id,\n"
            "  sum(case when payment_method = 'credit_card' then amount else 0 end) as "
            "credit_card_amount,\n"
            "  sum(case when payment_method = 'coupon' then amount else 0 end) as coupon_amount,\n"
            "  sum(case when payment_method = 'bank_transfer' then amount else 0 end) as "
            "bank_transfer_amount,\n"
            "  sum(case when payment_method = 'gift_card' then amount else 0 end) as "
            "gift_card_amount\n"
            "  sum(amount) as total_amount\n"
            "from payments group by order_id\n");
}

TEST(TemplateTest, LoopVariablesCountFromOneAndZero) {
  EXPECT_EQ(render("{% for f in outputs.load.files %}{{ loop.index }}{{ loop.index0 }}"
                   "{{ loop.length }}{{ f }}{% if loop.first %}F{% endif %}"
                   "{% if loop.last %}L{% endif %};{% endfor %}"),
            "102a.csvF;212b.csvL;");
  EXPECT_EQ(render("{% for c in 'ab' %}{{ c }}{{ loop.revindex }}{% endfor %}"), "a2b1");
  EXPECT_EQ(render("{% for k in conn.warehouse %}{{ k }} {% endfor %}"), "host port ");
  EXPECT_EQ(render("{% for x in [] %}a{% else %}empty{% endfor %}"), "empty");
  // Nested loops each have their own `loop`.
  EXPECT_EQ(render("{% for a in [1, 2] %}{% for b in ['x', 'y'] %}{{ loop.index }}{{ b }}"
                   "{% endfor %}{{ loop.index }};{% endfor %}"),
            "1x2y1;1x2y2;");
}

TEST(TemplateTest, IfElifElseTestTruthinessAsJinja) {
  auto branch = [](const std::string& condition) {
    return render("{% if " + condition + " %}yes{% else %}no{% endif %}");
  };
  for (const char* falsy :
       {"''", "[]", "0", "false", "nothing", "none", "params.missing is defined",
        "not params.country", "params.limit < 5", "'x' in params.country",
        "'a.csv' not in outputs.load.files", "1 == 2 or false"}) {
    EXPECT_EQ(branch(falsy), "no") << falsy;
  }
  for (const char* truthy : {"'x'", "[0]", "ratio", "flag", "params", "params.country == 'us'",
                             "params.limit >= 10 and params.limit != 11", "'s' in params.quote",
                             "nothing is none", "ds is defined", "params.missing is not defined",
                             "(1 < 2) and not (2 < 1)", "1 < 2 < 3", "ds > '2026-01-01'"}) {
    EXPECT_EQ(branch(truthy), "yes") << truthy;
  }
  EXPECT_EQ(render("{% if flag %}a{% elif nope %}b{% endif %}"), "a");
  EXPECT_EQ(render("{% if ratio > 1 %}a{% elif try_number == 2 %}b{% else %}c{% endif %}"), "b");
  EXPECT_EQ(render("{{ 'a' if flag else 'b' }}{{ 'c' if not flag }}"), "a");
}

TEST(TemplateTest, WhitespaceControlStripsOnlyWhereADashIs) {
  // Jinja2's defaults: trim_blocks and lstrip_blocks off.
  EXPECT_EQ(render("a\n  {% if flag %}\n  b\n  {% endif %}\nc"), "a\n  \n  b\n  \nc");
  EXPECT_EQ(render("a\n  {%- if flag %}\n  b\n  {%- endif %}\nc {#- note -#}  d"), "a\n  b\ncd");
  EXPECT_EQ(render("x  {{- ds -}}  y"), "x2026-02-03y");
  EXPECT_EQ(render("{%+ if flag +%} x {% endif %}"), " x ");
  EXPECT_EQ(render("a {# a comment {{ nope }} #} b"), "a  b");
}

TEST(TemplateTest, SetBindsNamesForTheRestOfTheTemplateOrLoopTurn) {
  EXPECT_EQ(render("{% set day = ds | ds_add(-1) %}{{ day }}/{{ day | format_date('%d') }}"),
            "2026-02-02/02");
  // A `set` in a loop lasts one turn, as in Jinja.
  EXPECT_EQ(render("{% set y = 0 %}{% for x in [1, 2] %}{{ y }}{% set y = x %}{{ y }};"
                   "{% endfor %}{{ y }}"),
            "01;02;0");
  EXPECT_EQ(render("{% if flag %}{% set z = 'in if' %}{% endif %}{{ z }}"), "in if");
  EXPECT_EQ(render("{% set block %}day {{ ds }}{% endset %}[{{ block | upper }}]"),
            "[DAY 2026-02-03]");
  // A name set from a missing value is an error only where it is used.
  EXPECT_EQ(render("{% set v = params.nope %}{{ v | default('d') }}"), "d");
}

TEST(TemplateTest, NewFiltersAndLiterals) {
  EXPECT_EQ(render("{{ outputs.load.files | join(', ') }}|{{ [1, 2] | join }}"), "a.csv, b.csv|12");
  EXPECT_EQ(render("{{ params.country | upper }}{{ 'MiXed' | lower }}"), "USmixed");
  EXPECT_EQ(render("{{ ds | replace('-', '') }}|{{ 'aaa' | replace('a', 'b', 2) }}"),
            "20260203|bba");
  EXPECT_EQ(render("{{ outputs.load.files | length }}{{ 'héllo' | length }}"), "25");
  EXPECT_EQ(render("{{ 'a' }}{{ \"b\" }}{{ 3 }}{{ -1.5 }}{{ true }}{{ none }}{{ ['x', 1] }}"),
            "ab3-1.5true[\"x\",1]");
  EXPECT_EQ(render("{{ outputs.load['rows'] }} {{ outputs.t.files[1] }} {{ outputs.t.files[-1] }}"),
            "1234 y.csv y.csv");
}

TEST(TemplateTest, AirflowMacrosAreTheDateFilters) {
  EXPECT_EQ(render("{{ macros.ds_add(ds, -1) }}"), "2026-02-02");
  EXPECT_EQ(render("{{ macros.ds_format(ds, '%Y-%m-%d', '%Y/%m/%d') }}"), "2026/02/03");
  EXPECT_EQ(
      render_template("{{ macros.ds_format(d, '%Y%m%d', '%d.%m.%y') }}", json{{"d", "20260203"}}),
      "03.02.26");
  EXPECT_NE(render_error("{{ macros.ds_format(ds, '%Y%m%d', '%Y') }}").find("does not match"),
            std::string::npos);
  std::string message = parse_error("{{ macros.ds_ad(ds, 1) }}");
  EXPECT_NE(message.find("unknown macro 'macros.ds_ad' (did you mean 'ds_add'?)"),
            std::string::npos)
      << message;
  EXPECT_NE(parse_error("{{ macros.ds_add(ds, 'x') }}").find("whole number"), std::string::npos);
  EXPECT_NE(parse_error("{{ macros.ds_format(ds, '%Q', '%Y') }}").find("'%Q'"), std::string::npos);
  // The macros count as the filters for the names they read.
  Template t = Template::parse("{{ macros.ds_add(params.day, 1) }}");
  ASSERT_EQ(t.references().size(), 1u);
  EXPECT_EQ(t.references()[0].name, "params.day");
  EXPECT_EQ(t.references()[0].filters, std::vector<std::string>{"ds_add"});
}

TEST(TemplateTest, RawKeepsTemplateSyntaxAndLoneCommentOpenersAreText) {
  EXPECT_EQ(render("{% raw %}{{ not_rendered }} {% if %}{% endraw %}!"),
            "{{ not_rendered }} {% if %}!");
  EXPECT_EQ(render("echo ${#files[@]} {{ ds }}"), "echo ${#files[@]} 2026-02-03");
  // SQL comments are rendered, as in dbt; {# #} comments template code out.
  EXPECT_EQ(render("-- {{ ds }}\nselect 1 {# {{ nope }} #}"), "-- 2026-02-03\nselect 1 ");
  EXPECT_NE(render_error("-- {{ nope }}\nselect 1").find("unknown template variable 'nope'"),
            std::string::npos);
}

TEST(TemplateTest, ReferencesIncludeNamesInsideBlocksButNotLocalNames) {
  Template t = Template::parse(
      "{% set cols = ['a', 'b'] %}{% for c in cols %}{{ c }}{{ loop.index }}"
      "{% if params.full %}{{ env.X | default('') }}{% endif %}{% endfor %}"
      "{% for f in outputs.load.files %}{{ f | shell_quote }}{% endfor %}{{ c | default(1) }}"
      "{% if params.opt is defined %}{{ params.opt }}{% endif %}");
  std::vector<std::string> names;
  for (const TemplateReference& ref : t.references()) names.push_back(ref.name);
  EXPECT_EQ(names, (std::vector<std::string>{"params.full", "env.X", "outputs.load.files", "c",
                                             "params.opt", "params.opt"}));
  EXPECT_TRUE(t.references()[1].has_default);
  EXPECT_FALSE(t.references()[2].has_default);
  EXPECT_TRUE(t.references()[3].has_default);  // outside the loop, `c` is not bound
  EXPECT_TRUE(t.references()[4].has_default);
  EXPECT_EQ(t.references()[0].line, 1);
  EXPECT_EQ(t.references()[0].column, 76);
}

TEST(TemplateTest, ReferencesKnowTheirLineAndColumn) {
  Template t = Template::parse("select\n  {{ ds }},\n\t{% if params.x %}é {{ run_id }}{% endif %}");
  const auto& refs = t.references();
  ASSERT_EQ(refs.size(), 3u);
  EXPECT_EQ(refs[0].line, 2);
  EXPECT_EQ(refs[0].column, 6);
  EXPECT_EQ(refs[1].line, 3);
  EXPECT_EQ(refs[1].column, 8);
  EXPECT_EQ(refs[2].line, 3);
  EXPECT_EQ(refs[2].column, 24);  // characters, not bytes: 'é' is one
}

// The TemplateError of `text`, parsed and rendered against the sample.
TemplateError error_of(const std::string& text) {
  try {
    render(text);
  } catch (const TemplateError& e) {
    return e;
  }
  return TemplateError("no error");
}

TEST(TemplateTest, SyntaxErrorsSayWhatWhereAndHowToFix) {
  struct Case {
    std::string text;
    int line, column;
    std::string problem;
  };
  const std::vector<Case> cases = {
      {"a\n  {% for x in [1] %}\nb", 2, 3, "'{% for %}' at 2:3 is never closed; add {% endfor %}"},
      {"{% if flag %}\n{% endfro %}", 2, 4, "unknown tag 'endfro' (did you mean 'endfor'?)"},
      {"{% endif %}", 1, 4, "'{% endif %}' has no '{% if %}' before it"},
      {"{% for x in [1] %}\n  {% endif %}", 2, 6,
       "'{% endif %}' found while '{% for %}' at 1:1 is open; close it with {% endfor %} first"},
      {"{% if a %}{% else %}{% elif b %}{% endif %}", 1, 24, "after '{% else %}'"},
      {"x\n{{ ds | upper(1) }}", 2, 9, "filter 'upper' takes no arguments, got 1"},
      {"{% if x = 1 %}{% endif %}", 1, 9, "'=' assigns; compare with '=='"},
      {"{% for x %}{% endfor %}", 1, 10, "expected 'in' after 'for x'"},
      {"{{ loop.index }}", 1, 4, "'loop' is only defined inside {% for %}"},
      {"{% macro m() %}{% endmacro %}", 1, 4, "'{% macro %}' is not supported"},
      {"{{ ds -1 }}", 1, 7, "is not supported in templates"},
      {"\n\n  {% if flag", 3, 3, "'{%' is never closed with '%}'"},
      {"{% raw %}x", 1, 1, "'{% raw %}' at 1:1 is never closed; add {% endraw %}"},
      {"{{ 'abc }}", 1, 4, "string is never closed"},
      {"{% if %}{% endif %}", 1, 7, "expected a value, found '%}'"},
      {"{% %}", 1, 1, "empty tag"},
      {"{{ a is odd }}", 1, 9, "unknown test 'odd'"},
  };
  for (const Case& c : cases) {
    TemplateError e = error_of(c.text);
    EXPECT_NE(e.problem().find(c.problem), std::string::npos) << c.text << " -> " << e.what();
    EXPECT_EQ(e.line(), c.line) << c.text << " -> " << e.what();
    EXPECT_EQ(e.column(), c.column) << c.text << " -> " << e.what();
  }
}

TEST(TemplateTest, RenderErrorsPointAtTheNameAndShowTheLine) {
  TemplateError e =
      error_of("select\n  {% for f in outputs.load.files %}\n  '{{ paramz.x }}'\n{% endfor %}");
  EXPECT_EQ(e.line(), 3);
  EXPECT_EQ(e.column(), 7);
  EXPECT_EQ(e.problem(), "unknown template variable 'paramz.x' (did you mean 'params'?)");
  EXPECT_EQ(e.source_line(), "'{{ paramz.x }}'");
  EXPECT_EQ(e.located("sql/q.sql"),
            "sql/q.sql:3:7: unknown template variable 'paramz.x' (did you mean 'params'?); "
            "the line reads: '{{ paramz.x }}'");
  std::string what = e.what();
  EXPECT_EQ(what.rfind("template error at line 3, column 7: ", 0), 0u) << what;
  // One-line templates are in view already: no copy of the line.
  EXPECT_EQ(error_of("{{ nope }}").located("f"), "f:1:4: unknown template variable 'nope'");

  EXPECT_NE(error_of("{% for x in ds %}{% endfor %}{% for y in try_number %}{% endfor %}")
                .problem()
                .find("cannot loop over 'try_number', a number"),
            std::string::npos);
  EXPECT_NE(
      error_of("{{ params.country < 1 }}").problem().find("cannot compare a string with a number"),
      std::string::npos);
}

TEST(TemplateTest, LongLinesAreCutAroundTheColumnInMessages) {
  std::string text = "x\n" + std::string(300, 'a') + " {{ nope }} " + std::string(300, 'b');
  TemplateError e = error_of(text);
  EXPECT_EQ(e.line(), 2);
  EXPECT_EQ(e.column(), 305);
  EXPECT_LT(e.source_line().size(), 120u);
  EXPECT_NE(e.source_line().find("{{ nope }}"), std::string::npos) << e.source_line();
  EXPECT_EQ(e.source_line().substr(0, 3), "...");
}

TEST(TemplateTest, PathologicalTemplatesFailWithAClearErrorInsteadOfRunningAway) {
  std::string deep;
  for (int i = 0; i < 200; ++i) deep += "{% if flag %}";
  EXPECT_NE(parse_error(deep).find("nested more than 64 deep"), std::string::npos);
  EXPECT_NE(parse_error("{{ " + std::string(500, '(') + "1" + std::string(500, ')') + " }}")
                .find("nested more than 64 deep"),
            std::string::npos);
  EXPECT_NE(parse_error("{{ " + std::string(5000, '[') + " }}").find("nested"), std::string::npos);
  std::string nots;
  for (int i = 0; i < 1000; ++i) nots += "not ";
  EXPECT_NE(parse_error("{{ " + nots + "1 }}").find("nested"), std::string::npos);

  std::string chain = "{{ flag";
  for (int i = 0; i < 100000; ++i) chain += " and flag | upper";
  EXPECT_NE(parse_error(chain + " }}").find("more than 256 operators"), std::string::npos);

  // Many names, and many `{#` never closed: linear, not quadratic.
  std::string many;
  for (int i = 0; i < 100000; ++i) many += "{{ ds }} ${#x[@]}\n";
  EXPECT_EQ(Template::parse(many).references().size(), 100000u);

  json big{{"xs", json::array()}};
  for (int i = 0; i < 1000; ++i) big["xs"].push_back(i);
  std::string loops =
      "{% for a in xs %}{% for b in xs %}{% for c in xs %}.{% endfor %}{% endfor %}{% endfor %}";
  std::string message = template_error([&] { render_template(loops, big); });
  EXPECT_NE(message.find("loops ran more than 1000000 times"), std::string::npos) << message;
  json huge{{"s", std::string(1 << 20, 'x')}, {"xs", big["xs"]}};
  message = template_error([&] { render_template("{% for a in xs %}{{ s }}{% endfor %}", huge); });
  EXPECT_NE(message.find("passed 64 MiB"), std::string::npos) << message;
}

TEST(TemplateTest, SourceLinesTraceOutputBackToTheTemplate) {
  Template t = Template::parse(
      "{% set xs = ['a', 'b'] %}\n"
      "{% for x in xs %}\n"
      "insert into t values ('{{ x }}');\n"
      "{% endfor %}\n"
      "select 1;\n");
  std::vector<RenderedSpan> spans;
  std::string out = t.render(json::object(), &spans);
  ASSERT_EQ(out, "\n\ninsert into t values ('a');\n\ninsert into t values ('b');\n\nselect 1;\n");
  EXPECT_EQ(t.source_line(spans, out.find("insert")), 3);
  EXPECT_EQ(t.source_line(spans, out.find("'b'")), 3);
  EXPECT_EQ(t.source_line(spans, out.find("select")), 5);
}

}  // namespace
}  // namespace sluice
