// Exact counts (eav_count): per type the live entities, per attribute the entities holding a value,
// kept by SqliteBackend::commit in the same transaction (and savepoint) as the rows they count.
// Every check compares them with count(*) over the real tables.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "eavdb/batch.h"
#include "eavdb/database.h"
#include "eavdb/error.h"
#include "storage/sqlite/connection.h"
#include "storage/sqlite/schema.sql.h"
#include "storage/sqlite/sqlite_backend.h"
#include "test_util.h"

namespace eavdb {
namespace {

using storage::sqlite::Connection;
using storage::sqlite::SqliteBackend;
using storage::sqlite::Statement;
using testing::TempDir;

std::string table_of(ValueType t) { return "eav_value_" + std::string(value_type_name(t)); }

// The counts as count(*) over eav_entity and the value tables (entities of the type holding a row
// of the attribute), for the type's attributes and key 0 (entities); zero counts left out.
std::map<int64_t, int64_t> actual_counts(Connection& c, const EntityTypeDef& type) {
  std::map<int64_t, int64_t> out;
  {
    Statement st = c.prepare("SELECT count(*) FROM eav_entity WHERE type_id = ?");
    st.bind(1, type.id);
    st.step();
    if (st.column_int(0)) out[0] = st.column_int(0);
  }
  for (const AttributeDef& a : type.attributes) {
    Statement st = c.prepare("SELECT count(*) FROM " + table_of(a.type) +
                             " v JOIN eav_entity e ON e.id = v.entity_id WHERE v.attribute_id = ? AND e.type_id = ?");
    st.bind(1, a.id);
    st.bind(2, type.id);
    st.step();
    if (st.column_int(0)) out[a.id] = st.column_int(0);
  }
  return out;
}

// exact_counts() without stored zeros (an absent row and a 0 row mean the same).
std::map<int64_t, int64_t> stored_counts(SqliteBackend& b, int64_t type_id) {
  std::map<int64_t, int64_t> out;
  for (const auto& [k, n] : b.exact_counts(type_id))
    if (n != 0) out[k] = n;
  return out;
}

AttributeWrite set(const AttributeDef& a, Value v) { return AttributeWrite{a.id, a.type, std::move(v)}; }

class CountsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path = dir.file("c.db");
    backend = std::make_unique<SqliteBackend>(path, true, 2, 5000, 2048);
    tenant = backend->ensure_tenant("default");
    EntityTypeDef item;
    item.code = "item";
    AttributeDef sku = testing::attr("sku", ValueType::kVarchar);
    sku.unique = true;
    item.attributes = {sku, testing::attr("qty", ValueType::kInt), testing::attr("price", ValueType::kDecimal),
                       testing::attr("at", ValueType::kDatetime), testing::attr("note", ValueType::kText)};
    types.push_back(backend->save_type(tenant, item));
    EntityTypeDef other;
    other.code = "other";
    other.attributes = {testing::attr("label", ValueType::kVarchar), testing::attr("n", ValueType::kInt)};
    types.push_back(backend->save_type(tenant, other));
    check = std::make_unique<Connection>(path, false, 5000, 2048);
  }

  // Every type's stored counts equal the real ones, and integrity_check agrees.
  void expect_exact(const std::string& when) {
    for (const EntityTypeDef& t : types)
      ASSERT_EQ(stored_counts(*backend, t.id), actual_counts(*check, t)) << t.code << " after " << when;
    ASSERT_EQ(backend->integrity_check(), std::vector<std::string>{}) << when;
  }

  ChangeSet changes(std::vector<EntityWrite> writes, int64_t chunk = 1000, bool isolate = false) {
    ChangeSet cs;
    cs.tenant_id = tenant;
    cs.writes = std::move(writes);
    cs.chunk_size = chunk;
    cs.isolate = isolate;
    return cs;
  }
  EntityWrite insert(const EntityTypeDef& t, std::vector<AttributeWrite> values) {
    EntityWrite w;
    w.kind = EntityWrite::Kind::kInsert;
    w.type_id = t.id;
    w.values = std::move(values);
    return w;
  }
  EntityWrite update(const EntityTypeDef& t, int64_t id, std::vector<AttributeWrite> values, int64_t expected = -1) {
    EntityWrite w;
    w.kind = EntityWrite::Kind::kUpdate;
    w.type_id = t.id;
    w.id = id;
    w.expected_version = expected;
    w.values = std::move(values);
    return w;
  }
  EntityWrite remove(const EntityTypeDef& t, int64_t id, int64_t expected = -1) {
    EntityWrite w;
    w.kind = EntityWrite::Kind::kDelete;
    w.type_id = t.id;
    w.id = id;
    w.expected_version = expected;
    return w;
  }
  const AttributeDef& attr(int type, size_t i) const { return types[static_cast<size_t>(type)].attributes[i]; }

