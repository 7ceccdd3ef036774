// Planner tests: statistics (HyperLogLog, equi-depth histograms, storage, modification counter,
// automatic re-analyze), plan choice, EXPLAIN [ANALYZE], the plan cache and flat tables (sync in
// the commit funnel, coverage, forced plans, cache invalidation, another process dropping one).
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <set>

#include <fmt/format.h>

#include "eavdb/database.h"
#include "eavdb/session.h"
#include "query/parser.h"
#include "query/plan_cache.h"
#include "query/planner.h"
#include "query/statistics.h"
#include "storage/backend.h"
#include "test_util.h"

namespace eavdb {
namespace {

using query::StatKey;

AttributeDef attribute(const std::string& code, ValueType type) {
  AttributeDef a;
  a.code = code;
  a.label = code;
  a.type = type;
  return a;
}

// ---- statistics ---------------------------------------------------------------------------------

TEST(Statistics, HyperLogLogEstimatesDistinctCounts) {
  for (int n : {10, 1000, 100000}) {
    query::HyperLogLog h;
    for (int rep = 0; rep < 3; ++rep)  // duplicates must not count
      for (int i = 0; i < n; ++i) h.add(query::hash_key(StatKey(int64_t{i})));
    EXPECT_NEAR(h.estimate(), n, std::max(1.0, 0.05 * n)) << n;
  }
  query::HyperLogLog empty;
  EXPECT_NEAR(empty.estimate(), 0.0, 1e-9);
}

TEST(Statistics, KeysOrderNumbersBeforeStrings) {
  EXPECT_LT(query::compare_keys(StatKey(int64_t{2}), StatKey(2.5)), 0);
  EXPECT_GT(query::compare_keys(StatKey(3.0), StatKey(int64_t{2})), 0);
  EXPECT_EQ(query::compare_keys(StatKey(int64_t{2}), StatKey(2.0)), 0);
  EXPECT_LT(query::compare_keys(StatKey(int64_t{99}), StatKey(std::string("1"))), 0);
  EXPECT_LT(query::compare_keys(StatKey(std::string("Ab")), StatKey(std::string("a"))), 0);
  EXPECT_EQ(query::stat_key(query::SqlParam(std::string("19.90")), ValueType::kDecimal), StatKey(19.9));
  EXPECT_FALSE(query::stat_key(query::SqlParam(std::monostate{}), ValueType::kInt));
}

TEST(Statistics, EquiDepthHistogramAndEstimates) {
  // 0..9999 once each, plus 5,000 copies of 7: a frequent value spans several buckets.
  std::vector<int64_t> values;
  for (int64_t i = 0; i < 10000; ++i) values.push_back(i);
  for (int i = 0; i < 5000; ++i) values.push_back(7);
  std::sort(values.begin(), values.end());
  query::AttributeStatsBuilder b(42, static_cast<int64_t>(values.size()));
  for (int64_t v : values) b.add(StatKey(v));
  query::AttributeStats s = b.finish();
  EXPECT_EQ(s.attribute_id, 42);
  EXPECT_EQ(s.non_null, 15000);
  EXPECT_EQ(s.min, StatKey(int64_t{0}));
  EXPECT_EQ(s.max, StatKey(int64_t{9999}));
  EXPECT_EQ(s.bounds.size(), static_cast<size_t>(query::AttributeStatsBuilder::kBuckets + 1));
  EXPECT_TRUE(std::is_sorted(s.bounds.begin(), s.bounds.end(),
                             [](const StatKey& x, const StatKey& y) { return query::compare_keys(x, y) < 0; }));
  EXPECT_NEAR(s.distinct, 10000, 500);
  EXPECT_GT(query::estimate_eq(s, StatKey(int64_t{7})), 3500);  // frequent
  EXPECT_LT(query::estimate_eq(s, StatKey(int64_t{5000})), 10);  // ordinary
  EXPECT_EQ(query::estimate_eq(s, StatKey(int64_t{20000})), 0);  // beyond max
  const double mid = query::estimate_range(s, StatKey(int64_t{5000}), StatKey(int64_t{5999}));
  EXPECT_NEAR(mid, 1000, 200);
  EXPECT_NEAR(query::estimate_range(s, std::nullopt, std::nullopt), 15000, 1);
  EXPECT_EQ(query::estimate_range(s, StatKey(int64_t{-10}), StatKey(int64_t{-1})), 0);
  // Strings: whole buckets, half of the bucket holding the bound.
  query::AttributeStatsBuilder sb(1, 26);
  for (char c = 'a'; c <= 'z'; ++c) sb.add(StatKey(std::string(1, c)));
  query::AttributeStats ss = sb.finish();
  EXPECT_NEAR(query::estimate_range(ss, StatKey(std::string("a")), StatKey(std::string("m"))), 13, 3);
  query::AttributeStatsBuilder none(2, 0);
  query::AttributeStats ns = none.finish();
  EXPECT_EQ(ns.non_null, 0);
  EXPECT_FALSE(ns.min);
  EXPECT_EQ(query::estimate_eq(ns, StatKey(int64_t{1})), 0);
}

TEST(Statistics, WalkStopKeyHoldsAboutTheAskedValues) {
  // 0..9999 once each: a walk of 500 keys from the top stops near 9500, from the bottom near 499;
  // rounded outward, so the range holds at least the asked number of values.
  query::AttributeStatsBuilder b(1, 10000);
  for (int64_t i = 0; i < 10000; ++i) b.add(StatKey(i));
  const query::AttributeStats s = b.finish();
  const auto top = query::walk_stop_key(s, 500, true);
  ASSERT_TRUE(top);
  const int64_t t = std::get<int64_t>(*top);
  EXPECT_LE(t, 9500);
  EXPECT_GE(t, 9450);
  const auto bottom = query::walk_stop_key(s, 500, false);
  ASSERT_TRUE(bottom);
  const int64_t u = std::get<int64_t>(*bottom);
  EXPECT_GE(u, 499);
  EXPECT_LE(u, 550);
  // Every value, or no histogram: no stop (the whole index).
  EXPECT_FALSE(query::walk_stop_key(s, 10000, true));
  EXPECT_FALSE(query::walk_stop_key(query::AttributeStatsBuilder(2, 0).finish(), 10, true));
  // Strings: the far bound of the bucket the walk reaches (never inside it).
  query::AttributeStatsBuilder sb(3, 26 * 100);
  for (char c = 'a'; c <= 'z'; ++c)
    for (int i = 0; i < 100; ++i) sb.add(StatKey(std::string(1, c) + fmt::format("{:03}", i)));
  const query::AttributeStats ss = sb.finish();
  const auto sk = query::walk_stop_key(ss, 250, true);
  ASSERT_TRUE(sk);
  EXPECT_LE(query::estimate_range(ss, *sk, std::nullopt), 26 * 100);
  EXPECT_GE(query::estimate_range(ss, *sk, std::nullopt), 250);
  EXPECT_LT(std::get<std::string>(*sk), "y000");
  EXPECT_GE(std::get<std::string>(*sk), "w000");
}

// ---- plan choice on crafted statistics ------------------------------------------------------

// A type with attributes numbered from 1 (`attrs`, then varchar `extra_N` up to `width`), a catalog
// that knows only it, and a flat table over every attribute, indexed unless the attribute is text.
struct CraftedType {
  EntityTypeDef type;
  flat::FlatTable flat;
  query::Catalog catalog{[this](std::string_view code) -> const EntityTypeDef* { return code == type.code ? &type : nullptr; },
                         [this] { return std::vector<std::string>{type.code}; }};

  CraftedType(const std::string& code, const std::vector<std::pair<std::string, ValueType>>& attrs, std::size_t width = 0) {
    type.id = 1;
    type.code = code;
    int64_t next = 1;
    for (const auto& [a_code, a_type] : attrs) add(a_code, a_type, next++);
    while (type.attributes.size() < width) {
      add(fmt::format("extra_{}", next), ValueType::kVarchar, next);
      ++next;
    }
    flat.type_id = 1;
    flat.table = fmt::format("eav_flat_{}_1", code);
  }
  CraftedType(const CraftedType&) = delete;  // the catalog points at this object
  CraftedType& operator=(const CraftedType&) = delete;

