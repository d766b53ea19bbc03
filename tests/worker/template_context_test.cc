// The date values of a task's template context, in the DAG's time zone.
#include "worker/template_context.h"

#include <gtest/gtest.h>

#include "core/config.h"
#include "core/dag_loader.h"
#include "core/store.h"
#include "core/time.h"

namespace sluice {
namespace {

nlohmann::json context_for(const std::string& timezone, const char* start, const char* end) {
  LoadResult loaded = load_dag_text("dags/d.yaml", "dag: d\ntimezone: " + timezone +
                                                       "\ntasks:\n"
                                                       "  - {id: a, type: shell, command: \"true\"}\n");
  EXPECT_TRUE(loaded.dag) << (loaded.errors.empty() ? "" : loaded.errors[0].to_string());
  if (!loaded.dag) return {};
  RunRecord run;
  run.run_id = "manual__x";
  run.interval = DataInterval{*parse_timestamp(start), *parse_timestamp(end)};
  Config config;
  return build_template_context(*loaded.dag, loaded.dag->tasks[0], run, 1, config,
                                [] { return nlohmann::json::object(); });
}

TEST(TemplateContext, DatesAreInTheDagsTimeZone) {
  nlohmann::json ctx = context_for("Europe/Berlin", "2026-02-03T01:00:00Z", "2026-02-04T01:00:00Z");
  EXPECT_EQ(ctx["ds"], "2026-02-03");
  EXPECT_EQ(ctx["ds_nodash"], "20260203");
  EXPECT_EQ(ctx["ts"], "2026-02-03T02:00:00+01:00");
  EXPECT_EQ(ctx["logical_date"], "2026-02-03T02:00:00+01:00");
  EXPECT_EQ(ctx["data_interval_start"], "2026-02-03T02:00:00+01:00");
  EXPECT_EQ(ctx["data_interval_end"], "2026-02-04T02:00:00+01:00");
}

TEST(TemplateContext, TheLocalDateIsNotTheUtcDate) {
  // 23:30 UTC is already the next day in Berlin, and in summer time.
  nlohmann::json ctx = context_for("Europe/Berlin", "2026-07-03T23:30:00Z", "2026-07-04T23:30:00Z");
  EXPECT_EQ(ctx["ds"], "2026-07-04");
  EXPECT_EQ(ctx["ds_nodash"], "20260704");
  EXPECT_EQ(ctx["ts"], "2026-07-04T01:30:00+02:00");
  // West of UTC the local date is the day before.
  ctx = context_for("America/New_York", "2026-01-10T03:00:00Z", "2026-01-11T03:00:00Z");
  EXPECT_EQ(ctx["ds"], "2026-01-09");
  EXPECT_EQ(ctx["ds_nodash"], "20260109");
  EXPECT_EQ(ctx["data_interval_end"], "2026-01-10T22:00:00-05:00");
}

TEST(TemplateContext, UtcDags) {
  nlohmann::json ctx = context_for("UTC", "2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z");
  EXPECT_EQ(ctx["ds"], "2026-03-01");
  EXPECT_EQ(ctx["ds_nodash"], "20260301");
  EXPECT_EQ(ctx["ts"], "2026-03-01T00:00:00+00:00");
  EXPECT_EQ(ctx["run_id"], "manual__x");
  EXPECT_EQ(ctx["task_id"], "a");
  EXPECT_EQ(ctx["try_number"], 1);
}

}  // namespace
}  // namespace sluice
