// The index advisor (issue 5 phase 2): recommendations come from re-planning the recorded
// shapes under the current and the changed design (costs equal what EXPLAIN reports before and
// after applying), applying them changes the plans but never the answers, and the opt-in
// automatic mode applies them in the background within its budget.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "eavdb/database.h"
#include "eavdb/session.h"
#include "query/advisor.h"
#include "test_util.h"

namespace eavdb {
namespace {

class AdvisorDb : public ::testing::Test {
 protected:
  std::unique_ptr<Database> open(Options o = {}) {
    o.cache.enabled = false;  // every query runs its plan
    auto db = Database::open(tmp_.file("a.db"), o);
    EntityTypeDef t;
    t.code = "doc";
    t.attributes = {testing::attr("n", ValueType::kInt), testing::attr("body", ValueType::kText),
                    testing::attr("tag", ValueType::kVarchar), testing::attr("w", ValueType::kInt),
                    testing::attr("x", ValueType::kInt), testing::attr("y", ValueType::kInt)};
    db->define_type(t);
    if (fresh_) {
      Session s = db->session();
      for (int i = 0; i < 2000; ++i) {
        Entity& e = s.create("doc");
        e.set("n", Value{int64_t{i}});
        e.set("body", Value{"body " + std::to_string(i % 400)});
        e.set("tag", Value{"t" + std::to_string(i % 7)});
        e.set("w", Value{int64_t{i % 13}});
        e.set("x", Value{int64_t{i % 17}});
        e.set("y", Value{int64_t{i % 19}});
      }
      s.flush();
      fresh_ = false;
    }
    db->analyze();
    return db;
  }

  static const IndexAdvice* find(const std::vector<IndexAdvice>& v, const std::string& kind, const std::string& attr = "") {
    for (const auto& a : v)
      if (a.kind == kind && a.attribute == attr) return &a;
    return nullptr;
  }