  TempDir dir;
  std::string path;
  std::unique_ptr<SqliteBackend> backend;
  std::unique_ptr<Connection> check;
  int64_t tenant = 0;
  std::vector<EntityTypeDef> types;
};

// Known figures, on both write paths: set-based chunks (one type, no version checks) and the
// per-write path (a version check sends the chunk there).
TEST_F(CountsTest, InsertUpdateDeleteGiveExactFigures) {
  const EntityTypeDef& item = types[0];
  const AttributeDef &sku = attr(0, 0), &qty = attr(0, 1), &note = attr(0, 4);
  for (const bool per_write : {false, true}) {
    SCOPED_TRACE(per_write ? "per-write path" : "set-based path");
    const int64_t v = per_write ? 1 : -1;  // expected version 1: the per-write path
    const std::map<int64_t, int64_t> base = stored_counts(*backend, item.id);  // the first round's rows stay
    auto r = backend->commit(changes({insert(item, {set(sku, std::string("a")), set(qty, int64_t{1})}),
                                      insert(item, {set(sku, std::string("b")), set(note, Value{})}),
                                      insert(item, {set(qty, int64_t{3})})}));
    const int64_t a = r.ids[0], b = r.ids[1], c = r.ids[2];
    auto expect = [&](std::map<int64_t, int64_t> delta) {
      std::map<int64_t, int64_t> want = base;
      for (auto& [k, n] : delta) want[k] += n;
      std::erase_if(want, [](const auto& kv) { return kv.second == 0; });
      EXPECT_EQ(stored_counts(*backend, item.id), want);
    };
    expect({{0, 3}, {sku.id, 2}, {qty.id, 2}});
    // Replacing a held value adds no holder; a new one does; NULL removes; NULL of an absent
    // value removes nothing.
    backend->commit(changes({update(item, a, {set(qty, int64_t{10}), set(note, std::string("n"))}, v),
                             update(item, b, {set(sku, Value{}), set(note, Value{})}, v),
                             update(item, c, {set(sku, Value{})}, v)}));
    expect({{0, 3}, {sku.id, 1}, {qty.id, 2}, {note.id, 1}});
    backend->commit(changes({remove(item, a, per_write ? 2 : -1)}));
    expect({{0, 2}, {qty.id, 1}});
    expect_exact("round");
  }
}

// The set-based path with one entity updated twice in a chunk: the second upsert of an attribute
// finds the first one's row, and the NULLs run after every upsert of the chunk.
TEST_F(CountsTest, EntityUpdatedTwiceInOneChunk) {
  const EntityTypeDef& item = types[0];
  const AttributeDef &qty = attr(0, 1), &price = attr(0, 2), &at = attr(0, 3);
  auto r = backend->commit(changes({insert(item, {set(qty, int64_t{1})}), insert(item, {})}));
  const int64_t a = r.ids[0], b = r.ids[1];
  backend->commit(changes({update(item, a, {set(price, Decimal::parse("1.5")), set(qty, int64_t{2})}),
                           update(item, b, {set(at, DateTime{5})}),
                           update(item, a, {set(price, Decimal::parse("2.5")), set(qty, Value{})}),
                           update(item, b, {set(at, Value{}), set(price, Decimal::parse("3"))}),
                           update(item, b, {set(at, DateTime{6})})}));
  // a: price (qty removed: the NULL runs last); b: price (at's NULL runs after its upserts).
  EXPECT_EQ(stored_counts(*backend, item.id), (std::map<int64_t, int64_t>{{0, 2}, {price.id, 2}}));
  expect_exact("double update");
}

