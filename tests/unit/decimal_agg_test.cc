// eavdb_decimal_sum / eavdb_decimal_avg (storage/sqlite/connection.cc): the 128-bit fast path and
// its hand-over to Decimal arithmetic must give exactly what summing with Decimal gives (value
// and scale), for any mix of scales, signs, integers and huge values, and keep rejecting bad text.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "eavdb/error.h"
#include "eavdb/value.h"
#include "storage/sqlite/connection.h"

namespace eavdb {
namespace {

class DecimalAggTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(sqlite3_open(":memory:", &db_), SQLITE_OK);
    storage::sqlite::register_functions(db_, &sink_);
    exec("CREATE TABLE t(g INTEGER, v)");
  }
  void TearDown() override { sqlite3_close(db_); }
  std::vector<int64_t> sink_;  // eavdb_id_sink's buffer
  void exec(const std::string& sql) {
    char* err = nullptr;
    ASSERT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
  }
  // Inserts text values (as stored: canonical decimal TEXT) or integers into group g.
  void add(int g, const std::string& v, bool integer = false) {
    exec("INSERT INTO t VALUES(" + std::to_string(g) + ", " + (integer ? v : "'" + v + "'") + ")");
  }
  // The aggregate's text result for group g, or "NULL"; `error` gets SQLite's message on failure.
  std::string agg(const std::string& fn, int g, std::string* error = nullptr) {
    sqlite3_stmt* st = nullptr;
    const std::string sql = "SELECT " + fn + "(v) FROM t WHERE g = " + std::to_string(g);
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr), SQLITE_OK);
    const int rc = sqlite3_step(st);
    std::string out;
    if (rc == SQLITE_ROW) {
      const auto* p = sqlite3_column_text(st, 0);
      out = p ? reinterpret_cast<const char*>(p) : "NULL";
    } else if (error) {
      *error = sqlite3_errmsg(db_);
    }
    sqlite3_finalize(st);
    return out;
  }
  sqlite3* db_ = nullptr;
};

TEST_F(DecimalAggTest, MatchesDecimalArithmeticAcrossScalesSignsAndOverflow) {
  std::mt19937_64 rng(7);
  // Group 1: small mixed-scale values (fast path throughout). Group 2: the same plus values of
  // 19-30 digits and scales above 18 (hand-over to Decimal mid-way). Group 3: 18-digit integers,
  // then a scale-18 value (rescaling the sum would pass 10^36). Group 4: integers stored as
  // INTEGER mixed with text. Group 5: a scale-18 value, then 18-digit integers (each scaled
  // addition passes 10^36).
  std::vector<Decimal> sums(6);
  std::vector<int64_t> counts(6, 0);
  auto put = [&](int g, const std::string& text, bool integer = false) {
    add(g, text, integer);
    sums[static_cast<std::size_t>(g)] = sums[static_cast<std::size_t>(g)] + Decimal::parse(text);
    ++counts[static_cast<std::size_t>(g)];
  };
  auto digits = [&](int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s.push_back(static_cast<char>('0' + rng() % 10));
    return s;
  };
  for (int i = 0; i < 300; ++i) {
    const std::string sign = rng() % 3 == 0 ? "-" : "";
    const std::string v = sign + digits(1 + static_cast<int>(rng() % 6)) +
                          (rng() % 4 ? "." + digits(static_cast<int>(rng() % 7) + 1) : "");
    put(1, v);
    put(2, v);
    if (i == 150) {
      put(2, "123456789012345678901234567.5");
      put(2, "-0.0000000000000000000001");  // scale 22
    }
    put(3, sign + "9" + digits(17));
    if (i == 200) put(3, "0.000000000000000001");
    put(5, i == 0 ? "0.123456789012345678" : sign + "9" + digits(17));
    put(4, std::to_string(static_cast<int64_t>(rng() % 2000000) - 1000000), true);
    put(4, v);
  }
  put(1, "-0.500");  // trailing zeros set the scale
  for (int g = 1; g <= 5; ++g) {
    SCOPED_TRACE(g);
    const Decimal& sum = sums[static_cast<std::size_t>(g)];
    EXPECT_EQ(agg("eavdb_decimal_sum", g), sum.str());
    EXPECT_EQ(agg("eavdb_decimal_avg", g), Decimal::divide(sum, counts[static_cast<std::size_t>(g)]).str());
  }
}

TEST_F(DecimalAggTest, ScaleZeroSignAndEmptyGroups) {
  add(1, "1.50");
  add(1, "2.5");
  EXPECT_EQ(agg("eavdb_decimal_sum", 1), "4.00");  // the largest input scale, as Decimal's +
  add(2, "-0.25");
  add(2, "0.25");
  EXPECT_EQ(agg("eavdb_decimal_sum", 2), "0.00");  // zero carries no sign
  add(3, "-7.25");
  EXPECT_EQ(agg("eavdb_decimal_sum", 3), "-7.25");
  EXPECT_EQ(agg("eavdb_decimal_avg", 9), "NULL");  // no rows
  exec("INSERT INTO t VALUES(5, NULL)");
  EXPECT_EQ(agg("eavdb_decimal_sum", 5), "NULL");  // only NULLs
}

TEST_F(DecimalAggTest, RejectsTextThatIsNoDecimal) {
  add(1, "1.5");
  add(1, "1.2.3");
  std::string error;
  EXPECT_EQ(agg("eavdb_decimal_sum", 1, &error), "");
  EXPECT_NE(error.find("1.2.3"), std::string::npos) << error;
}

// eavdb_id_array (an index intersection's gatherer): every non-NULL integer of the group, in row
// order, as native int64s; an empty group gives an empty blob; more ids than its first buffer.
TEST_F(DecimalAggTest, IdSinkGathersIntegersInRowOrder) {
  exec("CREATE TABLE ids(g INTEGER, x INTEGER)");
  exec("INSERT INTO ids VALUES (1, 7), (1, NULL), (1, -3), (1, 9223372036854775807), (4, NULL)");
  std::string values;
  for (int i = 0; i < 5000; ++i) values += (i ? ",(2," : "(2,") + std::to_string(i * 3) + ")";
  exec("INSERT INTO ids VALUES " + values);
  auto ids = [&](int g) {
    sqlite3_stmt* st = nullptr;
    const std::string sql = "SELECT eavdb_id_sink(x) FROM (SELECT x FROM ids WHERE g = " + std::to_string(g) +
                            " ORDER BY rowid)";
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr), SQLITE_OK);
    EXPECT_EQ(sqlite3_step(st), SQLITE_ROW);
    EXPECT_EQ(sqlite3_column_int64(st, 0), static_cast<int64_t>(sink_.size()));  // the count
    sqlite3_finalize(st);
    return sink_;
  };
  EXPECT_EQ(ids(1), (std::vector<int64_t>{7, -3, 9223372036854775807}));
  const std::vector<int64_t> many = ids(2);
  ASSERT_EQ(many.size(), 5000u);
  EXPECT_EQ(many[4999], 4999 * 3);
  // No rows, and only NULLs, clear what the last run left.
  EXPECT_TRUE(ids(3).empty());
  ids(1);
  EXPECT_TRUE(ids(4).empty());
}

}  // namespace
}  // namespace eavdb