 private:
  void add(const std::string& a_code, ValueType a_type, int64_t id) {
    AttributeDef a = attribute(a_code, a_type);
    a.id = id;
    type.attributes.push_back(a);
    flat.attribute_ids.push_back(id);
    if (a_type != ValueType::kText) flat.indexed_ids.push_back(id);
  }
};

// A zipcodes-like type (6 attributes, flat table with an index on every non-text column) and
// statistics for `entities` rows: which flat access path a GROUP BY gets, and why.
TEST(PlanChoice, GroupByWalksTheKeyIndexOnlyWhenTheFlatTableFitsThePageCache) {
  CraftedType c("zipcode", {{"zip_code", ValueType::kVarchar},
                            {"latitude", ValueType::kDecimal},
                            {"longitude", ValueType::kDecimal},
                            {"city", ValueType::kVarchar},
                            {"state", ValueType::kVarchar},
                            {"note", ValueType::kText}});
  const EntityTypeDef& t = c.type;
  const query::Catalog& catalog = c.catalog;
  const flat::FlatTable& flat = c.flat;
  auto stats_for = [&](int64_t entities) {
    query::TypeStats s;
    s.type_id = 1;
    s.entity_count = entities;
    for (const auto& a : t.attributes) {
      query::AttributeStats as;
      as.attribute_id = a.id;
      as.non_null = entities;
      as.distinct = a.code == "state" ? 59 : static_cast<double>(entities);
      s.attributes[a.id] = as;
    }
    return s;
  };
  auto choose = [&](const std::string& sql, int64_t entities, double cache_bytes) {
    query::BoundQuery q = query::bind(query::parse(sql), {}, catalog);
    const query::TypeStats s = stats_for(entities);
    query::PlanContext ctx{&s, &flat, query::PlanMode::kAuto};
    ctx.page_cache_bytes = cache_bytes;
    query::PlanChoice c = query::choose_plan(q, ctx);
    EXPECT_EQ(c.source, query::Layout::Source::kFlat) << sql;
    return c.driver_join >= 0 ? q.joins[static_cast<std::size_t>(c.driver_join)].attribute->code : std::string("scan");
  };
  const std::string group = "SELECT state, COUNT(*), AVG(latitude) FROM zipcode GROUP BY state";
  // 42,049 rows x ~118 estimated bytes = 5 MB: resident in the default 32 MiB cache.
  EXPECT_EQ(choose(group, 42049, query::kDefaultPageCacheBytes), "state");
  // The same table with a 1 MiB cache, or 1,000,000 rows (118 MB): random fetches are page reads.
  EXPECT_EQ(choose(group, 42049, 1024.0 * 1024), "scan");
  EXPECT_EQ(choose(group, 1000000, query::kDefaultPageCacheBytes), "scan");
  // A text key has no flat index; two keys are not ordered by one index.
  EXPECT_EQ(choose("SELECT note, COUNT(*) FROM zipcode GROUP BY note", 42049, query::kDefaultPageCacheBytes), "scan");
  EXPECT_EQ(choose("SELECT state, city, COUNT(*) FROM zipcode GROUP BY state, city", 42049, query::kDefaultPageCacheBytes),
            "scan");
}

// Issue 5: catalog Q8 (category = 'Electronics' AND voltage IS NULL) at 200,000 entities fetched
// 44,000 rows of a 142 MB flat table through its category index (128 ms) instead of the EAV
// plan (55 ms): the fetches touch ~70% of the table's pages, which do not fit the page cache and
// are read again on every run, while the EAV plan reads narrow value tables. Crafted
// statistics shaped like that catalog (42 columns, 745 measured bytes per flat row).
TEST(PlanChoice, WideNonResidentFlatTableLosesLargeFetchesToTheEavPlan) {
  CraftedType c("product", {{"sku", ValueType::kVarchar},
                            {"category", ValueType::kVarchar},
                            {"voltage", ValueType::kInt},
                            {"price", ValueType::kDecimal}},
                42);
  const EntityTypeDef& t = c.type;
  const query::Catalog& catalog = c.catalog;
  flat::FlatTable& flat = c.flat;
  auto stats_for = [&](int64_t entities) {
    query::TypeStats s;
    s.type_id = 1;
    s.entity_count = entities;
    for (const auto& a : t.attributes) {
      query::AttributeStats as;
      as.attribute_id = a.id;
      as.non_null = a.code == "voltage" ? entities / 10 : entities;
      as.distinct = a.code == "category" ? 4.5 : static_cast<double>(as.non_null);
      if (a.code == "price") {  // uniform 0..1000: BETWEEN 20 AND 21 selects 0.1%
        as.min.emplace(0.0);
        as.max.emplace(1000.0);
        for (int b = 0; b <= 64; ++b) as.bounds.emplace_back(1000.0 * b / 64);
      } else if (a.code == "category") {  // 'Electronics' is one of ~4.5 equally common values
        as.min = query::stat_key(query::SqlParam(std::string("Apparel")), ValueType::kVarchar);
        as.max = query::stat_key(query::SqlParam(std::string("Toys")), ValueType::kVarchar);
      } else if (a.code == "sku") {
        as.min = query::stat_key(query::SqlParam(std::string("SKU-0")), ValueType::kVarchar);
        as.max = query::stat_key(query::SqlParam(std::string("SKU-9")), ValueType::kVarchar);
      }
      s.attributes.emplace(a.id, std::move(as));
    }
    return s;
  };
  auto source = [&](const std::string& sql, int64_t entities, double row_bytes, double cache_bytes) {
    query::BoundQuery q = query::bind(query::parse(sql), {}, catalog);
    const query::TypeStats s = stats_for(entities);
    flat.row_bytes = row_bytes;
    query::PlanContext ctx{&s, &flat, query::PlanMode::kAuto};
    ctx.page_cache_bytes = cache_bytes;
    return query::choose_plan(q, ctx).source == query::Layout::Source::kFlat ? "flat" : "eav";
  };
  const std::string q8 = "SELECT id, sku FROM product WHERE category = 'Electronics' AND voltage IS NULL";
  const double cache = query::kDefaultPageCacheBytes;
  // 200,000 rows x 745 bytes = 149 MB, 4.4x the cache: the 44,000 fetches re-read ~26,000 pages.
  EXPECT_STREQ(source(q8, 200000, 745, cache), "eav");
  // The same table resident (20,000 rows: 15 MB; or a 1 GiB cache; or narrow 60-byte rows):
  // fetches are B-tree descents in memory and the flat table wins.
  EXPECT_STREQ(source(q8, 20000, 745, cache), "flat");
  EXPECT_STREQ(source(q8, 200000, 745, 1024.0 * 1024 * 1024), "flat");
  EXPECT_STREQ(source(q8, 200000, 60, cache), "flat");
  // A selective range touches few pages (they stay cached between runs): the flat index wins.
  EXPECT_STREQ(source("SELECT id, sku FROM product WHERE price BETWEEN 20 AND 21", 200000, 745, cache), "flat");
  EXPECT_STREQ(source("SELECT id, price, voltage FROM product WHERE sku = 'SKU-1'", 200000, 745, cache), "flat");
}

// ---- a store with one synthetic type --------------------------------------------------------------

// item: code (varchar, distinct), grp (varchar, 10 values), n (int 0..count-1), price (decimal),
// note (text), opt (int, on every third entity).
class PlannerDb : public ::testing::Test {
 protected:
  void SetUp() override { open(true); }

  void open(bool cache) {
    Options o;
    o.cache.enabled = cache;
    db_ = Database::open(tmp_.file("p.db"), o);
    EntityTypeDef t;
    t.code = "item";
    t.attributes = {attribute("code", ValueType::kVarchar), attribute("grp", ValueType::kVarchar),
                    attribute("n", ValueType::kInt),        attribute("price", ValueType::kDecimal),
                    attribute("note", ValueType::kText),    attribute("opt", ValueType::kInt)};
    type_ = db_->define_type(t);
  }

  const AttributeDef& attr(const std::string& code) const { return *type_.find(code); }

  void insert(int count, int first = 0) {
    ChangeSet cs;
    for (int i = first; i < first + count; ++i) {
      EntityWrite w;
      w.type_id = type_.id;
      w.values.push_back({attr("code").id, ValueType::kVarchar, Value(fmt::format("C{:05}", i))});
      w.values.push_back({attr("grp").id, ValueType::kVarchar, Value(fmt::format("g{}", i % 10))});
      w.values.push_back({attr("n").id, ValueType::kInt, Value(int64_t{i})});
      w.values.push_back({attr("price").id, ValueType::kDecimal, Value(Decimal::parse(fmt::format("{}.90", i % 100)))});
      w.values.push_back({attr("note").id, ValueType::kText, Value(fmt::format("note {}", i))});
      if (i % 3 == 0) w.values.push_back({attr("opt").id, ValueType::kInt, Value(int64_t{i % 7})});
      cs.writes.push_back(std::move(w));
    }
    db_->commit(cs);
  }

  // Sets attribute `code` to `v` on the entities whose ids are the first column of `sql`'s rows
  // (an update to NULL removes the value), in one commit; returns how many.
  size_t update_where(const std::string& sql, const std::string& code, const Value& v) {
    ChangeSet cs;
    for (const auto& row : db_->query(sql).rows) {
      EntityWrite w;
      w.kind = EntityWrite::Kind::kUpdate;
      w.type_id = type_.id;
      w.id = std::get<int64_t>(row.at(0));
      w.values.push_back({attr(code).id, attr(code).type, v});
      cs.writes.push_back(std::move(w));
    }
    db_->commit(cs);
    return cs.writes.size();
  }

  // The same query under every plan kind must give the same rows (flat only when enabled).
  QueryResult same_under_all_plans(const std::string& sql, const std::vector<Value>& params = {}) {
    QueryResult a = db_->query(sql, params, QueryOptions{PlanKind::kAuto});
    QueryResult e = db_->query(sql, params, QueryOptions{PlanKind::kEav});
    EXPECT_EQ(a.rows, e.rows) << sql;
    if (!db_->flat_tables().empty()) {
      QueryResult f = db_->query(sql, params, QueryOptions{PlanKind::kFlat});
      EXPECT_EQ(f.rows, e.rows) << sql;
    }
    return a;
  }

  static bool has_op(const PlanNode& n, const std::string& op) {
    if (n.op == op) return true;
    for (const auto& c : n.children)
      if (has_op(c, op)) return true;
    return false;
  }

  static const PlanNode* find_op(const PlanNode& n, const std::string& op) {
    if (n.op == op) return &n;
    for (const auto& c : n.children)
      if (const PlanNode* f = find_op(c, op)) return f;
    return nullptr;
  }

  testing::TempDir tmp_;
  std::unique_ptr<Database> db_;
  EntityTypeDef type_;
};

TEST_F(PlannerDb, AnalyzeStoresStatisticsAndTheCommitFunnelCountsWrites) {
  insert(1000);
  auto reports = db_->analyze("item");
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].entities, 1000);
  EXPECT_EQ(reports[0].attributes, 6);
  auto s = db_->backend().load_statistics(type_.id);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->entity_count, 1000);
  EXPECT_EQ(s->modifications, 0);
  const query::AttributeStats* n = s->find(attr("n").id);
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->non_null, 1000);
  EXPECT_EQ(n->min, StatKey(int64_t{0}));
  EXPECT_EQ(n->max, StatKey(int64_t{999}));
  EXPECT_NEAR(n->distinct, 1000, 50);
  EXPECT_EQ(s->find(attr("opt").id)->non_null, 334);
  EXPECT_NEAR(s->find(attr("grp").id)->distinct, 10, 1);
  EXPECT_EQ(s->find(attr("price").id)->max, StatKey(99.9));  // decimals as doubles
  // Writes are counted per entity write by the commit funnel.
  insert(5, 1000);
  Session ses = db_->session();
  Entity* e = ses.find("item", 1);
  ASSERT_NE(e, nullptr);
  e->set("n", Value(int64_t{-1}));
  ses.flush();
  EXPECT_EQ(db_->backend().load_statistics(type_.id)->modifications, 6);
  db_->analyze();
  EXPECT_EQ(db_->backend().load_statistics(type_.id)->modifications, 0);
  EXPECT_THROW(db_->analyze("itme"), Error);
}

TEST_F(PlannerDb, QueriesAnalyzeOnFirstUseAndAgainWhenMuchChanged) {
  insert(100);
  EXPECT_FALSE(db_->backend().load_statistics(type_.id));
  db_->query("SELECT id FROM item WHERE n = 5");
  auto first = db_->backend().load_statistics(type_.id);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->entity_count, 100);
  insert(400, 100);  // 400 writes: under max(500, 20%)
  db_->query("SELECT id FROM item WHERE n = 6");
  EXPECT_EQ(db_->backend().load_statistics(type_.id)->entity_count, 100);
  insert(200, 500);  // 600 writes since the analyze
  db_->query("SELECT id FROM item WHERE n = 7");
  auto again = db_->backend().load_statistics(type_.id);
  EXPECT_EQ(again->entity_count, 700);
  EXPECT_EQ(again->modifications, 0);
}

