#include "worker/column_types.h"

#include <gtest/gtest.h>

#include <initializer_list>

namespace sluice {
namespace {

ColumnTypeGuess guess(std::initializer_list<const char*> values) {
  ColumnTypeGuess g;
  for (const char* v : values) g.add(v);
  return g;
}

TEST(ColumnTypeGuess, NarrowestKindEveryValueFits) {
  EXPECT_EQ(guess({"1", "-20", "+3"}).kind(), ColumnKind::kInteger);
  EXPECT_EQ(guess({"1", "2.5", "1e3"}).kind(), ColumnKind::kNumeric);
  EXPECT_EQ(guess({"true", "F", "yes", "no"}).kind(), ColumnKind::kBoolean);
  EXPECT_EQ(guess({"2026-01-31", "2024-02-29"}).kind(), ColumnKind::kDate);
  EXPECT_EQ(guess({"2026-01-31", "2026-01-31T10:00:00.123"}).kind(), ColumnKind::kTimestamp);
  EXPECT_EQ(guess({"abc"}).kind(), ColumnKind::kText);
}

TEST(ColumnTypeGuess, ALaterValueWidensAndNeverNarrows) {
  EXPECT_EQ(guess({"1", "2", "x"}).kind(), ColumnKind::kText);
  EXPECT_EQ(guess({"1", "2.5", "3"}).kind(), ColumnKind::kNumeric);
  EXPECT_EQ(guess({"true", "1"}).kind(), ColumnKind::kText);
  EXPECT_EQ(guess({"2026-01-01", "2026-02-30"}).kind(), ColumnKind::kText);  // no such day
  EXPECT_EQ(guess({"2026-01-01 10:00", "25:00"}).kind(), ColumnKind::kText);
  // With and without a UTC offset name instants differently: text.
  EXPECT_EQ(guess({"2026-01-01 10:00+01", "2026-01-01 10:00"}).kind(), ColumnKind::kText);
}

TEST(ColumnTypeGuess, EmptyValuesAreNullAndLeadingZerosAreCodes) {
  EXPECT_EQ(guess({"", "4", " "}).kind(), ColumnKind::kInteger);
  EXPECT_EQ(guess({"", ""}).kind(), ColumnKind::kText);
  EXPECT_EQ(guess({"007", "8"}).kind(), ColumnKind::kText);
  EXPECT_EQ(guess({"0", "0.5", "-0.25"}).kind(), ColumnKind::kNumeric);
}

TEST(ColumnTypeGuess, SqlTypesPerDatabase) {
  EXPECT_EQ(guess({"1"}).sql_type(false), "INTEGER");
  EXPECT_EQ(guess({"1", "3000000000"}).sql_type(false), "BIGINT");
  EXPECT_EQ(guess({"1", "3000000000"}).sql_type(true), "INTEGER");
  EXPECT_EQ(guess({"99999999999999999999"}).sql_type(false), "NUMERIC");  // beyond bigint
  EXPECT_EQ(guess({"2026-01-01T00:00:00Z"}).sql_type(false), "TIMESTAMPTZ");
  EXPECT_EQ(guess({"2026-01-01T00:00:00Z"}).sql_type(true), "TIMESTAMP");
  EXPECT_EQ(guess({"2026-01-01 00:00:00"}).sql_type(false), "TIMESTAMP");
}

TEST(ColumnKinds, OfSqlTypesAndWhatFitsWhere) {
  EXPECT_EQ(column_kind_of("bigint"), ColumnKind::kInteger);
  EXPECT_EQ(column_kind_of("NUMERIC(12,2)"), ColumnKind::kNumeric);
  EXPECT_EQ(column_kind_of("double precision"), ColumnKind::kNumeric);
  EXPECT_EQ(column_kind_of("timestamp with time zone"), ColumnKind::kTimestamp);
  EXPECT_EQ(column_kind_of("date"), ColumnKind::kDate);
  EXPECT_EQ(column_kind_of("character varying(20)"), ColumnKind::kText);
  EXPECT_EQ(column_kind_of("interval"), ColumnKind::kOther);
  EXPECT_EQ(column_kind_of("jsonb"), ColumnKind::kOther);
  EXPECT_TRUE(column_kind_fits(ColumnKind::kInteger, ColumnKind::kNumeric));
  EXPECT_TRUE(column_kind_fits(ColumnKind::kDate, ColumnKind::kTimestamp));
  EXPECT_TRUE(column_kind_fits(ColumnKind::kBoolean, ColumnKind::kText));
  EXPECT_FALSE(column_kind_fits(ColumnKind::kNumeric, ColumnKind::kInteger));
  EXPECT_FALSE(column_kind_fits(ColumnKind::kText, ColumnKind::kDate));
}

}  // namespace
}  // namespace sluice
