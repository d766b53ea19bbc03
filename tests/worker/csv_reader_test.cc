#include "worker/csv_reader.h"

#include <sstream>

#include <gtest/gtest.h>

namespace sluice {
namespace {

std::vector<CsvRecord> read_all(const std::string& text, char delimiter = ',') {
  std::istringstream in(text);
  CsvReader reader(in, delimiter);
  std::vector<CsvRecord> out;
  CsvRecord r;
  while (reader.next(r)) out.push_back(r);
  return out;
}

using Fields = std::vector<std::string>;

TEST(CsvReader, SplitsPlainRecords) {
  auto records = read_all("a,b,c\n1,2,3\n");
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].fields, (Fields{"a", "b", "c"}));
  EXPECT_EQ(records[1].fields, (Fields{"1", "2", "3"}));
  EXPECT_EQ(records[1].line, 2);
  EXPECT_EQ(records[1].raw, "1,2,3");
}

TEST(CsvReader, QuotedFieldsKeepDelimitersDoubledQuotesAndNewlines) {
  auto records = read_all("\"x,y\",\"say \"\"hi\"\"\",\"two\nlines\"\nnext,2,3\n");
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].fields, (Fields{"x,y", "say \"hi\"", "two\nlines"}));
  EXPECT_TRUE(records[0].error.empty());
  // The embedded newline counts: the next record starts on line 3.
  EXPECT_EQ(records[1].line, 3);
}

TEST(CsvReader, UnquotedEmptyIsNullQuotedEmptyIsEmptyString) {
  auto records = read_all("a,,\"\"\n");
  ASSERT_EQ(records.size(), 1u);
  ASSERT_EQ(records[0].fields.size(), 3u);
  EXPECT_FALSE(records[0].is_null(0));
  EXPECT_TRUE(records[0].is_null(1));
  EXPECT_FALSE(records[0].is_null(2));
  EXPECT_EQ(records[0].fields[2], "");
}

TEST(CsvReader, HandlesCrlfBlankLinesMissingFinalNewlineAndDelimiter) {
  auto records = read_all("a;b\r\n\r\n\n1;\"2\"\r\n3;4", ';');
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[1].fields, (Fields{"1", "2"}));
  EXPECT_EQ(records[1].line, 4);
  EXPECT_EQ(records[2].fields, (Fields{"3", "4"}));
  EXPECT_EQ(records[2].line, 5);
}

TEST(CsvReader, ReportsMalformedRecordsWithTheirLineAndContinues) {
  auto records = read_all("h1,h2\nok,1\n\"ab\"c,2\nx\"y,3\nfine,4\n\"open,5\nrest\n");
  ASSERT_EQ(records.size(), 6u);
  EXPECT_TRUE(records[1].error.empty());
  EXPECT_EQ(records[2].line, 3);
  EXPECT_NE(records[2].error.find("after the closing quote"), std::string::npos);
  EXPECT_EQ(records[2].raw, "\"ab\"c,2");
  EXPECT_EQ(records[3].line, 4);
  EXPECT_NE(records[3].error.find("quote inside unquoted field"), std::string::npos);
  EXPECT_EQ(records[4].fields, (Fields{"fine", "4"}));
  EXPECT_EQ(records[5].line, 6);
  EXPECT_NE(records[5].error.find("opened on line 6 is never closed"), std::string::npos);
}

TEST(CsvReader, RecordsSpanningTheReadBufferStayWhole) {
  // Given a quoted field that crosses the reader's 1 MiB block boundary.
  std::string filler(1024 * 1024 - 5, 'x');
  std::string text = "a,b\n\"" + filler + "\"\"q\",2\nlast,3\n";
  auto records = read_all(text);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[1].fields[0], filler + "\"q");
  EXPECT_EQ(records[1].raw, "\"" + filler + "\"\"q\",2");
  EXPECT_EQ(records[2].fields, (Fields{"last", "3"}));
  EXPECT_EQ(records[2].line, 3);
}

}  // namespace
}  // namespace sluice
