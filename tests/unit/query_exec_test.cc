// Compiled queries executed on SQLite over the EAV schema: results must equal what the same SQL
// returns over a wide table holding the same data (NULL semantics, ordering, grouping, typing).
#include <gtest/gtest.h>

#include <functional>
#include <iterator>
#include <random>
#include <string>

#include "eavdb/error.h"
#include "query/compiler.h"
#include "query_fixture.h"

namespace eavdb::query {
namespace {

using qtest::expect_error;
using Ids = std::vector<int64_t>;

class QueryExec : public ::testing::Test {
 protected:
  void SetUp() override { qtest::define_movies(db); }
  // The ids matched by `where` over movies, in id order.
  Ids where(const std::string& where, const std::vector<Value>& params = {}) {
    return db.ids("SELECT id FROM movie WHERE " + where, params);
  }
  qtest::QueryDb db;
};

Value I(int64_t v) { return Value(v); }
Value S(const char* s) { return Value(std::string(s)); }
Value D(const char* s) { return Value(Decimal::parse(s)); }

TEST_F(QueryExec, NullSemantics) {
  EXPECT_EQ(where("NOT (year = 2005)"), (Ids{1, 5}));
  EXPECT_EQ(where("year != 2005"), (Ids{1, 5}));
  EXPECT_EQ(where("year <> 2005"), (Ids{1, 5}));
  EXPECT_EQ(where("year IS NULL"), (Ids{3, 6}));  // 6 has no attribute rows at all
  EXPECT_EQ(where("year IS NOT NULL"), (Ids{1, 2, 4, 5}));
  EXPECT_EQ(where("NOT (year IN (2005, 1))"), (Ids{1}));
  EXPECT_EQ(where("year NOT IN (2005)"), (Ids{1, 5}));
  EXPECT_EQ(where("NOT (year > 2000) OR title IS NULL"), (Ids{1, 5, 6}));
  EXPECT_EQ(where("NOT NOT year = 1"), (Ids{5}));
  EXPECT_EQ(where("rating BETWEEN 7.5 AND 10"), (Ids{1, 3}));
  EXPECT_EQ(where("rating NOT BETWEEN 7.5 AND 10"), (Ids{2, 5}));
  EXPECT_EQ(where("(genre = 'Drama' OR year > 2000) AND title IS NOT NULL"), (Ids{1, 2, 3, 4}));
  EXPECT_EQ(where("gross >= 50 AND (genre = 'Drama' OR genre IS NULL)"), (Ids{1, 4}));
  EXPECT_EQ(where("year = ?", {Value()}), Ids{});
  EXPECT_EQ(where("NOT (year = ?)", {Value()}), Ids{});
}

TEST_F(QueryExec, DefaultNullOrderingAndIdTieBreak) {
  EXPECT_EQ(db.ids("SELECT id FROM movie ORDER BY year"), (Ids{5, 1, 2, 4, 3, 6}));
  EXPECT_EQ(db.ids("SELECT id FROM movie ORDER BY year DESC"), (Ids{3, 6, 2, 4, 1, 5}));
  EXPECT_EQ(db.ids("SELECT id FROM movie ORDER BY year ASC NULLS FIRST"), (Ids{3, 6, 5, 1, 2, 4}));
  EXPECT_EQ(db.ids("SELECT id FROM movie ORDER BY year DESC NULLS LAST"), (Ids{2, 4, 1, 5, 3, 6}));
  EXPECT_EQ(db.ids("SELECT id FROM movie ORDER BY rating"), (Ids{5, 1, 3, 2, 4, 6}));  // numeric, not text
  EXPECT_EQ(db.ids("SELECT id FROM movie ORDER BY title"), (Ids{1, 4, 3, 5, 2, 6}));   // binary collation
  EXPECT_EQ(db.ids("SELECT id FROM movie ORDER BY released DESC"), (Ids{2, 4, 6, 3, 5, 1}));
  EXPECT_EQ(db.ids("SELECT id FROM movie ORDER BY genre, title DESC"), (Ids{2, 5, 3, 1, 6, 4}));
  EXPECT_EQ(db.ids("SELECT id FROM movie ORDER BY id DESC"), (Ids{6, 5, 4, 3, 2, 1}));
  EXPECT_EQ(db.ids("SELECT id FROM movie ORDER BY version DESC"), (Ids{4, 2, 1, 3, 5, 6}));
  EXPECT_EQ(db.ids("SELECT id FROM movie"), (Ids{1, 2, 3, 4, 5, 6}));
  auto rows = db.run("SELECT title AS t, id FROM movie ORDER BY t DESC");
  Ids by_alias;
  for (const auto& r : rows) by_alias.push_back(std::get<int64_t>(r[1]));
  EXPECT_EQ(by_alias, (Ids{6, 2, 5, 3, 4, 1}));
  EXPECT_TRUE(is_null(rows[0][0]));
}

TEST_F(QueryExec, LimitAndOffset) {
  EXPECT_EQ(db.ids("SELECT id FROM movie ORDER BY id LIMIT 2"), (Ids{1, 2}));
  EXPECT_EQ(db.ids("SELECT id FROM movie LIMIT 2 OFFSET 3"), (Ids{4, 5}));
  EXPECT_EQ(db.ids("SELECT id FROM movie OFFSET 4"), (Ids{5, 6}));
  EXPECT_EQ(db.ids("SELECT id FROM movie LIMIT 0"), Ids{});
  EXPECT_EQ(db.ids("SELECT id FROM movie OFFSET 100"), Ids{});
  EXPECT_EQ(db.ids("SELECT id FROM movie ORDER BY year DESC LIMIT ? OFFSET ?", {I(2), D("1")}), (Ids{6, 2}));
  EXPECT_EQ(db.ids("SELECT * FROM movie WHERE genre = 'Comedy' ORDER BY title"), (Ids{5, 2}));
  EXPECT_EQ(db.ids("SELECT * FROM movie ORDER BY rating DESC LIMIT 3"), (Ids{4, 6, 2}));
}

TEST_F(QueryExec, GroupByWithNullGroup) {
  auto rows = db.run("SELECT genre, COUNT(*) AS n, COUNT(title) FROM movie GROUP BY genre");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0], (std::vector<Value>{S("Comedy"), I(2), I(2)}));
  EXPECT_EQ(rows[1], (std::vector<Value>{S("Drama"), I(2), I(2)}));
  EXPECT_EQ(rows[2], (std::vector<Value>{Value(), I(2), I(1)}));

