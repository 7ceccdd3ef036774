// Query-shape statistics and the slow-query log (issue 5 phase 2): shape normalisation, the
// log-bucket latency histogram, bounded LRU shapes, Database::query_shapes and the NDJSON log.
// No timing asserts: latencies are fed explicitly, or the threshold is 0 (every query logs).
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "eavdb/database.h"
#include "eavdb/session.h"
#include "query/shape_stats.h"
#include "test_util.h"

namespace eavdb {
namespace {

TEST(QueryShapes, DisplayShapeStripsLiteralsAndCollapsesLists) {
  EXPECT_EQ(query::display_shape("SELECT * FROM movie WHERE title = 'Up' AND year > 2000"),
            "select * from movie where title = ? and year > ?");
  EXPECT_EQ(query::display_shape("select *   from MOVIE where TITLE = ?"), "select * from movie where title = ?");
  EXPECT_EQ(query::display_shape("SELECT id FROM t WHERE x IN (1, 2, 3)"),
            query::display_shape("SELECT id FROM t WHERE x IN (7)"));
  EXPECT_EQ(query::display_shape("SELECT id FROM t WHERE x IN (1, 2, 3)"), "select id from t where x in (?)");
  EXPECT_EQ(query::display_shape("SELECT a, b FROM t ORDER BY a LIMIT 5"), "select a, b from t order by a limit ?");
  EXPECT_EQ(query::display_shape("SELECT \"Weird\" FROM t WHERE x IS NULL"), "select \"Weird\" from t where x is null");
  EXPECT_THROW(query::display_shape("SELECT 'unterminated"), Error);
}

TEST(QueryShapes, HistogramQuantilesAreBucketBoundsWithin19Percent) {
  query::LatencyHistogram h;
  EXPECT_EQ(h.quantile_ms(0.99), 0.0);
  for (int i = 1; i <= 100; ++i) h.add(i * 1.0);  // 1..100 ms
  EXPECT_EQ(h.count(), 100u);
  const double p99 = h.quantile_ms(0.99), p50 = h.quantile_ms(0.5);
  EXPECT_GE(p99, 99.0);
  EXPECT_LE(p99, 99.0 * 1.19);
  EXPECT_GE(p50, 50.0);
  EXPECT_LE(p50, 50.0 * 1.19);
  h.add(-5);  // clamps to the first bucket
  EXPECT_EQ(h.quantile_ms(0.0), query::LatencyHistogram::bucket_upper_ms(0));
  query::LatencyHistogram huge;
  huge.add(1e12);
  EXPECT_EQ(huge.quantile_ms(1.0), query::LatencyHistogram::bucket_upper_ms(query::LatencyHistogram::kBuckets - 1));
}

TEST(QueryShapes, LogKeepsCountsTotalsAndEvictsTheLeastRecent) {
  query::ShapeStatsLog log(2);
  log.record("a", "eav-index", 1.0, 3);
  log.record("a", "flat", 3.0, 4);
  log.record("b", "eav-scan", 50.0, 1);
  auto top = log.top(10);
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0].shape, "b");  // highest p99 first
  EXPECT_EQ(top[1].shape, "a");
  EXPECT_EQ(top[1].count, 2u);
  EXPECT_DOUBLE_EQ(top[1].total_ms, 4.0);
  EXPECT_DOUBLE_EQ(top[1].max_ms, 3.0);
  EXPECT_LE(top[1].p99_ms, 3.0);  // never above the maximum
  EXPECT_GE(top[1].p99_ms, 1.0);
  EXPECT_EQ(top[1].rows, 7u);
  EXPECT_EQ(top[1].plan, "flat");  // the latest run's plan
  log.record("a", "flat", 1.0, 0);  // a becomes the most recent: c evicts b
  log.record("c", "eav", 1.0, 0);
  std::set<std::string> shapes;
  for (const auto& s : log.all()) shapes.insert(s.shape);
  EXPECT_EQ(shapes, (std::set<std::string>{"a", "c"}));
  EXPECT_EQ(log.top(1).size(), 1u);
}

