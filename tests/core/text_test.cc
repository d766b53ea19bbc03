#include "core/text.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sluice {
namespace {

TEST(TextTest, EditDistanceCountsSingleCharacterEdits) {
  EXPECT_EQ(edit_distance("", ""), 0u);
  EXPECT_EQ(edit_distance("abc", ""), 3u);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("pools", "pool"), 1u);
  EXPECT_EQ(edit_distance("prot", "port"), 1u);
  EXPECT_EQ(edit_distance("ab", "ba"), 1u);
}

TEST(TextTest, DidYouMeanSuggestsOnlyCloseCandidates) {
  std::vector<std::string> keys = {"depends_on", "retries", "timeout"};
  EXPECT_EQ(did_you_mean("retires", keys), " (did you mean 'retries'?)");
  EXPECT_EQ(did_you_mean("Timeout", keys), " (did you mean 'timeout'?)");
  EXPECT_EQ(did_you_mean("schedule", keys), "");
  EXPECT_EQ(closest_match("dependson", keys), "depends_on");
}

TEST(TextTest, JoinTrimSplit) {
  EXPECT_EQ(join({"a", "b", "c"}, ", "), "a, b, c");
  EXPECT_EQ(join({}, ","), "");
  EXPECT_EQ(trim("  x y \n"), "x y");
  EXPECT_EQ(trim(" \t "), "");
  EXPECT_EQ(split("a,,b", ','), (std::vector<std::string>{"a", "", "b"}));
  EXPECT_EQ(split("", ','), (std::vector<std::string>{""}));
}

TEST(TextTest, CaseAndAffixHelpers) {
  EXPECT_EQ(to_lower("SLUICE_Conn"), "sluice_conn");
  EXPECT_EQ(to_upper("warehouse"), "WAREHOUSE");
  EXPECT_TRUE(starts_with("SLUICE_DB", "SLUICE_"));
  EXPECT_FALSE(starts_with("SL", "SLUICE_"));
  EXPECT_TRUE(ends_with("dag.yaml", ".yaml"));
  EXPECT_FALSE(ends_with("yaml", ".yaml"));
}

}  // namespace
}  // namespace sluice