// An insert naming an attribute twice: the set-based INSERT fails on the duplicate row, the
// isolated replay upserts it — one holder either way.
TEST_F(CountsTest, InsertRepeatingAnAttributeCountsOneHolder) {
  const EntityTypeDef& item = types[0];
  const AttributeDef& qty = attr(0, 1);
  auto r = backend->commit(changes({insert(item, {set(qty, int64_t{1}), set(qty, int64_t{2})})}, 1000, true));
  ASSERT_TRUE(r.failures.empty());
  EXPECT_EQ(stored_counts(*backend, item.id), (std::map<int64_t, int64_t>{{0, 1}, {qty.id, 1}}));
  expect_exact("repeated attribute");
}

// Rejected records and failing commits leave every count exact: a failed chunk rolls back to its
// savepoint with its counts, the isolated replay counts only the writes that stayed.
TEST_F(CountsTest, RejectedWritesAndFailedCommitsLeaveCountsExact) {
  const EntityTypeDef& item = types[0];
  const AttributeDef &sku = attr(0, 0), &qty = attr(0, 1);
  auto r = backend->commit(changes({insert(item, {set(sku, std::string("x")), set(qty, int64_t{1})}),
                                    insert(item, {set(qty, int64_t{2})})}));
  const int64_t a = r.ids[0], b = r.ids[1];
  const std::map<int64_t, int64_t> before = {{0, 2}, {sku.id, 1}, {qty.id, 2}};
  // Whole commits that fail: unknown entity, stale version, unique violation.
  EXPECT_THROW(backend->commit(changes({insert(item, {set(qty, int64_t{3})}), update(item, 999999, {set(qty, int64_t{4})})})),
               Error);
  EXPECT_THROW(backend->commit(changes({update(item, b, {set(sku, std::string("y"))}), remove(item, a, 7)})), Error);
  EXPECT_THROW(backend->commit(changes({remove(item, b), insert(item, {set(sku, std::string("x"))})})), Error);
  EXPECT_EQ(stored_counts(*backend, item.id), before);
  // Isolated: each bad record rejected, the others kept and counted.
  r = backend->commit(changes({insert(item, {set(sku, std::string("z")), set(qty, int64_t{5})}),
                               update(item, 999999, {set(qty, int64_t{4})}),
                               update(item, b, {set(sku, std::string("x"))}),
                               remove(item, a, 7),
                               update(item, b, {set(qty, Value{})}),
                               insert(item, {set(sku, std::string("z"))})},
                              1000, true));
  ASSERT_EQ(r.failures.size(), 4u);
  EXPECT_EQ(r.failures[0].index, 1u);
  EXPECT_EQ(r.failures[1].index, 2u);
  EXPECT_EQ(r.failures[2].index, 3u);
  EXPECT_EQ(r.failures[3].index, 5u);
  EXPECT_EQ(stored_counts(*backend, item.id), (std::map<int64_t, int64_t>{{0, 3}, {sku.id, 2}, {qty.id, 2}}));
  expect_exact("isolated failures");
}