TEST_F(PlannerDb, PlanChoiceFollowsTheStatistics) {
  insert(3000);
  db_->analyze("item");
  // A selective equality drives from its value index.
  ExplainResult e = db_->explain("SELECT id FROM item WHERE grp = 'g3' AND code = 'C00043'");
  EXPECT_EQ(e.plan, "eav");
  const PlanNode* scan = find_op(e.root, "IndexScan");
  ASSERT_NE(scan, nullptr) << explain_text(e);
  EXPECT_NE(scan->detail.find("code = 'C00043'"), std::string::npos) << explain_text(e);
  EXPECT_NEAR(scan->estimated_rows, 1, 1);
  // No indexable predicate (<> keeps most entities): the type's entity list.
  e = db_->explain("SELECT id FROM item WHERE grp <> 'g1'");
  EXPECT_TRUE(has_op(e.root, "TypeScan")) << explain_text(e);
  // OR of two indexed attributes: a union of index lookups.
  e = db_->explain("SELECT id FROM item WHERE code = 'C00001' OR n = 17");
  EXPECT_TRUE(has_op(e.root, "IndexUnion")) << explain_text(e);
  // Text has no value index: never a driver.
  e = db_->explain("SELECT id FROM item WHERE note = 'note 5'");
  EXPECT_FALSE(has_op(e.root, "IndexScan")) << explain_text(e);
  // Top-N by a non-null key: scan its index in order and stop at the LIMIT.
  e = db_->explain("SELECT id, n FROM item WHERE n >= 0 AND grp <> 'g1' ORDER BY n LIMIT 5");
  EXPECT_TRUE(has_op(e.root, "IndexOrderScan")) << explain_text(e);
  EXPECT_TRUE(has_op(e.root, "TopN")) << explain_text(e);
  // Every plan returns the reference rows.
  for (const char* sql : {"SELECT id FROM item WHERE grp = 'g3' AND code = 'C00043'",
                          "SELECT id FROM item WHERE code = 'C00001' OR n = 17",
                          "SELECT id, n FROM item WHERE n >= 0 AND grp <> 'g1' ORDER BY n LIMIT 5",
                          "SELECT id, n FROM item WHERE n >= 0 AND grp <> 'g1' ORDER BY n LIMIT 5 OFFSET 2",
                          "SELECT id FROM item WHERE (code = 'C00001' AND opt = 0) OR (n = 17 AND grp = 'g7')",
                          "SELECT grp, COUNT(*), AVG(price) FROM item WHERE code LIKE 'C000%' GROUP BY grp"}) {
    QueryResult r = same_under_all_plans(sql);
    EXPECT_FALSE(r.rows.empty()) << sql;
  }
  QueryResult top = db_->query("SELECT id, n FROM item WHERE n >= 0 AND grp <> 'g1' ORDER BY n LIMIT 5 OFFSET 2");
  ASSERT_EQ(top.rows.size(), 5u);
  EXPECT_EQ(top.rows[0][1], Value(int64_t{3}));  // 0, 2 skipped (1 is g1)
  QueryResult either = db_->query("SELECT id FROM item WHERE (code = 'C00001' AND opt = 0) OR (n = 17 AND grp = 'g7')");
  ASSERT_EQ(either.rows.size(), 1u);  // C00001 has no opt; n = 17 is g7
  EXPECT_EQ(either.rows[0][0], Value(int64_t{18}));
}

TEST_F(PlannerDb, TopNOnANullableKeyAppendsEntitiesWithoutItOnlyWhenShort) {
  // 900 'cold' entities with opt, then 300 'hot' ones without: the planner (independence
  // assumption) expects hot entities with opt and scans opt's index in order; none match, so the
  // second statement returns the hot entities without opt, ordered by id.
  ChangeSet cs;
  for (int i = 0; i < 1200; ++i) {
    EntityWrite w;
    w.type_id = type_.id;
    w.values.push_back({attr("grp").id, ValueType::kVarchar, Value(std::string(i < 900 ? "cold" : "hot"))});
    w.values.push_back({attr("n").id, ValueType::kInt, Value(int64_t{i})});
    if (i < 900) w.values.push_back({attr("opt").id, ValueType::kInt, Value(int64_t{1000 - i})});
    cs.writes.push_back(std::move(w));
  }
  db_->commit(cs);
  db_->analyze("item");
  const std::string hot = "SELECT id, opt FROM item WHERE grp = 'hot' ORDER BY opt LIMIT 2 OFFSET 1";
  ExplainResult e = db_->explain(hot, {}, true);
  const PlanNode* top = find_op(e.root, "TopN");
  ASSERT_NE(top, nullptr) << explain_text(e);
  EXPECT_NE(top->detail.find("follow only when fewer match"), std::string::npos) << explain_text(e);
  EXPECT_EQ(e.rows, 2);
  QueryResult r = db_->query(hot, {}, QueryOptions{PlanKind::kEav});
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.rows[0], (std::vector<Value>{Value(int64_t{902}), Value{}}));
  EXPECT_EQ(r.rows[1], (std::vector<Value>{Value(int64_t{903}), Value{}}));
  // Enough entities hold the key: the first statement answers alone (smallest opt first).
  QueryResult cold = db_->query("SELECT id, opt FROM item WHERE grp = 'cold' ORDER BY opt LIMIT 3", {},
                                QueryOptions{PlanKind::kEav});
  ASSERT_EQ(cold.rows.size(), 3u);
  EXPECT_EQ(cold.rows[0][1], Value(int64_t{101}));
  // Rows with and without the key in one page, and SELECT *, agree with the flat table.
  db_->flat_enable("item");
  for (const char* sql : {"SELECT id, opt FROM item WHERE n >= 895 ORDER BY opt LIMIT 4 OFFSET 3",
                          "SELECT * FROM item WHERE n >= 890 ORDER BY opt, n DESC LIMIT 20",
                          "SELECT id FROM item ORDER BY opt LIMIT 0"}) {
    QueryResult eav = db_->query(sql, {}, QueryOptions{PlanKind::kEav});
    QueryResult flat = db_->query(sql, {}, QueryOptions{PlanKind::kFlat});
    EXPECT_EQ(eav.rows, flat.rows) << sql;
  }
  QueryResult mixed = db_->query("SELECT id, opt FROM item WHERE n >= 895 ORDER BY opt LIMIT 4 OFFSET 3", {},
                                 QueryOptions{PlanKind::kEav});
  ASSERT_EQ(mixed.rows.size(), 4u);  // opt 105..101 for n 895..899, then n 900.. without opt
  EXPECT_EQ(mixed.rows[0][0], Value(int64_t{897}));
  EXPECT_EQ(mixed.rows[1][0], Value(int64_t{896}));
  EXPECT_EQ(mixed.rows[2][0], Value(int64_t{901}));
  EXPECT_EQ(mixed.rows[3][0], Value(int64_t{902}));
}

TEST_F(PlannerDb, ExplainAnalyzeReportsActualRows) {
  insert(2000);
  ExplainResult e = db_->explain("SELECT id, n FROM item WHERE grp = 'g2' AND n < 500 ORDER BY n DESC", {}, true);
  ASSERT_TRUE(e.analyzed);
  EXPECT_EQ(e.rows, 50);
  EXPECT_EQ(e.root.actual_rows, 50);
  EXPECT_TRUE(e.root.actual_ms.has_value());
  // The driver's actual rows: the candidates its index lookup (or the intersection of the two
  // lookups, 50 ids) returned.
  const PlanNode* driver = find_op(e.root, "IndexIntersection");
  if (!driver) driver = find_op(e.root, "IndexScan");
  if (!driver) driver = find_op(e.root, "TypeScan");
  ASSERT_NE(driver, nullptr) << explain_text(e);
  ASSERT_TRUE(driver->actual_rows.has_value()) << explain_text(e);
  EXPECT_TRUE(*driver->actual_rows == 50 || *driver->actual_rows == 200 || *driver->actual_rows == 500 ||
              *driver->actual_rows == 2000)
      << explain_text(e);
  EXPECT_FALSE(e.backend_plan.empty());
  EXPECT_NE(e.sql.find("?"), std::string::npos);
  EXPECT_EQ(e.sql.find("'g2'"), std::string::npos);  // parameters are bound, never spliced
  const std::string json = explain_json(e);
  EXPECT_NE(json.find("\"plan\":\"eav\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"actual_rows\":50"), std::string::npos) << json;
  // Errors stay the query language's.
  try {
    db_->explain("SELECT id FROM item WHERE gpr = 'x'");
    FAIL();
  } catch (const Error& err) {
    EXPECT_EQ(err.code(), ErrorCode::kNotFound);
    EXPECT_NE(std::string(err.what()).find("did you mean 'grp'"), std::string::npos) << err.what();
  }
}

TEST_F(PlannerDb, PlanCacheKeysOnShapeAndParameterClasses) {
  insert(300);
  db_->analyze("item");
  EXPECT_EQ(query::shape_key("SELECT id FROM item WHERE n < 5", {}),
            query::shape_key("select id   from item where n < 7", {}));
  EXPECT_NE(query::shape_key("SELECT id FROM item WHERE n < 5", {}),
            query::shape_key("SELECT id FROM item WHERE n < 5.5", {}));
  EXPECT_NE(query::shape_key("SELECT id FROM item WHERE n < ?", {Value(int64_t{5})}),
            query::shape_key("SELECT id FROM item WHERE n < ?", {Value(Decimal::parse("5.5"))}));
  EXPECT_EQ(query::shape_key("SELECT id FROM item WHERE grp = 'a'", {}),
            query::shape_key("SELECT id FROM item WHERE grp = 'bbb'", {}));
  EXPECT_FALSE(db_->explain("SELECT id FROM item WHERE code = 'C00010'").plan_cache_hit);
  EXPECT_TRUE(db_->explain("SELECT id FROM item WHERE code = 'C00020'").plan_cache_hit);
  // A fraction on an int column rewrites the predicate (n < 5.5 -> n <= 5): its own entry, right rows.
  QueryResult whole = db_->query("SELECT id FROM item WHERE n < ?", {Value(int64_t{5})}, QueryOptions{PlanKind::kEav});
  QueryResult frac = db_->query("SELECT id FROM item WHERE n < ?", {Value(Decimal::parse("5.5"))}, QueryOptions{PlanKind::kEav});
  QueryResult eq = db_->query("SELECT id FROM item WHERE n = ?", {Value(Decimal::parse("5.5"))}, QueryOptions{PlanKind::kEav});
  EXPECT_EQ(whole.rows.size(), 5u);
  EXPECT_EQ(frac.rows.size(), 6u);
  EXPECT_EQ(eq.rows.size(), 0u);
  auto [hits, misses] = db_->plan_cache_counts();
  EXPECT_GE(hits, 1);
  EXPECT_GE(misses, 3);
  // A cache entry made for one shape is checked before reuse: the same shape with a NULL param
  // (not indexable) re-plans instead of driving from an index it cannot use.
  db_->query("SELECT id FROM item WHERE code = ? AND n >= 0", {Value("C00003")}, QueryOptions{PlanKind::kEav});
  EXPECT_TRUE(db_->query("SELECT id FROM item WHERE code = ? AND n >= 0", {Value{}}, QueryOptions{PlanKind::kEav}).rows.empty());
  query::PlanCache small(2);
  small.put("a", {});
  small.put("b", {});
  EXPECT_TRUE(small.get("a"));
  small.put("c", {});  // evicts b, the least recently used
  EXPECT_FALSE(small.get("b"));
  EXPECT_TRUE(small.get("c"));
  EXPECT_EQ(small.size(), 2u);
}

