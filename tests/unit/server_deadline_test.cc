// The request deadline (QueryOptions::deadline, the server's query time limit) bounds everything
// a query does, not only the executor's statements: planning (statistics, flat-table registry
// and state reads), EXPLAIN's SQLite plan and EXPLAIN ANALYZE's driver row count. Every check
// here uses a deadline already in the past, so nothing depends on how fast the machine is.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <string>

#include "eavdb/database.h"
#include "eavdb/error.h"
#include "eavdb/session.h"
#include "storage/deadline.h"
#include "storage/sqlite/sqlite_backend.h"

namespace eavdb {
namespace {

using Clock = std::chrono::steady_clock;

struct Fixture {
  std::filesystem::path dir;
  std::string path;
  explicit Fixture(const std::string& name) {
    dir = std::filesystem::temp_directory_path() / (name + "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    path = (dir / "d.db").string();
  }
  ~Fixture() { std::filesystem::remove_all(dir); }
};

// 3,000 items with a name each: analyzing the type and counting a scan are far more than the
// 1,000 VM steps between two progress-handler calls.
void fill_items(Database& db, int n) {
  EntityTypeDef t;
  t.code = "item";
  AttributeDef name;
  name.code = name.label = "name";
  name.type = ValueType::kVarchar;
  t.attributes = {name};
  db.define_type(t);
  Session s = db.session();
  for (int i = 0; i < n; ++i) s.create("item").set("name", std::string("n") + std::to_string(i % 97));
  s.flush();
}

template <class F>
void expect_timeout(F&& f, const char* what) {
  try {
    f();
    ADD_FAILURE() << what << " returned past its deadline";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kTimeout) << what << ": " << e.what();
    EXPECT_NE(std::string(e.what()).find("time limit"), std::string::npos) << e.what();
  }
}

// Planning and EXPLAIN without ANALYZE run no executor statement: before the fix they ignored
// the deadline and answered. A query too small for the executor's progress handler to fire
// (a few hundred VM steps) must not slip through either.
TEST(ServerDeadline, PlanningAndExplainRespectAPassedDeadline) {
  Fixture f("eavdb_deadline_plan");
  Options o;
  o.reader_connections = 1;
  auto db = Database::open(f.path, o);
  fill_items(*db, 20);
  const std::string sql = "SELECT name FROM item WHERE id = 1";
  QueryOptions late;
  late.deadline = Clock::now() - std::chrono::seconds(1);
  late.plan = PlanKind::kEav;  // bypasses the L4 cache: the plan must run
  expect_timeout([&] { db->explain(sql, {}, false, late); }, "EXPLAIN");
  expect_timeout([&] { db->explain(sql, {}, true, late); }, "EXPLAIN ANALYZE");
  expect_timeout([&] { db->query(sql, {}, late); }, "a one-row query");
  late.plan = PlanKind::kAuto;
  expect_timeout([&] { db->query(sql, {}, late); }, "a one-row query through the L4 cache");
  // Nothing was left behind: the same (single) reader connection answers without a limit, and
  // with a deadline far away.
  QueryOptions fine;
  fine.deadline = Clock::now() + std::chrono::hours(1);
  EXPECT_EQ(db->query(sql, {}, fine).rows.size(), 1u);
  const ExplainResult e = db->explain("SELECT COUNT(*) FROM item WHERE name = 'n5'", {}, true, fine);
  EXPECT_TRUE(e.analyzed);
  EXPECT_EQ(e.rows, 1);
  EXPECT_EQ(db->query("SELECT COUNT(*) FROM item", {}).rows.at(0).at(0), Value(int64_t{20}));
}

// The store reads planning and EXPLAIN ANALYZE make (statistics, the driver's row count) are
// interrupted by the thread's deadline with the executor's error, and the pooled connection
// is handed back without the handler: the next read on it runs to the end.
TEST(ServerDeadline, StoreReadsUnderADeadlineScopeAreInterrupted) {
  Fixture f("eavdb_deadline_scope");
  EntityTypeDef type;
  {
    auto db = Database::open(f.path);
    fill_items(*db, 3000);
    type = db->require_type("item");
  }
  storage::sqlite::SqliteBackend backend(f.path, false, /*readers=*/1, /*busy_timeout_ms=*/5000, /*page_cache_kib=*/2048);
  const std::string scan = "SELECT v.entity_id FROM eav_value_varchar v WHERE v.value LIKE '%5%'";
  {
    storage::DeadlineScope scope(Clock::now() - std::chrono::milliseconds(1));
    expect_timeout([&] { backend.analyze(type); }, "analyze (planning statistics)");
    EXPECT_TRUE(scope.fired());
    expect_timeout([&] { backend.count_rows(scan, {}); }, "EXPLAIN ANALYZE's row count");
    expect_timeout([&] { scope.check("planning"); }, "an explicit check");
  }
  {
    storage::DeadlineScope none(std::nullopt);  // a scope without a deadline limits nothing
    EXPECT_EQ(storage::DeadlineScope::current(), nullptr);
    EXPECT_NO_THROW(none.check("planning"));
    const query::TypeStats s = backend.analyze(type);
    EXPECT_EQ(s.entity_count, 3000);
  }
  int64_t expected = 0;
  for (int i = 0; i < 3000; ++i)
    if ((std::string("n") + std::to_string(i % 97)).find('5') != std::string::npos) ++expected;
  EXPECT_EQ(backend.count_rows(scan, {}), expected);
  {
    storage::DeadlineScope later(Clock::now() + std::chrono::hours(1));
    EXPECT_EQ(backend.count_rows(scan, {}), expected);
    EXPECT_FALSE(later.fired());
  }
}

// The deadline is enforced by SQLite's progress handler: a deadline already in the past must
// interrupt any query that runs more than a few thousand VM steps, deterministically.
TEST(QueryDeadline, InterruptsTheQueryAndLeavesTheConnectionUsable) {
  Fixture f("eavdb_deadline");
  Options o;
  o.reader_connections = 1;  // the interrupted connection is the one the next query gets
  auto db = Database::open(f.path, o);
  fill_items(*db, 3000);
  const std::string sql = "SELECT name, COUNT(*) FROM item WHERE name LIKE '%5%' GROUP BY name";
  QueryOptions late;
  late.deadline = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  for (PlanKind kind : {PlanKind::kAuto, PlanKind::kEav}) {
    late.plan = kind;
    try {
      db->query(sql, {}, late);
      ADD_FAILURE() << "a query past its deadline returned";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kTimeout) << e.what();
      EXPECT_EQ(error_code_name(e.code()), "timeout");
    }
  }
  try {
    db->explain(sql, {}, true, late);
    ADD_FAILURE() << "EXPLAIN ANALYZE past its deadline returned";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kTimeout) << e.what();
  }
  // The same connection answers the next query, and the interrupted one cached nothing.
  std::string plan;
  QueryOptions fine;
  fine.deadline = std::chrono::steady_clock::now() + std::chrono::hours(1);
  fine.plan_used = &plan;
  const QueryResult r = db->query(sql, {}, fine);
  EXPECT_EQ(plan, "eav");
  int64_t total = 0;
  for (const auto& row : r.rows) total += std::get<int64_t>(row[1]);
  int64_t expected = 0;
  for (int i = 0; i < 3000; ++i)
    if ((std::string("n") + std::to_string(i % 97)).find('5') != std::string::npos) ++expected;
  EXPECT_EQ(total, expected);
  plan.clear();
  db->query(sql, {}, fine);
  EXPECT_EQ(plan, "cached");  // L4 answered the repeat
  db.reset();
}

}  // namespace
}  // namespace eavdb