// Randomized interleavings (fixed seed) of every kind of write and failure, over both types, in
// set-based chunks and per-write chunks: after every commit each count equals count(*).
TEST_F(CountsTest, RandomizedInterleavingsKeepEveryCountExact) {
  std::mt19937_64 rng(20261130);
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  auto chance = [&](int percent) { return static_cast<int>(rng() % 100) < percent; };
  std::vector<std::map<int64_t, int64_t>> live(types.size());  // per type: id -> version
  std::vector<std::string> skus;                               // every sku ever written
  int64_t next_sku = 0;
  auto random_value = [&](const AttributeDef& a) -> Value {
    if (chance(20)) return Value{};
    switch (a.type) {
      case ValueType::kVarchar:
        if (a.unique) {
          if (!skus.empty() && chance(10)) return skus[pick(skus.size())];  // often a violation
          skus.push_back("sku-" + std::to_string(next_sku++));
          return skus.back();
        }
        return "v" + std::to_string(pick(50));
      case ValueType::kInt: return static_cast<int64_t>(pick(1000));
      case ValueType::kDecimal: return Decimal::parse(std::to_string(pick(1000)) + ".25");
      case ValueType::kDatetime: return DateTime{static_cast<int64_t>(pick(1000000))};
      case ValueType::kText: return "text " + std::to_string(pick(1000));
    }
    return Value{};
  };
  auto random_values = [&](int type) {
    std::vector<AttributeWrite> out;
    const auto& attrs = types[static_cast<size_t>(type)].attributes;
    for (const AttributeDef& a : attrs)
      if (chance(60)) out.push_back(set(a, random_value(a)));
    if (!out.empty() && chance(5)) out.push_back(out[pick(out.size())]);  // an attribute named twice
    std::shuffle(out.begin(), out.end(), rng);
    return out;
  };
  auto random_live = [&](int type) -> int64_t {
    auto& m = live[static_cast<size_t>(type)];
    if (m.empty()) return 0;
    auto it = m.begin();
    std::advance(it, static_cast<std::ptrdiff_t>(pick(m.size())));
    return it->first;
  };

  int failures = 0, failed_commits = 0, commits = 0;
  for (int round = 0; round < 300; ++round) {
    // Set-based rounds use one type and no version checks; mixed rounds mix types and versions.
    const bool set_based = chance(50);
    const int only_type = static_cast<int>(pick(types.size()));
    std::vector<EntityWrite> writes;
    std::set<int64_t> deleted;
    const size_t n = 1 + pick(40);
    for (size_t k = 0; k < n; ++k) {
      const int type = set_based ? only_type : static_cast<int>(pick(types.size()));
      const EntityTypeDef& t = types[static_cast<size_t>(type)];
      const int roll = static_cast<int>(pick(100));
      const int64_t id = random_live(type);
      if (roll < 45 || id == 0) {
        writes.push_back(insert(t, random_values(type)));
      } else if (roll < 80) {
        int64_t expected = -1;
        if (!set_based && chance(30)) expected = chance(80) ? live[static_cast<size_t>(type)][id] : 424242;
        writes.push_back(update(t, chance(3) ? 987654321 : id, random_values(type), expected));
      } else if (!deleted.count(id) || !set_based) {
        deleted.insert(id);
        int64_t expected = -1;
        if (!set_based && chance(30)) expected = chance(80) ? live[static_cast<size_t>(type)][id] : 424242;
        writes.push_back(remove(t, id, expected));
      }
    }
    if (set_based)  // the set-based path takes no entity both updated and deleted
      std::erase_if(writes, [&](const EntityWrite& w) { return w.kind == EntityWrite::Kind::kUpdate && deleted.count(w.id); });
    if (writes.empty()) continue;
    const int64_t chunk = chance(50) ? 1000 : static_cast<int64_t>(1 + pick(8));
    const bool isolate = chance(60);
    ChangeSet cs = changes(writes, chunk, isolate);
    ++commits;
    try {
      auto r = backend->commit(cs);
      failures += static_cast<int>(r.failures.size());
      for (size_t i = 0; i < writes.size(); ++i) {
        if (r.ids[i] == 0) continue;
        auto& m = live[static_cast<size_t>(std::find_if(types.begin(), types.end(), [&](const EntityTypeDef& t) {
                                             return t.id == writes[i].type_id;
                                           }) - types.begin())];
        if (writes[i].kind == EntityWrite::Kind::kDelete) m.erase(r.ids[i]);
        else m[r.ids[i]] = r.versions[i];
      }
    } catch (const Error& e) {
      ASSERT_NE(e.code(), ErrorCode::kStorage) << e.what();
      ++failed_commits;
    }
    for (const EntityTypeDef& t : types)
      ASSERT_EQ(stored_counts(*backend, t.id), actual_counts(*check, t)) << t.code << " after round " << round;
  }
  // The run exercised what it claims to.
  EXPECT_GT(failures, 20);
  EXPECT_GT(failed_commits, 20);
  EXPECT_GT(commits - failed_commits, 100);
  EXPECT_GT(live[0].size() + live[1].size(), 100u);
  expect_exact("the randomized run");
}