TEST_F(PlannerDb, FlatTableStaysExactThroughWritesAndKnowsItsColumns) {
  insert(500);
  FlatTableInfo info = db_->flat_enable("item");
  EXPECT_EQ(info.table, fmt::format("eav_flat_item_{}", type_.id));
  EXPECT_EQ(info.columns.size(), 6u);
  ExplainResult e = db_->explain("SELECT * FROM item WHERE grp = 'g4' ORDER BY price DESC LIMIT 3");
  EXPECT_EQ(e.plan, "flat") << explain_text(e);
  QueryResult r = same_under_all_plans("SELECT * FROM item WHERE grp = 'g4' ORDER BY price DESC LIMIT 3");
  ASSERT_EQ(r.rows.size(), 3u);
  EXPECT_EQ(to_string(r.rows[0][4]), "94.90");  // exact decimal through the flat table
  EXPECT_TRUE(r.select_star);
  // Inserts, updates (set and remove a value) and deletes reach the flat table in the same commit.
  insert(20, 500);
  {
    Session s = db_->session();
    Entity* a = s.find("item", 5);
    a->set("price", Value(Decimal::parse("1000.10")));
    a->set("opt", Value{});
    s.remove(*s.find("item", 6));
    s.flush();
  }
  for (const char* sql : {"SELECT * FROM item ORDER BY price DESC LIMIT 5", "SELECT id FROM item WHERE opt IS NULL",
                          "SELECT COUNT(*), SUM(price) FROM item", "SELECT id, code FROM item WHERE id = 6"})
    same_under_all_plans(sql);
  // A selective OR over two flat columns: a union of the flat table's index lookups.
  ExplainResult u = db_->explain("SELECT id, n FROM item WHERE code = 'C00007' OR n = 300", {}, true);
  EXPECT_EQ(u.plan, "flat");
  EXPECT_TRUE(has_op(u.root, "IndexUnion")) << explain_text(u);
  EXPECT_EQ(u.rows, 2);
  EXPECT_EQ(find_op(u.root, "IndexUnion")->actual_rows, 2) << explain_text(u);
  // The WHERE is exactly the OR of the union's leaves: SQLite reads it by MULTI-INDEX OR (index
  // lookups and row fetches in one loop), not through an `id IN (UNION ...)` list, and sorts.
  EXPECT_EQ(u.sql.find("IN (SELECT"), std::string::npos) << u.sql;
  EXPECT_EQ(find_op(u.root, "IndexUnion")->detail.rfind("MULTI-INDEX OR", 0), 0u) << explain_text(u);
  EXPECT_NE(u.sql.find("ORDER BY +f.id"), std::string::npos) << u.sql;
  EXPECT_TRUE(std::any_of(u.backend_plan.begin(), u.backend_plan.end(),
                          [](const std::string& l) { return l.find("MULTI-INDEX OR") != std::string::npos; }))
      << explain_text(u);
  same_under_all_plans("SELECT id, n FROM item WHERE code = 'C00007' OR n = 300 ORDER BY n DESC LIMIT 1 OFFSET 1");
  same_under_all_plans("SELECT code FROM item WHERE code = 'C00007' OR n = 300 OR code = 'C00300'");
  // `+price` keeps the column's decimal collation: 10.90 sorts above 9.90 (as text it would not).
  const std::string by_price = "SELECT id, price FROM item WHERE code = 'C00009' OR code = 'C00010' OR n = 300 ORDER BY price DESC";
  EXPECT_NE(db_->explain(by_price, {}, false, QueryOptions{PlanKind::kFlat}).sql.find("+f.\"price\""), std::string::npos);
  QueryResult priced = same_under_all_plans(by_price);
  ASSERT_EQ(priced.rows.size(), 3u);
  EXPECT_EQ(to_string(priced.rows[0][1]), "10.90");
  EXPECT_EQ(to_string(priced.rows[1][1]), "9.90");
  same_under_all_plans("SELECT id, n FROM item WHERE code = 'C00007' OR n = 300 OR (grp = 'g1' AND opt = 3)");
  QueryResult top = db_->query("SELECT id, price FROM item ORDER BY price DESC LIMIT 1", {}, QueryOptions{PlanKind::kFlat});
  EXPECT_EQ(top.rows[0][0], Value(int64_t{5}));
  EXPECT_EQ(to_string(top.rows[0][1]), "1000.10");
  EXPECT_EQ(db_->query("SELECT COUNT(*) FROM item", {}, QueryOptions{PlanKind::kFlat}).rows[0][0], Value(int64_t{519}));
  // A new attribute is not in the flat table: the planner uses EAV for queries that touch it.
  EntityTypeDef more = type_;
  more.attributes = {attribute("extra", ValueType::kInt)};
  db_->define_type(more);
  ExplainResult uncovered = db_->explain("SELECT id FROM item WHERE extra IS NULL");
  EXPECT_EQ(uncovered.plan, "eav");
  EXPECT_EQ(uncovered.rejected_plan, "") << explain_text(uncovered);  // flat was not an option
  // A covered query still has the flat table among its costed plans (chosen or rejected).
  ExplainResult covered = db_->explain("SELECT id FROM item WHERE n = 3");
  EXPECT_TRUE(covered.plan == "flat" || covered.rejected_plan == "flat") << explain_text(covered);
  EXPECT_EQ(db_->explain("SELECT id FROM item WHERE n = 3", {}, false, QueryOptions{PlanKind::kFlat}).plan, "flat");
  EXPECT_EQ(db_->explain("SELECT * FROM item WHERE n = 3").plan, "eav");  // * needs extra too
  try {
    db_->query("SELECT id FROM item WHERE extra = 1", {}, QueryOptions{PlanKind::kFlat});
    FAIL();
  } catch (const Error& err) {
    EXPECT_EQ(err.code(), ErrorCode::kInvalidArgument);
  }
  info = db_->flat_rebuild("item");
  EXPECT_EQ(info.columns.size(), 7u);
  EXPECT_EQ(db_->explain("SELECT * FROM item WHERE extra IS NULL").plan, "flat");
  same_under_all_plans("SELECT * FROM item WHERE extra IS NULL ORDER BY n LIMIT 4");
  EXPECT_TRUE(db_->flat_disable("item"));
  EXPECT_FALSE(db_->flat_disable("item"));
  EXPECT_EQ(db_->explain("SELECT id FROM item WHERE n = 3").plan, "eav");
  EXPECT_THROW(db_->query("SELECT id FROM item", {}, QueryOptions{PlanKind::kFlat}), Error);
  EXPECT_THROW(db_->flat_rebuild("item"), Error);
  EXPECT_TRUE(db_->integrity_check().empty());
}

TEST_F(PlannerDb, FlatPlansKeepQueryCacheInvalidation) {
  insert(50);
  db_->flat_enable("item");
  QueryResult before = db_->query("SELECT id, n FROM item WHERE grp = 'g1' ORDER BY id");
  ASSERT_EQ(db_->explain("SELECT id, n FROM item WHERE grp = 'g1' ORDER BY id").plan, "flat");
  EXPECT_EQ(db_->query("SELECT id, n FROM item WHERE grp = 'g1' ORDER BY id").rows, before.rows);  // cached
  {
    Session s = db_->session();
    s.find("item", 2)->set("n", Value(int64_t{777}));
    s.flush();
  }
  QueryResult after = db_->query("SELECT id, n FROM item WHERE grp = 'g1' ORDER BY id");
  ASSERT_EQ(after.rows.size(), 5u);
  EXPECT_EQ(after.rows[0][1], Value(int64_t{777}));
}

// Issue 5: flat and EAV plans are costed in the same units and the cheaper wins; EXPLAIN shows
// the rejected estimate, and forcing the rejected family reproduces exactly that estimate.
TEST_F(PlannerDb, CostChoosesBetweenFlatAndEavAndExplainShowsBoth) {
  insert(2000);
  db_->flat_enable("item");
  db_->analyze("item");
  for (const char* sql : {"SELECT id, n FROM item WHERE grp = 'g1' ORDER BY id", "SELECT id FROM item WHERE code = 'C00042'",
                          "SELECT grp, COUNT(*), AVG(price) FROM item GROUP BY grp",
                          "SELECT id, price FROM item WHERE grp = 'g3' ORDER BY price LIMIT 5",
                          "SELECT id, n FROM item WHERE opt IS NULL AND grp = 'g2'",
                          "SELECT id FROM item WHERE code = 'C00007' OR n = 300", "SELECT id, opt FROM item ORDER BY opt LIMIT 4",
                          "SELECT id FROM item WHERE n BETWEEN 10 AND 40 ORDER BY n LIMIT 3"}) {
    ExplainResult a = db_->explain(sql);
    ASSERT_FALSE(a.rejected_plan.empty()) << explain_text(a);
    EXPECT_NE(a.plan, a.rejected_plan);
    EXPECT_LE(a.estimated_cost, a.rejected_cost) << explain_text(a);
    EXPECT_NE(explain_text(a).find("rejected " + a.rejected_plan), std::string::npos);
    EXPECT_NE(explain_json(a).find("\"rejected_cost\""), std::string::npos);
    ExplainResult forced = db_->explain(sql, {}, false, QueryOptions{a.rejected_plan == "flat" ? PlanKind::kFlat : PlanKind::kEav});
    EXPECT_EQ(forced.plan, a.rejected_plan);
    EXPECT_DOUBLE_EQ(forced.estimated_cost, a.rejected_cost) << explain_text(forced);
    EXPECT_EQ(forced.rejected_plan, a.plan);
    same_under_all_plans(sql);
  }
}

// The flat plan pins its costed access path: a GROUP BY over a table larger than the page cache
// reads it in rowid order (NOT INDEXED) instead of SQLite's statistics-free choice of walking the
// group column's index with one random row fetch per entity (catalog Q6 at 200,000 entities:
// 5.6 s against a scan's fraction). Here the cache is 16 KiB, the table ~64 KB (16 pages, the
// width measured at flat build; with 64 KiB it would now be costed as resident).
TEST_F(PlannerDb, FlatGroupByScansTheTableInsteadOfWalkingAnIndex) {
  db_.reset();
  Options small;
  small.page_cache_kib = 16;
  db_ = Database::open(tmp_.file("p.db"), small);
  insert(1000);
  db_->flat_enable("item");
  db_->analyze("item");
  ExplainResult e = db_->explain("SELECT grp, COUNT(*), AVG(price) FROM item GROUP BY grp", {}, false,
                                 QueryOptions{PlanKind::kFlat});
  EXPECT_NE(e.sql.find("NOT INDEXED"), std::string::npos) << e.sql;
  for (const std::string& line : e.backend_plan) EXPECT_EQ(line.find("USING INDEX"), std::string::npos) << explain_text(e);
  // The groups come out ordered by the group key, as the SQL orders them (not "id ASC").
  ASSERT_NE(find_op(e.root, "Sort"), nullptr) << explain_text(e);
  EXPECT_EQ(find_op(e.root, "Sort")->detail, "grp ASC") << explain_text(e);
  same_under_all_plans("SELECT grp, COUNT(*), AVG(price) FROM item GROUP BY grp");
  // A selective filter pins its column's index instead.
  ExplainResult p = db_->explain("SELECT id FROM item WHERE code = 'C00042'", {}, false, QueryOptions{PlanKind::kFlat});
  EXPECT_NE(p.sql.find("INDEXED BY"), std::string::npos) << p.sql;
  EXPECT_EQ(db_->query("SELECT id FROM item WHERE code = 'C00042'", {}, QueryOptions{PlanKind::kFlat}).rows.size(), 1u);
  // IS NULL on a column no entity misses is an empty lookup in the flat column's index (zipcodes
  // Q8: county IS NULL), not a scan of every row the other conjunct matches.
  ExplainResult z = db_->explain("SELECT id FROM item WHERE grp = 'g2' AND n IS NULL", {}, false, QueryOptions{PlanKind::kFlat});
  EXPECT_NE(z.sql.find(fmt::format("INDEXED BY eav_flat_item_{}_n", type_.id)), std::string::npos) << explain_text(z);
  EXPECT_TRUE(same_under_all_plans("SELECT id FROM item WHERE grp = 'g2' AND n IS NULL").rows.empty());
  EXPECT_EQ(same_under_all_plans("SELECT id FROM item WHERE grp = 'g2' AND opt IS NULL ORDER BY id").rows.size(), 67u);  // 100 in g2, 33 with opt
}

