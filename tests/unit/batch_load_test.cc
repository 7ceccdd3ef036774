// Bulk load (BatchProcessor::load, Backend::load, Session::find_many): request order, repeated
// ids, missing / deleted / other-type / other-tenant ids, requests larger than a chunk, values of
// all five types interleaved by attribute id, and a fixed number of statements per chunk.
#include <gtest/gtest.h>

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <random>

#include "eavdb/batch.h"
#include "eavdb/database.h"
#include "eavdb/explain.h"
#include "eavdb/session.h"
#include "storage/backend.h"
#include "test_util.h"

namespace eavdb {
namespace {

using testing::TempDir;

using testing::RecordList;

using testing::IdList;

// Attributes whose ids interleave the five value tables, so a record's values come from several
// tables and must be merged by attribute id.
const std::vector<std::pair<std::string, ValueType>> kAttrs = {
    {"a_int", ValueType::kInt},       {"b_var", ValueType::kVarchar}, {"c_dec", ValueType::kDecimal},
    {"d_int", ValueType::kInt},       {"e_dt", ValueType::kDatetime}, {"f_text", ValueType::kText},
    {"g_var", ValueType::kVarchar},   {"h_dec", ValueType::kDecimal},
};

// The value of attribute j of the i-th generated entity, or NULL when it has none (sparse).
Value value_of(int64_t i, size_t j) {
  if ((i + static_cast<int64_t>(j)) % 3 == 0) return std::monostate{};
  switch (kAttrs[j].second) {
    case ValueType::kInt: return int64_t{i * 10 + static_cast<int64_t>(j)} - 500;
    case ValueType::kVarchar: return "v" + std::to_string(i) + "_" + std::to_string(j);
    case ValueType::kDecimal: return Decimal::parse(std::to_string(i) + ".50");
    case ValueType::kDatetime: return DateTime{1700000000000000 + i};
    case ValueType::kText: return std::string(300 + static_cast<size_t>(i), 't');
  }
  return std::monostate{};
}

// The (attribute id, value) pairs stored for entity i, ascending by attribute id.
using Values = std::vector<std::pair<int64_t, Value>>;

class BatchLoadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db = Database::open(dir.file("l.db"));
    EntityTypeDef t;
    t.code = "doc";
    for (const auto& [code, vt] : kAttrs) t.attributes.push_back(testing::attr(code, vt));
    db->define_type(t);
    EntityTypeDef o;
    o.code = "other";
    o.attributes = {testing::attr("a_int", ValueType::kInt), testing::attr("b_var", ValueType::kVarchar)};
    db->define_type(o);
    doc = db->require_type("doc");
    // doc and other entities interleave in id order: 3 runs of docs with others between.
    for (int run = 0; run < 3; ++run) {
      insert_docs(25);
      insert_others(5);
    }
  }

