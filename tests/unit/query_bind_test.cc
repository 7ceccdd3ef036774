// Binder and SQL generation: name resolution, typing, output columns, parameters, SQL shape.
#include <gtest/gtest.h>

#include <string>

#include "eavdb/error.h"
#include "query/compiler.h"
#include "query_fixture.h"

namespace eavdb::query {
namespace {

using qtest::expect_error;

class QueryBind : public ::testing::Test {
 protected:
  void SetUp() override { qtest::define_movies(db); }
  Error error(std::string_view sql, const std::vector<Value>& params = {}) {
    return expect_error([&] { db.compile(sql, params); });
  }
  void expect_error_with(std::string_view sql, ErrorCode code, const std::string& message,
                         const std::vector<Value>& params = {}) {
    Error e = error(sql, params);
    EXPECT_EQ(e.code(), code) << sql << ": " << e.what();
    EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << sql << "\n  got: " << e.what();
  }
  qtest::QueryDb db;
};

TEST_F(QueryBind, UnknownTypeSuggestsNearest) {
  expect_error_with("SELECT * FROM movi", ErrorCode::kNotFound,
                    "unknown entity type 'movi' (did you mean 'movie'?)");
  Error e = error("SELECT * FROM zzzzzzzz");
  EXPECT_EQ(e.code(), ErrorCode::kNotFound);
  EXPECT_EQ(std::string(e.what()), "unknown entity type 'zzzzzzzz'");
}

TEST_F(QueryBind, UnknownAttributeSuggestsNearest) {
  expect_error_with("SELECT titel FROM movie", ErrorCode::kNotFound,
                    "unknown attribute 'titel' of type 'movie' (did you mean 'title'?)");
  expect_error_with("SELECT * FROM movie WHERE yeer > 1", ErrorCode::kNotFound, "(did you mean 'year'?)");
  expect_error_with("SELECT * FROM movie ORDER BY versoin", ErrorCode::kNotFound, "(did you mean 'version'?)");
  expect_error_with("SELECT * FROM movie GROUP BY nope", ErrorCode::kInvalidArgument, "SELECT *");
  expect_error_with("SELECT genre FROM movie GROUP BY nope", ErrorCode::kNotFound, "unknown attribute 'nope'");
  // Quoted identifiers match exactly.
  expect_error_with("SELECT \"Title\" FROM movie", ErrorCode::kNotFound, "unknown attribute 'Title'");
  EXPECT_NO_THROW(db.compile("SELECT \"title\" FROM \"movie\""));
}

TEST_F(QueryBind, TypeMismatchMessages) {
  expect_error_with("SELECT * FROM movie WHERE title > 5", ErrorCode::kTypeMismatch,
                    "cannot compare varchar attribute 'title' with a number (5)");
  expect_error_with("SELECT * FROM movie WHERE year = '1999'", ErrorCode::kTypeMismatch,
                    "cannot compare int attribute 'year' with a string ('1999')");
  expect_error_with("SELECT * FROM movie WHERE rating IN (1, 'x')", ErrorCode::kTypeMismatch,
                    "cannot compare decimal attribute 'rating' with a string ('x')");
  expect_error_with("SELECT * FROM movie WHERE released > 'yesterday'", ErrorCode::kTypeMismatch,
                    "cannot compare datetime attribute 'released' with 'yesterday': not a valid datetime");
  expect_error_with("SELECT * FROM movie WHERE created_at > 5", ErrorCode::kTypeMismatch,
                    "cannot compare datetime column 'created_at' with a number (5)");
  expect_error_with("SELECT * FROM movie WHERE id = 'x'", ErrorCode::kTypeMismatch,
                    "cannot compare int column 'id' with a string ('x')");
  expect_error_with("SELECT * FROM movie WHERE notes BETWEEN 1 AND 2", ErrorCode::kTypeMismatch,
                    "text attribute 'notes' with a number (1)");
  expect_error_with("SELECT * FROM movie WHERE year LIKE '1%'", ErrorCode::kTypeMismatch,
                    "LIKE needs a varchar or text column; int attribute 'year' is not");
  expect_error_with("SELECT * FROM movie WHERE title LIKE 5", ErrorCode::kTypeMismatch, "a number (5)");
  expect_error_with("SELECT SUM(title) FROM movie", ErrorCode::kTypeMismatch,
                    "SUM needs an int or decimal column; varchar attribute 'title' is not");
  expect_error_with("SELECT AVG(released) FROM movie", ErrorCode::kTypeMismatch, "AVG needs an int or decimal");
}

TEST_F(QueryBind, NullLiteralOnlyInIsNull) {
  expect_error_with("SELECT * FROM movie WHERE year = NULL", ErrorCode::kTypeMismatch,
                    "cannot compare int attribute 'year' with NULL at line 1, column 34; use IS NULL or IS NOT NULL");
  expect_error_with("SELECT * FROM movie WHERE title IN ('a', NULL)", ErrorCode::kTypeMismatch, "use IS NULL");
  expect_error_with("SELECT * FROM movie WHERE year BETWEEN NULL AND 1", ErrorCode::kTypeMismatch, "use IS NULL");
  EXPECT_NO_THROW(db.compile("SELECT * FROM movie WHERE year IS NULL OR year IS NOT NULL"));
}

TEST_F(QueryBind, ParameterCount) {
  expect_error_with("SELECT * FROM movie WHERE year = ? AND title = ?", ErrorCode::kInvalidArgument,
                    "query has 2 parameters, 1 given", {Value(int64_t{1})});
  expect_error_with("SELECT * FROM movie", ErrorCode::kInvalidArgument, "query has 0 parameters, 1 given",
                    {Value(int64_t{1})});
  expect_error_with("SELECT * FROM movie LIMIT ?", ErrorCode::kInvalidArgument, "query has 1 parameter, 0 given");
}

TEST_F(QueryBind, ParametersAreCoercedToColumnType) {
  CompiledQuery q = db.compile("SELECT * FROM movie WHERE year = ? AND rating > ? AND released < ? AND title = ?",
                               {Value(std::string("1999")), Value(int64_t{7}), Value(std::string("2001-01-01")),
                                Value(std::string("Alpha"))});
  // params: 4 attribute ids, type id, then the four values in order.
  ASSERT_EQ(q.params.size(), 9u);
  EXPECT_EQ(std::get<int64_t>(q.params[5]), 1999);
  EXPECT_EQ(std::get<std::string>(q.params[6]), "7");
  EXPECT_EQ(std::get<int64_t>(q.params[7]), DateTime::parse("2001-01-01").micros);
  EXPECT_EQ(std::get<std::string>(q.params[8]), "Alpha");
  expect_error_with("SELECT * FROM movie WHERE year = ?", ErrorCode::kTypeMismatch,
                    "parameter 1 does not fit int attribute 'year'", {Value(std::string("abc"))});
  expect_error_with("SELECT * FROM movie WHERE title = 'x' OR released = ?", ErrorCode::kTypeMismatch,
                    "parameter 1 does not fit datetime attribute 'released'", {Value(std::string("soon"))});
  expect_error_with("SELECT * FROM movie LIMIT ?", ErrorCode::kInvalidArgument,
                    "LIMIT must be an integer between 0 and 2^62, got parameter 1 = '-3'", {Value(int64_t{-3})});
  expect_error_with("SELECT * FROM movie OFFSET ?", ErrorCode::kInvalidArgument, "got parameter 1 = 'NULL'",
                    {Value()});
}

TEST_F(QueryBind, ValuesAreNeverSplicedIntoSql) {
  const std::string hostile = "'; DROP TABLE eav_entity; --";
  CompiledQuery q = db.compile("SELECT title FROM movie WHERE title = '''; DROP TABLE eav_entity; --' OR notes = ?",
                               {Value(hostile)});
  EXPECT_EQ(q.sql.find("DROP"), std::string::npos) << q.sql;
  int strings = 0;
  for (const auto& p : q.params)
    if (auto* s = std::get_if<std::string>(&p)) {
      EXPECT_EQ(*s, hostile);
      ++strings;
    }
  EXPECT_EQ(strings, 2);
}

TEST_F(QueryBind, OutputNamesAndTypes) {
  CompiledQuery q = db.compile(
      "SELECT genre, COUNT(*), COUNT(year), SUM(gross), SUM(rating), AVG(year), AVG(rating), MIN(released), "
      "MAX(title), COUNT(*) AS n, genre, genre AS genre_2 FROM movie GROUP BY genre");
  std::vector<std::pair<std::string, ValueType>> expected = {
      {"genre", ValueType::kVarchar},       {"count", ValueType::kInt},
      {"count_year", ValueType::kInt},      {"sum_gross", ValueType::kInt},
      {"sum_rating", ValueType::kDecimal},  {"avg_year", ValueType::kDecimal},
      {"avg_rating", ValueType::kDecimal},  {"min_released", ValueType::kDatetime},
      {"max_title", ValueType::kVarchar},   {"n", ValueType::kInt},
      {"genre_2", ValueType::kVarchar},     {"genre_2_2", ValueType::kVarchar}};
  ASSERT_EQ(q.columns.size(), expected.size());
  for (std::size_t k = 0; k < expected.size(); ++k) {
    EXPECT_EQ(q.columns[k].name, expected[k].first) << k;
    EXPECT_EQ(q.columns[k].type, expected[k].second) << k;
  }
  EXPECT_FALSE(q.select_star);
  EXPECT_EQ(q.type->code, "movie");
  CompiledQuery dup = db.compile("SELECT title, title, title FROM movie");
  EXPECT_EQ(dup.columns[1].name, "title_2");
  EXPECT_EQ(dup.columns[2].name, "title_3");
  CompiledQuery sys = db.compile("SELECT id, version, created_at AS c, updated_at FROM movie");
  EXPECT_EQ(sys.columns[0].type, ValueType::kInt);
  EXPECT_EQ(sys.columns[1].type, ValueType::kInt);
  EXPECT_EQ(sys.columns[2].name, "c");
  EXPECT_EQ(sys.columns[3].type, ValueType::kDatetime);
}

TEST_F(QueryBind, SelectStarColumns) {
  CompiledQuery q = db.compile("SELECT * FROM movie WHERE year > 1 ORDER BY title LIMIT 3");
  EXPECT_TRUE(q.select_star);
  std::vector<std::string> names;
  for (const auto& c : q.columns) names.push_back(c.name);
  EXPECT_EQ(names, (std::vector<std::string>{"id", "title", "year", "rating", "released", "notes", "genre", "gross"}));
  EXPECT_EQ(q.columns[0].type, ValueType::kInt);
  EXPECT_EQ(q.columns[3].type, ValueType::kDecimal);
  EXPECT_EQ(q.sql.rfind("SELECT e.id FROM eav_entity e", 0), 0u) << q.sql;
}

TEST_F(QueryBind, GroupingRules) {
  expect_error_with("SELECT title, COUNT(*) FROM movie", ErrorCode::kInvalidArgument,
                    "column 'title' must appear in GROUP BY or be used in an aggregate");
  expect_error_with("SELECT genre, title FROM movie GROUP BY genre", ErrorCode::kInvalidArgument,
                    "column 'title' must appear in GROUP BY");
  expect_error_with("SELECT genre FROM movie GROUP BY genre ORDER BY year", ErrorCode::kInvalidArgument,
                    "column 'year' must appear in GROUP BY");
  expect_error_with("SELECT COUNT(*) FROM movie ORDER BY title", ErrorCode::kInvalidArgument,
                    "column 'title' must appear in GROUP BY");
  expect_error_with("SELECT title FROM movie ORDER BY COUNT(*)", ErrorCode::kInvalidArgument,
                    "an aggregate in ORDER BY needs GROUP BY");
  expect_error_with("SELECT * FROM movie GROUP BY genre", ErrorCode::kInvalidArgument,
                    "SELECT * cannot be combined with GROUP BY");
  EXPECT_NO_THROW(db.compile("SELECT genre, COUNT(*) AS n FROM movie GROUP BY genre, year ORDER BY n, year, SUM(gross)"));
}

TEST_F(QueryBind, SqlShapeJoinsAndOrdering) {
  CompiledQuery q = db.compile("SELECT title FROM movie WHERE year > 1 ORDER BY rating DESC");
  // year rejects NULL at top level: inner join; title and rating stay LEFT joins.
  EXPECT_EQ(q.sql,
            "SELECT a1.value FROM eav_entity e"
            " JOIN eav_value_int a2 ON a2.entity_id = e.id AND a2.attribute_id = ?"
            " LEFT JOIN eav_value_varchar a1 ON a1.entity_id = e.id AND a1.attribute_id = ?"
            " LEFT JOIN eav_value_decimal a3 ON a3.entity_id = e.id AND a3.attribute_id = ?"
            " WHERE e.type_id = ? AND (a2.value > ?)"
            " ORDER BY a3.value DESC NULLS FIRST, e.id ASC");
  const EntityTypeDef& movie = *q.type;
  ASSERT_EQ(q.params.size(), 5u);
  EXPECT_EQ(std::get<int64_t>(q.params[0]), movie.find("year")->id);
  EXPECT_EQ(std::get<int64_t>(q.params[1]), movie.find("title")->id);
  EXPECT_EQ(std::get<int64_t>(q.params[2]), movie.find("rating")->id);
  EXPECT_EQ(std::get<int64_t>(q.params[3]), movie.id);
  EXPECT_EQ(std::get<int64_t>(q.params[4]), 1);

  // IS NULL and predicates under OR keep the LEFT JOIN; NOT is pushed into predicates.
  EXPECT_NE(db.compile("SELECT id FROM movie WHERE NOT (year = 1)").sql.find(" JOIN eav_value_int a1 ON "
                                                                           "a1.entity_id = e.id AND a1.attribute_id = ? "
                                                                           "WHERE e.type_id = ? AND (a1.value <> ?)"),
            std::string::npos);
  for (const char* sql : {"SELECT id FROM movie WHERE year IS NULL", "SELECT id FROM movie WHERE year = 1 OR id = 2",
                          "SELECT id FROM movie WHERE NOT (year = 1 AND id = 2)"}) {
    std::string s = db.compile(sql).sql;
    EXPECT_NE(s.find("LEFT JOIN eav_value_int"), std::string::npos) << s;
  }
  std::string grouped = db.compile("SELECT genre, SUM(rating) AS s FROM movie GROUP BY genre ORDER BY s DESC LIMIT 2 OFFSET 1").sql;
  EXPECT_NE(grouped.find(" GROUP BY a1.value ORDER BY eavdb_decimal_sum(a2.value) COLLATE eavdb_decimal DESC "
                         "NULLS FIRST, a1.value ASC NULLS LAST LIMIT ? OFFSET ?"),
            std::string::npos)
      << grouped;
  std::string offset_only = db.compile("SELECT id FROM movie OFFSET 3").sql;
  EXPECT_NE(offset_only.find("LIMIT ? OFFSET ?"), std::string::npos) << offset_only;
  EXPECT_EQ(std::get<int64_t>(db.compile("SELECT id FROM movie OFFSET 3").params.at(1)), -1);
  std::string single = db.compile("SELECT COUNT(*) FROM movie").sql;
  EXPECT_EQ(single.find("ORDER BY"), std::string::npos) << single;
}

TEST_F(QueryBind, IntColumnAgainstFractionIsRewrittenExactly) {
  auto where_of = [&](std::string_view sql) {
    CompiledQuery q = db.compile(sql);
    return q.sql.substr(q.sql.find("AND (") + 4);
  };
  EXPECT_EQ(where_of("SELECT id FROM movie WHERE year > 5.5"), "(a1.value >= ?) ORDER BY e.id ASC");
  EXPECT_EQ(where_of("SELECT id FROM movie WHERE year = 5.5"), "((a1.value IS NULL AND NULL)) ORDER BY e.id ASC");
  EXPECT_EQ(where_of("SELECT id FROM movie WHERE year <> 5.5"), "((a1.value IS NOT NULL OR NULL)) ORDER BY e.id ASC");
  CompiledQuery lt = db.compile("SELECT id FROM movie WHERE year < -5.5");
  EXPECT_EQ(std::get<int64_t>(lt.params.back()), -6);
  CompiledQuery ge = db.compile("SELECT id FROM movie WHERE year >= -5.5");
  EXPECT_EQ(std::get<int64_t>(ge.params.back()), -5);
  CompiledQuery whole = db.compile("SELECT id FROM movie WHERE year = 7.000");
  EXPECT_EQ(std::get<int64_t>(whole.params.back()), 7);
  CompiledQuery huge = db.compile("SELECT id FROM movie WHERE year < 1e30");
  EXPECT_DOUBLE_EQ(std::get<double>(huge.params.back()), 1e30);
}

TEST_F(QueryBind, AttributeCountLimit) {
  std::vector<std::pair<std::string, ValueType>> attrs;
  std::string sql = "SELECT ";
  for (int k = 0; k <= 60; ++k) {
    attrs.push_back({"c" + std::to_string(k), ValueType::kInt});
    if (k < 60) sql += (k ? ", c" : "c") + std::to_string(k);
  }
  db.define("wide", attrs);
  EXPECT_NO_THROW(db.compile(sql + " FROM wide"));
  expect_error_with(sql + ", c60 FROM wide", ErrorCode::kLimit, "more than 60 attributes");
}

TEST_F(QueryBind, ParameterLimit) {
  std::string list = "(0";
  for (int k = 1; k < 10000; ++k) list += "," + std::to_string(k);
  list += ")";
  std::string sql = "SELECT id FROM movie WHERE year IN " + list;
  for (int k = 0; k < 3; ++k) sql += " OR year IN " + list;  // 40,000 values
  expect_error_with(sql, ErrorCode::kLimit, "at most 32766 are supported");
}

}  // namespace
}  // namespace eavdb::query
