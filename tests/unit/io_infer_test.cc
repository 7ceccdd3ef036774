// Type inference and field conversion under the import rules.

#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "eavdb/error.h"
#include "io/io.h"
#include "test_util.h"

namespace eavdb::io {
namespace {

using Kind = RawField::Kind;

RawField num(std::string t) { return {Kind::kNumber, std::move(t)}; }
RawField str(std::string t) { return {Kind::kString, std::move(t)}; }
RawField boolean(bool b) { return {Kind::kBool, b ? "true" : "false"}; }
RawField json(std::string t) { return {Kind::kJson, std::move(t)}; }
RawField null() { return {}; }

/// Infers the type of one column "c" holding `values`, one record each.
ValueType infer(const std::vector<RawField>& values) {
  TypeInferrer inf;
  for (const RawField& v : values) {
    Record r;
    r.fields.emplace_back("c", v);
    inf.observe(r);
  }
  const auto cols = inf.columns();
  EXPECT_EQ(cols.size(), 1u);
  return cols.empty() ? ValueType::kVarchar : cols[0].type;
}

TEST(IoInfer, SyntaxHelpers) {
  EXPECT_EQ(parse_int_text("0"), 0);
  EXPECT_EQ(parse_int_text("-0"), 0);
  EXPECT_EQ(parse_int_text("-5"), -5);
  EXPECT_EQ(parse_int_text("+12"), 12);
  EXPECT_EQ(parse_int_text("9223372036854775807"), INT64_MAX);
  EXPECT_FALSE(parse_int_text("9223372036854775808"));
  EXPECT_FALSE(parse_int_text("00501"));
  EXPECT_FALSE(parse_int_text("-05"));
  EXPECT_FALSE(parse_int_text(""));
  EXPECT_FALSE(parse_int_text("-"));
  EXPECT_FALSE(parse_int_text("1.0"));
  EXPECT_FALSE(parse_int_text(" 1"));
  EXPECT_EQ(parse_int_token("-12"), -12);
  EXPECT_FALSE(parse_int_token("1e3"));
  EXPECT_FALSE(parse_int_token("2.0"));
  EXPECT_TRUE(is_plain_decimal_text("12.50"));
  EXPECT_TRUE(is_plain_decimal_text("-0.5"));
  EXPECT_TRUE(is_plain_decimal_text("7"));
  EXPECT_FALSE(is_plain_decimal_text("00.5"));
  EXPECT_FALSE(is_plain_decimal_text(".5"));
  EXPECT_FALSE(is_plain_decimal_text("5."));
  EXPECT_FALSE(is_plain_decimal_text("1e3"));
  EXPECT_FALSE(is_plain_decimal_text("1.2.3"));
}

TEST(IoInfer, EveryType) {
  EXPECT_EQ(infer({num("1"), num("-5"), null(), num("0")}), ValueType::kInt);
  EXPECT_EQ(infer({str("12"), str("-0"), str("+3")}), ValueType::kInt);
  EXPECT_EQ(infer({boolean(true), boolean(false)}), ValueType::kInt);
  EXPECT_EQ(infer({boolean(true), num("7")}), ValueType::kInt);
  EXPECT_EQ(infer({boolean(true), num("7.5")}), ValueType::kDecimal);
  EXPECT_EQ(infer({num("6.1"), num("7")}), ValueType::kDecimal);
  EXPECT_EQ(infer({num("1e3"), num("2")}), ValueType::kDecimal);
  EXPECT_EQ(infer({num("12345678901234567890")}), ValueType::kDecimal);  // beyond int64
  EXPECT_EQ(infer({str("19.90"), str("3")}), ValueType::kDecimal);
  EXPECT_EQ(infer({str("1e3")}), ValueType::kVarchar);                  // no exponent in text
  EXPECT_EQ(infer({str("00501"), str("10001")}), ValueType::kVarchar);  // zip codes stay text
  EXPECT_EQ(infer({str("00.5")}), ValueType::kVarchar);
  EXPECT_EQ(infer({str("Jun 12 1998"), str("2024-03-01"), null()}), ValueType::kDatetime);
  EXPECT_EQ(infer({str("2024-03-01T12:30:00Z"), str("soon")}), ValueType::kVarchar);
  EXPECT_EQ(infer({num("20240301"), str("2024-03-01")}), ValueType::kVarchar);
  EXPECT_EQ(infer({num("1776"), str("Titanic")}), ValueType::kVarchar);
  EXPECT_EQ(infer({json("{\"a\":1}")}), ValueType::kVarchar);
  EXPECT_EQ(infer({json("[" + std::string(300, '1') + "]")}), ValueType::kText);
  EXPECT_EQ(infer({str(std::string(255, 'x'))}), ValueType::kVarchar);
  EXPECT_EQ(infer({str("a"), str(std::string(256, 'x'))}), ValueType::kText);
  EXPECT_EQ(infer({null(), null()}), ValueType::kVarchar);
}

TEST(IoInfer, ColumnsInFirstSeenOrderMergedByCode) {
  TypeInferrer inf;
  Record a;
  a.fields = {{"US Gross", num("10")}, {"Title", str("x")}, {"$$", str("skipped")}};
  Record b;
  b.fields = {{"Extra", null()}, {"us_gross", num("2.5")}, {"Title", null()}};
  inf.observe(a);
  inf.observe(b);
  const auto cols = inf.columns();
  ASSERT_EQ(cols.size(), 3u);
  EXPECT_EQ(cols[0].code, "us_gross");
  EXPECT_EQ(cols[0].label, "US Gross");
  EXPECT_EQ(cols[0].type, ValueType::kDecimal);
  EXPECT_EQ(cols[0].non_null, 2);
  EXPECT_EQ(cols[1].code, "title");
  EXPECT_EQ(cols[1].non_null, 1);
  EXPECT_EQ(cols[2].code, "extra");
  EXPECT_EQ(cols[2].type, ValueType::kVarchar);
  EXPECT_EQ(cols[2].non_null, 0);
}

// Each distinct source name is resolved to its column once and remembered: repeated names (and
// names without a usable code) must keep landing in the same column over many records.
TEST(IoInfer, RepeatedNamesAcrossRecordsKeepTheirColumn) {
  TypeInferrer inf;
  for (int i = 0; i < 100; ++i) {
    Record r;
    r.fields = {{"US Gross", num(std::to_string(i))}, {"$$", str("skipped")}};
    if (i % 2) r.fields.emplace_back("us_gross", num("7"));  // same code, other spelling
    if (i == 99) r.fields.emplace_back("Late", str("x"));
    inf.observe(r);
  }
  Record last;
  last.fields = {{"US Gross", num("1.5")}, {"$$", num("1")}};
  inf.observe(last);
  const auto cols = inf.columns();
  ASSERT_EQ(cols.size(), 2u);
  EXPECT_EQ(cols[0].code, "us_gross");
  EXPECT_EQ(cols[0].label, "US Gross");
  EXPECT_EQ(cols[0].non_null, 100 + 50 + 1);
  EXPECT_EQ(cols[0].type, ValueType::kDecimal);  // 1.5 in the last record widens it
  EXPECT_EQ(cols[1].code, "late");
  EXPECT_EQ(cols[1].non_null, 1);
}

TEST(IoConvert, FollowsTheImportRules) {
  EXPECT_TRUE(is_null(convert(null(), ValueType::kInt)));
  EXPECT_EQ(std::get<int64_t>(convert(num("-5"), ValueType::kInt)), -5);
  EXPECT_EQ(std::get<int64_t>(convert(str("42"), ValueType::kInt)), 42);
  EXPECT_EQ(std::get<int64_t>(convert(boolean(true), ValueType::kInt)), 1);
  EXPECT_EQ(std::get<int64_t>(convert(boolean(false), ValueType::kInt)), 0);
  EXPECT_EQ(std::get<Decimal>(convert(num("19.90"), ValueType::kDecimal)).str(), "19.90");
  EXPECT_EQ(std::get<Decimal>(convert(num("1e3"), ValueType::kDecimal)).str(), "1000");
  EXPECT_EQ(std::get<Decimal>(convert(str("-0.50"), ValueType::kDecimal)).str(), "-0.50");
  EXPECT_EQ(std::get<Decimal>(convert(boolean(true), ValueType::kDecimal)).str(), "1");
  EXPECT_EQ(std::get<DateTime>(convert(str("Jun 12 1998"), ValueType::kDatetime)).to_iso(), "1998-06-12T00:00:00Z");
  EXPECT_EQ(std::get<std::string>(convert(num("1776"), ValueType::kVarchar)), "1776");
  EXPECT_EQ(std::get<std::string>(convert(boolean(false), ValueType::kVarchar)), "false");
  EXPECT_EQ(std::get<std::string>(convert(json("{\"a\":[1]}"), ValueType::kText)), "{\"a\":[1]}");
  EXPECT_EQ(std::get<std::string>(convert(str(std::string(300, 'y')), ValueType::kText)).size(), 300u);
}

void expect_mismatch(const RawField& f, ValueType t, const std::string& fragment) {
  try {
    convert(f, t);
    ADD_FAILURE() << "'" << f.text << "' converted to " << value_type_name(t);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kTypeMismatch);
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(IoConvert, Rejections) {
  expect_mismatch(str("abc"), ValueType::kInt, "'abc' is not an integer");
  expect_mismatch(str("00501"), ValueType::kInt, "'00501'");
  expect_mismatch(num("1.5"), ValueType::kInt, "'1.5'");
  expect_mismatch(str("9223372036854775808"), ValueType::kInt, "not an integer");
  expect_mismatch(json("{}"), ValueType::kInt, "{}");
  expect_mismatch(str("12,5"), ValueType::kDecimal, "'12,5' is not a decimal number");
  expect_mismatch(str("tomorrow"), ValueType::kDatetime, "'tomorrow' is not a datetime");
  expect_mismatch(num("20240301"), ValueType::kDatetime, "20240301");
  expect_mismatch(str(std::string(300, 'z')), ValueType::kVarchar, "300");
}

// Real data (vega-datasets), when the package has been fetched.
class IoInferVega : public ::testing::Test {
 protected:
  static std::string data(const std::string& name) {
    const std::string dir = eavdb::testing::data_dir();
    if (dir.empty()) return "";
    const std::string path = dir + "/" + name;
    return std::filesystem::exists(path) ? path : "";
  }
  static std::map<std::string, InferredColumn> infer_file(const std::string& path, Format f, int64_t& records) {
    TypeInferrer inf;
    auto reader = open_reader(path, f);
    Record r;
    records = 0;
    while (reader->next(r)) {
      EXPECT_FALSE(r.error) << *r.error;
      inf.observe(r);
      ++records;
    }
    std::map<std::string, InferredColumn> out;
    for (auto& c : inf.columns()) out[c.code] = c;
    return out;
  }
};

TEST_F(IoInferVega, Movies) {
  const std::string path = data("movies.json");
  if (path.empty()) GTEST_SKIP() << "vega-datasets not present";
  int64_t n = 0;
  auto cols = infer_file(path, Format::kJson, n);
  EXPECT_EQ(n, 3201);
  EXPECT_EQ(cols["title"].type, ValueType::kVarchar);
  EXPECT_EQ(cols["title"].label, "Title");
  EXPECT_EQ(cols["us_gross"].type, ValueType::kInt);
  EXPECT_EQ(cols["imdb_rating"].type, ValueType::kDecimal);
  EXPECT_EQ(cols["release_date"].type, ValueType::kDatetime);
}

TEST_F(IoInferVega, ZipcodesAndBirdstrikes) {
  const std::string zips = data("zipcodes.csv"), birds = data("birdstrikes.csv");
  if (zips.empty() || birds.empty()) GTEST_SKIP() << "vega-datasets not present";
  int64_t n = 0;
  auto cols = infer_file(zips, Format::kCsv, n);
  EXPECT_EQ(n, 42049);
  EXPECT_EQ(cols["zip_code"].type, ValueType::kVarchar);
  EXPECT_EQ(cols["latitude"].type, ValueType::kDecimal);
  cols = infer_file(birds, Format::kCsv, n);
  EXPECT_EQ(n, 10000);
  EXPECT_EQ(cols.size(), 14u);
  EXPECT_EQ(cols["flight_date"].type, ValueType::kDatetime);
  EXPECT_EQ(cols["cost_total"].type, ValueType::kInt);
}

}  // namespace
}  // namespace eavdb::io
