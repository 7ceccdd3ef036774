// Import: type inference end to end, id order, declared types, every rejection path.
#include <gtest/gtest.h>

#include <fstream>

#include "eavdb/database.h"
#include "eavdb/import.h"
#include "eavdb/session.h"
#include "test_util.h"

namespace eavdb {
namespace {

using testing::TempDir;

class ImportTest : public ::testing::Test {
 protected:
  void SetUp() override { db = Database::open(dir.file("i.db")); }
  ImportReport run(const std::string& name, const std::string& content, const std::string& type = "thing") {
    ImportOptions o;
    o.type = type;
    o.rejects_path = dir.file("rejects.ndjson");
    return import_file(*db, dir.write(name, content), o);
  }
  ValueType type_of(const std::string& type, const std::string& code) {
    auto t = db->require_type(type);
    const AttributeDef* a = t.find(code);
    EXPECT_NE(a, nullptr) << code;
    return a ? a->type : ValueType::kText;
  }
  std::vector<std::string> reject_lines() {
    std::ifstream in(dir.file("rejects.ndjson"));
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }
  TempDir dir;
  std::unique_ptr<Database> db;
};

TEST_F(ImportTest, InfersTypesFromJson) {
  auto r = run("a.json", R"([
    {"Name": "a", "Count": 1, "Price": 1.5, "When": "2024-01-02", "Flag": true, "Mixed": 1776, "Zip": "00501"},
    {"Name": "b", "Count": -2, "Price": 2, "When": "Jun 12 1998", "Flag": false, "Mixed": "x", "Zip": "12345"},
    {"Name": null, "Count": null}
  ])");
  EXPECT_EQ(r.imported, 3);
  EXPECT_EQ(r.rejected, 0);
  EXPECT_EQ(type_of("thing", "name"), ValueType::kVarchar);
  EXPECT_EQ(type_of("thing", "count"), ValueType::kInt);
  EXPECT_EQ(type_of("thing", "price"), ValueType::kDecimal);
  EXPECT_EQ(type_of("thing", "when"), ValueType::kDatetime);
  EXPECT_EQ(type_of("thing", "flag"), ValueType::kInt);
  EXPECT_EQ(type_of("thing", "mixed"), ValueType::kVarchar);
  EXPECT_EQ(type_of("thing", "zip"), ValueType::kVarchar);
  auto q = db->query("SELECT mixed, price, flag, zip FROM thing ORDER BY id");
  EXPECT_EQ(std::get<std::string>(q.rows[0][0]), "1776");  // numbers kept as written
  EXPECT_EQ(std::get<Decimal>(q.rows[1][1]).str(), "2");
  EXPECT_EQ(std::get<int64_t>(q.rows[0][2]), 1);
  EXPECT_EQ(std::get<std::string>(q.rows[0][3]), "00501");
  EXPECT_TRUE(is_null(q.rows[2][0]));  // null stores nothing
  EXPECT_EQ(r.values_written, 7 + 7);
}

TEST_F(ImportTest, IdsAscendInInputOrder) {
  auto r = run("a.ndjson", "{\"k\":\"first\"}\n{\"k\":\"second\"}\n{\"k\":\"third\"}\n");
  auto q = db->query("SELECT id, k FROM thing ORDER BY id");
  ASSERT_EQ(q.rows.size(), 3u);
  EXPECT_EQ(std::get<std::string>(q.rows[0][1]), "first");
  EXPECT_EQ(std::get<std::string>(q.rows[2][1]), "third");
  EXPECT_EQ(std::get<int64_t>(q.rows[0][0]), r.first_id);
  EXPECT_EQ(std::get<int64_t>(q.rows[2][0]), r.last_id);
}

TEST_F(ImportTest, CsvCodesLabelsAndLeadingZeros) {
  run("b.csv", "US Gross,Beak Length (mm),Cost Total $,zip\n10,1.5,3,00501\n,2,,00544\n");
  auto t = db->require_type("thing");
  ASSERT_NE(t.find("us_gross"), nullptr);
  EXPECT_EQ(t.find("us_gross")->label, "US Gross");
  EXPECT_EQ(t.find("beak_length_mm")->type, ValueType::kDecimal);
  EXPECT_EQ(t.find("cost_total")->type, ValueType::kInt);
  EXPECT_EQ(t.find("zip")->type, ValueType::kVarchar);
  auto q = db->query("SELECT COUNT(us_gross), COUNT(*) FROM thing");
  EXPECT_EQ(std::get<int64_t>(q.rows[0][0]), 1);  // empty CSV field stores nothing
  EXPECT_EQ(std::get<int64_t>(q.rows[0][1]), 2);
}

TEST_F(ImportTest, MalformedNdjsonLineIsRejectedOthersImported) {
  auto r = run("c.ndjson", "{\"a\":1}\n{\"a\": oops}\n[1,2]\n{\"a\":4}\n");
  EXPECT_EQ(r.imported, 2);
  EXPECT_EQ(r.rejected, 2);
  ASSERT_EQ(r.rejections.size(), 2u);
  EXPECT_EQ(r.rejections[0].record, 2);
  EXPECT_EQ(r.rejections[0].line, 2);
  EXPECT_EQ(r.rejections[1].record, 3);
  auto lines = reject_lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find("\"record\":2"), std::string::npos);
  EXPECT_NE(lines[0].find("\"line\":2"), std::string::npos);
}