  void insert_docs(int64_t n) {
    std::vector<BatchRecord> recs;
    for (int64_t k = 0; k < n; ++k) {
      BatchRecord r;
      const int64_t i = next_index + k;
      for (size_t j = 0; j < kAttrs.size(); ++j)
        if (Value v = value_of(i, j); !is_null(v)) r.values.emplace_back(kAttrs[j].first, v);
      recs.push_back(std::move(r));
    }
    RecordList src(recs);
    BatchResult res = BatchProcessor(*db, "doc").insert(src);
    ASSERT_EQ(res.inserted, n);
    for (int64_t k = 0; k < n; ++k) {
      const int64_t i = next_index + k;
      Values vals;
      for (size_t j = 0; j < kAttrs.size(); ++j)
        if (Value v = value_of(i, j); !is_null(v)) vals.emplace_back(doc.find(kAttrs[j].first)->id, v);
      std::sort(vals.begin(), vals.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      expected[res.first_id + k] = std::move(vals);
      doc_ids.push_back(res.first_id + k);
    }
    next_index += n;
  }

  void insert_others(int64_t n) {
    std::vector<BatchRecord> recs(static_cast<size_t>(n));
    for (auto& r : recs) r.values = {{"a_int", int64_t{1}}, {"b_var", std::string("x")}};
    RecordList src(recs);
    BatchResult res = BatchProcessor(*db, "other").insert(src);
    ASSERT_EQ(res.inserted, n);
    for (int64_t k = 0; k < n; ++k) other_ids.push_back(res.first_id + k);
  }

  // Checks that `got` holds exactly entity `id` as stored.
  void expect_entity(const std::optional<EntityRecord>& got, int64_t id, const std::string& where) {
    ASSERT_TRUE(got.has_value()) << where << ": entity " << id << " missing";
    EXPECT_EQ(got->id, id) << where;
    EXPECT_EQ(got->type_id, doc.id) << where;
    EXPECT_EQ(got->version, 1) << where;
    EXPECT_GT(got->created_at, 0) << where;
    const Values& want = expected.at(id);
    ASSERT_EQ(got->values.size(), want.size()) << where << ": entity " << id;
    for (size_t v = 0; v < want.size(); ++v) {
      EXPECT_EQ(got->values[v].first, want[v].first) << where << ": entity " << id << " value " << v;
      EXPECT_EQ(got->values[v].second.index(), want[v].second.index()) << where << ": entity " << id << " value " << v;
      EXPECT_EQ(to_string(got->values[v].second), to_string(want[v].second)) << where << ": entity " << id << " value " << v;
    }
  }

  TempDir dir;
  std::unique_ptr<Database> db;
  EntityTypeDef doc;
  int64_t next_index = 1;
  std::map<int64_t, Values> expected;
  std::vector<int64_t> doc_ids, other_ids;
};

TEST_F(BatchLoadTest, RequestOrderDuplicatesMissingAcrossChunks) {
  std::vector<int64_t> ids = doc_ids;
  std::mt19937 rng(7);
  std::shuffle(ids.begin(), ids.end(), rng);
  // Repeats (adjacent and far apart), an unknown id, ids of another type, ids <= 0.
  ids.insert(ids.begin() + 3, ids[2]);
  ids.push_back(ids[10]);
  ids.insert(ids.begin() + 20, 999999);
  ids.insert(ids.begin() + 5, other_ids[0]);
  ids.push_back(other_ids.back());
  ids.push_back(0);
  ids.push_back(-3);
  ids.push_back(999999);
  for (int64_t chunk : {1, 3, 7, 1000}) {
    BatchOptions o;
    o.chunk_size = chunk;
    LoadResult r = BatchProcessor(*db, "doc", o).load(ids);
    ASSERT_EQ(r.entities.size(), ids.size());
    std::vector<int64_t> missing;
    for (size_t i = 0; i < ids.size(); ++i) {
      const std::string where = "chunk " + std::to_string(chunk) + ", position " + std::to_string(i);
      if (expected.count(ids[i])) {
        expect_entity(r.entities[i], ids[i], where);
      } else {
        EXPECT_FALSE(r.entities[i].has_value()) << where;
        missing.push_back(ids[i]);
      }
    }
    EXPECT_EQ(r.missing, missing) << "chunk " << chunk << ": missing ids in request order, repeats included";
    EXPECT_EQ(missing.size(), 6u);
  }
}

TEST_F(BatchLoadTest, EmptyAndAllMissingRequests) {
  LoadResult none = BatchProcessor(*db, "doc").load({});
  EXPECT_TRUE(none.entities.empty());
  EXPECT_TRUE(none.missing.empty());
  LoadResult gone = BatchProcessor(*db, "doc").load({424242, 424242, other_ids[1]});
  ASSERT_EQ(gone.entities.size(), 3u);
  for (const auto& e : gone.entities) EXPECT_FALSE(e.has_value());
  EXPECT_EQ(gone.missing, (std::vector<int64_t>{424242, 424242, other_ids[1]}));
}

TEST_F(BatchLoadTest, DeletedIdsAreMissing) {
  IdList del({doc_ids[0], doc_ids[30], doc_ids[74]});
  ASSERT_EQ(BatchProcessor(*db, "doc").remove(del).deleted, 3);
  LoadResult r = BatchProcessor(*db, "doc").load({doc_ids[74], doc_ids[1], doc_ids[30], doc_ids[0], doc_ids[31]});
  EXPECT_EQ(r.missing, (std::vector<int64_t>{doc_ids[74], doc_ids[30], doc_ids[0]}));
  expect_entity(r.entities[1], doc_ids[1], "after delete");
  expect_entity(r.entities[4], doc_ids[31], "after delete");
}

TEST_F(BatchLoadTest, MoreIdsThanTheDefaultChunk) {
  // 2,600 ids: three chunks of the default 1,000, each id asked 1-3 times in random order.
  std::vector<int64_t> ids;
  for (int rep = 0; rep < 40; ++rep) ids.insert(ids.end(), doc_ids.begin(), doc_ids.begin() + 65);
  std::mt19937 rng(11);
  std::shuffle(ids.begin(), ids.end(), rng);
  LoadResult r = BatchProcessor(*db, "doc").load(ids);
  ASSERT_EQ(r.entities.size(), ids.size());
  EXPECT_TRUE(r.missing.empty());
  for (size_t i = 0; i < ids.size(); ++i) expect_entity(r.entities[i], ids[i], "position " + std::to_string(i));
}

TEST_F(BatchLoadTest, BackendLoadIsIndexAlignedForAnyOrder) {
  // Backend::load on its own: unsorted, repeated and sorted requests.
  std::vector<int64_t> unsorted = {doc_ids[9], doc_ids[2], 0, doc_ids[9], other_ids[2], doc_ids[2], doc_ids[40]};
  auto got = db->backend().load(db->tenant_id(), doc.id, unsorted);
  ASSERT_EQ(got.size(), unsorted.size());
  for (size_t i = 0; i < unsorted.size(); ++i) {
    if (expected.count(unsorted[i])) expect_entity(got[i], unsorted[i], "unsorted " + std::to_string(i));
    else EXPECT_FALSE(got[i].has_value()) << i;
  }
  std::vector<int64_t> sorted(doc_ids.begin(), doc_ids.begin() + 30);
  got = db->backend().load(db->tenant_id(), doc.id, sorted);
  for (size_t i = 0; i < sorted.size(); ++i) expect_entity(got[i], sorted[i], "sorted " + std::to_string(i));
}

TEST_F(BatchLoadTest, OtherTenantsEntitiesAreMissing) {
  Options o2;
  o2.tenant = "second";
  auto db2 = Database::open(dir.file("l.db"), o2);
  EntityTypeDef t;
  t.code = "doc";
  for (const auto& [code, vt] : kAttrs) t.attributes.push_back(testing::attr(code, vt));
  db2->define_type(t);
  BatchRecord one;
  one.values = {{"a_int", int64_t{5}}};
  RecordList src({one});
  BatchResult res = BatchProcessor(*db2, "doc").insert(src);
  ASSERT_EQ(res.inserted, 1);
  LoadResult mine = BatchProcessor(*db, "doc").load({res.first_id, doc_ids[0]});
  EXPECT_EQ(mine.missing, std::vector<int64_t>{res.first_id});
  expect_entity(mine.entities[1], doc_ids[0], "tenant one");
  LoadResult theirs = BatchProcessor(*db2, "doc").load({res.first_id, doc_ids[0]});
  EXPECT_EQ(theirs.missing, std::vector<int64_t>{doc_ids[0]});
  ASSERT_TRUE(theirs.entities[0].has_value());
  ASSERT_EQ(theirs.entities[0]->values.size(), 1u);
  EXPECT_EQ(std::get<int64_t>(theirs.entities[0]->values[0].second), 5);
}

TEST_F(BatchLoadTest, LoadSeesUpdatesAndNewAttributes) {
  // An attribute added after the data was written (a new value table in use) and a partial update.
  EntityTypeDef t = doc;
  t.attributes.push_back(testing::attr("z_dt", ValueType::kDatetime));
  db->define_type(t);
  doc = db->require_type("doc");
  std::vector<BatchRecord> upd(1);
  upd[0].id = doc_ids[4];
  upd[0].values = {{"z_dt", DateTime{5}}, {"a_int", int64_t{77}}};
  RecordList src(upd);
  ASSERT_EQ(BatchProcessor(*db, "doc").update(src).updated, 1);
  LoadResult r = BatchProcessor(*db, "doc").load({doc_ids[4]});
  ASSERT_TRUE(r.entities[0].has_value());
  EXPECT_EQ(r.entities[0]->version, 2);
  const int64_t a_int = doc.find("a_int")->id, z_dt = doc.find("z_dt")->id;
  bool saw_a = false, saw_z = false;
  for (const auto& [attr, v] : r.entities[0]->values) {
    if (attr == a_int) saw_a = std::get<int64_t>(v) == 77;
    if (attr == z_dt) saw_z = std::get<DateTime>(v).micros == 5;
  }
  EXPECT_TRUE(saw_a);
  EXPECT_TRUE(saw_z);
  EXPECT_TRUE(std::is_sorted(r.entities[0]->values.begin(), r.entities[0]->values.end(),
                             [](const auto& a, const auto& b) { return a.first < b.first; }));
}

// Statements started on any connection opened while the counter is installed (SQLite's trace
// hook, attached to every new connection by an auto-extension).
std::atomic<int64_t> g_statements{0};
int count_statement(unsigned, void*, void*, void*) {
  g_statements.fetch_add(1);
  return 0;
}
int trace_new_connection(sqlite3* db, char**, const sqlite3_api_routines*) {
  sqlite3_trace_v2(db, SQLITE_TRACE_STMT, count_statement, nullptr);
  return SQLITE_OK;
}

// Counts into g_statements on every connection opened while it lives (the auto-extension is
// removed again when it goes out of scope).
class CountStatements {
 public:
  CountStatements() { EXPECT_EQ(sqlite3_auto_extension(reinterpret_cast<Init>(trace_new_connection)), SQLITE_OK); }
  ~CountStatements() { sqlite3_cancel_auto_extension(reinterpret_cast<Init>(trace_new_connection)); }
  CountStatements(const CountStatements&) = delete;
  CountStatements& operator=(const CountStatements&) = delete;