  testing::TempDir tmp_;
  bool fresh_ = true;
};

TEST_F(AdvisorDb, NoWorkloadNoAdvice) {
  auto db = open();
  EXPECT_TRUE(db->advise().empty());
  EXPECT_THROW(db->advise("dco"), Error);
}

TEST_F(AdvisorDb, TextIndexAdviceMatchesExplainCostsAndKeepsAnswers) {
  auto reference = [&] {
    auto db = open();
    return db->query("SELECT id, n FROM doc WHERE body = 'body 7' ORDER BY n", {}, QueryOptions{PlanKind::kEav}).rows;
  }();
  auto db = open();  // a fresh process: no writes seen
  const std::string sql = "SELECT id, n FROM doc WHERE body = 'body 7' ORDER BY n";
  const double before = db->explain(sql).estimated_cost;
  for (int i = 0; i < 30; ++i) db->query(sql);
  auto advice = db->advise("doc");
  const IndexAdvice* a = find(advice, "text_index", "body");
  ASSERT_NE(a, nullptr) << advice_json(advice);
  EXPECT_EQ(a->type, "doc");
  EXPECT_EQ(a->queries, 30u);
  EXPECT_NEAR(a->cost_before, 30 * before, 1e-6 * a->cost_before);
  EXPECT_LT(a->cost_after, a->cost_before);
  EXPECT_DOUBLE_EQ(a->maintenance, 0);
  EXPECT_GT(a->gain, 0);
  ASSERT_EQ(a->shapes.size(), 1u);
  EXPECT_EQ(a->shapes[0], "select id, n from doc where body = ? order by n");
  EXPECT_NE(a->action.find("WHERE attribute_id ="), std::string::npos);
  EXPECT_EQ(find(advice, "text_index", "tag"), nullptr);  // varchar has its index already

  db->apply_advice(*a);
  ExplainResult e = db->explain(sql);
  EXPECT_NEAR(30 * e.estimated_cost, a->cost_after, 1e-6 * a->cost_after + 1e-9);
  bool uses_partial = false;
  for (const auto& line : e.backend_plan) uses_partial |= line.find("eav_value_text_attr_") != std::string::npos;
  EXPECT_TRUE(uses_partial) << explain_text(e);
  EXPECT_EQ(db->query(sql).rows, reference);
  EXPECT_EQ(db->query(sql, {}, QueryOptions{PlanKind::kEav}).rows, reference);
  // Applied: no longer recommended; a reopened Database finds the index too.
  EXPECT_EQ(find(db->advise("doc"), "text_index", "body"), nullptr);
  db.reset();
  db = open();
  EXPECT_EQ(db->query(sql).rows, reference);
  bool still = false;
  for (const auto& line : db->explain(sql).backend_plan) still |= line.find("eav_value_text_attr_") != std::string::npos;
  EXPECT_TRUE(still);
}

TEST_F(AdvisorDb, WritesCanOutweighTheGain) {
  { auto seed = open(); }
  auto db = open();
  // One read, many writes of the attribute in the same period: maintenance exceeds the gain.
  const std::string sql = "SELECT id FROM doc WHERE body = 'body 1'";
  db->query(sql);
  ASSERT_NE(find(db->advise("doc"), "text_index", "body"), nullptr);  // no writes seen yet
  const auto type = db->require_type("doc");
  for (int round = 0; round < 4; ++round) {
    ChangeSet cs;
    for (int64_t id = 1; id <= 2000; ++id) {
      EntityWrite w;
      w.kind = EntityWrite::Kind::kUpdate;
      w.type_id = type.id;
      w.id = id;
      w.values.push_back({type.attributes[1].id, ValueType::kText, Value{"round " + std::to_string(round)}});
      cs.writes.push_back(std::move(w));
    }
    db->commit(cs);
  }
  const IndexAdvice* a = find(db->advise("doc"), "text_index", "body");
  EXPECT_EQ(a, nullptr) << (a ? advice_json({*a}) : "");
}

TEST_F(AdvisorDb, FlatTableAndFlatColumnIndexAdvice) {
  { auto seed = open(); }
  auto db = open();  // a fresh process: no writes seen, no maintenance cost
  // A wide projection without a selective predicate: the flat table reads one row per entity.
  const std::string wide = "SELECT n, tag, w, x, y FROM doc WHERE w < 7 ORDER BY n";
  for (int i = 0; i < 10; ++i) db->query(wide);
  auto advice = db->advise();
  const IndexAdvice* f = find(advice, "flat_table");
  ASSERT_NE(f, nullptr) << advice_json(advice);
  EXPECT_EQ(f->action, "eavdb flat enable doc");
  EXPECT_GT(f->gain, 0);
  const auto eav_rows = db->query(wide, {}, QueryOptions{PlanKind::kEav}).rows;
  db->apply_advice(*f);
  ASSERT_EQ(db->flat_tables().size(), 1u);
  EXPECT_EQ(db->explain(wide).plan, "flat");
  EXPECT_EQ(db->query(wide).rows, eav_rows);
  EXPECT_EQ(find(db->advise(), "flat_table"), nullptr);

  // The flat table has no index on its text column: a selective text filter scans it.
  const std::string text = "SELECT n FROM doc WHERE body = 'body 3' ORDER BY n";
  for (int i = 0; i < 10; ++i) db->query(text);
  advice = db->advise("doc");
  const IndexAdvice* fi = find(advice, "flat_index", "body");
  ASSERT_NE(fi, nullptr) << advice_json(advice);
  const double before = db->explain(text).estimated_cost;
  uint64_t wide_runs = 0, text_runs = 0;
  for (const auto& sh : db->query_shapes(100)) {
    if (sh.shape == "select n, tag, w, x, y from doc where w < ? order by n") wide_runs = sh.count;
    if (sh.shape == "select n from doc where body = ? order by n") text_runs = sh.count;
  }
  EXPECT_EQ(text_runs, 10u);
  EXPECT_EQ(wide_runs, 12u);  // 10 + the forced EAV run + one after enabling
  EXPECT_NEAR(fi->cost_before, 10 * before + 12 * db->explain(wide).estimated_cost, 1e-6 * fi->cost_before);
  EXPECT_EQ(fi->queries, 10u);
  const auto text_rows = db->query(text, {}, QueryOptions{PlanKind::kEav}).rows;
  db->apply_advice(*fi);
  EXPECT_LT(db->explain(text).estimated_cost, before);
  EXPECT_EQ(db->query(text).rows, text_rows);
  // A rebuild keeps the advisor's column index.
  db->flat_rebuild("doc");
  EXPECT_EQ(find(db->advise("doc"), "flat_index", "body"), nullptr);
  EXPECT_EQ(db->query(text).rows, text_rows);
}

TEST_F(AdvisorDb, ApplyRejectsBadAdvice) {
  auto db = open();
  IndexAdvice bad{"text_index", "doc", "n", "DROP TABLE eav_entity", 0, 0, 0, 0, 0, 0, {}};
  EXPECT_THROW(db->apply_advice(bad), Error);  // n is not text; the action text is never run
  bad.attribute = "nope";
  EXPECT_THROW(db->apply_advice(bad), Error);
  bad = {"flat_index", "doc", "body", "", 0, 0, 0, 0, 0, 0, {}};
  EXPECT_THROW(db->apply_advice(bad), Error);  // no flat table
  bad.kind = "magic";
  EXPECT_THROW(db->apply_advice(bad), Error);
  EXPECT_EQ(db->query("SELECT COUNT(*) FROM doc").rows[0][0], Value{int64_t{2000}});
}

TEST_F(AdvisorDb, AutomaticModeAppliesInTheBackgroundWithinItsBudget) {
  { auto seed = open(); }
  Options o;
  o.auto_advise = true;
  o.auto_advise_every = 25;
  o.auto_advise_max = 1;
  auto db = open(o);
  for (int i = 0; i < 25; ++i) db->query("SELECT id FROM doc WHERE body = 'body " + std::to_string(i) + "'");
  // Wait for the round (a condition, not a duration: the bound only stops a hung test).
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (db->auto_advise_status().runs == 0 && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  AutoAdviseStatus st = db->auto_advise_status();
  ASSERT_GE(st.runs, 1u) << st.last_error;
  ASSERT_EQ(st.applied.size(), 1u) << st.last_error;
  EXPECT_EQ(st.applied[0].kind, "text_index");  // flat tables need auto_flat
  EXPECT_EQ(st.applied[0].attribute, "body");
  bool uses_partial = false;
  for (const auto& line : db->explain("SELECT id FROM doc WHERE body = 'body 1'").backend_plan)
    uses_partial |= line.find("eav_value_text_attr_") != std::string::npos;
  EXPECT_TRUE(uses_partial);
}

TEST_F(AdvisorDb, AutomaticFlatChoiceNeedsItsOwnOption) {
  { auto seed = open(); }
  Options o;
  o.auto_advise = true;
  o.auto_advise_every = 10;
  o.auto_flat = true;
  auto db = open(o);
  for (int i = 0; i < 10; ++i) db->query("SELECT n, tag, w, x, y FROM doc WHERE w < 7 ORDER BY n");
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (db->auto_advise_status().runs == 0 && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  AutoAdviseStatus st = db->auto_advise_status();
  ASSERT_GE(st.runs, 1u);
  ASSERT_FALSE(st.applied.empty()) << st.last_error;
  EXPECT_EQ(st.applied[0].kind, "flat_table");
  EXPECT_EQ(db->flat_tables().size(), 1u);
}

}  // namespace
}  // namespace eavdb