// A type of more attributes than the funnel's per-attribute counter caches (64): ids that share
// a cache slot are still counted apart, on the insert, update and delete paths.
TEST_F(CountsTest, ManyAttributesAreCountedApart) {
  EntityTypeDef wide;
  wide.code = "wide";
  for (int i = 0; i < 150; ++i) wide.attributes.push_back(testing::attr("a" + std::to_string(i), ValueType::kInt));
  types.push_back(backend->save_type(tenant, wide));
  const EntityTypeDef& t = types.back();
  std::vector<EntityWrite> ins;
  for (int e = 0; e < 20; ++e) {
    std::vector<AttributeWrite> values;
    for (size_t i = 0; i < t.attributes.size(); ++i)
      if ((i + static_cast<size_t>(e)) % 3 != 0) values.push_back(set(t.attributes[i], int64_t{e}));
    ins.push_back(insert(t, values));
  }
  auto r = backend->commit(changes(ins));
  expect_exact("wide inserts");
  std::vector<EntityWrite> ups;
  for (int e = 0; e < 20; e += 2) {
    std::vector<AttributeWrite> values;
    for (size_t i = 0; i < t.attributes.size(); i += 5)
      values.push_back(set(t.attributes[i], i % 2 ? Value{} : Value{int64_t{7}}));
    ups.push_back(update(t, r.ids[static_cast<size_t>(e)], values));
  }
  backend->commit(changes(ups));
  expect_exact("wide updates");
  backend->commit(changes({remove(t, r.ids[1]), remove(t, r.ids[2]), remove(t, r.ids[3])}));
  expect_exact("wide deletes");
  EXPECT_EQ(stored_counts(*backend, t.id).at(0), 17);
}

// A store written by a binary at schema 5 (no eav_count) gets correct counts when the new binary
// opens it, and keeps them from then on.
TEST_F(CountsTest, MigrationFillsCountsOfAnOldStore) {
  const std::string old_path = dir.file("old.db");
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(old_path.c_str(), &raw), SQLITE_OK);
    storage::sqlite::register_functions(raw);  // the decimal collation the schema names
    auto exec = [&](const std::string& sql) {
      char* err = nullptr;
      const int rc = sqlite3_exec(raw, sql.c_str(), nullptr, nullptr, &err);
      ASSERT_EQ(rc, SQLITE_OK) << (err ? err : "") << " in " << sql;
    };
    for (size_t m = 0; m < 5; ++m) exec(std::string(storage::sqlite::kMigrations[m]));
    exec("INSERT INTO eav_meta(key, value) VALUES('schema_version', '5')");
    exec("INSERT INTO eav_tenant(id, code) VALUES(1, 'default')");
    exec("INSERT INTO eav_entity_type(id, tenant_id, code, label) VALUES(1, 1, 'a', 'a'), (2, 1, 'b', 'b'), (3, 1, 'c', 'c')");
    exec("INSERT INTO eav_attribute(id, type_id, code, label, value_type) VALUES"
         " (10, 1, 'x', 'x', 'int'), (11, 1, 'y', 'y', 'varchar'), (12, 1, 'z', 'z', 'text'),"
         " (20, 2, 'p', 'p', 'decimal'), (21, 2, 'q', 'q', 'datetime'), (30, 3, 'w', 'w', 'int')");
    exec("INSERT INTO eav_entity(id, type_id, tenant_id, version, created_at, updated_at) VALUES"
         " (1, 1, 1, 1, 0, 0), (2, 1, 1, 1, 0, 0), (3, 1, 1, 1, 0, 0), (4, 2, 1, 1, 0, 0), (5, 2, 1, 1, 0, 0)");
    exec("INSERT INTO eav_value_int VALUES (1, 10, 5), (2, 10, 6), (3, 10, 7)");
    exec("INSERT INTO eav_value_varchar VALUES (1, 11, 'a'), (3, 11, 'b')");
    exec("INSERT INTO eav_value_text VALUES (2, 12, 'long')");
    exec("INSERT INTO eav_value_decimal VALUES (4, 20, '1.5'), (5, 20, '2')");
    exec("INSERT INTO eav_value_datetime VALUES (5, 21, 123)");
    sqlite3_close(raw);
  }
  SqliteBackend old(old_path, false, 1, 5000, 2048);
  EXPECT_EQ(old.exact_counts(1), (std::map<int64_t, int64_t>{{0, 3}, {10, 3}, {11, 2}, {12, 1}}));
  EXPECT_EQ(old.exact_counts(2), (std::map<int64_t, int64_t>{{0, 2}, {20, 2}, {21, 1}}));
  EXPECT_TRUE(old.exact_counts(3).empty());  // no entities: no rows, 0
  EXPECT_EQ(old.integrity_check(), std::vector<std::string>{});
  ChangeSet cs;
  cs.tenant_id = 1;
  EntityWrite del;
  del.kind = EntityWrite::Kind::kDelete;
  del.type_id = 1;
  del.id = 1;
  EntityWrite ins;
  ins.type_id = 3;
  ins.values = {{30, ValueType::kInt, int64_t{1}}};
  cs.writes = {del, ins};
  old.commit(cs);
  EXPECT_EQ(old.exact_counts(1), (std::map<int64_t, int64_t>{{0, 2}, {10, 2}, {11, 1}, {12, 1}}));
  EXPECT_EQ(old.exact_counts(3), (std::map<int64_t, int64_t>{{0, 1}, {30, 1}}));
  EXPECT_EQ(old.integrity_check(), std::vector<std::string>{});
}