// A flat table that fits in the page cache: GROUP BY one indexed column walks that column's
// index in key order (INDEXED BY) so SQLite needs no GROUP BY sorter, and the random row fetches
// hit the cache (zipcodes Q6: 8.2 ms against 13.9 ms for the scan + sorter). Failed before the
// residency model: the walk was costed at 2x the scan and the plan was NOT INDEXED.
TEST_F(PlannerDb, ResidentFlatGroupByWalksTheGroupKeyIndex) {
  insert(1000);
  db_->flat_enable("item");
  db_->analyze("item");
  const std::string sql = "SELECT grp, COUNT(*), AVG(price) FROM item GROUP BY grp";
  ExplainResult e = db_->explain(sql, {}, false, QueryOptions{PlanKind::kAuto});
  EXPECT_EQ(e.plan, "flat") << explain_text(e);
  EXPECT_NE(e.sql.find(fmt::format("INDEXED BY eav_flat_item_{}_grp", type_.id)), std::string::npos) << explain_text(e);
  for (const std::string& line : e.backend_plan)
    EXPECT_EQ(line.find("TEMP B-TREE FOR GROUP BY"), std::string::npos) << explain_text(e);
  QueryResult r = same_under_all_plans(sql);
  ASSERT_EQ(r.rows.size(), 10u);
  EXPECT_EQ(std::get<std::string>(r.rows[0][0]), "g0");
  EXPECT_EQ(std::get<int64_t>(r.rows[0][1]), 100);
  // A text group key has no flat index: the scan stays.
  EXPECT_NE(db_->explain("SELECT note, COUNT(*) FROM item GROUP BY note", {}, false, QueryOptions{PlanKind::kFlat})
                .sql.find("NOT INDEXED"),
            std::string::npos);
  // Two group keys: the index orders only the first, so the walk does not apply.
  EXPECT_NE(db_->explain("SELECT grp, n, COUNT(*) FROM item GROUP BY grp, n", {}, false, QueryOptions{PlanKind::kFlat})
                .sql.find("NOT INDEXED"),
            std::string::npos);
}

// Top-N pushdown in the EAV plan: a sorted page finds its ids first and fetches the output-only
// columns (here code, opt, price) for the page's rows alone (zipcodes Q5 forced EAV: 1.46 ms
// -> 0.91 ms for 2,666 matches, LIMIT 20). Same rows as the flat plan for ASC/DESC, OFFSET,
// ties on the key, NULL outputs and keys, and OR drivers.
TEST_F(PlannerDb, EavSortedPageFetchesOutputOnlyColumnsAfterTheLimit) {
  insert(600);
  db_->flat_enable("item");
  db_->analyze("item");
  const std::string sql = "SELECT id, code, opt, price FROM item WHERE grp = 'g3' ORDER BY n DESC LIMIT 7 OFFSET 2";
  ExplainResult e = db_->explain(sql, {}, false, QueryOptions{PlanKind::kEav});
  EXPECT_NE(e.sql.find("WHERE e.id IN (SELECT a"), std::string::npos) << explain_text(e);
  QueryResult r = same_under_all_plans(sql);
  ASSERT_EQ(r.rows.size(), 7u);
  EXPECT_EQ(std::get<std::string>(r.rows[0][1]), "C00573");  // g3 holds n = 3, 13, ..., 593; skip 593, 583
  for (const std::string& q : {
           std::string("SELECT id, code FROM item WHERE grp = 'g1' ORDER BY price LIMIT 5"),          // ties on price
           std::string("SELECT code, n FROM item WHERE grp = 'g2' ORDER BY opt NULLS FIRST LIMIT 9"),  // NULL keys
           std::string("SELECT id, opt, note FROM item WHERE n < 100 ORDER BY grp DESC, n LIMIT 4 OFFSET 30"),
           std::string("SELECT id, code, opt FROM item WHERE grp = 'g1' OR grp = 'g7' ORDER BY n LIMIT 3 OFFSET 100"),
           std::string("SELECT id, code FROM item WHERE grp = 'g5' ORDER BY n LIMIT 0"),
           std::string("SELECT id, code FROM item WHERE grp = 'g5' ORDER BY n LIMIT 10 OFFSET 1000"),
       })
    same_under_all_plans(q);
  // Without LIMIT every row is fetched anyway: no page statement.
  EXPECT_EQ(db_->explain("SELECT id, code FROM item WHERE grp = 'g3' ORDER BY n", {}, false, QueryOptions{PlanKind::kEav})
                .sql.find("e.id IN ("),
            std::string::npos);
}

TEST_F(PlannerDb, FlatBuildAndAnalyzeRecordTheMeasuredRowWidth) {
  insert(300);
  db_->flat_enable("item");
  auto width = [&] {
    for (const auto& f : db_->backend().flat_tables())
      if (f.type_id == type_.id) return f.row_bytes;
    return -1.0;
  };
  // 300 rows of id, version, two timestamps, a code, a group, two ints, a price and a note: tens
  // of bytes each, padded to whole 4 KiB pages.
  const double built = width();
  EXPECT_GT(built, 30);
  EXPECT_LT(built, 4096);
  // Wider rows after an analyze (the sync keeps the table exact; analyze re-measures it).
  ChangeSet cs;
  for (int i = 0; i < 300; ++i) {
    EntityWrite w;
    w.type_id = type_.id;
    w.values.push_back({attr("note").id, ValueType::kText, Value(std::string(400, 'x'))});
    cs.writes.push_back(std::move(w));
  }
  db_->commit(cs);
  db_->analyze("item");
  EXPECT_GT(width(), built * 1.5);
}

TEST_F(PlannerDb, AnotherProcessDroppingTheFlatTableFallsBackToEav) {
  insert(40);
  db_->flat_enable("item");
  ASSERT_EQ(db_->explain("SELECT id FROM item WHERE n < 10").plan, "flat");
  db_->query("SELECT id FROM item WHERE n < 10");
  {
    auto other = Database::open(tmp_.file("p.db"));
    EXPECT_TRUE(other->flat_disable("item"));
  }
  QueryResult r = db_->query("SELECT id FROM item WHERE n < 20 ORDER BY id");  // a new result, not cached
  EXPECT_EQ(r.rows.size(), 20u);
  EXPECT_EQ(db_->explain("SELECT id FROM item WHERE n < 20").plan, "eav");
}

