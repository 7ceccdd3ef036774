// Synthetic catalog generator: determinism, chunking, NDJSON shape, value types, presence skew,
// and a real import whose inferred types match the declared schema.
#include "batch/generator.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "eavdb/database.h"
#include "eavdb/error.h"
#include "eavdb/import.h"
#include "test_util.h"

namespace eavdb::batch {
namespace {

std::string generate(int64_t entities, uint64_t seed) {
  std::ostringstream out;
  generate_catalog(out, entities, seed);
  return out.str();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

const CatalogAttribute* schema_attr(std::string_view code) {
  for (const CatalogAttribute& a : catalog_schema())
    if (a.code == code) return &a;
  return nullptr;
}

// "19.99", "4.0": digits, '.', digits (what a decimal column must look like on the wire).
bool is_plain_decimal(std::string_view s) {
  const size_t dot = s.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == s.size()) return false;
  auto digits = [](std::string_view d) { return std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; }); };
  return digits(s.substr(0, dot)) && digits(s.substr(dot + 1));
}

// Per-attribute observations over a generated sample, checked against the schema as it goes.
struct Sample {
  std::map<std::string, int64_t> count;           // entities having the attribute
  std::map<std::string, size_t> max_string_bytes;  // longest string value
  std::set<std::string> skus;
  int64_t entities = 0;
};

// Checks one NDJSON line with simdjson: a single object (DOM parse, which rejects trailing
// content), 5..25 distinct schema keys, sku and name present, and each value's JSON kind and
// syntax as its schema type demands (raw number text via On-Demand).
void check_line(const std::string& line, Sample& s) {
  SCOPED_TRACE(line.substr(0, 120));
  ++s.entities;
  simdjson::padded_string padded(line);
  static thread_local simdjson::dom::parser dom;
  simdjson::dom::element root;
  ASSERT_EQ(dom.parse(padded).get(root), simdjson::SUCCESS) << "not one JSON document";
  ASSERT_TRUE(root.is_object());
  static thread_local simdjson::ondemand::parser parser;
  {
    simdjson::ondemand::document doc = parser.iterate(padded);
    simdjson::ondemand::object obj = doc.get_object();
    std::set<std::string> keys;
    for (auto field : obj) {
      const std::string key(std::string_view(field.unescaped_key()));
      EXPECT_TRUE(keys.insert(key).second) << "duplicate key " << key;
      const CatalogAttribute* a = schema_attr(key);
      if (a == nullptr) {
        ADD_FAILURE() << "key not in schema: " << key;
        continue;
      }
      ++s.count[key];
      simdjson::ondemand::value v = field.value();
      switch (a->type) {
        case ValueType::kInt: {
          ASSERT_EQ(simdjson::ondemand::json_type(v.type()), simdjson::ondemand::json_type::number) << key;
          ASSERT_EQ(simdjson::ondemand::number_type(v.get_number_type()),
                    simdjson::ondemand::number_type::signed_integer) << key;
          const int64_t i = v.get_int64();
          EXPECT_GE(i, 0) << key;
          break;
        }
        case ValueType::kDecimal: {
          ASSERT_EQ(simdjson::ondemand::json_type(v.type()), simdjson::ondemand::json_type::number) << key;
          const std::string_view raw = v.raw_json_token();
          EXPECT_TRUE(is_plain_decimal(raw)) << key << ": " << raw;
          const double d = v.get_double();
          if (key == "price") {
            EXPECT_EQ(raw.size() - raw.find('.'), 3u) << raw;  // two fractional digits
            EXPECT_GE(d, 0.99);
          }
          if (key == "rating") {
            EXPECT_EQ(raw.size() - raw.find('.'), 2u) << raw;  // one fractional digit
            EXPECT_GE(d, 1.0);
            EXPECT_LE(d, 5.0);
          }
          break;
        }
        case ValueType::kDatetime: {
          ASSERT_EQ(simdjson::ondemand::json_type(v.type()), simdjson::ondemand::json_type::string) << key;
          const std::string_view str = v.get_string();
          const auto dt = DateTime::try_parse(str);
          ASSERT_TRUE(dt.has_value()) << key << ": " << str;
          EXPECT_GE(*dt, DateTime::parse("2000-01-01T00:00:00Z")) << str;
          EXPECT_LT(*dt, DateTime::parse("2026-01-01T00:00:00Z")) << str;
          break;
        }
        case ValueType::kVarchar:
        case ValueType::kText: {
          ASSERT_EQ(simdjson::ondemand::json_type(v.type()), simdjson::ondemand::json_type::string) << key;
          const std::string_view str = v.get_string();
          EXPECT_FALSE(str.empty()) << key;
          EXPECT_LE(str.size(), a->type == ValueType::kVarchar ? kMaxVarcharBytes : 2000u) << key;
          s.max_string_bytes[key] = std::max(s.max_string_bytes[key], str.size());
          if (key == "sku") {
            EXPECT_TRUE(s.skus.insert(std::string(str)).second) << "duplicate sku " << str;
          }
          break;
        }
      }
    }
    EXPECT_EQ(keys.size(), simdjson::dom::object(root).size());
    EXPECT_GE(keys.size(), static_cast<size_t>(kCatalogMinAttributes));
    EXPECT_LE(keys.size(), static_cast<size_t>(kCatalogMaxAttributes));
    EXPECT_TRUE(keys.count("sku") && keys.count("name")) << "sku and name are mandatory";
  }
}

