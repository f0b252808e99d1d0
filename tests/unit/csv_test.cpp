#include "csv.h"

#include <gtest/gtest.h>

namespace gwctl {
namespace {

TEST(CsvTest, ParsesQuotesCrlfAndBom) {
  Diagnostics d;
  auto records = ParseCsv(
      "u.csv",
      "\xEF\xBB\xBF"
      "email,name\r\na@x.example,\"Smith, \"\"Al\"\"\"\r\n\r\nb@x.example,\"two\nlines\"\n",
      d);
  EXPECT_FALSE(d.has_errors());
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].fields[0].value, "email");
  EXPECT_EQ(records[1].fields[1].value, "Smith, \"Al\"");
  EXPECT_EQ(records[1].line, 2);
  EXPECT_EQ(records[2].line, 4);
  EXPECT_EQ(records[2].fields[1].value, "two\nlines");
  EXPECT_EQ(records[2].fields[1].column, 13);
}

TEST(CsvTest, KeepsEmptyTrailingField) {
  Diagnostics d;
  auto records = ParseCsv("u.csv", "a,b,\n", d);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].fields.size(), 3u);
}

TEST(CsvTest, ReportsBadRowsAndKeepsGoing) {
  Diagnostics d;
  auto records = ParseCsv("u.csv", "email\na\"b\n\"x\"y\nok@x.example\n\"open\n", d);
  ASSERT_EQ(records.size(), 2u);  // the header and ok@x.example
  EXPECT_EQ(records[1].fields[0].value, "ok@x.example");
  ASSERT_EQ(d.items().size(), 3u);
  EXPECT_EQ(d.items()[0].location.line, 2);
  EXPECT_EQ(d.items()[0].location.column, 2);
  EXPECT_EQ(d.items()[1].location.line, 3);
  EXPECT_EQ(d.items()[2].location.line, 5);
  EXPECT_EQ(d.items()[2].message, "quoted field is never closed");
}

TEST(CsvTest, RecordsOverTheLimitsAreReportedAndSkipped) {
  Diagnostics d;
  CsvLimits limits;
  limits.max_fields = 4;
  limits.max_field_bytes = 16;
  auto records = ParseCsv(
      "u.csv", "email\n1,2,3,4,5\n\"01234567890123456789\"\n01234567890123456789\nok@x.example\n",
      d, limits);
  ASSERT_EQ(records.size(), 2u);  // the header and ok@x.example
  EXPECT_EQ(records[1].fields[0].value, "ok@x.example");
  ASSERT_EQ(d.items().size(), 3u);
  EXPECT_EQ(d.items()[0].message, "record has more than 4 fields");
  EXPECT_EQ(d.items()[0].location.line, 2);
  EXPECT_EQ(d.items()[1].message, "field is longer than 16 bytes");
  EXPECT_EQ(d.items()[1].location.line, 3);
  EXPECT_EQ(d.items()[2].location.line, 4);
}

}  // namespace
}  // namespace gwctl