  rows = db.run("SELECT genre FROM movie GROUP BY genre ORDER BY COUNT(*) DESC, genre DESC");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_TRUE(is_null(rows[0][0]));
  EXPECT_EQ(rows[1][0], S("Drama"));

  rows = db.run("SELECT year, COUNT(*) FROM movie GROUP BY year ORDER BY COUNT(*) DESC");
  ASSERT_EQ(rows.size(), 4u);  // ties broken by the GROUP BY key, NULLS LAST
  EXPECT_EQ(rows[0], (std::vector<Value>{I(2005), I(2)}));
  EXPECT_EQ(rows[1], (std::vector<Value>{Value(), I(2)}));
  EXPECT_EQ(rows[2], (std::vector<Value>{I(1), I(1)}));
  EXPECT_EQ(rows[3], (std::vector<Value>{I(1999), I(1)}));

  rows = db.run("SELECT genre, year FROM movie WHERE genre IS NOT NULL GROUP BY genre, year");
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0], (std::vector<Value>{S("Comedy"), I(1)}));
  EXPECT_EQ(rows[3], (std::vector<Value>{S("Drama"), Value()}));
}

TEST_F(QueryExec, DecimalAggregatesAreExactAndOrderNumerically) {
  auto rows = db.run("SELECT category, SUM(price) AS total FROM item GROUP BY category ORDER BY total");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(std::get<Decimal>(rows[0][1]).str(), "0.3");  // exact: 0.1 + 0.2
  EXPECT_EQ(std::get<Decimal>(rows[1][1]).str(), "9.5");
  EXPECT_EQ(std::get<Decimal>(rows[2][1]).str(), "10.25");  // text order would put it first
  rows = db.run("SELECT category FROM item GROUP BY category ORDER BY SUM(price) DESC");
  EXPECT_EQ(rows[0][0], S("C"));
  EXPECT_EQ(rows[2][0], S("A"));
  rows = db.run("SELECT category, AVG(price) FROM item GROUP BY category ORDER BY AVG(price) DESC");
  EXPECT_EQ(rows[0][0], S("B"));  // 9.5 > 5.125 > 0.15
  EXPECT_EQ(std::get<Decimal>(rows[1][1]), Decimal::parse("5.125"));
  EXPECT_EQ(std::get<Decimal>(rows[2][1]), Decimal::parse("0.15"));
}