TEST(PlannerMigration, SchemaVersionFourGainsThePlannerTables) {
  testing::TempDir tmp;
  const std::string path = tmp.file("old.db");
  { Database::open(path); }
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
    const char* sql =
        "DROP TABLE eav_type_stats; DROP TABLE eav_attribute_stats; DROP TABLE eav_attribute_histogram;"
        " DROP TABLE eav_flat_table; DROP TABLE eav_count; UPDATE eav_meta SET value = '4' WHERE key = 'schema_version'";
    ASSERT_EQ(sqlite3_exec(raw, sql, nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(raw);
  }
  auto db = Database::open(path);
  EntityTypeDef t;
  t.code = "thing";
  t.attributes = {attribute("x", ValueType::kInt)};
  db->define_type(t);
  EXPECT_EQ(db->analyze("thing").at(0).entities, 0);
  EXPECT_EQ(db->flat_enable("thing").columns, std::vector<std::string>{"x"});
  EXPECT_TRUE(db->query("SELECT id FROM thing WHERE x = 1").rows.empty());
}

// The commit funnel keeps every value row's attribute within its entity's type (and tenant):
// EAV plans driven by a value index rely on it to leave eav_entity out (Layout::entity_join).
// Before the check, each of these writes was committed, and the forced EAV plan of
// `other WHERE x = 5` (driven by x's index, without eav_entity) returned an 'item' entity.
TEST_F(PlannerDb, CommitRejectsValuesOfAnotherTypesAttributes) {
  EntityTypeDef o;
  o.code = "other";
  o.attributes = {attribute("x", ValueType::kInt)};
  const EntityTypeDef other = db_->define_type(o);
  insert(3);
  const int64_t x = other.find("x")->id;
  auto rejected = [&](EntityWrite w, const std::string& why) {
    ChangeSet cs;
    cs.writes.push_back(std::move(w));
    try {
      db_->commit(cs);
      ADD_FAILURE() << "committed: " << why;
    } catch (const Error& err) {
      EXPECT_EQ(err.code(), ErrorCode::kInvalidArgument) << err.what();
      EXPECT_NE(std::string(err.what()).find(why), std::string::npos) << err.what();
    }
  };
  EntityWrite w;  // an item holding other.x
  w.type_id = type_.id;
  w.values.push_back({attr("code").id, ValueType::kVarchar, Value(std::string("bad"))});
  w.values.push_back({x, ValueType::kInt, Value(int64_t{5})});
  rejected(w, fmt::format("attribute id {} is not an attribute of type 'item'", x));
  w.kind = EntityWrite::Kind::kUpdate;  // the same through an update of a stored item
  w.id = std::get<int64_t>(db_->query("SELECT id FROM item ORDER BY id LIMIT 1").rows.at(0).at(0));
  rejected(w, "is not an attribute of type 'item'");
  EntityWrite v;  // a value stored in the wrong typed table
  v.type_id = type_.id;
  v.values.push_back({attr("n").id, ValueType::kVarchar, Value(std::string("5"))});
  rejected(v, "attribute 'item.n' is int, the write stores varchar");
  EntityWrite t;  // a type of no tenant of this store
  t.type_id = 987654;
  rejected(t, "type id 987654 is not an entity type of this tenant");
  // Another tenant's type: its attributes are not this tenant's either.
  Options ot;
  ot.cache.enabled = false;
  ot.tenant = "acme";
  auto acme = Database::open(tmp_.file("p.db"), ot);
  EntityWrite a;
  a.type_id = type_.id;
  a.values.push_back({attr("n").id, ValueType::kInt, Value(int64_t{5})});
  ChangeSet cs;
  cs.writes.push_back(a);
  EXPECT_THROW(acme->commit(cs), Error);
  // Nothing of the rejected writes was stored; every plan agrees.
  for (PlanKind k : {PlanKind::kAuto, PlanKind::kEav}) {
    EXPECT_TRUE(db_->query("SELECT id FROM other WHERE x = 5", {}, QueryOptions{k}).rows.empty());
    EXPECT_EQ(db_->query("SELECT COUNT(*) FROM item", {}, QueryOptions{k}).rows.at(0).at(0), Value(int64_t{3}));
  }
  EXPECT_TRUE(db_->query("SELECT id FROM item WHERE code = 'bad'").rows.empty());
  // A store written around the funnel (or before the check) is reported by the integrity check.
  EXPECT_TRUE(db_->integrity_check().empty());
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(tmp_.file("p.db").c_str(), &raw), SQLITE_OK);
  const std::string bad = fmt::format("INSERT INTO eav_value_int(entity_id, attribute_id, value) "
                                      "SELECT min(id), {}, 5 FROM eav_entity WHERE type_id = {}", x, type_.id);
  ASSERT_EQ(sqlite3_exec(raw, bad.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(raw);
  // Two problems: the foreign value row, and the exact count of x that the row bypassed.
  const auto problems = db_->integrity_check();
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_NE(problems[0].find("1 value rows in eav_value_int whose attribute is not of their entity's type"), std::string::npos)
      << problems[0];
  EXPECT_NE(problems[1].find(fmt::format("eav_count of type {} attribute {}: stored", other.id, x)), std::string::npos)
      << problems[1];
}

// EAV plans driven by a value index (or a union of them) leave eav_entity out when the query
// reads no system column but id: no primary-key lookup per candidate row (catalog Q5 forced EAV:
// 19.6% of its time was those lookups). A query reading version/created_at/updated_at keeps it.
// Same rows under every plan, with entities of another type holding equal values in the same
// value tables, and after deletes.
TEST_F(PlannerDb, ValueIndexPlansLeaveEavEntityOutUnlessASystemColumnIsRead) {
  EntityTypeDef o;
  o.code = "other";
  o.attributes = {attribute("grp", ValueType::kVarchar), attribute("n", ValueType::kInt)};
  const EntityTypeDef other = db_->define_type(o);
  insert(400);
  {
    ChangeSet cs;  // equal values under another type's attributes
    for (int i = 0; i < 50; ++i) {
      EntityWrite w;
      w.type_id = other.id;
      w.values.push_back({other.find("grp")->id, ValueType::kVarchar, Value(std::string("g3"))});
      w.values.push_back({other.find("n")->id, ValueType::kInt, Value(int64_t{i})});
      cs.writes.push_back(std::move(w));
    }
    db_->commit(cs);
  }
  {
    ChangeSet cs;  // deleted items must not come back through their (deleted) value rows
    for (const auto& row : db_->query("SELECT id FROM item WHERE code IN ('C00004', 'C00014', 'C00024')").rows) {
      EntityWrite w;
      w.kind = EntityWrite::Kind::kDelete;
      w.type_id = type_.id;
      w.id = std::get<int64_t>(row.at(0));
      cs.writes.push_back(std::move(w));
    }
    db_->commit(cs);
  }
  db_->flat_enable("item");
  db_->analyze("item");
  struct Case {
    std::string sql;
    bool entity_join;
  };
  for (const Case& c : {Case{"SELECT id, code FROM item WHERE grp = 'g3' AND n < 200", false},
                        Case{"SELECT id, code, price FROM item WHERE n < 40 ORDER BY price DESC LIMIT 5", false},
                        Case{"SELECT id, code FROM item WHERE code = 'C00013' OR code = 'C00014'", false},
                        Case{"SELECT COUNT(*), AVG(price) FROM item WHERE grp = 'g3'", false},
                        Case{"SELECT id, version FROM item WHERE grp = 'g3' AND n < 200", true},
                        Case{"SELECT id, code FROM item WHERE code = 'C00013' OR code = 'C00014' ORDER BY updated_at", true},
                        Case{"SELECT id FROM item WHERE grp = 'g3' AND created_at > '2000-01-01T00:00:00Z'", true}}) {
    ExplainResult e = db_->explain(c.sql, {}, false, QueryOptions{PlanKind::kEav});
    const bool driven = e.sql.find("FROM eav_value_") != std::string::npos || e.sql.find("FROM (SELECT") != std::string::npos ||
                        e.sql.find("FROM json_each(?) d") != std::string::npos;  // an index intersection
    EXPECT_TRUE(driven) << explain_text(e);
    // (A late fetch's outer statement looks its page's ids up in eav_entity: not a driver join.)
    EXPECT_EQ(e.sql.find("CROSS JOIN eav_entity") != std::string::npos, c.entity_join) << explain_text(e);
    EXPECT_EQ(e.sql.find("e.type_id") != std::string::npos, c.entity_join) << explain_text(e);
    EXPECT_EQ(explain_text(e).find("eav_entity by id") != std::string::npos, c.entity_join) << explain_text(e);
    same_under_all_plans(c.sql);
  }
  QueryResult r = same_under_all_plans("SELECT id, n FROM item WHERE grp = 'g4' AND n < 60");
  EXPECT_EQ(r.rows.size(), 3u);  // n = 4, 14, ..., 54; the first three were deleted
}

// Issue 5 (flights Q5: distance >= 2500 ORDER BY delay DESC LIMIT 20): a top-N on a DESC key had
// no index-order plan at all, so the flat plan sorted every match. The bounded walk reads the
// key's flat index in order, at most walk_bound() keys, and falls back (same statement) to the
// filter plan + sort when its page is not full or, for a NULLS FIRST key, when a row without the
// key matches. Failed before: no BoundedIndexWalk node.
TEST_F(PlannerDb, FlatTopNWalksTheKeyIndexBoundedAndFallsBackWhenNotExact) {
  insert(4000);
  db_->flat_enable("item");
  db_->analyze("item");
  auto walks = [&](const std::string& sql) {
    ExplainResult e = db_->explain(sql, {}, false);
    const PlanNode* w = find_op(e.root, "BoundedIndexWalk");
    EXPECT_NE(w, nullptr) << explain_text(e);
    EXPECT_EQ(e.plan.rfind("flat", 0), 0u) << explain_text(e);
    EXPECT_NE(e.sql.find(fmt::format("INDEXED BY eav_flat_item_{}_", type_.id)), std::string::npos) << e.sql;
  };
  // Filter independent of the key: exact after about LIMIT / 10% keys.
  const std::string indep = "SELECT id, n FROM item WHERE grp = 'g3' ORDER BY n DESC LIMIT 5";
  walks(indep);
  EXPECT_EQ(db_->explain(indep, {}, true).rows, 5);  // EXPLAIN ANALYZE runs the walk (and its fallback)
  // The walk is a key range from the statistics (n >= a stop about 4 x 5 / 10% keys down), read
  // in the query's own order, one statement: the fallback is another, run only when needed.
  {
    ExplainResult e = db_->explain(indep, {}, false);
    EXPECT_NE(explain_text(e).find("while n >= "), std::string::npos) << explain_text(e);
    EXPECT_NE(e.sql.find("\"n\" >= ?"), std::string::npos) << e.sql;
    EXPECT_EQ(e.sql.find("UNION ALL"), std::string::npos) << e.sql;
  }
  QueryResult r = same_under_all_plans(indep);
  ASSERT_EQ(r.rows.size(), 5u);
  EXPECT_EQ(r.rows[0], (std::vector<Value>{Value(int64_t{3994}), Value(int64_t{3993})}));
  EXPECT_EQ(r.rows[4][1], Value(int64_t{3953}));
  // Filter correlated with the key: 'note 1%' holds n = 1, 10-19, 100-199, 1000-1999, so the
  // walk down from n = 3999 exhausts its bound (at most 4 x 5 / the estimated share, far below
  // the 2,000 keys above 1999) with no match; the fallback answers.
  const std::string corr = "SELECT id, n FROM item WHERE note LIKE 'note 1%' ORDER BY n DESC LIMIT 5 OFFSET 2";
  walks(corr);
  {
    ExplainResult a = db_->explain(corr, {}, true);
    const PlanNode* w = find_op(a.root, "BoundedIndexWalk");
    ASSERT_NE(w, nullptr) << explain_text(a);
    EXPECT_EQ(w->actual_rows, std::optional<int64_t>(0)) << explain_text(a);
    EXPECT_NE(w->detail.find("ran: the page was not full, the fallback answered"), std::string::npos) << explain_text(a);
    EXPECT_EQ(a.rows, 5);
  }
  r = same_under_all_plans(corr);
  ASSERT_EQ(r.rows.size(), 5u);
  EXPECT_EQ(r.rows[0][1], Value(int64_t{1997}));
  EXPECT_EQ(r.rows[4][1], Value(int64_t{1993}));
  // A nullable DESC key sorts the entities without it first (NULLS FIRST): the walk's page is
  // full, but g1 holds entities without opt, so the fallback answers with them (by id).
  const std::string nulls = "SELECT id, opt FROM item WHERE grp = 'g1' ORDER BY opt DESC LIMIT 3";
  walks(nulls);
  {
    ExplainResult a = db_->explain(nulls, {}, true);
    const PlanNode* w = find_op(a.root, "BoundedIndexWalk");
    ASSERT_NE(w, nullptr) << explain_text(a);
    EXPECT_FALSE(w->actual_rows.has_value()) << explain_text(a);  // the guard matched: no walk
    EXPECT_NE(w->detail.find("ran: a matching row lacks the key, the fallback answered"), std::string::npos)
        << explain_text(a);
  }
  r = same_under_all_plans(nulls);
  ASSERT_EQ(r.rows.size(), 3u);
  EXPECT_EQ(r.rows[0], (std::vector<Value>{Value(int64_t{1 + 1}), Value{}}));  // n = 1: no opt
  // ASC NULLS LAST on the same key: the walk's full page is exact.
  const std::string asc = "SELECT id, opt FROM item WHERE grp = 'g1' ORDER BY opt NULLS LAST LIMIT 3";
  r = same_under_all_plans(asc);
  ASSERT_EQ(r.rows.size(), 3u);
  EXPECT_EQ(r.rows[0][1], Value(int64_t{0}));
  // Every answer also holds with SELECT * and after writes (plan cache, fresh flat rows).
  same_under_all_plans("SELECT * FROM item WHERE grp = 'g7' ORDER BY n DESC LIMIT 4 OFFSET 1");
  insert(5, 4000);
  same_under_all_plans(indep);
  same_under_all_plans(corr);
  // Stale statistics move the walk's stop, never the answer: 600 new entities above every key
  // the last analyze saw (fewer than its 20% refresh share), none in g3 — the stop now lies among
  // them and the walk of n >= stop finds no g3 row, so the fallback answers with the old top five;
  // then 5 in g3 above them all, which the walk must return.
  auto add = [&](const std::string& grp, int64_t first, int count) {  // entities with grp and n only
    ChangeSet cs;
    for (int i = 0; i < count; ++i) {
      EntityWrite w;
      w.type_id = type_.id;
      w.values.push_back({attr("grp").id, ValueType::kVarchar, Value(grp)});
      w.values.push_back({attr("n").id, ValueType::kInt, Value(first + i)});
      cs.writes.push_back(std::move(w));
    }
    db_->commit(cs);
  };
  add("g0", 10000, 600);
  walks(indep);
  r = same_under_all_plans(indep);
  ASSERT_EQ(r.rows.size(), 5u);
  EXPECT_EQ(r.rows[0][1], Value(int64_t{4003}));
  add("g3", 20000, 5);
  r = same_under_all_plans(indep);
  ASSERT_EQ(r.rows.size(), 5u);
  EXPECT_EQ(r.rows[0][1], Value(int64_t{20004}));
  EXPECT_EQ(r.rows[4][1], Value(int64_t{20000}));
}

// Forced EAV: a filtered top-N walks the key's (attribute_id, value) index in either direction,
// bounded, and falls back in the same statement; a nullable DESC key (NULLS FIRST) reads the
// entities without it first, gated by the store's exact counts.
TEST_F(PlannerDb, EavTopNWalksTheKeyIndexBoundedInBothDirections) {
  insert(4000);
  db_->analyze("item");
  db_->flat_enable("item");  // same_under_all_plans then checks the EAV answers against the flat plan's
  const QueryOptions eav{PlanKind::kEav};
  auto walks = [&](const std::string& sql) {
    ExplainResult e = db_->explain(sql, {}, false, eav);
    EXPECT_NE(find_op(e.root, "BoundedIndexWalk"), nullptr) << explain_text(e);
    EXPECT_EQ(e.plan, "eav") << explain_text(e);
    EXPECT_NE(e.sql.find(".value >= ?"), std::string::npos) << e.sql;  // the key range (DESC walks)
    EXPECT_EQ(e.sql.find("UNION ALL"), std::string::npos) << e.sql;
    return e;
  };
  // Every entity holds n: DESC, a key range n >= stop read backwards.
  const std::string desc = "SELECT id, n FROM item WHERE grp = 'g3' ORDER BY n DESC LIMIT 5";
  ExplainResult e = walks(desc);
  EXPECT_NE(explain_text(e).find("n descending (ties in index order, the page's last key re-read by id) via eav_value_int(attribute_id, value) while n >= "), std::string::npos)
      << explain_text(e);
  QueryResult r = same_under_all_plans(desc);
  ASSERT_EQ(r.rows.size(), 5u);
  EXPECT_EQ(r.rows[0], (std::vector<Value>{Value(int64_t{3994}), Value(int64_t{3993})}));
  EXPECT_EQ(r.rows[4][1], Value(int64_t{3953}));
  // ASC and an OFFSET.
  r = same_under_all_plans("SELECT id, n FROM item WHERE grp = 'g3' ORDER BY n LIMIT 4 OFFSET 2");
  ASSERT_EQ(r.rows.size(), 4u);
  EXPECT_EQ(r.rows[0][1], Value(int64_t{23}));
  // A filter correlated with the key ('note 1%' holds n = 1, 10-19, 100-199, 1000-1999): a walk
  // from n = 3999 reads 2,000 keys before its first match (whichever walk the planner picks).
  const std::string corr = "SELECT id, n FROM item WHERE note LIKE 'note 1%' ORDER BY n DESC LIMIT 5 OFFSET 2";
  r = same_under_all_plans(corr);
  ASSERT_EQ(r.rows.size(), 5u);
  EXPECT_EQ(r.rows[0][1], Value(int64_t{1997}));
  // A nullable DESC key: opt is held by every third entity, so the entities of g1 without it
  // come first, by id. (While the statistics say entities lack opt, the walk is costed with the
  // statement over them, an anti-join over g1, and the filter plan wins.)
  const std::string nulls = "SELECT id, opt FROM item WHERE grp = 'g1' ORDER BY opt DESC LIMIT 3";
  r = same_under_all_plans(nulls);
  ASSERT_EQ(r.rows.size(), 3u);
  EXPECT_EQ(r.rows[0], (std::vector<Value>{Value(int64_t{1 + 1}), Value{}}));  // n = 1: no opt
  // Past every entity without opt in g1, the page continues with the walk:
  // 267 of them (n = 1 + 10k, 133 of the 400 hold opt): the page's last NULL row, then opt 6 (n = 111).
  r = same_under_all_plans("SELECT id, opt FROM item WHERE grp = 'g1' ORDER BY opt DESC LIMIT 4 OFFSET 266");
  ASSERT_EQ(r.rows.size(), 4u);
  EXPECT_EQ(r.rows[0][1], Value{});
  EXPECT_EQ(r.rows[1], (std::vector<Value>{Value(int64_t{112}), Value(int64_t{6})}));
  // Give every entity without opt a value: the counts close the gate and the walk alone answers;
  // clear one again (an update to NULL) and it must come first.
  update_where("SELECT id FROM item WHERE opt IS NULL", "opt", Value(int64_t{1}));
  db_->analyze("item");
  walks(nulls);
  r = same_under_all_plans(nulls);
  ASSERT_EQ(r.rows.size(), 3u);
  EXPECT_EQ(r.rows[0][1], Value(int64_t{6}));
  // The statistics still say every entity holds opt (one write since), so the walk stays chosen;
  // the exact counts open the gate of the statement over the entity without it, which comes first.
  ASSERT_EQ(update_where("SELECT id FROM item WHERE n = 3991", "opt", Value{}), 1u);  // id 3992, grp g1
  walks(nulls);
  r = same_under_all_plans(nulls);
  ASSERT_EQ(r.rows.size(), 3u);
  EXPECT_EQ(r.rows[0], (std::vector<Value>{Value(int64_t{3992}), Value{}}));
  EXPECT_EQ(r.rows[1][1], Value(int64_t{6}));
  {  // EXPLAIN ANALYZE: a page of one is filled by that entity, so the walk does not run.
    ExplainResult a = db_->explain("SELECT id, opt FROM item WHERE grp = 'g1' ORDER BY opt DESC LIMIT 1", {}, true, eav);
    const PlanNode* w = find_op(a.root, "BoundedIndexWalk");
    ASSERT_NE(w, nullptr) << explain_text(a);
    EXPECT_FALSE(w->actual_rows.has_value()) << explain_text(a);
    EXPECT_NE(w->detail.find("ran: not needed"), std::string::npos) << explain_text(a);
    EXPECT_EQ(a.rows, 1);
  }
  // SELECT * and deletes.
  same_under_all_plans("SELECT * FROM item WHERE grp = 'g7' ORDER BY opt DESC LIMIT 4 OFFSET 1");
  {
    ChangeSet cs;
    EntityWrite w;
    w.kind = EntityWrite::Kind::kDelete;
    w.type_id = type_.id;
    w.id = 3992;
    cs.writes.push_back(std::move(w));
    db_->commit(cs);
  }
  r = same_under_all_plans(nulls);
  ASSERT_EQ(r.rows.size(), 3u);
  EXPECT_EQ(r.rows[0][1], Value(int64_t{6}));
  // Stale statistics: the 100 entities of g3 with n >= 3000 move to g4 (fewer writes than the
  // refresh share), so the walk's key range (about 200 keys down from the top) holds no g3 row
  // and the fallback answers.
  ASSERT_EQ(update_where("SELECT id FROM item WHERE grp = 'g3' AND n >= 3000", "grp", Value(std::string("g4"))), 100u);
  walks(desc);
  r = same_under_all_plans(desc);
  ASSERT_EQ(r.rows.size(), 5u);
  EXPECT_EQ(r.rows[0][1], Value(int64_t{2993}));
  EXPECT_EQ(r.rows[4][1], Value(int64_t{2953}));
}

// A descending walk reads its key's index backwards, ties by descending id, and puts each key's
// rows in id order itself: it reverses every run of equal keys and re-reads the last run, which
// the LIMIT may cut after its key's largest ids. Keys with 40 ties each, pages that end inside a
// run, start inside one (OFFSET), lie within one, with the key outside the output list, SELECT *,
// and a varchar key; the reference is the same query without LIMIT (no walk: a sort), sliced.
// Checked against the fix taken apart: never re-reading failed 93 comparisons (the first page,
// 20 of key 5014's 24 matches, held its ids 4567..4598 instead of 4561..4592); always re-reading
// passes (pages {24, 0} and {12, 36} end with a whole run: no re-read needed).
TEST_F(PlannerDb, DescendingWalkPutsEachKeysTiesInIdOrder) {
  insert(4000);
  {
    ChangeSet cs;
    for (int i = 0; i < 600; ++i) {  // n = 5000 + i / 40: 15 keys of 40 entities, grp g0..g2
      EntityWrite w;
      w.type_id = type_.id;
      w.values.push_back({attr("grp").id, ValueType::kVarchar, Value(fmt::format("g{}", i % 3))});
      w.values.push_back({attr("n").id, ValueType::kInt, Value(int64_t{5000 + i / 40})});
      w.values.push_back({attr("opt").id, ValueType::kInt, Value(int64_t{i % 5})});
      cs.writes.push_back(std::move(w));
    }
    db_->commit(cs);
  }
  db_->analyze("item");
  db_->flat_enable("item");
  auto check = [&](const std::string& select, const std::string& rest, int64_t limit, int64_t offset) {
    const std::string full = select + rest;
    const QueryResult all = db_->query(full, {}, QueryOptions{PlanKind::kEav});
    const std::string sql = fmt::format("{} LIMIT {} OFFSET {}", full, limit, offset);
    const auto from = std::min(all.rows.size(), static_cast<size_t>(offset));
    const auto to = std::min(all.rows.size(), static_cast<size_t>(offset + limit));
    const std::vector<std::vector<Value>> want(all.rows.begin() + static_cast<std::ptrdiff_t>(from),
                                               all.rows.begin() + static_cast<std::ptrdiff_t>(to));
    for (PlanKind k : {PlanKind::kAuto, PlanKind::kEav, PlanKind::kFlat})
      EXPECT_EQ(db_->query(sql, {}, QueryOptions{k}).rows, want) << sql << " plan " << static_cast<int>(k);
  };
  const std::string key = " FROM item WHERE opt < 3 ORDER BY n DESC";
  for (PlanKind k : {PlanKind::kEav, PlanKind::kFlat}) {
    ExplainResult e = db_->explain("SELECT id, n" + key + " LIMIT 20", {}, true, QueryOptions{k});
    const PlanNode* w = find_op(e.root, "BoundedIndexWalk");
    ASSERT_NE(w, nullptr) << explain_text(e);
    EXPECT_NE(e.sql.find(" DESC, "), std::string::npos) << e.sql;
    EXPECT_EQ(e.sql.find("ASC"), std::string::npos) << e.sql;  // the index's order: no sort
    // EXPLAIN ANALYZE: the walk read its page and one row more, which holds the page's last key.
    EXPECT_EQ(w->actual_rows, std::optional<int64_t>(21)) << explain_text(e);
    EXPECT_NE(w->detail.find("ran: exact, the page's last key re-read by id"), std::string::npos) << explain_text(e);
    e = db_->explain("SELECT id, n" + key + " LIMIT 24", {}, true, QueryOptions{k});
    w = find_op(e.root, "BoundedIndexWalk");
    ASSERT_NE(w, nullptr) << explain_text(e);
    EXPECT_EQ(w->actual_rows, std::optional<int64_t>(25)) << explain_text(e);
    EXPECT_TRUE(w->detail.ends_with("; ran: exact")) << explain_text(e);
  }
  for (auto [limit, offset] : std::vector<std::pair<int64_t, int64_t>>{
           {20, 0}, {1, 0}, {10, 0}, {11, 0}, {3, 5}, {11, 11}, {30, 7}, {60, 0}, {25, 40}, {24, 0}, {12, 36}}) {
    check("SELECT id, n", key, limit, offset);
    check("SELECT id", key, limit, offset);  // the key is not an output
    check("SELECT *", key, limit, offset);
  }
  // A varchar key with 10 values, 460 entities each (400 before, 60 here).
  check("SELECT id, grp", " FROM item WHERE n >= 3000 ORDER BY grp DESC", 30, 0);
  check("SELECT id, grp", " FROM item WHERE n >= 3000 ORDER BY grp DESC", 7, 101);
  // After writes: a page whose last key gains a smaller id than its run held.
  ASSERT_EQ(update_where("SELECT id FROM item WHERE n = 99", "n", Value(int64_t{5014})), 1u);  // id 100, opt 1
  check("SELECT id, n", key, 20, 0);
  check("SELECT id, n", key, 15, 3);
}

// `a IS NULL` holds for no entity when every entity holds a: the EAV statement is gated by the
// store's exact counts (it read every candidate and probed a for each before: zipcodes Q8,
// 1.46 -> 0.05 ms), and the IS NULL test's join probes before the output-only joins.
TEST_F(PlannerDb, EavIsNullTestIsGatedByTheExactCounts) {
  insert(3000);
  db_->analyze("item");
  const QueryOptions eav{PlanKind::kEav};
  const std::string sql = "SELECT id, code FROM item WHERE grp = 'g1' AND opt IS NULL";
  ExplainResult e = db_->explain(sql, {}, false, eav);
  EXPECT_NE(e.sql.find(") gate CROSS JOIN "), std::string::npos) << e.sql;
  // opt's join (int, the IS NULL test) comes before code's (varchar, output only).
  ASSERT_NE(e.sql.find("LEFT JOIN eav_value_int"), std::string::npos) << e.sql;
  EXPECT_LT(e.sql.find("LEFT JOIN eav_value_int"), e.sql.find("LEFT JOIN eav_value_varchar")) << e.sql;
  // Every third entity holds opt: g1's others (n = 1, 11, 21, ... not divisible by 3) match.
  QueryResult r = db_->query(sql, {}, eav);
  EXPECT_EQ(r.rows.size(), 200u);  // 300 in g1, 100 of them hold opt
  EXPECT_EQ(r.rows.front(), (std::vector<Value>{Value(int64_t{2}), Value(std::string("C00001"))}));
  EXPECT_EQ(db_->query("SELECT count(*) FROM item WHERE opt IS NULL", {}, eav).rows[0][0], Value(int64_t{2000}));
  // Every entity gets opt: the gate closes (no statement reads a candidate), answers stay exact.
  update_where("SELECT id FROM item WHERE opt IS NULL", "opt", Value(int64_t{1}));
  EXPECT_TRUE(db_->query(sql, {}, eav).rows.empty());
  EXPECT_EQ(db_->query("SELECT count(*) FROM item WHERE opt IS NULL", {}, eav).rows,
            (std::vector<std::vector<Value>>{{Value(int64_t{0})}}));
  EXPECT_TRUE(db_->query("SELECT grp, count(*) FROM item WHERE opt IS NULL GROUP BY grp", {}, eav).rows.empty());
  // One loses it again (an update to NULL): the counts open the gate for it alone.
  ASSERT_EQ(update_where("SELECT id FROM item WHERE n = 11", "opt", Value{}), 1u);
  r = db_->query(sql, {}, eav);
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0][0], Value(int64_t{12}));
  db_->flat_enable("item");
  same_under_all_plans(sql);
  same_under_all_plans("SELECT id FROM item WHERE opt IS NULL ORDER BY n DESC LIMIT 3");
  same_under_all_plans("SELECT count(*) FROM item WHERE opt IS NULL AND n > 5");
}