// integrity_check names the type, attribute, stored and actual count of a count gone wrong.
TEST_F(CountsTest, IntegrityCheckFlagsACorruptedCount) {
  const EntityTypeDef& item = types[0];
  const AttributeDef& qty = attr(0, 1);
  backend->commit(changes({insert(item, {set(qty, int64_t{1})}), insert(item, {set(qty, int64_t{2})})}));
  ASSERT_EQ(backend->integrity_check(), std::vector<std::string>{});
  check->exec("UPDATE eav_count SET n = n + 5 WHERE type_id = " + std::to_string(item.id) +
              " AND attribute_id = " + std::to_string(qty.id));
  check->exec("DELETE FROM eav_count WHERE type_id = " + std::to_string(item.id) + " AND attribute_id = 0");
  const auto problems = backend->integrity_check();
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_EQ(problems[0], "eav_count of type " + std::to_string(item.id) + " (entities): stored 0, actual 2");
  EXPECT_EQ(problems[1], "eav_count of type " + std::to_string(item.id) + " attribute " + std::to_string(qty.id) +
                             ": stored 7, actual 2");
}

// The faces' paths (Database::commit through BatchProcessor: insert, update, delete) keep counts.
TEST(CountsDatabaseTest, BatchWritesKeepCountsExact) {
  TempDir dir;
  auto db = Database::open(dir.file("d.db"));
  EntityTypeDef t;
  t.code = "row";
  t.attributes = {testing::attr("k", ValueType::kInt), testing::attr("s", ValueType::kVarchar)};
  const EntityTypeDef def = db->define_type(t);
  const int64_t k = def.attributes[0].id, s = def.attributes[1].id;
  std::vector<BatchRecord> recs;
  for (int i = 0; i < 500; ++i) {
    BatchRecord r;
    r.values = {{"k", int64_t{i}}};
    if (i % 3 == 0) r.values.push_back({"s", "s" + std::to_string(i)});
    recs.push_back(std::move(r));
  }
  testing::RecordList src(recs);
  BatchOptions o;
  o.chunk_size = 64;
  BatchResult ins = BatchProcessor(*db, "row", o).insert(src);
  ASSERT_EQ(ins.inserted, 500);
  auto& backend = db->backend();
  EXPECT_EQ(backend.exact_counts(def.id), (std::map<int64_t, int64_t>{{0, 500}, {k, 500}, {s, 167}}));
  // Updates: ids 1..100 (i = 0..99) get s (34 of them held it) and ids 1..50 lose k.
  std::vector<BatchRecord> ups;
  for (int64_t id = 1; id <= 100; ++id) {
    BatchRecord r;
    r.id = id;
    r.values = {{"s", std::string("new")}};
    if (id <= 50) r.values.push_back({"k", Value{}});
    ups.push_back(std::move(r));
  }
  testing::RecordList up_src(ups);
  BatchResult up = BatchProcessor(*db, "row", o).update(up_src);
  ASSERT_EQ(up.failed, 0);
  EXPECT_EQ(backend.exact_counts(def.id), (std::map<int64_t, int64_t>{{0, 500}, {k, 450}, {s, 233}}));
  // Deletes: ids 1..20 (no k, all hold s) and 401..500 (k, and s where i % 3 == 0: 33 of them).
  std::vector<int64_t> gone;
  for (int64_t id = 1; id <= 20; ++id) gone.push_back(id);
  for (int64_t id = 401; id <= 500; ++id) gone.push_back(id);
  testing::IdList ids(gone);
  BatchResult del = BatchProcessor(*db, "row", o).remove(ids);
  ASSERT_EQ(del.failed, 0);
  EXPECT_EQ(backend.exact_counts(def.id), (std::map<int64_t, int64_t>{{0, 380}, {k, 350}, {s, 180}}));
  EXPECT_EQ(backend.integrity_check(), std::vector<std::string>{});
}

}  // namespace
}  // namespace eavdb