TEST_F(QueryExec, Aggregates) {
  auto rows = db.run(
      "SELECT COUNT(*), COUNT(year), SUM(gross), SUM(rating), AVG(year), AVG(rating), MIN(rating), MAX(rating), "
      "MIN(title), MAX(released), MIN(year) FROM movie");
  ASSERT_EQ(rows.size(), 1u);
  const auto& r = rows[0];
  EXPECT_EQ(r[0], I(6));
  EXPECT_EQ(r[1], I(4));
  EXPECT_EQ(r[2], I(350));
  EXPECT_EQ(std::get<Decimal>(r[3]), Decimal::parse("27.5"));
  EXPECT_EQ(std::get<Decimal>(r[4]), Decimal::parse("1502.5"));
  EXPECT_EQ(std::get<Decimal>(r[5]), Decimal::parse("6.875"));
  EXPECT_EQ(std::get<Decimal>(r[6]), Decimal::parse("-0.25"));
  EXPECT_EQ(std::get<Decimal>(r[7]), Decimal::parse("10.5"));  // numeric max; text max is "9.75"
  EXPECT_EQ(r[8], S("Alpha"));
  EXPECT_EQ(std::get<DateTime>(r[9]), DateTime::parse("2010-01-01"));
  EXPECT_EQ(r[10], I(1));

  rows = db.run("SELECT COUNT(*), SUM(gross), AVG(rating), MAX(title) FROM movie WHERE id < 0");
  ASSERT_EQ(rows.size(), 1u);  // aggregates without GROUP BY: exactly one row
  EXPECT_EQ(rows[0], (std::vector<Value>{I(0), Value(), Value(), Value()}));
  EXPECT_EQ(db.run("SELECT COUNT(*) FROM movie WHERE year > 1 OFFSET 1").size(), 0u);
}

TEST_F(QueryExec, IntColumnAgainstNonIntegerNumbers) {
  EXPECT_EQ(where("year > 1998.5"), (Ids{1, 2, 4}));
  EXPECT_EQ(where("year >= 1999.5"), (Ids{2, 4}));
  EXPECT_EQ(where("year < 1999.5"), (Ids{1, 5}));
  EXPECT_EQ(where("year <= 1.5"), (Ids{5}));
  EXPECT_EQ(where("year = 1999.5"), Ids{});
  EXPECT_EQ(where("year = 1999.0"), (Ids{1}));
  EXPECT_EQ(where("NOT (year = 1999.5)"), (Ids{1, 2, 4, 5}));
  EXPECT_EQ(where("year != 1999.5"), (Ids{1, 2, 4, 5}));
  EXPECT_EQ(where("NOT (year != 1999.5)"), Ids{});
  EXPECT_EQ(where("year IN (1999.5, 2005)"), (Ids{2, 4}));
  EXPECT_EQ(where("year IN (0.5)"), Ids{});
  EXPECT_EQ(where("NOT (year IN (0.5))"), (Ids{1, 2, 4, 5}));
  EXPECT_EQ(where("year NOT IN (1.5)"), (Ids{1, 2, 4, 5}));
  EXPECT_EQ(where("year BETWEEN 1.5 AND 2005.5"), (Ids{1, 2, 4}));
  EXPECT_EQ(where("year NOT BETWEEN 1.5 AND 1999.5"), (Ids{2, 4, 5}));
  EXPECT_EQ(where("year > -0.5 AND year < 1.5"), (Ids{5}));
  EXPECT_EQ(where("year > ?", {D("1998.5")}), (Ids{1, 2, 4}));
  EXPECT_EQ(where("year < 1e30"), (Ids{1, 2, 4, 5}));
  EXPECT_EQ(where("year > -1e30"), (Ids{1, 2, 4, 5}));
  EXPECT_EQ(where("year > 99999999999999999999"), Ids{});
  EXPECT_EQ(where("id > 2.5"), (Ids{3, 4, 5, 6}));
  EXPECT_EQ(where("year = TRUE"), (Ids{5}));
}

TEST_F(QueryExec, DecimalComparisonsAreNumeric) {
  EXPECT_EQ(where("rating > 9.8"), (Ids{2}));  // '10.5' > '9.75' numerically
  EXPECT_EQ(where("rating > 10"), (Ids{2}));
  EXPECT_EQ(where("rating = 7.50"), (Ids{1}));
  EXPECT_EQ(where("rating < 0"), (Ids{5}));
  EXPECT_EQ(where("rating IN (10.50, -0.25)"), (Ids{2, 5}));
  EXPECT_EQ(where("rating >= ?", {S("9.75")}), (Ids{2, 3}));
}