 private:
  using Init = void (*)();
};

// A load runs the same number of statements for 2 ids as for 75 in one chunk, and that number
// per chunk when the request spans several.
TEST_F(BatchLoadTest, FixedNumberOfStatementsPerChunk) {
  CountStatements counting;
  Options opt;
  opt.cache.enabled = false;
  opt.flat_sync_worker = false;  // nothing but the loads runs statements on traced connections
  auto traced = Database::open(dir.file("l.db"), opt);
  auto statements_for = [&](const std::vector<int64_t>& ids, int64_t chunk) {
    BatchOptions o;
    o.chunk_size = chunk;
    BatchProcessor bp(*traced, "doc", o);
    const int64_t before = g_statements.load();
    LoadResult r = bp.load(ids);
    EXPECT_EQ(r.entities.size(), ids.size());
    return g_statements.load() - before;
  };
  statements_for({doc_ids[0]}, 1000);  // opens the reader connection
  const int64_t two = statements_for({doc_ids[1], doc_ids[0]}, 1000);
  std::vector<int64_t> all = doc_ids;
  std::reverse(all.begin(), all.end());
  const int64_t many = statements_for(all, 1000);
  EXPECT_GT(two, 0);
  EXPECT_EQ(many, two) << "75 ids in one chunk";
  EXPECT_EQ(statements_for(all, 10), 8 * two) << "75 ids in 8 chunks of 10";
  // begin, attributes, flat registration, entities, the five value tables the type uses, commit.
  EXPECT_EQ(two, 10);
}

// With a flat table kept in step on commit that covers every attribute, a load reads it alone
// (fewer statements) and returns exactly what the EAV tables hold; a deferred (possibly stale)
// flat table or one missing an attribute is not used.
TEST_F(BatchLoadTest, FreshCoveringFlatTableGivesTheSameResult) {
  CountStatements counting;
  Options opt;
  opt.cache.enabled = false;
  opt.flat_sync_worker = false;  // a deferred table stays stale until flat_sync()
  auto traced = Database::open(dir.file("l.db"), opt);
  std::vector<int64_t> ids = doc_ids;
  std::mt19937 rng(3);
  std::shuffle(ids.begin(), ids.end(), rng);
  ids.push_back(ids[4]);
  ids.push_back(999999);
  ids.push_back(other_ids[0]);
  auto load = [&](int64_t* statements) {
    BatchProcessor bp(*traced, "doc");
    const int64_t before = g_statements.load();
    LoadResult r = bp.load(ids);
    *statements = g_statements.load() - before;
    return r;
  };
  int64_t eav_statements = 0, flat_statements = 0;
  load(&eav_statements);  // opens the reader connection
  const LoadResult eav = load(&eav_statements);
  traced->flat_enable("doc");
  const LoadResult flat = load(&flat_statements);
  EXPECT_EQ(flat_statements, 5) << "begin, attributes, flat registration, the flat table, commit";
  EXPECT_LT(flat_statements, eav_statements);
  ASSERT_EQ(flat.entities.size(), ids.size());
  EXPECT_EQ(flat.missing, eav.missing);
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!expected.count(ids[i])) {
      EXPECT_FALSE(flat.entities[i].has_value()) << i;
      continue;
    }
    expect_entity(flat.entities[i], ids[i], "flat, position " + std::to_string(i));
    EXPECT_EQ(flat.entities[i]->updated_at, eav.entities[i]->updated_at);
    EXPECT_EQ(flat.entities[i]->created_at, eav.entities[i]->created_at);
  }

  // An update through the commit funnel keeps the on-commit table exact.
  std::vector<BatchRecord> upd(1);
  upd[0].id = doc_ids[7];
  upd[0].values = {{"c_dec", Decimal::parse("19.99")}, {"b_var", std::monostate{}}};
  RecordList src(upd);
  ASSERT_EQ(BatchProcessor(*traced, "doc").update(src).updated, 1);
  int64_t updated_statements = 0;
  auto check_updated = [&](const std::string& where) {
    LoadResult r = load(&updated_statements);
    const auto pos = static_cast<size_t>(std::find(ids.begin(), ids.end(), doc_ids[7]) - ids.begin());
    ASSERT_TRUE(r.entities[pos].has_value()) << where;
    EXPECT_EQ(r.entities[pos]->version, 2) << where;
    const int64_t c_dec = doc.find("c_dec")->id, b_var = doc.find("b_var")->id;
    bool saw_dec = false;
    for (const auto& [attr, v] : r.entities[pos]->values) {
      EXPECT_NE(attr, b_var) << where << ": removed value still loaded";
      if (attr == c_dec) saw_dec = to_string(v) == "19.99";
    }
    EXPECT_TRUE(saw_dec) << where;
  };
  check_updated("on-commit flat");
  EXPECT_EQ(updated_statements, 5);

  // Deferred: the update below is not in the flat table yet, so the load must not read it.
  traced->flat_enable("doc", FlatSync::kDeferred);
  upd[0].values = {{"c_dec", Decimal::parse("19.99")}, {"a_int", int64_t{-1}}};
  RecordList src2(upd);
  ASSERT_EQ(BatchProcessor(*traced, "doc").update(src2).updated, 1);
  {
    int64_t n = 0;
    LoadResult r = load(&n);
    EXPECT_EQ(n, eav_statements) << "a deferred flat table is not read";
    const auto pos = static_cast<size_t>(std::find(ids.begin(), ids.end(), doc_ids[7]) - ids.begin());
    ASSERT_TRUE(r.entities[pos].has_value());
    EXPECT_EQ(r.entities[pos]->version, 3);
    bool saw = false;
    for (const auto& [attr, v] : r.entities[pos]->values)
      if (attr == doc.find("a_int")->id) saw = std::get<int64_t>(v) == -1;
    EXPECT_TRUE(saw);
  }

  // Back to on-commit, then an attribute the flat table has no column for: the EAV tables serve.
  traced->flat_enable("doc", FlatSync::kOnCommit);
  EntityTypeDef t = traced->require_type("doc");
  t.attributes.push_back(testing::attr("new_one", ValueType::kInt));
  traced->define_type(t);
  int64_t n = 0;
  load(&n);
  EXPECT_EQ(n, eav_statements) << "a flat table without every attribute is not read";
}