// Two wide conjuncts with a small overlap: the EAV plan intersects their index lookups in memory
// and probes only the shared ids.
TEST_F(PlannerDb, EavPlanIntersectsTheIndexLookupsOfTwoWideConjuncts) {
  insert(4000);
  db_->analyze("item");
  db_->flat_enable("item");
  const QueryOptions eav{PlanKind::kEav};
  // n in 1000..1399 (400 rows) and price in 10..19.90 (every n with n % 100 in 10..19: 400 rows)
  // share 40 entities.
  const std::string sql = "SELECT id, n, price FROM item WHERE n BETWEEN 1000 AND 1399 AND price BETWEEN 10 AND 19.95";
  ExplainResult e = db_->explain(sql, {}, true, eav);
  const PlanNode* x = find_op(e.root, "IndexIntersection");
  ASSERT_NE(x, nullptr) << explain_text(e);
  EXPECT_EQ(x->children.size(), 2u) << explain_text(e);
  EXPECT_NE(e.sql.find("FROM json_each(?) d"), std::string::npos) << e.sql;
  EXPECT_EQ(e.rows, 40);
  // EXPLAIN ANALYZE: the ids each lookup found and the ids they share.
  EXPECT_EQ(x->actual_rows, std::optional<int64_t>(40)) << explain_text(e);
  ASSERT_EQ(x->children.size(), 2u);
  EXPECT_EQ(x->children[0].actual_rows, std::optional<int64_t>(400)) << explain_text(e);
  EXPECT_EQ(x->children[1].actual_rows, std::optional<int64_t>(400)) << explain_text(e);
  QueryResult r = same_under_all_plans(sql);
  ASSERT_EQ(r.rows.size(), 40u);
  EXPECT_EQ(r.rows.front()[1], Value(int64_t{1010}));
  EXPECT_EQ(r.rows.back()[1], Value(int64_t{1319}));
  // Sorted, paged, SELECT *, a third conjunct applied on top, system columns (eav_entity joined).
  same_under_all_plans("SELECT id, n FROM item WHERE n BETWEEN 1000 AND 1399 AND price BETWEEN 10 AND 19.95 "
                       "ORDER BY price DESC LIMIT 7 OFFSET 3");
  same_under_all_plans("SELECT * FROM item WHERE n BETWEEN 1000 AND 1399 AND price BETWEEN 10 AND 19.95");
  r = same_under_all_plans("SELECT id, version FROM item WHERE n BETWEEN 1000 AND 1399 AND price BETWEEN 10 AND 19.95 "
                           "AND grp = 'g2'");
  EXPECT_EQ(r.rows.size(), 4u);  // n = 1012, 1112, 1212, 1312
  // A conjunct no lookup serves is tested right after its join's probe, before the probes of the
  // joins read only for the output (their conjuncts are the lookups'): note's join comes first.
  {
    const std::string rest = "SELECT id, n, price FROM item WHERE n BETWEEN 1000 AND 1399 AND price BETWEEN 10 AND 19.95 "
                             "AND note LIKE '%2'";
    ExplainResult x3 = db_->explain(rest, {}, false, eav);
    ASSERT_NE(find_op(x3.root, "IndexIntersection"), nullptr) << explain_text(x3);
    const auto text_join = x3.sql.find("eav_value_text");
    ASSERT_NE(text_join, std::string::npos) << x3.sql;
    EXPECT_LT(text_join, x3.sql.find("eav_value_int")) << x3.sql;
    EXPECT_LT(text_join, x3.sql.find("eav_value_decimal")) << x3.sql;
    r = same_under_all_plans(rest);
    EXPECT_EQ(r.rows.size(), 4u);  // n = 1012, 1112, 1212, 1312
  }
  // The same shape from the plan cache with literals whose lookups share nothing.
  const std::string shape = "SELECT id, n FROM item WHERE n BETWEEN ? AND ? AND price BETWEEN ? AND ?";
  r = same_under_all_plans(shape, {Value(int64_t{1000}), Value(int64_t{1399}), Value(Decimal::parse("10")),
                                   Value(Decimal::parse("19.95"))});
  EXPECT_EQ(r.rows.size(), 40u);
  r = same_under_all_plans(shape, {Value(int64_t{1000}), Value(int64_t{1049}), Value(Decimal::parse("60")),
                                   Value(Decimal::parse("69.95"))});
  EXPECT_TRUE(r.rows.empty());
  // After writes the intersection sees them (same snapshot as the statement).
  {
    ChangeSet cs;
    EntityWrite w;
    w.type_id = type_.id;
    w.values.push_back({attr("n").id, ValueType::kInt, Value(int64_t{1200})});
    w.values.push_back({attr("price").id, ValueType::kDecimal, Value(Decimal::parse("15.00"))});
    cs.writes.push_back(std::move(w));
    db_->commit(cs);
  }
  r = same_under_all_plans(sql);
  EXPECT_EQ(r.rows.size(), 41u);
  // A union whose WHERE is exactly the OR of its lookups applies no WHERE and joins only what the
  // output reads (code): one primary-key probe per id.
  const std::string any = "SELECT id, code FROM item WHERE grp = 'g3' OR n BETWEEN 1000 AND 1009";
  e = db_->explain(any, {}, false, eav);
  ASSERT_NE(find_op(e.root, "IndexUnion"), nullptr) << explain_text(e);
  EXPECT_EQ(e.sql.find(" OR "), std::string::npos) << e.sql;
  EXPECT_EQ(e.sql.find("eav_value_int a"), std::string::npos) << e.sql;  // n is not joined
  r = same_under_all_plans(any);
  EXPECT_EQ(r.rows.size(), 400u + 9u);  // 400 of g3, and n 1000-1009 but 1003 (g3)
}