TEST_F(ImportTest, DeclaredTypesAreRespectedAndNewColumnsAdded) {
  EntityTypeDef t;
  t.code = "thing";
  t.attributes = {testing::attr("n", ValueType::kInt), testing::attr("label", ValueType::kVarchar)};
  db->define_type(t);
  auto r = run("d.csv", "n,label,extra\n1,a,x\nnotanumber,b,y\n3,c,z\n");
  EXPECT_EQ(r.imported, 2);
  ASSERT_EQ(r.rejected, 1);
  EXPECT_EQ(r.rejections[0].record, 2);
  EXPECT_EQ(r.rejections[0].line, 3);
  EXPECT_EQ(r.rejections[0].field, "n");
  EXPECT_EQ(type_of("thing", "n"), ValueType::kInt);  // not re-inferred as varchar
  EXPECT_EQ(type_of("thing", "extra"), ValueType::kVarchar);
  EXPECT_EQ(r.new_attributes, std::vector<std::string>{"extra"});
  // The rejected record wrote nothing.
  auto q = db->query("SELECT COUNT(*) FROM thing WHERE extra = 'y'");
  EXPECT_EQ(std::get<int64_t>(q.rows[0][0]), 0);
}

TEST_F(ImportTest, OverlongVarcharIsRejectedNotTruncated) {
  EntityTypeDef t;
  t.code = "thing";
  t.attributes = {testing::attr("s", ValueType::kVarchar)};
  db->define_type(t);
  auto r = run("e.ndjson", "{\"s\":\"ok\"}\n{\"s\":\"" + std::string(300, 'x') + "\"}\n");
  EXPECT_EQ(r.imported, 1);
  ASSERT_EQ(r.rejected, 1);
  EXPECT_EQ(r.rejections[0].field, "s");
  EXPECT_NE(r.rejections[0].reason.find("255"), std::string::npos);
}

TEST_F(ImportTest, LongStringsInferText) {
  run("f.ndjson", "{\"s\":\"" + std::string(300, 'x') + "\"}\n");
  EXPECT_EQ(type_of("thing", "s"), ValueType::kText);
  auto q = db->query("SELECT s FROM thing");
  EXPECT_EQ(std::get<std::string>(q.rows[0][0]).size(), 300u);
}

TEST_F(ImportTest, CsvWrongFieldCountIsRejected) {
  auto r = run("g.csv", "a,b\n1,2\n3\n4,5\n");
  EXPECT_EQ(r.imported, 2);
  ASSERT_EQ(r.rejected, 1);
  EXPECT_EQ(r.rejections[0].line, 3);
}

TEST_F(ImportTest, ReservedColumnNamesRejectTheRecord) {
  auto r = run("h.ndjson", "{\"ID\":5,\"x\":1}\n");
  EXPECT_EQ(r.imported, 0);
  ASSERT_EQ(r.rejected, 1);
  EXPECT_EQ(r.rejections[0].field, "ID");
}

TEST_F(ImportTest, UniqueViolationsRejectOnlyTheOffendingRecord) {
  EntityTypeDef t;
  t.code = "thing";
  AttributeDef sku = testing::attr("sku", ValueType::kVarchar);
  sku.unique = true;
  t.attributes = {sku};
  db->define_type(t);
  auto r = run("u.ndjson", "{\"sku\":\"a\"}\n{\"sku\":\"b\"}\n{\"sku\":\"a\"}\n{\"sku\":\"c\"}\n");
  EXPECT_EQ(r.imported, 3);
  ASSERT_EQ(r.rejected, 1);
  EXPECT_EQ(r.rejections[0].record, 3);
}

TEST_F(ImportTest, MissingFileAndBadFormatAreErrors) {
  ImportOptions o;
  o.type = "thing";
  EXPECT_THROW(import_file(*db, dir.file("missing.json"), o), Error);
  EXPECT_THROW(import_file(*db, dir.write("x.txt", "a"), o), Error);
  o.type = "Not A Code";
  EXPECT_THROW(import_file(*db, dir.write("y.json", "[]"), o), Error);
}

TEST_F(ImportTest, RealMoviesDataset) {
  const std::string data = testing::data_dir();
  if (data.empty()) GTEST_SKIP() << "datasets not available";
  ImportOptions o;
  o.type = "movie";
  auto r = import_file(*db, data + "/movies.json", o);
  EXPECT_EQ(r.imported, 3201);
  EXPECT_EQ(r.rejected, 0);
  EXPECT_EQ(type_of("movie", "title"), ValueType::kVarchar);
  EXPECT_EQ(type_of("movie", "us_gross"), ValueType::kInt);
  EXPECT_EQ(type_of("movie", "imdb_rating"), ValueType::kDecimal);
  EXPECT_EQ(type_of("movie", "release_date"), ValueType::kDatetime);
  auto q = db->query("SELECT title, imdb_rating, release_date FROM movie WHERE id = 1");
  EXPECT_EQ(std::get<std::string>(q.rows[0][0]), "The Land Girls");
  EXPECT_EQ(std::get<Decimal>(q.rows[0][1]).str(), "6.1");
  EXPECT_EQ(std::get<DateTime>(q.rows[0][2]).to_iso(), "1998-06-12T00:00:00Z");
}

}  // namespace
}  // namespace eavdb