TEST(QueryShapes, ConcurrentRecordsAreAllCounted) {
  query::ShapeStatsLog log(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 1000; ++i) log.record(i % 2 ? "odd" : "even", "eav", 0.1 * t, 1);
    });
  for (auto& th : threads) th.join();
  uint64_t total = 0;
  for (const auto& s : log.all()) total += s.count;
  EXPECT_EQ(total, 4000u);
}

TEST(QueryShapes, SlowQueryLineIsNdjsonWithRedactedParameters) {
  const std::vector<Value> params{Value{int64_t{5}}, Value{std::string("se\"cret")}, Value{Decimal::parse("1.50")},
                                  Value{}};
  // 2026-01-02T03:04:05.678Z
  const int64_t t = 1767323045678000;
  std::string line = query::slow_query_line(t, "SELECT id FROM t WHERE a = ?", params, true, "eav-index", 3, 12.3456);
  rapidjson::Document d;
  ASSERT_FALSE(d.Parse(line.c_str()).HasParseError()) << line;
  EXPECT_STREQ(d["time"].GetString(), "2026-01-02T03:04:05.678Z");
  EXPECT_STREQ(d["sql"].GetString(), "SELECT id FROM t WHERE a = ?");
  ASSERT_EQ(d["params"].Size(), 4u);
  for (const auto& p : d["params"].GetArray()) EXPECT_STREQ(p.GetString(), "?");
  EXPECT_EQ(line.find("cret"), std::string::npos);
  EXPECT_STREQ(d["plan"].GetString(), "eav-index");
  EXPECT_EQ(d["rows"].GetUint64(), 3u);
  EXPECT_NEAR(d["duration_ms"].GetDouble(), 12.346, 1e-9);
  line = query::slow_query_line(t, "q", params, false, "flat", 0, 1);
  ASSERT_FALSE(d.Parse(line.c_str()).HasParseError()) << line;
  EXPECT_EQ(d["params"][0].GetInt64(), 5);
  EXPECT_STREQ(d["params"][1].GetString(), "se\"cret");
  EXPECT_DOUBLE_EQ(d["params"][2].GetDouble(), 1.5);
  EXPECT_TRUE(d["params"][3].IsNull());
}

class ShapesDb : public ::testing::TestWithParam<bool> {
 protected:
  std::unique_ptr<Database> open(Options o = {}) {
    o.cache.enabled = GetParam();
    auto db = Database::open(tmp_.file("s.db"), o);
    EntityTypeDef t;
    t.code = "item";
    t.attributes = {testing::attr("n", ValueType::kInt), testing::attr("name", ValueType::kVarchar)};
    db->define_type(t);
    Session s = db->session();
    for (int i = 0; i < 50; ++i) {
      Entity& e = s.create("item");
      e.set("n", Value{int64_t{i}});
      e.set("name", Value{std::string("x") + std::to_string(i % 5)});
    }
    s.flush();
    return db;
  }
  testing::TempDir tmp_;
};

