// Result writers: exact output of every format.

#include <gtest/gtest.h>

#include <sstream>

#include "eavdb/error.h"
#include "io/io.h"

namespace eavdb::io {
namespace {

QueryResult sample() {
  QueryResult r;
  r.columns = {{"title", ValueType::kVarchar}, {"price", ValueType::kDecimal}, {"n", ValueType::kInt},
               {"at", ValueType::kDatetime}};
  r.rows.push_back({std::string("Caf\xC3\xA9, \"quoted\""), Decimal::parse("19.90"), int64_t{-3},
                    DateTime{896'313'600'000'000}});
  r.rows.push_back({std::string("plain"), std::monostate{}, int64_t{12345}, std::monostate{}});
  return r;
}

std::string render(const QueryResult& r, OutputFormat f) {
  std::ostringstream out;
  write_result(out, r, f);
  return out.str();
}

TEST(IoWriter, Json) {
  EXPECT_EQ(render(sample(), OutputFormat::kJson),
            "[\n"
            "  {\"title\":\"Caf\xC3\xA9, \\\"quoted\\\"\",\"price\":19.90,\"n\":-3,\"at\":\"1998-05-28T00:00:00Z\"},\n"
            "  {\"title\":\"plain\",\"price\":null,\"n\":12345,\"at\":null}\n"
            "]\n");
  QueryResult empty;
  empty.columns = {{"a", ValueType::kInt}};
  EXPECT_EQ(render(empty, OutputFormat::kJson), "[]\n");
}

TEST(IoWriter, NdjsonAndSelectStarOmitsNulls) {
  QueryResult r = sample();
  EXPECT_EQ(render(r, OutputFormat::kNdjson),
            "{\"title\":\"Caf\xC3\xA9, \\\"quoted\\\"\",\"price\":19.90,\"n\":-3,\"at\":\"1998-05-28T00:00:00Z\"}\n"
            "{\"title\":\"plain\",\"price\":null,\"n\":12345,\"at\":null}\n");
  r.select_star = true;
  EXPECT_EQ(render(r, OutputFormat::kNdjson),
            "{\"title\":\"Caf\xC3\xA9, \\\"quoted\\\"\",\"price\":19.90,\"n\":-3,\"at\":\"1998-05-28T00:00:00Z\"}\n"
            "{\"title\":\"plain\",\"n\":12345}\n");
}

TEST(IoWriter, Csv) {
  QueryResult r = sample();
  r.columns[0].name = "the title";
  r.rows.push_back({std::string(""), Decimal::parse("-0.5"), int64_t{0}, std::monostate{}});
  r.rows.push_back({std::string("two\nlines"), std::monostate{}, std::monostate{}, std::monostate{}});
  EXPECT_EQ(render(r, OutputFormat::kCsv),
            "the title,price,n,at\n"
            "\"Caf\xC3\xA9, \"\"quoted\"\"\",19.90,-3,1998-05-28T00:00:00Z\n"
            "plain,,12345,\n"
            "\"\",-0.5,0,\n"
            "\"two\nlines\",,,\n");
}

TEST(IoWriter, Table) {
  EXPECT_EQ(render(sample(), OutputFormat::kTable),
            "title          | price |     n | at\n"
            "---------------+-------+-------+---------------------\n"
            "Caf\xC3\xA9, \"quoted\" | 19.90 |    -3 | 1998-05-28T00:00:00Z\n"
            "plain          |  NULL | 12345 | NULL\n"
            "(2 rows)\n");
  QueryResult one;
  one.columns = {{"long", ValueType::kText}};
  one.rows.push_back({std::string(70, 'a')});
  EXPECT_EQ(render(one, OutputFormat::kTable),
            "long\n" + std::string(60, '-') + "\n" + std::string(59, 'a') + "\u2026\n(1 row)\n");
  QueryResult none;
  none.columns = {{"x", ValueType::kInt}};
  EXPECT_EQ(render(none, OutputFormat::kTable), "x\n-\n(0 rows)\n");
}

TEST(IoWriter, FormatNames) {
  EXPECT_EQ(parse_output_format("table"), OutputFormat::kTable);
  EXPECT_EQ(parse_output_format("json"), OutputFormat::kJson);
  EXPECT_EQ(parse_output_format("ndjson"), OutputFormat::kNdjson);
  EXPECT_EQ(parse_output_format("csv"), OutputFormat::kCsv);
  EXPECT_THROW(parse_output_format("xml"), Error);
  EXPECT_EQ(parse_format("csv"), Format::kCsv);
  EXPECT_EQ(parse_format("ndjson"), Format::kNdjson);
  EXPECT_EQ(parse_format("json"), Format::kJson);
  EXPECT_EQ(format_from_path("/data/movies.json"), Format::kJson);
  EXPECT_EQ(format_from_path("x.NDJSON"), Format::kNdjson);
  EXPECT_EQ(format_from_path("x.jsonl"), Format::kNdjson);
  EXPECT_EQ(format_from_path("dir.v2/zipcodes.csv"), Format::kCsv);
  try {
    format_from_path("dir.csv/notes.txt");
    FAIL() << "expected Error(kInvalidArgument)";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  }
  EXPECT_THROW(format_from_path("noext"), Error);
  EXPECT_THROW(parse_format("xlsx"), Error);
}

}  // namespace
}  // namespace eavdb::io
