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

TEST(TextTest, FindInvalidUtf8PointsAtTheFirstBadByte) {
  EXPECT_EQ(find_invalid_utf8(""), std::string_view::npos);
  EXPECT_EQ(find_invalid_utf8("plain ascii"), std::string_view::npos);
  EXPECT_EQ(find_invalid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), std::string_view::npos);
  EXPECT_EQ(find_invalid_utf8("ab\xc3\x28"), 2u);            // bad continuation
  EXPECT_EQ(find_invalid_utf8("ab\xc3"), 2u);                 // cut short
  EXPECT_EQ(find_invalid_utf8("\x80"), 0u);                   // stray continuation
  EXPECT_EQ(find_invalid_utf8("\xc0\xaf"), 0u);               // overlong '/'
  EXPECT_EQ(find_invalid_utf8("\xe0\x80\xaf"), 0u);           // overlong
  EXPECT_EQ(find_invalid_utf8("x\xed\xa0\x80"), 1u);          // surrogate U+D800
  EXPECT_EQ(find_invalid_utf8("\xf4\x90\x80\x80"), 0u);       // past U+10FFFF
  EXPECT_EQ(find_invalid_utf8("\xf4\x8f\xbf\xbf"), std::string_view::npos);  // U+10FFFF
  EXPECT_EQ(find_invalid_utf8("\xff"), 0u);
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