Sample check_lines(const std::string& text) {
  Sample s;
  for (const std::string& line : lines_of(text)) check_line(line, s);
  return s;
}

TEST(BatchGenerator, SchemaCoversAllTypesWithSkuAndNameFirst) {
  const auto& schema = catalog_schema();
  EXPECT_GE(schema.size(), 35u);
  EXPECT_LE(schema.size(), 45u);
  ASSERT_GE(schema.size(), 2u);
  EXPECT_EQ(schema[0].code, "sku");
  EXPECT_EQ(schema[1].code, "name");
  EXPECT_EQ(schema[0].presence, 1.0);
  EXPECT_EQ(schema[1].presence, 1.0);
  std::set<ValueType> types;
  std::set<std::string> codes;
  for (const auto& a : schema) {
    types.insert(a.type);
    EXPECT_TRUE(codes.insert(a.code).second) << "duplicate code " << a.code;
    EXPECT_TRUE(is_valid_code(a.code)) << a.code;
    EXPECT_FALSE(is_reserved_column(a.code)) << a.code;
    EXPECT_GT(a.presence, 0.0);
    EXPECT_LE(a.presence, 1.0);
  }
  EXPECT_EQ(types.size(), 5u);
  for (std::string_view code : {"price", "category", "brand", "stock", "rating", "release_date", "description"})
    EXPECT_NE(schema_attr(code), nullptr) << code;
  EXPECT_GE(schema_attr("price")->presence, 0.9);
  EXPECT_GE(schema_attr("category")->presence, 0.9);
  EXPECT_GE(schema_attr("brand")->presence, 0.9);
}

TEST(BatchGenerator, SameSeedSameBytesAndChunkingDoesNotMatter) {
  const std::string a = generate(300, 42);
  EXPECT_EQ(a, generate(300, 42));
  // Ranges that start inside and at block boundaries concatenate to the same bytes.
  std::ostringstream chunks;
  generate_catalog_range(chunks, 0, 1, 42);
  generate_catalog_range(chunks, 1, 99, 42);
  generate_catalog_range(chunks, 100, 28, 42);
  generate_catalog_range(chunks, 128, 172, 42);
  EXPECT_EQ(chunks.str(), a);
  // A prefix is a prefix.
  EXPECT_EQ(a.substr(0, generate(10, 42).size()), generate(10, 42));
  // The bytes are pinned (FNV-1a 64): output must not drift between versions, platforms or
  // compilers unnoticed (GCC 12 and Clang 14 agree). Update only for an intended format change.
  uint64_t fnv = 14695981039346656037ULL;
  for (unsigned char c : a) fnv = (fnv ^ c) * 1099511628211ULL;
  EXPECT_EQ(a.size(), 226636u);
  EXPECT_EQ(fnv, 0x91c0280841334b2aULL);
}

TEST(BatchGenerator, DifferentSeedsDiffer) {
  const auto a = lines_of(generate(200, 1)), b = lines_of(generate(200, 2));
  ASSERT_EQ(a.size(), b.size());
  int differing = 0;
  for (size_t i = 0; i < a.size(); ++i) differing += a[i] != b[i];
  EXPECT_GE(differing, 195);  // every line differs except by astronomically unlikely chance
}

TEST(BatchGenerator, LineCountAndSkuFormat) {
  for (int64_t n : {1, 7, 64, 65, 1000}) {
    const std::string text = generate(n, 7);
    ASSERT_FALSE(text.empty());
    EXPECT_EQ(text.back(), '\n');
    EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), n);
  }
  const auto lines = lines_of(generate(100, 7));
  EXPECT_NE(lines[41].find("\"sku\":\"SKU-00000042\""), std::string::npos) << lines[41];
}

TEST(BatchGenerator, ZeroEntitiesIsEmptyAndBadArgumentsThrow) {
  EXPECT_EQ(generate(0, 5), "");
  std::ostringstream out;
  try {
    generate_catalog(out, -1, 5);
    FAIL() << "expected Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("-1"), std::string::npos) << e.what();
  }
  EXPECT_THROW(generate_catalog_range(out, -3, 1, 5), Error);
  EXPECT_THROW(generate_catalog_range(out, 0, -1, 5), Error);
  EXPECT_EQ(out.str(), "");
}