TEST_F(QueryExec, DatetimeComparisons) {
  EXPECT_EQ(where("released > '2000-01-01'"), (Ids{3, 5}));
  EXPECT_EQ(where("released = '1999-03-01T00:00:00Z'"), (Ids{1}));
  EXPECT_EQ(where("released = '2000-06-15T14:00:00+02:00'"), (Ids{5}));
  EXPECT_EQ(where("released BETWEEN '1999-01-01' AND '2000-12-31'"), (Ids{1, 5}));
  EXPECT_EQ(where("released < ?", {S("2000-06-15T12:00:01Z")}), (Ids{1, 5}));
  EXPECT_EQ(where("released < ?", {Value(DateTime::parse("2000-01-01"))}), (Ids{1}));
  EXPECT_EQ(where("created_at > '1970-01-01T00:00:03Z'"), (Ids{4, 5, 6}));
  EXPECT_EQ(where("created_at = '1970-01-01 00:00:02'"), (Ids{2}));
  auto rows = db.run("SELECT released, updated_at FROM movie WHERE id = 5");
  EXPECT_EQ(std::get<DateTime>(rows.at(0)[0]), DateTime::parse("2000-06-15T12:00:00Z"));
  EXPECT_EQ(std::get<DateTime>(rows.at(0)[1]).micros, 5000000);
}

TEST_F(QueryExec, LikeIsCaseSensitive) {
  EXPECT_EQ(where("title LIKE 'a%'"), (Ids{5}));
  EXPECT_EQ(where("title LIKE 'A%'"), (Ids{1}));
  EXPECT_EQ(where("title LIKE '%a'"), (Ids{1, 2, 3, 4, 5}));
  EXPECT_EQ(where("title NOT LIKE '%lph%'"), (Ids{2, 3, 4}));
  EXPECT_EQ(where("title LIKE ?", {S("Gam_a")}), (Ids{3}));
  EXPECT_EQ(where("notes LIKE 'fir%'"), (Ids{1}));
}

TEST_F(QueryExec, ParametersEverywhere) {
  EXPECT_EQ(where("year IN (?, ?) AND rating BETWEEN ? AND ? AND title LIKE ?",
                  {I(2005), I(1), S("0"), D("11"), S("%a")}),
            (Ids{2}));
  auto rows = db.run("SELECT id, version FROM movie WHERE version >= ? ORDER BY version DESC", {I(2)});
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0], (std::vector<Value>{I(4), I(3)}));
  EXPECT_EQ(rows[1], (std::vector<Value>{I(2), I(2)}));
}

TEST_F(QueryExec, CaseInsensitiveKeywordsAndNames) {
  auto rows = db.run("select TITLE, Count(*) AS N from MOVIE where YEAR between 1 and 2005 group by Title "
                     "order by n desc, TITLE limit 2");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0], (std::vector<Value>{S("Alpha"), I(1)}));
  EXPECT_EQ(rows[1], (std::vector<Value>{S("Delta"), I(1)}));
}

TEST_F(QueryExec, HostileLiteralsAreData) {
  EXPECT_EQ(where("title = '''; DROP TABLE eav_entity; --'"), Ids{});
  EXPECT_EQ(db.ids("SELECT COUNT(*) FROM movie"), (Ids{6}));
  int64_t id = db.insert("movie", {{"title", S("'; DROP TABLE eav_entity; --")}});
  EXPECT_EQ(where("title = ?", {S("'; DROP TABLE eav_entity; --")}), (Ids{id}));
  EXPECT_EQ(where("title = '''; DROP TABLE eav_entity; --'"), (Ids{id}));
}

TEST_F(QueryExec, LongInListAndOrChain) {
  std::string in = "year IN (0";
  for (int k = 1; k < 10000; ++k) in += ", " + std::to_string(k);
  EXPECT_EQ(where(in + ")"), (Ids{1, 2, 4, 5}));

  std::string chain = "year = 0";
  for (int k = 1; k < 20000; ++k) chain += " OR year = " + std::to_string(k);
  EXPECT_EQ(where(chain), (Ids{1, 2, 4, 5}));  // balanced in SQL: within SQLite's depth limit

  std::string ranges = "year > 0";  // not mergeable into IN: capped to keep SQLite's planning fast
  for (int k = 1; k < 1001; ++k) ranges += " OR year > " + std::to_string(k);
  Error e = expect_error([&] { where(ranges); });
  EXPECT_EQ(e.code(), ErrorCode::kLimit);
  EXPECT_NE(std::string(e.what()).find("WHERE has 1001 predicates; at most 1000"), std::string::npos) << e.what();

  std::string huge = "SELECT id FROM movie WHERE year = 0";
  for (int k = 1; huge.size() < kMaxQueryBytes - 32; ++k) huge += " OR year = " + std::to_string(k % 1000);
  EXPECT_EQ(expect_error([&] { db.run(huge); }).code(), ErrorCode::kLimit);
}

