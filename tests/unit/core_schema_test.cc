// Core schema helpers: code normalization and validation, attribute lookup, suggestions.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "eavdb/schema.h"

namespace eavdb {
namespace {

EntityTypeDef movie_type() {
  EntityTypeDef t;
  t.id = 7;
  t.code = "movie";
  const char* codes[] = {"title", "us_gross", "worldwide_gross", "release_date", "rating"};
  int64_t id = 100;
  for (const char* c : codes) {
    AttributeDef a;
    a.id = id++;
    a.code = c;
    t.attributes.push_back(a);
  }
  return t;
}

TEST(CoreSchema, NormalizeCodeExamples) {
  EXPECT_EQ(normalize_code("US Gross"), "us_gross");
  EXPECT_EQ(normalize_code("Beak Length (mm)"), "beak_length_mm");
  EXPECT_EQ(normalize_code("Cost Total $"), "cost_total");
}

TEST(CoreSchema, NormalizeCodeEdgeCases) {
  EXPECT_EQ(normalize_code("__A__B__"), "a_b");
  EXPECT_EQ(normalize_code(""), "");
  EXPECT_EQ(normalize_code("$$$ ()"), "");
  EXPECT_EQ(normalize_code("already_ok"), "already_ok");
  EXPECT_EQ(normalize_code("camelCase"), "camelcase");
  EXPECT_EQ(normalize_code("Rotten Tomatoes Rating"), "rotten_tomatoes_rating");
  EXPECT_EQ(normalize_code("MPAA-Rating"), "mpaa_rating");
  EXPECT_EQ(normalize_code("2024 Sales"), "2024_sales");
  EXPECT_EQ(normalize_code("a\tb\nc"), "a_b_c");
  // Non-ASCII bytes are outside [a-z0-9]: each run becomes one separator.
  EXPECT_EQ(normalize_code("Größe"), "gr_e");
  EXPECT_EQ(normalize_code("Café"), "caf");
  EXPECT_EQ(normalize_code("日本語"), "");
}

TEST(CoreSchema, ValidCodes) {
  EXPECT_TRUE(is_valid_code("a"));
  EXPECT_TRUE(is_valid_code("us_gross"));
  EXPECT_TRUE(is_valid_code("x1_2__3_"));
  EXPECT_TRUE(is_valid_code(std::string(63, 'a')));
  EXPECT_FALSE(is_valid_code(std::string(64, 'a')));
  EXPECT_FALSE(is_valid_code(""));
  EXPECT_FALSE(is_valid_code("1abc"));
  EXPECT_FALSE(is_valid_code("_abc"));
  EXPECT_FALSE(is_valid_code("Abc"));
  EXPECT_FALSE(is_valid_code("ab-c"));
  EXPECT_FALSE(is_valid_code("ab c"));
  EXPECT_FALSE(is_valid_code("caf\xc3\xa9"));
  // normalize_code output is valid whenever it starts with a letter.
  EXPECT_TRUE(is_valid_code(normalize_code("Beak Length (mm)")));
  EXPECT_FALSE(is_valid_code(normalize_code("2024 Sales")));
}

TEST(CoreSchema, ReservedColumns) {
  for (const char* c : {"id", "version", "created_at", "updated_at"}) EXPECT_TRUE(is_reserved_column(c)) << c;
  for (const char* c : {"ID", "ids", "created", "title", ""}) EXPECT_FALSE(is_reserved_column(c)) << c;
}

TEST(CoreSchema, FindAttributes) {
  const EntityTypeDef t = movie_type();
  ASSERT_NE(t.find("us_gross"), nullptr);
  EXPECT_EQ(t.find("us_gross")->id, 101);
  EXPECT_EQ(t.find("US_GROSS"), nullptr);
  EXPECT_EQ(t.find("gross"), nullptr);
  ASSERT_NE(t.find_by_id(104), nullptr);
  EXPECT_EQ(t.find_by_id(104)->code, "rating");
  EXPECT_EQ(t.find_by_id(99), nullptr);
  EXPECT_EQ(EntityTypeDef{}.find("title"), nullptr);
}

TEST(CoreSchema, Suggestions) {
  const EntityTypeDef t = movie_type();
  EXPECT_EQ(t.suggest("titel"), "title");
  EXPECT_EQ(t.suggest("TITLE"), "title");  // case-insensitive comparison
  EXPECT_EQ(t.suggest("us_gros"), "us_gross");
  EXPECT_EQ(t.suggest("worldwide_grss"), "worldwide_gross");
  EXPECT_EQ(t.suggest("release_dat"), "release_date");
  EXPECT_EQ(t.suggest("budget"), "");
  EXPECT_EQ(t.suggest("zzzzz"), "");
  EXPECT_EQ(EntityTypeDef{}.suggest("title"), "");
}

TEST(CoreSchema, NearestNameDistanceLimit) {
  const std::vector<std::string> names = {"abcdefghijkl"};
  // 12 characters: up to max(2, 12/3) = 4 edits.
  EXPECT_EQ(nearest_name("abcdefghijkl", names), "abcdefghijkl");
  EXPECT_EQ(nearest_name("abcdefghXXXX", names), "abcdefghijkl");
  EXPECT_EQ(nearest_name("abcdefgXXXXX", names), "");
  EXPECT_EQ(nearest_name("abcdefghijkl", {"abcdefgh"}), "abcdefgh");  // 4 deletions
  EXPECT_EQ(nearest_name("abcdefghijkl", {"abcdefg"}), "");           // 5 deletions
  // The limit follows the needle's length: 8 characters allow only 2 edits.
  EXPECT_EQ(nearest_name("abcdefgh", names), "");
  EXPECT_EQ(nearest_name("abcdefgh", {"abcdefghij"}), "abcdefghij");
  // Short needles still allow 2 edits.
  EXPECT_EQ(nearest_name("ab", {"abcd"}), "abcd");
  EXPECT_EQ(nearest_name("ab", {"abcde"}), "");
  EXPECT_EQ(nearest_name("xy", {"id"}), "id");
  EXPECT_EQ(nearest_name("", {"ab", "abc"}), "ab");
  EXPECT_EQ(nearest_name("anything", {}), "");
}

TEST(CoreSchema, NearestNamePrefersClosestThenFirst) {
  EXPECT_EQ(nearest_name("rate", {"rating", "date", "rates"}), "date");  // rating: 3 edits; date, rates: 1 each
  EXPECT_EQ(nearest_name("rate", {"rates", "date"}), "rates");            // tie: first candidate
  EXPECT_EQ(nearest_name("versoin", {"version", "id", "created_at"}), "version");
  EXPECT_EQ(nearest_name("Created_At", {"updated_at", "created_at"}), "created_at");
}

}  // namespace
}  // namespace eavdb