// An intersection over ids more than 2^28 apart (a long-lived store's id high-water mark) takes
// the sorted-vector path instead of the bit set; same answers.
TEST_F(PlannerDb, EavIntersectionOverFarApartIds) {
  insert(2000);
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(tmp_.file("p.db").c_str(), &raw), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(raw, "UPDATE eav_meta SET value = '1000000000' WHERE key = 'entity_id_hwm'", nullptr, nullptr,
                           nullptr),
              SQLITE_OK);
    sqlite3_close(raw);
  }
  insert(2000, 2000);
  EXPECT_EQ(db_->query("SELECT max(id) FROM item").rows.at(0).at(0), Value(int64_t{1000002000}));
  db_->analyze("item");
  db_->flat_enable("item");
  const std::string sql = "SELECT id, n FROM item WHERE n BETWEEN 1000 AND 2999 AND price BETWEEN 10 AND 19.95";
  ExplainResult e = db_->explain(sql, {}, true, QueryOptions{PlanKind::kEav});
  ASSERT_NE(find_op(e.root, "IndexIntersection"), nullptr) << explain_text(e);
  QueryResult r = same_under_all_plans(sql);
  ASSERT_EQ(r.rows.size(), 200u);  // n % 100 in 10..19 for n in 1000..2999
  EXPECT_EQ(r.rows.front(), (std::vector<Value>{Value(int64_t{1011}), Value(int64_t{1010})}));
  EXPECT_EQ(r.rows.back(), (std::vector<Value>{Value(int64_t{1000000000 + 920}), Value(int64_t{2919})}));
}

}  // namespace
}  // namespace eavdb
