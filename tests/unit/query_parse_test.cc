// Lexer and parser of the query language (DESIGN.md §2): grammar forms, positions, limits.
#include <gtest/gtest.h>

#include <string>

#include "eavdb/error.h"
#include "query/compiler.h"
#include "query/parser.h"
#include "query_fixture.h"

namespace eavdb::query {
namespace {

using qtest::expect_error;

TEST(QueryParse, EveryClause) {
  SelectStmt s = parse(
      "SELECT title, COUNT(*), count(year) AS n, Sum(gross) total, AVG(rating), MIN(year), MAX(\"title\") "
      "FROM Movie WHERE year >= 1990 AND (genre IN ('a', ?) OR NOT title LIKE 'x%') "
      "GROUP BY title ORDER BY n DESC NULLS LAST, title LIMIT 10 OFFSET ?;");
  ASSERT_EQ(s.items.size(), 7u);
  EXPECT_FALSE(s.star);
  EXPECT_EQ(s.items[0].expr.agg, Agg::kNone);
  EXPECT_EQ(s.items[0].expr.column.name, "title");
  EXPECT_EQ(s.items[1].expr.agg, Agg::kCountStar);
  EXPECT_EQ(s.items[2].expr.agg, Agg::kCount);
  EXPECT_EQ(*s.items[2].alias, "n");
  EXPECT_EQ(s.items[3].expr.agg, Agg::kSum);
  EXPECT_EQ(*s.items[3].alias, "total");
  EXPECT_EQ(s.items[4].expr.agg, Agg::kAvg);
  EXPECT_EQ(s.items[5].expr.agg, Agg::kMin);
  EXPECT_EQ(s.items[6].expr.agg, Agg::kMax);
  EXPECT_EQ(s.items[6].expr.column.name, "title");
  EXPECT_EQ(s.from.name, "movie");
  ASSERT_TRUE(s.where);
  EXPECT_EQ(s.where->kind, Expr::Kind::kAnd);
  ASSERT_EQ(s.where->children.size(), 2u);
  EXPECT_EQ(s.where->children[0]->op, CompareOp::kGe);
  const Expr& disj = *s.where->children[1];
  EXPECT_EQ(disj.kind, Expr::Kind::kOr);
  EXPECT_EQ(disj.children[0]->kind, Expr::Kind::kIn);
  EXPECT_EQ(disj.children[0]->values[1].kind, Literal::Kind::kParam);
  EXPECT_EQ(disj.children[0]->values[1].param_index, 0);
  EXPECT_EQ(disj.children[1]->kind, Expr::Kind::kNot);
  EXPECT_EQ(disj.children[1]->children[0]->kind, Expr::Kind::kLike);
  ASSERT_EQ(s.group_by.size(), 1u);
  ASSERT_EQ(s.order_by.size(), 2u);
  EXPECT_TRUE(s.order_by[0].desc);
  EXPECT_EQ(s.order_by[0].nulls_first, false);
  EXPECT_FALSE(s.order_by[1].desc);
  EXPECT_FALSE(s.order_by[1].nulls_first.has_value());
  EXPECT_EQ(s.limit->int_value, 10);
  EXPECT_EQ(s.offset->kind, Literal::Kind::kParam);
  EXPECT_EQ(s.param_count, 2);
}

TEST(QueryParse, PredicateForms) {
  SelectStmt s = parse(
      "select * from t where a = 1 and b != 2 and c <> 3 and d < 4 and e <= 5 and f > 6 and g >= 7 "
      "and h not in (1) and i between 1 and 2 and j not between ? and ? and k not like ? "
      "and l is null and m is not null");
  EXPECT_TRUE(s.star);
  const auto& c = s.where->children;
  ASSERT_EQ(c.size(), 13u);
  CompareOp ops[] = {CompareOp::kEq, CompareOp::kNe, CompareOp::kNe, CompareOp::kLt,
                     CompareOp::kLe, CompareOp::kGt, CompareOp::kGe};
  for (int k = 0; k < 7; ++k) EXPECT_EQ(c[k]->op, ops[k]) << k;
  EXPECT_TRUE(c[7]->negated);
  EXPECT_EQ(c[7]->kind, Expr::Kind::kIn);
  EXPECT_EQ(c[8]->kind, Expr::Kind::kBetween);
  EXPECT_FALSE(c[8]->negated);
  EXPECT_EQ(c[8]->values.size(), 2u);
  EXPECT_TRUE(c[9]->negated);
  EXPECT_EQ(c[10]->kind, Expr::Kind::kLike);
  EXPECT_TRUE(c[10]->negated);
  EXPECT_EQ(c[11]->kind, Expr::Kind::kIsNull);
  EXPECT_FALSE(c[11]->negated);
  EXPECT_TRUE(c[12]->negated);
  EXPECT_EQ(s.param_count, 3);
}

TEST(QueryParse, Literals) {
  SelectStmt s = parse("SELECT * FROM t WHERE a IN (-5, 1.50, .5, -2.5e2, 1E3, 'it''s', TRUE, false, "
                       "99999999999999999999)");
  const auto& v = s.where->values;
  ASSERT_EQ(v.size(), 9u);
  EXPECT_EQ(v[0].kind, Literal::Kind::kInt);
  EXPECT_EQ(v[0].int_value, -5);
  EXPECT_EQ(v[1].kind, Literal::Kind::kNumber);
  EXPECT_EQ(v[1].number.str(), "1.50");
  EXPECT_EQ(v[2].number.str(), "0.5");
  EXPECT_EQ(v[3].number, Decimal::parse("-250"));
  EXPECT_EQ(v[4].number, Decimal::parse("1000"));
  EXPECT_EQ(v[5].kind, Literal::Kind::kString);
  EXPECT_EQ(v[5].text, "it's");
  EXPECT_EQ(v[6].int_value, 1);
  EXPECT_EQ(v[7].kind, Literal::Kind::kInt);
  EXPECT_EQ(v[7].int_value, 0);
  EXPECT_EQ(v[8].kind, Literal::Kind::kNumber);  // beyond int64: kept exact
  EXPECT_EQ(v[8].number.str(), "99999999999999999999");
}

TEST(QueryParse, IdentifiersAndKeywordsAreCaseInsensitive) {
  SelectStmt s = parse("sElEcT TiTlE As T, \"Odd \"\"Name\"\"\" FrOm MOVIE wHeRe YEAR iS nOt NuLl "
                       "OrDeR bY t AsC nUlLs FiRsT lImIt 1");
  EXPECT_EQ(s.items[0].expr.column.name, "title");
  EXPECT_EQ(*s.items[0].alias, "t");
  EXPECT_EQ(s.items[1].expr.column.name, "Odd \"Name\"");  // quoted: case and quotes kept
  EXPECT_EQ(s.from.name, "movie");
  EXPECT_EQ(s.where->column.name, "year");
  EXPECT_EQ(s.order_by[0].nulls_first, true);
  // Aggregate names and FIRST/LAST are not reserved: usable as column names.
  SelectStmt t = parse("SELECT count, max, first FROM t ORDER BY last");
  EXPECT_EQ(t.items[0].expr.agg, Agg::kNone);
  EXPECT_EQ(t.items[1].expr.column.name, "max");
  EXPECT_EQ(t.order_by[0].expr.column.name, "last");
}

TEST(QueryParse, SyntaxErrorsNamePositionAndExpectation) {
  struct Case {
    const char* sql;
    const char* message;
  } cases[] = {
      {"SELECT title, year FORM movie", "syntax error at line 1, column 20: expected FROM, found 'FORM'"},
      {"SELEC * FROM movie", "syntax error at line 1, column 1: expected SELECT, found 'SELEC'"},
      {"SELECT *\nFROM movie\nWHERE year >", "syntax error at line 3, column 13: expected literal, found end of query"},
      {"SELECT * FROM movie WHERE title = 'abc", "syntax error at line 1, column 35: unterminated string literal"},
      {"SELECT * FROM movie WHERE \"title = 1", "syntax error at line 1, column 27: unterminated quoted identifier"},
      {"SELECT * FROM movie WHERE year # 1", "syntax error at line 1, column 32: unexpected character '#'"},
      {"SELECT * FROM movie WHERE year = 1; SELECT 1", "syntax error at line 1, column 37: expected end of query, found 'SELECT'"},
      {"SELECT * FROM movie ORDER title", "syntax error at line 1, column 27: expected BY, found 'title'"},
      {"SELECT * FROM movie x", "expected WHERE, GROUP BY, ORDER BY, LIMIT, OFFSET or end of query, found 'x'"},
      {"SELECT * FROM movie LIMIT 1 WHERE", "expected OFFSET or end of query, found 'WHERE'"},
      {"SELECT * FROM movie WHERE year = 1abc", "malformed number '1a'"},
      {"SELECT * FROM movie WHERE year = 5 = 6", "expected"},
      {"SELECT * FROM movie WHERE year", "expected comparison operator, IN, BETWEEN, LIKE or IS, found end of query"},
      {"SELECT * FROM movie WHERE year NOT NULL", "expected IN, BETWEEN or LIKE, found 'NULL'"},
      {"SELECT * FROM movie WHERE year = title", "expected literal, found 'title'"},
      {"SELECT * FROM movie WHERE 5 = year", "expected column or '(', found '5'"},
      {"SELECT * FROM movie WHERE (year = 1", "expected ')', found end of query"},
      {"SELECT * FROM movie WHERE year IN (1 2)", "expected ',' or ')', found '2'"},
      {"SELECT FROM movie", "expected column, found 'FROM'"},
      {"SELECT upper(title) FROM movie", "unknown function 'upper'"},
      {"SELECT * FROM movie ORDER BY year NULLS", "expected FIRST or LAST, found end of query"},
      {"SELECT * FROM movie LIMIT 1.5", "expected integer or ?, found '1.5'"},
      {"SELECT * FROM movie WHERE title = 'é' AND x ! 1", "syntax error at line 1, column 45: unexpected character '!'"},
      {"", "syntax error at line 1, column 1: expected SELECT, found end of query"},
  };
  for (const auto& c : cases) {
    Error e = expect_error([&] { parse(c.sql); });
    EXPECT_EQ(e.code(), ErrorCode::kSyntax) << c.sql;
    EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos) << c.sql << "\n  got: " << e.what();
  }
}

TEST(QueryParse, TrailingSemicolonAndWhitespace) {
  EXPECT_NO_THROW(parse("SELECT * FROM movie;"));
  EXPECT_NO_THROW(parse("  SELECT *\n\tFROM movie  ;  \n"));
  EXPECT_EQ(expect_error([] { parse("SELECT * FROM movie;;"); }).code(), ErrorCode::kSyntax);
}

TEST(QueryParse, HostileWholeQueryIsASyntaxError) {
  Error e = expect_error([] { parse("'; DROP TABLE eav_entity; --"); });
  EXPECT_EQ(e.code(), ErrorCode::kSyntax);
  EXPECT_EQ(std::string(e.what()), "syntax error at line 1, column 1: unterminated string literal");
  Error e2 = expect_error([] { parse("'; DROP TABLE eav_entity; --'"); });
  EXPECT_EQ(std::string(e2.what()),
            "syntax error at line 1, column 1: expected SELECT, found string '; DROP TABLE eav_entity; --'");
}

TEST(QueryParse, LimitAndOffsetRange) {
  EXPECT_EQ(parse("SELECT * FROM t LIMIT 4611686018427387904").limit->int_value, int64_t{1} << 62);
  for (const char* sql : {"SELECT * FROM t LIMIT -1", "SELECT * FROM t LIMIT 4611686018427387905",
                          "SELECT * FROM t OFFSET 99999999999999999999999"}) {
    Error e = expect_error([&] { parse(sql); });
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << sql;
    EXPECT_NE(std::string(e.what()).find("must be between 0 and 2^62"), std::string::npos) << e.what();
  }
}

TEST(QueryParse, NestingWithinLimitIsAccepted) {
  std::string sql = "SELECT * FROM t WHERE " + std::string(kMaxExpressionDepth, '(') + "a = 1" +
                    std::string(kMaxExpressionDepth, ')');
  SelectStmt s = parse(sql);
  EXPECT_EQ(s.where->kind, Expr::Kind::kCompare);
  std::string nots = "SELECT * FROM t WHERE ";
  for (int k = 0; k < kMaxExpressionDepth; ++k) nots += "NOT ";
  EXPECT_EQ(parse(nots + "a = 1").where->kind, Expr::Kind::kNot);
}

TEST(QueryParse, DeepNestingIsALimitErrorNotACrash) {
  std::string one_too_many = "SELECT * FROM t WHERE " + std::string(kMaxExpressionDepth + 1, '(') + "a = 1" +
                             std::string(kMaxExpressionDepth + 1, ')');
  EXPECT_EQ(expect_error([&] { parse(one_too_many); }).code(), ErrorCode::kLimit);

  std::string parens = "SELECT * FROM t WHERE " + std::string(100000, '(') + "a = 1" + std::string(100000, ')');
  Error e = expect_error([&] { parse(parens); });
  EXPECT_EQ(e.code(), ErrorCode::kLimit);
  EXPECT_NE(std::string(e.what()).find("nested deeper than 200 levels"), std::string::npos) << e.what();

  std::string nots = "SELECT * FROM t WHERE ";
  for (int k = 0; k < 100000; ++k) nots += "NOT ";
  EXPECT_EQ(expect_error([&] { parse(nots + "a = 1"); }).code(), ErrorCode::kLimit);

  // Parentheses and NOTs add up.
  std::string mixed = "SELECT * FROM t WHERE ";
  for (int k = 0; k < 101; ++k) mixed += "NOT (";
  mixed += "a = 1" + std::string(101, ')');
  EXPECT_EQ(expect_error([&] { parse(mixed); }).code(), ErrorCode::kLimit);
}

TEST(QueryParse, LongChainsStayFlat) {
  std::string sql = "SELECT * FROM t WHERE a = 0";
  for (int k = 1; k < 50000; ++k) sql += " OR a = " + std::to_string(k);
  SelectStmt s = parse(sql);
  EXPECT_EQ(s.where->kind, Expr::Kind::kOr);
  EXPECT_EQ(s.where->children.size(), 50000u);
}

TEST(QueryParse, InListLimit) {
  auto in_list = [](std::size_t n) {
    std::string sql = "SELECT * FROM t WHERE a IN (0";
    for (std::size_t k = 1; k < n; ++k) sql += "," + std::to_string(k);
    return sql + ")";
  };
  EXPECT_EQ(parse(in_list(kMaxInListItems)).where->values.size(), kMaxInListItems);
  Error e = expect_error([&] { parse(in_list(kMaxInListItems + 1)); });
  EXPECT_EQ(e.code(), ErrorCode::kLimit);
  EXPECT_NE(std::string(e.what()).find("more than 10000 items"), std::string::npos) << e.what();
}

TEST(QueryParse, QueryTextLengthLimit) {
  Catalog empty{[](std::string_view) -> const EntityTypeDef* { return nullptr; },
                [] { return std::vector<std::string>{}; }};
  std::string sql = "SELECT * FROM t WHERE a = '" + std::string(kMaxQueryBytes, 'x') + "'";
  Error e = expect_error([&] { compile(sql, {}, empty); });
  EXPECT_EQ(e.code(), ErrorCode::kLimit);
  EXPECT_NE(std::string(e.what()).find("bytes"), std::string::npos);
}

}  // namespace
}  // namespace eavdb::query
