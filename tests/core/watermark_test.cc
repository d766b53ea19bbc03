#include "core/watermark.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace sluice {
namespace {

std::string key(const std::string& kind, const std::string& value) {
  std::optional<std::string> k = watermark_sort_key(kind, value);
  EXPECT_TRUE(k) << kind << " " << value;
  return k.value_or("");
}

TEST(Watermark, NumbersSortAsNumbers) {
  std::vector<std::string> ordered = {"-1e3", "-20", "-2.5", "-2", "-0.5", "0",  "0.001",
                                      "0.5",  "2",   "2.25", "10", "99.9", "1e6"};
  for (size_t i = 1; i < ordered.size(); ++i) {
    EXPECT_LT(key("number", ordered[i - 1]), key("number", ordered[i]))
        << ordered[i - 1] << " < " << ordered[i];
  }
  EXPECT_EQ(key("number", "10"), key("number", "10.000"));
  EXPECT_EQ(key("number", "1e1"), key("number", "10"));
  EXPECT_FALSE(watermark_sort_key("number", "abc"));
}

TEST(Watermark, TimestampsSortAsInstants) {
  EXPECT_LT(key("timestamp", "2026-01-01"), key("timestamp", "2026-01-01 00:00:00.000001"));
  EXPECT_EQ(key("timestamp", "2026-01-01T01:00:00+01:00"), key("timestamp", "2026-01-01 00:00Z"));
  EXPECT_LT(key("timestamp", "2026-01-01 10:00:00+05"), key("timestamp", "2026-01-01 06:00:00"));
  EXPECT_LT(key("timestamp", "1969-12-31 23:59:59"), key("timestamp", "1970-01-01"));
}

TEST(Watermark, KindsAndTheTracker) {
  EXPECT_EQ(watermark_kind_of("42"), "number");
  EXPECT_EQ(watermark_kind_of("2026-01-01 00:00:00+00"), "timestamp");
  EXPECT_EQ(watermark_kind_of("abc"), "text");

  WatermarkTracker numbers;
  for (const char* v : {"9", "10", "", "2"}) numbers.add(v);
  EXPECT_EQ(numbers.result("id")->value, "10");
  EXPECT_EQ(numbers.result("id")->kind, "number");

  WatermarkTracker stamps;
  for (const char* v : {"2026-01-02 00:00:00+00", "2026-01-02 03:00:00+05", "2026-01-01"})
    stamps.add(v);
  EXPECT_EQ(stamps.result("at")->value, "2026-01-02 00:00:00+00");

  WatermarkTracker mixed;
  for (const char* v : {"9", "10", "b", "a"}) mixed.add(v);
  EXPECT_EQ(mixed.result("c")->value, "b");
  EXPECT_EQ(mixed.result("c")->kind, "text");

  EXPECT_FALSE(WatermarkTracker().result("none"));
}

TEST(Watermark, LookbackKeepsTheValuesShape) {
  Watermark at = make_watermark("at", "2026-01-02 00:30:00+00");
  EXPECT_EQ(watermark_less_lookback(at, ""), "2026-01-02 00:30:00+00");
  EXPECT_EQ(watermark_less_lookback(at, "1h"), "2026-01-01 23:30:00+00");
  Watermark iso = make_watermark("at", "2026-03-01T00:00:00.250Z");
  EXPECT_EQ(watermark_less_lookback(iso, "1d"), "2026-02-28T00:00:00.250Z");
  Watermark day = make_watermark("day", "2026-01-01");
  EXPECT_EQ(watermark_less_lookback(day, "1h"), "2025-12-31");
  Watermark id = make_watermark("id", "1000");
  EXPECT_EQ(watermark_less_lookback(id, "100"), "900");
  EXPECT_EQ(watermark_less_lookback(make_watermark("x", "1.5"), "0.25"), "1.25");
  EXPECT_THROW(watermark_less_lookback(id, "1h"), UserError);
  EXPECT_THROW(watermark_less_lookback(at, "100"), UserError);
  EXPECT_THROW(watermark_less_lookback(make_watermark("c", "abc"), "1"), UserError);
}

}  // namespace
}  // namespace sluice
