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
  EXPECT_NE(message.find("offset 12"), std::string::npos) << message;
  EXPECT_NE(message.find("did you mean 'shell_quote'?"), std::string::npos) << message;
}

TEST(TemplateTest, UnclosedExpressionIsAParseErrorNamingTheOffset) {
  std::string message = parse_error("echo {{ ds ");
  EXPECT_NE(message.find("offset 5"), std::string::npos) << message;
  EXPECT_NE(message.find("never closed"), std::string::npos) << message;
  EXPECT_NE(parse_error("a {{ ds }} b {{").find("offset 13"), std::string::npos);
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

}  // namespace
}  // namespace sluice