TEST_F(QueryExec, DeepButAllowedNestingRuns) {
  std::string nots;
  for (int k = 0; k < kMaxExpressionDepth; ++k) nots += "NOT ";
  EXPECT_EQ(where(nots + "year = 1"), (Ids{5}));
  std::string parens = std::string(kMaxExpressionDepth, '(') + "year = 1 OR year = 2005" +
                       std::string(kMaxExpressionDepth, ')');
  EXPECT_EQ(where(parens), (Ids{2, 4, 5}));
}

// Random WHERE/ORDER BY over the EAV tables must return exactly what the same SQL returns over
// the wide reference table (SQLite with case-sensitive LIKE), NULL semantics included.
TEST_F(QueryExec, DifferentialAgainstWideTable) {
  static const char* kLeaves[] = {
      "year = 2005", "year <> 1", "year > 1998.5", "year = 5.5", "year <= 1999", "year NOT IN (1, 2005)",
      "year IN (1999.5, 1)", "year BETWEEN 1.5 AND 2005", "year NOT BETWEEN 2 AND 2000", "title LIKE 'A%'",
      "title NOT LIKE '%a'", "title = 'beta'", "title IS NULL", "genre IS NOT NULL", "genre IN ('Drama', 'x')",
      "rating > 9.8", "rating BETWEEN -1 AND 8", "rating <> 7.5", "gross >= 100", "gross IS NULL", "id > 3",
      "version = 1", "notes = 'first'", "genre < 'Drama'", "year != 1999.0"};
  static const char* kOrder[] = {"year", "title", "rating", "genre", "gross", "version", "id"};
  std::mt19937 rng(20240601);
  std::function<std::string(int)> gen = [&](int depth) -> std::string {
    if (depth == 0 || rng() % 3 == 0) return kLeaves[rng() % std::size(kLeaves)];
    std::string op = rng() % 2 ? " AND " : " OR ";
    std::string s = (rng() % 4 == 0 ? "NOT (" : "(") + gen(depth - 1);
    for (unsigned k = 0, n = 1 + rng() % 3; k < n; ++k) s += op + gen(depth - 1);
    return s + ")";
  };
  for (int i = 0; i < 400; ++i) {
    std::string where = gen(1 + static_cast<int>(rng() % 5));
    std::string order = std::string(kOrder[rng() % std::size(kOrder)]) + (rng() % 2 ? " DESC" : " ASC") +
                        (rng() % 2 ? " NULLS FIRST" : " NULLS LAST");
    std::string limit = rng() % 3 == 0 ? " LIMIT 3 OFFSET 1" : "";
    Ids got = db.ids("SELECT id FROM movie WHERE " + where + " ORDER BY " + order + limit);
    Ids want;
    std::string ref = "SELECT id FROM wide_movie WHERE " + where + " ORDER BY " + order + ", id" + limit;
    sqlite3_stmt* st = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db.raw(), ref.c_str(), -1, &st, nullptr), SQLITE_OK) << ref;
    while (sqlite3_step(st) == SQLITE_ROW) want.push_back(sqlite3_column_int64(st, 0));
    sqlite3_finalize(st);
    ASSERT_EQ(got, want) << ref;
  }
}

// Deep alternating AND/OR nesting: either the right answer or a clean kLimit, never a backend
// parser-stack failure.
TEST_F(QueryExec, AlternatingNestingRunsOrIsALimit) {
  auto nest = [](int depth, bool left) {
    std::string s = "year = 1";
    for (int k = 1; k <= depth; ++k) {
      std::string leaf = k % 2 ? "title BETWEEN 'a' AND 'z'" : "gross IN (1, 2)";
      std::string op = k % 2 ? " AND " : " OR ";
      s = left ? "(" + s + ")" + op + leaf : leaf + op + "(" + s + ")";
    }
    return s;
  };
  // 60 levels: (((year = 1 AND title in [a,z]) OR gross IN (1,2)) AND ...) selects id 5 only.
  EXPECT_EQ(where(nest(60, true)), (Ids{5}));
  EXPECT_EQ(where(nest(60, false)), (Ids{5}));
  int limits = 0;
  for (int depth = 60; depth < kMaxExpressionDepth; depth += 7) {
    for (bool left : {true, false}) {
      try {
        EXPECT_EQ(where(nest(depth, left)), (Ids{5})) << depth;
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::kLimit) << e.what();
        ++limits;
      }
    }
  }
  EXPECT_GT(limits, 0);
}

}  // namespace
}  // namespace eavdb::query