TEST_P(ShapesDb, QueriesAreRecordedPerShape) {
  auto db = open();
  for (int i = 0; i < 5; ++i) db->query("SELECT id FROM item WHERE n = " + std::to_string(i));
  db->query("SELECT id FROM item WHERE n = ?", {Value{int64_t{3}}});
  db->query("SELECT id FROM item WHERE name = 'x1'", {}, QueryOptions{PlanKind::kEav});
  Session s = db->session();
  s.query("SELECT id FROM item WHERE name = 'x2'");
  EXPECT_THROW(db->query("SELECT id FROM item WHERE nope = 1"), Error);  // failures are not recorded
  auto shapes = db->query_shapes(100);
  ASSERT_EQ(shapes.size(), 2u);
  std::map<std::string, QueryShapeStats> by;
  for (const auto& sh : shapes) by[sh.shape] = sh;
  ASSERT_TRUE(by.count("select id from item where n = ?"));
  EXPECT_EQ(by["select id from item where n = ?"].count, 6u);
  EXPECT_EQ(by["select id from item where n = ?"].rows, 6u);
  EXPECT_EQ(by["select id from item where name = ?"].count, 2u);
  EXPECT_EQ(by["select id from item where name = ?"].rows, 20u);
  EXPECT_EQ(by["select id from item where n = ?"].plan, "eav-index");
  for (size_t i = 1; i < shapes.size(); ++i) EXPECT_GE(shapes[i - 1].p99_ms, shapes[i].p99_ms);
  EXPECT_EQ(db->query_shapes(1).size(), 1u);
  if (GetParam()) {  // a repeated query is served by L4
    db->query("SELECT id FROM item WHERE n = 1");
    db->query("SELECT id FROM item WHERE n = 1");
    for (const auto& sh : db->query_shapes(100)) {
      if (sh.shape == "select id from item where n = ?") {
        EXPECT_EQ(sh.plan, "l4-cache");
      }
    }
  }
}

TEST_P(ShapesDb, SlowQueryLogWritesOneLinePerQueryOverTheThreshold) {
  Options o;
  o.slow_query_log = tmp_.file("slow.ndjson");
  o.slow_query_ms = 0;  // every query is "slow": deterministic
  auto db = open(o);
  db->query("SELECT id FROM item WHERE n = ?", {Value{int64_t{7}}});
  db->query("SELECT COUNT(*) FROM item WHERE name = 'x1'", {}, QueryOptions{PlanKind::kEav});
  std::ifstream in(o.slow_query_log);
  std::string line;
  std::vector<std::string> lines;
  while (std::getline(in, line)) lines.push_back(line);
  ASSERT_EQ(lines.size(), 2u);
  rapidjson::Document d;
  ASSERT_FALSE(d.Parse(lines[0].c_str()).HasParseError());
  EXPECT_STREQ(d["sql"].GetString(), "SELECT id FROM item WHERE n = ?");
  EXPECT_STREQ(d["params"][0].GetString(), "?");
  EXPECT_EQ(d["rows"].GetUint64(), 1u);
  EXPECT_TRUE(d["duration_ms"].IsNumber());
  EXPECT_EQ(std::string(d["time"].GetString()).size(), 24u);
  ASSERT_FALSE(d.Parse(lines[1].c_str()).HasParseError());
  EXPECT_STREQ(d["plan"].GetString(), "eav-index");
  // A high threshold logs nothing; unredacted values appear.
  db.reset();
  o.slow_query_ms = 1e9;
  o.slow_query_log = tmp_.file("none.ndjson");
  db = Database::open(tmp_.file("s.db"), o);
  db->query("SELECT id FROM item WHERE n = 1");
  std::ifstream none(o.slow_query_log);
  EXPECT_FALSE(std::getline(none, line));
  db.reset();
  o.slow_query_ms = 0;
  o.slow_query_redact = false;
  o.slow_query_log = tmp_.file("plain.ndjson");
  db = Database::open(tmp_.file("s.db"), o);
  db->query("SELECT id FROM item WHERE n = ?", {Value{int64_t{42}}});
  std::ifstream plain(o.slow_query_log);
  ASSERT_TRUE(std::getline(plain, line));
  ASSERT_FALSE(d.Parse(line.c_str()).HasParseError());
  EXPECT_EQ(d["params"][0].GetInt64(), 42);
}

TEST_P(ShapesDb, UnwritableSlowLogIsAClearError) {
  Options o;
  o.slow_query_log = tmp_.file("no/such/dir/slow.ndjson");
  try {
    open(o);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("no/such/dir/slow.ndjson"), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(CacheOnOff, ShapesDb, ::testing::Bool());

}  // namespace
}  // namespace eavdb