TEST_F(BatchLoadTest, SessionFindManyUsesTheIdentityMap) {
  Session s = db->session();
  Entity* first = s.find("doc", doc_ids[3]);
  ASSERT_NE(first, nullptr);
  auto many = s.find_many("doc", {doc_ids[5], 999999, doc_ids[3], doc_ids[5], other_ids[0], doc_ids[60]});
  ASSERT_EQ(many.size(), 6u);
  EXPECT_EQ(many[2], first) << "an entity already in the session is the same object";
  ASSERT_NE(many[0], nullptr);
  EXPECT_EQ(many[0], many[3]) << "a repeated id is one object";
  EXPECT_EQ(many[1], nullptr);
  EXPECT_EQ(many[4], nullptr) << "an entity of another type";
  ASSERT_NE(many[5], nullptr);
  EXPECT_EQ(many[0]->id(), doc_ids[5]);
  EXPECT_EQ(many[5]->id(), doc_ids[60]);
  for (size_t j = 0; j < kAttrs.size(); ++j) {
    Value want = value_of(61, j);  // doc_ids[60] is the 61st generated entity
    auto it = many[5]->values().find(kAttrs[j].first);
    if (is_null(want)) {
      EXPECT_TRUE(it == many[5]->values().end() || is_null(it->second)) << kAttrs[j].first;
    } else {
      ASSERT_NE(it, many[5]->values().end()) << kAttrs[j].first;
      EXPECT_EQ(to_string(it->second), to_string(want)) << kAttrs[j].first;
    }
  }
  EXPECT_EQ(s.find_many("doc", {doc_ids[5]})[0], many[0]);
}

}  // namespace
}  // namespace eavdb