TEST(BatchGenerator, FailingStreamIsIoError) {
  std::ofstream closed;  // never opened: every write fails
  try {
    generate_catalog(closed, 10, 1);
    FAIL() << "expected Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo);
  }
}

TEST(BatchGenerator, EveryLineIsAValidObjectMatchingTheSchema) {
  const Sample s = check_lines(generate(5000, 2024));
  EXPECT_EQ(s.entities, 5000);
  EXPECT_EQ(s.skus.size(), 5000u);
  EXPECT_EQ(s.count.at("sku"), 5000);
  EXPECT_EQ(s.count.at("name"), 5000);
  EXPECT_EQ(s.count.size(), catalog_schema().size()) << "every attribute occurs in 5,000 entities";
  for (const auto& a : catalog_schema())
    if (a.type == ValueType::kText) {
      EXPECT_GT(s.max_string_bytes.at(a.code), kMaxVarcharBytes) << a.code;
    }
}

TEST(BatchGenerator, PresenceIsSkewedAndFollowsTheSchema) {
  const Sample s = check_lines(generate(5000, 99));
  int64_t top_optional = 0;
  int rare = 0;
  for (const auto& a : catalog_schema()) {
    const int64_t n = s.count.count(a.code) ? s.count.at(a.code) : 0;
    const double freq = static_cast<double>(n) / 5000;
    if (a.code != "sku" && a.code != "name") top_optional = std::max(top_optional, n);
    rare += freq < 0.2;
    // Binomial sd <= 0.0071 at n = 5,000; the 5..25 clamp only ever adds common attributes.
    EXPECT_NEAR(freq, a.presence, 0.03) << a.code;
  }
  EXPECT_GT(top_optional, 4000);  // > 80%
  EXPECT_GE(rare, 15);
}

TEST(BatchGenerator, ValueDistributionsAreSkewed) {
  std::map<std::string, int> categories, brands;
  simdjson::ondemand::parser parser;
  for (const std::string& line : lines_of(generate(3000, 11))) {
    simdjson::padded_string padded(line);
    auto doc = parser.iterate(padded);
    for (auto field : doc.get_object()) {
      const std::string_view key = field.unescaped_key();
      if (key == "category") ++categories[std::string(std::string_view(field.value().get_string()))];
      else if (key == "brand") ++brands[std::string(std::string_view(field.value().get_string()))];
    }
  }
  auto top = [](const std::map<std::string, int>& m) {
    int best = 0;
    for (const auto& [k, n] : m) best = std::max(best, n);
    return best;
  };
  EXPECT_GE(categories.size(), 25u);
  EXPECT_LE(categories.size(), 30u);
  EXPECT_GT(top(categories), 400);  // Zipf head (~25%); a uniform draw would give ~94 each
  EXPECT_GT(brands.size(), 200u);
  EXPECT_GT(top(brands), 100);  // Zipf head (~15%); uniform would give ~5 each
}

TEST(BatchGenerator, ImportInfersTheDeclaredTypesWithoutRejections) {
  testing::TempDir dir;
  const std::string path = dir.file("catalog.ndjson");
  {
    std::ofstream out(path, std::ios::binary);
    generate_catalog(out, 2000, 314);
  }
  auto db = Database::open(dir.file("catalog.db"));
  ImportOptions o;
  o.type = "product";
  const ImportReport r = import_file(*db, path, o);
  EXPECT_EQ(r.records_read, 2000);
  EXPECT_EQ(r.imported, 2000);
  EXPECT_EQ(r.rejected, 0) << (r.rejections.empty() ? "" : r.rejections[0].field + ": " + r.rejections[0].reason);
  const EntityTypeDef t = db->require_type("product");
  EXPECT_EQ(t.attributes.size(), catalog_schema().size());
  for (const auto& a : catalog_schema()) {
    const AttributeDef* def = t.find(a.code);
    ASSERT_NE(def, nullptr) << a.code;
    EXPECT_EQ(def->type, a.type) << a.code << " inferred as " << value_type_name(def->type);
  }
  auto q = db->query("SELECT name, price FROM product WHERE sku = ?", {Value(std::string("SKU-00000042"))});
  ASSERT_EQ(q.rows.size(), 1u);
  EXPECT_FALSE(std::get<std::string>(q.rows[0][0]).empty());
  EXPECT_EQ(std::get<int64_t>(db->query("SELECT COUNT(*) FROM product").rows.at(0).at(0)), 2000);
}

}  // namespace
}  // namespace eavdb::batch
