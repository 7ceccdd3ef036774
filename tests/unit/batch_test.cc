// BatchProcessor: every operation, every rejection path, savepoint isolation, abort policy,
// progress, bounded memory.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <sqlite3.h>

#include <fstream>

#include "eavdb/batch.h"
#include "eavdb/database.h"
#include "storage/backend.h"
#include "storage/sqlite/sqlite_backend.h"
#include "test_util.h"

namespace eavdb {
namespace {

using testing::TempDir;

using Records = testing::RecordList;

// Generated records, never materialised: memory stays bounded by the processor's chunks.
class Generated final : public RecordSource {
 public:
  explicit Generated(int64_t n, int64_t first = 0) : n_(first + n), i_(first), first_(first) {}
  bool next(BatchRecord& out) override {
    if (i_ >= n_) return false;
    out = BatchRecord{};
    out.values = {{"sku", "SKU-" + std::to_string(i_)}, {"qty", int64_t{i_ % 100}}, {"price", std::string("9.99")}};
    ++i_;
    return true;
  }
  int64_t size_hint() const override { return n_ - first_; }

 private:
  int64_t n_, i_, first_;
};

using Ids = testing::IdList;

BatchRecord rec(std::vector<std::pair<std::string, Value>> values, int64_t id = 0) {
  BatchRecord r;
  r.id = id;
  r.values = std::move(values);
  return r;
}

class BatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db = Database::open(dir.file("b.db"));
    EntityTypeDef t;
    t.code = "item";
    AttributeDef sku = testing::attr("sku", ValueType::kVarchar, true);
    sku.unique = true;
    t.attributes = {sku, testing::attr("qty", ValueType::kInt), testing::attr("price", ValueType::kDecimal),
                    testing::attr("note", ValueType::kVarchar)};
    db->define_type(t);
  }
  int64_t count(const std::string& where = "") {
    auto r = db->query("SELECT COUNT(*) FROM item" + (where.empty() ? "" : " WHERE " + where));
    return std::get<int64_t>(r.rows[0][0]);
  }
  BatchResult insert_n(int64_t n, BatchOptions o = {}, int64_t first = 0) {
    Generated g(n, first);
    return BatchProcessor(*db, "item", o).insert(g);
  }
  TempDir dir;
  std::unique_ptr<Database> db;
};

TEST_F(BatchTest, InsertAssignsAscendingIdsAndWritesEverything) {
  BatchOptions o;
  o.chunk_size = 7;
  o.transaction_size = 20;
  BatchResult r = insert_n(100, o);
  EXPECT_EQ(r.processed, 100);
  EXPECT_EQ(r.inserted, 100);
  EXPECT_EQ(r.failed, 0);
  EXPECT_EQ(r.values_written, 300);
  EXPECT_EQ(r.last_id - r.first_id, 99);
  auto q = db->query("SELECT id, sku FROM item ORDER BY id");
  ASSERT_EQ(q.rows.size(), 100u);
  for (size_t i = 0; i < q.rows.size(); ++i) {
    EXPECT_EQ(std::get<int64_t>(q.rows[i][0]), r.first_id + static_cast<int64_t>(i));
    EXPECT_EQ(std::get<std::string>(q.rows[i][1]), "SKU-" + std::to_string(i));
  }
  EXPECT_EQ(std::get<Decimal>(db->query("SELECT SUM(price) FROM item").rows[0][0]).str(), "999.00");
}

TEST_F(BatchTest, ChunkWithOneBadRecordCommitsTheOther999) {
  insert_n(1);  // SKU-0 is stored
  std::vector<BatchRecord> recs;
  for (int i = 1; i <= 1000; ++i) recs.push_back(rec({{"sku", "SKU-" + std::to_string(i == 500 ? 0 : i)}}));
  Records src(recs);
  BatchResult r = BatchProcessor(*db, "item").insert(src);
  EXPECT_EQ(r.inserted, 999);
  ASSERT_EQ(r.failed, 1);
  EXPECT_EQ(r.errors[0].index, 499);
  EXPECT_NE(r.errors[0].reason.find("SKU-0"), std::string::npos);
  EXPECT_EQ(count(), 1000);
}

TEST_F(BatchTest, DuplicateInsideOneChunkRejectsTheSecond) {
  Records src({rec({{"sku", std::string("A")}}), rec({{"sku", std::string("B")}}), rec({{"sku", std::string("A")}})});
  BatchResult r = BatchProcessor(*db, "item").insert(src);
  EXPECT_EQ(r.inserted, 2);
  ASSERT_EQ(r.failed, 1);
  EXPECT_EQ(r.errors[0].index, 2);
  EXPECT_EQ(count("sku = 'A'"), 1);
}

TEST_F(BatchTest, ValidationRejectionsNameFieldAndReason) {
  BatchRecord malformed;
  malformed.error = "line 4: bad JSON";
  Records src({rec({{"sku", std::string("ok")}, {"qty", std::string("12")}}),
               rec({{"sku", std::string("x")}, {"qty", std::string("twelve")}}),
               rec({{"sku", std::string(300, 'y')}}),
               rec({{"sku", std::string("z")}, {"colour", std::string("red")}}),
               rec({{"qty", int64_t{1}}}),  // required sku missing
               malformed});
  BatchResult r = BatchProcessor(*db, "item").insert(src);
  EXPECT_EQ(r.inserted, 1);
  ASSERT_EQ(r.failed, 5);
  EXPECT_EQ(r.errors[0].field, "qty");
  EXPECT_EQ(r.errors[1].field, "sku");
  EXPECT_NE(r.errors[1].reason.find("255"), std::string::npos);
  EXPECT_EQ(r.errors[2].field, "colour");
  EXPECT_EQ(r.errors[3].field, "sku");
  EXPECT_NE(r.errors[3].reason.find("required"), std::string::npos);
  EXPECT_EQ(r.errors[4].reason, "line 4: bad JSON");
  EXPECT_EQ(count(), 1);
  EXPECT_EQ(std::get<int64_t>(db->query("SELECT qty FROM item").rows[0][0]), 12);
}

TEST_F(BatchTest, UpsertInsertsNewKeysAndUpdatesExistingOnesPartially) {
  Records first({rec({{"sku", std::string("A")}, {"qty", int64_t{1}}, {"note", std::string("keep")}}),
                 rec({{"sku", std::string("B")}, {"qty", int64_t{2}}})});
  BatchProcessor(*db, "item").insert(first);
  BatchOptions o;
  o.key = "sku";
  Records second({rec({{"sku", std::string("A")}, {"qty", int64_t{10}}}), rec({{"sku", std::string("C")}, {"qty", int64_t{3}}})});
  BatchResult r = BatchProcessor(*db, "item", o).upsert(second);
  EXPECT_EQ(r.updated, 1);
  EXPECT_EQ(r.inserted, 1);
  auto q = db->query("SELECT sku, qty, note, version FROM item ORDER BY sku");
  ASSERT_EQ(q.rows.size(), 3u);
  EXPECT_EQ(std::get<int64_t>(q.rows[0][1]), 10);
  EXPECT_EQ(std::get<std::string>(q.rows[0][2]), "keep");  // partial: untouched attribute stays
  EXPECT_EQ(std::get<int64_t>(q.rows[0][3]), 2);
  EXPECT_EQ(std::get<int64_t>(q.rows[2][1]), 3);
  // Running the same upsert again changes values, never the number of entities.
  Records again({rec({{"sku", std::string("A")}, {"qty", int64_t{10}}}), rec({{"sku", std::string("C")}, {"qty", int64_t{3}}})});
  BatchResult r2 = BatchProcessor(*db, "item", o).upsert(again);
  EXPECT_EQ(r2.updated, 2);
  EXPECT_EQ(count(), 3);
}

TEST_F(BatchTest, UpsertRejectsDuplicateKeysWithinTheBatch) {
  BatchOptions o;
  o.key = "sku";
  Records src({rec({{"sku", std::string("A")}, {"qty", int64_t{1}}}), rec({{"sku", std::string("A")}, {"qty", int64_t{2}}})});
  BatchResult r = BatchProcessor(*db, "item", o).upsert(src);
  EXPECT_EQ(r.inserted, 1);
  ASSERT_EQ(r.failed, 1);
  EXPECT_EQ(r.errors[0].index, 1);
  EXPECT_EQ(count(), 1);
}

TEST_F(BatchTest, KeyMustBeUnique) {
  BatchOptions o;
  o.key = "qty";
  EXPECT_THROW(BatchProcessor(*db, "item", o), Error);
  o.key = "nope";
  EXPECT_THROW(BatchProcessor(*db, "item", o), Error);
  EXPECT_THROW(BatchProcessor(*db, "itme"), Error);
}

TEST_F(BatchTest, UpdateByIdAndByKeyRejectsUnknownOnes) {
  BatchResult ins = insert_n(10);
  Records by_id({rec({{"qty", int64_t{500}}}, ins.first_id), rec({{"qty", int64_t{1}}}, 999999), rec({{"qty", int64_t{2}}}),
                 rec({{"note", Value{}}, {"qty", int64_t{501}}}, ins.first_id + 1)});
  BatchResult r = BatchProcessor(*db, "item").update(by_id);
  EXPECT_EQ(r.updated, 2);
  ASSERT_EQ(r.failed, 2);
  EXPECT_EQ(r.errors[0].index, 1);  // unknown id
  EXPECT_NE(r.errors[0].reason.find("999999"), std::string::npos);
  EXPECT_EQ(r.errors[1].field, "id");  // no id at all
  EXPECT_EQ(count("qty >= 500"), 2);
  BatchOptions o;
  o.key = "sku";
  Records by_key({rec({{"sku", std::string("SKU-3")}, {"qty", int64_t{700}}}), rec({{"sku", std::string("SKU-404")}, {"qty", int64_t{1}}})});
  BatchResult rk = BatchProcessor(*db, "item", o).update(by_key);
  EXPECT_EQ(rk.updated, 1);
  EXPECT_EQ(rk.failed, 1);
  EXPECT_EQ(count("qty = 700"), 1);
  EXPECT_EQ(count(), 10);
}

TEST_F(BatchTest, DeleteByIdsAndByWhere) {
  BatchResult ins = insert_n(50);
  Ids ids({ins.first_id, ins.first_id + 1, 424242});
  BatchResult r = BatchProcessor(*db, "item").remove(ids);
  EXPECT_EQ(r.deleted, 2);
  ASSERT_EQ(r.failed, 1);
  EXPECT_EQ(r.errors[0].index, 2);
  EXPECT_EQ(count(), 48);
  BatchResult w = BatchProcessor(*db, "item").remove_where("qty >= ?", {int64_t{40}});
  EXPECT_EQ(w.deleted, 10);
  EXPECT_EQ(count(), 38);
  EXPECT_EQ(count("qty >= 40"), 0);
  EXPECT_THROW(BatchProcessor(*db, "item").remove_where("qty >>> 1"), Error);
}

// Updates by id are applied in id order within a window of transactions (fewer pages per
// transaction); writes of one id must still apply in input order, within a window and across
// windows, and rejections keep their input index.
TEST_F(BatchTest, UpdatesByIdInIdOrderKeepInputOrderPerId) {
  BatchResult ins = insert_n(60);
  BatchOptions o;
  o.chunk_size = 3;
  o.transaction_size = 6;  // windows of 48 records: the 64 below span two
  std::vector<BatchRecord> recs;
  recs.push_back(rec({{"qty", int64_t{1}}}, ins.first_id + 5));  // overwritten by the last record
  recs.push_back(rec({{"qty", int64_t{3}}}, ins.first_id + 7));
  recs.push_back(rec({{"qty", int64_t{4}}}, ins.first_id + 7));  // same window: this one wins
  for (int64_t i = 59; i >= 0; --i) {
    if (i == 5 || i == 7) continue;
    recs.push_back(rec({{"qty", int64_t{1000} + i}}, ins.first_id + i));
  }
  recs.push_back(rec({{"qty", int64_t{9}}}, 999999));  // unknown id
  recs.push_back(rec({{"qty", int64_t{2}}}, ins.first_id + 5));
  Records src(recs);
  BatchResult r = BatchProcessor(*db, "item", o).update(src);
  EXPECT_EQ(r.processed, static_cast<int64_t>(recs.size()));
  EXPECT_EQ(r.updated, static_cast<int64_t>(recs.size()) - 1);
  ASSERT_EQ(r.failed, 1);
  EXPECT_EQ(r.errors[0].index, static_cast<int64_t>(recs.size()) - 2);
  auto qty = [&](int64_t id) {
    auto e = db->load("item", {id});
    for (auto& [attr, v] : e.front()->values)
      if (attr == db->require_type("item").find("qty")->id) return std::get<int64_t>(v);
    return int64_t{-1};
  };
  EXPECT_EQ(qty(ins.first_id + 5), 2);
  EXPECT_EQ(qty(ins.first_id + 7), 4);
  EXPECT_EQ(qty(ins.first_id + 59), 1059);
  EXPECT_EQ(count("qty >= 1000"), 58);
}

// Deletes are applied in id order too: a repeated id is rejected at its later input position.
TEST_F(BatchTest, DeletesInIdOrderRejectRepeatsAtTheirInputIndex) {
  BatchResult ins = insert_n(20);
  BatchOptions o;
  o.chunk_size = 2;
  o.transaction_size = 4;
  Ids ids({ins.first_id + 19, ins.first_id + 3, 424242, ins.first_id + 19, ins.first_id});
  BatchResult r = BatchProcessor(*db, "item", o).remove(ids);
  EXPECT_EQ(r.deleted, 3);
  ASSERT_EQ(r.failed, 2);
  EXPECT_EQ(r.errors[0].index, 2);
  EXPECT_EQ(r.errors[1].index, 3);
  EXPECT_EQ(count(), 17);
  EXPECT_TRUE(db->integrity_check().empty());
}

TEST_F(BatchTest, LoadReturnsRequestOrderAndReportsMissing) {
  BatchResult ins = insert_n(30);
  BatchOptions o;
  o.chunk_size = 4;  // several chunks
  std::vector<int64_t> ids = {ins.first_id + 20, 77777, ins.first_id, ins.first_id + 20, ins.first_id + 9};
  LoadResult r = BatchProcessor(*db, "item", o).load(ids);
  ASSERT_EQ(r.entities.size(), 5u);
  EXPECT_EQ(r.entities[0]->id, ids[0]);
  EXPECT_FALSE(r.entities[1].has_value());
  EXPECT_EQ(r.entities[2]->id, ids[2]);
  EXPECT_EQ(r.entities[3]->id, ids[0]);
  EXPECT_EQ(r.entities[4]->id, ids[4]);
  EXPECT_EQ(r.missing, std::vector<int64_t>{77777});
}

TEST_F(BatchTest, AbortKeepsOnlyWholeCommittedTransactions) {
  std::vector<BatchRecord> recs;
  for (int i = 0; i < 50; ++i) recs.push_back(rec({{"sku", "S" + std::to_string(i)}, {"qty", i == 25 ? Value{std::string("bad")} : Value{int64_t{i}}}}));
  Records src(recs);
  BatchOptions o;
  o.on_error = OnError::kAbort;
  o.chunk_size = 5;
  o.transaction_size = 10;
  BatchResult r = BatchProcessor(*db, "item", o).insert(src);
  EXPECT_TRUE(r.aborted);
  EXPECT_EQ(r.failed, 1);
  EXPECT_EQ(r.inserted, 20);
  EXPECT_EQ(count(), 20);
  // A constraint failure at commit time rolls back its whole transaction.
  std::vector<BatchRecord> dup;
  for (int i = 0; i < 30; ++i) dup.push_back(rec({{"sku", "T" + std::to_string(i == 15 ? 0 : i)}}));
  Records src2(dup);
  BatchResult r2 = BatchProcessor(*db, "item", o).insert(src2);
  EXPECT_TRUE(r2.aborted);
  EXPECT_EQ(r2.inserted, 10);
  EXPECT_EQ(count("sku LIKE 'T%'"), 10);
}

TEST_F(BatchTest, ProgressIsMonotonicAndEndsExact) {
  std::vector<BatchProgress> seen;
  BatchOptions o;
  o.chunk_size = 100;
  o.transaction_size = 250;
  o.on_progress = [&](const BatchProgress& p) { seen.push_back(p); };
  insert_n(1000, o);
  ASSERT_GE(seen.size(), 4u);
  for (size_t i = 1; i < seen.size(); ++i) EXPECT_GE(seen[i].done, seen[i - 1].done);
  EXPECT_EQ(seen.back().done, 1000);
  EXPECT_EQ(seen.back().total, 1000);
  EXPECT_EQ(seen.back().eta_seconds, 0);
  EXPECT_GT(seen.back().records_per_second, 0);
}

TEST_F(BatchTest, FileSourcesConvertAndReportLines) {
  std::string path = dir.write("in.ndjson",
                               "{\"sku\":\"F1\",\"qty\":5,\"price\":1.50}\n{\"sku\":\"F2\",\"qty\":\"x\"}\n{broken\n");
  const EntityTypeDef def = db->require_type("item");
  auto src = open_record_source(path, "", &def);
  BatchResult r = BatchProcessor(*db, "item").insert(*src);
  EXPECT_EQ(r.inserted, 1);
  ASSERT_EQ(r.failed, 2);
  EXPECT_EQ(r.errors[0].field, "qty");
  EXPECT_EQ(r.errors[0].line, 2);
  EXPECT_EQ(r.errors[1].line, 3);
  EXPECT_EQ(std::get<Decimal>(db->query("SELECT price FROM item").rows[0][0]).str(), "1.50");
  std::string ids = dir.write("ids.txt", "1\n\n 2 \nthree\n");
  auto id_src = open_id_source(ids);
  EXPECT_EQ(id_src->next(), 1);
  EXPECT_EQ(id_src->next(), 2);
  EXPECT_THROW(id_src->next(), Error);
}

// The import source resolves each distinct field name once (also spellings that normalise to
// an attribute code, and unknown names, which stay rejected every time), and value text is bound
// to the multi-row statements without a copy: every stored string and decimal must read back
// exactly, across full 256-row statements and their remainders.
TEST_F(BatchTest, FileSourceNamesAndTextValuesSurviveManyChunks) {
  std::string text;
  const int n = 700;
  for (int i = 0; i < n; ++i) {
    text += fmt::format("{{\"{}\":\"S{:04}\",\"Qty\":{},\"price\":{}.{:02},\"note\":\"{}\"{}}}\n",
                        i % 2 ? "SKU" : "sku", i, i, i, i % 100, std::string(static_cast<size_t>(i % 40 + 1), 'n'),
                        i % 100 == 7 ? ",\"colour\":1" : "");
  }
  const std::string path = dir.write("many.ndjson", text);
  const EntityTypeDef def = db->require_type("item");
  auto src = open_record_source(path, "", &def);
  BatchOptions o;
  o.chunk_size = 300;
  o.transaction_size = 600;
  BatchResult r = BatchProcessor(*db, "item", o).insert(*src);
  EXPECT_EQ(r.inserted, n - 7);
  ASSERT_EQ(r.failed, 7);
  for (const BatchError& e : r.errors) {
    EXPECT_EQ(e.field, "colour");
    EXPECT_NE(e.reason.find("has no attribute 'colour'"), std::string::npos) << e.reason;
  }
  auto rows = db->query("SELECT sku, qty, price, note FROM item ORDER BY qty").rows;
  ASSERT_EQ(rows.size(), static_cast<size_t>(n - 7));
  size_t k = 0;
  for (int i = 0; i < n; ++i) {
    if (i % 100 == 7) continue;
    const auto& row = rows[k++];
    EXPECT_EQ(std::get<std::string>(row[0]), fmt::format("S{:04}", i));
    EXPECT_EQ(std::get<int64_t>(row[1]), i);
    EXPECT_EQ(std::get<Decimal>(row[2]).str(), fmt::format("{}.{:02}", i, i % 100));
    EXPECT_EQ(std::get<std::string>(row[3]), std::string(static_cast<size_t>(i % 40 + 1), 'n'));
  }
}

long peak_rss_kib() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  return 0;
}

TEST_F(BatchTest, MemoryIsBoundedByChunksNotInput) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "RSS bounds are measured in non-sanitizer builds";
#endif
  // With a 2 MiB page cache, the first load fills the cache and the allocator; a load three
  // times larger afterwards must not raise the peak much: memory follows the chunk, not the input.
  Options small_cache;
  small_cache.page_cache_kib = 2048;
  db = Database::open(dir.file("b.db"), small_cache);
  insert_n(100000);
  const long before = peak_rss_kib();
  BatchResult r = insert_n(300000, {}, 100000);
  const long growth = peak_rss_kib() - before;
  EXPECT_EQ(r.inserted, 300000);
  EXPECT_LT(growth, 8 * 1024) << "peak RSS grew by " << growth << " KiB";
}

}  // namespace
}  // namespace eavdb

namespace eavdb {
namespace {

// The first column of the first row of `sql` on the file at `path`, opened with raw SQLite
// (not through eavdb); -1 when the statement fails or returns no row.
int64_t raw_scalar(const std::string& path, const std::string& sql) {
  sqlite3* raw = nullptr;
  sqlite3_open(path.c_str(), &raw);
  sqlite3_stmt* st = nullptr;
  int64_t n = -1;
  if (sqlite3_prepare_v2(raw, sql.c_str(), -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
    n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(raw);
  return n;
}

int64_t index_count(const std::string& path) {
  return raw_scalar(path, "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name LIKE 'eav_%'");
}

TEST_F(BatchTest, LargeLoadIntoSmallStoreRebuildsIndexesAfterwards) {
  EntityTypeDef t;
  t.code = "plain";  // no unique attribute: the load may defer its indexes
  t.attributes = {testing::attr("n", ValueType::kInt), testing::attr("s", ValueType::kVarchar)};
  db->define_type(t);
  const int64_t before = index_count(dir.file("b.db"));
  std::vector<BatchRecord> recs;
  for (int i = 0; i < 12000; ++i) recs.push_back(rec({{"n", int64_t{i}}, {"s", "v" + std::to_string(i % 10)}}));
  Records src(recs);
  BatchResult r = BatchProcessor(*db, "plain").insert(src);
  EXPECT_EQ(r.inserted, 12000);
  EXPECT_EQ(index_count(dir.file("b.db")), before);
  EXPECT_TRUE(db->integrity_check().empty());
  EXPECT_EQ(std::get<int64_t>(db->query("SELECT COUNT(*) FROM plain WHERE s = 'v3'").rows[0][0]), 1200);
}

TEST_F(BatchTest, IndexesDroppedByACrashedLoadAreRebuiltOnOpen) {
  const int64_t before = index_count(dir.file("b.db"));
  ASSERT_TRUE(db->backend().begin_bulk_load(1000000));  // as a load that then dies
  EXPECT_LT(index_count(dir.file("b.db")), before);
  db.reset();
  db = Database::open(dir.file("b.db"));
  EXPECT_EQ(index_count(dir.file("b.db")), before);
  EXPECT_TRUE(db->integrity_check().empty());
}

// Rows in `table` of the database file alone (opened without its WAL: a copy of the main file).
int64_t rows_in_main_file(const std::string& path, const std::string& copy, const std::string& table) {
  {
    std::ifstream in(path, std::ios::binary);
    std::ofstream out(copy, std::ios::binary | std::ios::trunc);
    out << in.rdbuf();
  }
  return raw_scalar(copy, "SELECT count(*) FROM " + table);
}

// A bulk load checkpoints the WAL on a second connection and thread while it commits and while
// it rebuilds the indexes. Many small transactions (each commit past 1,000 WAL frames asks for
// a checkpoint) with a reader querying between them: every row arrives once, the file is
// intact, the indexes are back, and once the load has ended the database file alone (without
// its WAL) holds every row: nothing was left to a checkpoint that never ran or lost frames.
TEST_F(BatchTest, BulkLoadCheckpointsConcurrentlyAndLeavesEveryRowInTheFile) {
  EntityTypeDef t;
  t.code = "plain";  // no unique attribute: the load may defer its indexes
  t.attributes = {testing::attr("n", ValueType::kInt), testing::attr("s", ValueType::kVarchar),
                  testing::attr("d", ValueType::kDecimal)};
  db->define_type(t);
  const int64_t indexes = index_count(dir.file("b.db"));
  constexpr int64_t kRecords = 40000;
  struct Source final : RecordSource {
    Database& db;
    int64_t i = 0, seen = 0;
    explicit Source(Database& db) : db(db) {}
    bool next(BatchRecord& out) override {
      if (i >= kRecords) return false;
      if (i % 5000 == 0) {  // a reader between transactions: a snapshot never shows part of one
        seen = std::get<int64_t>(db.query("SELECT COUNT(*) FROM plain").rows[0][0]);
        EXPECT_EQ(seen % 500, 0) << "a reader saw " << seen << " entities";
      }
      out = BatchRecord{};
      out.values = {{"n", int64_t{i}}, {"s", fmt::format("text value {:08}", i * 7919 % kRecords)},
                    {"d", fmt::format("{}.{:02}", i, i % 100)}};
      ++i;
      return true;
    }
    int64_t size_hint() const override { return kRecords; }
  } src(*db);
  BatchOptions o;
  o.chunk_size = 500;
  o.transaction_size = 500;
  auto* sqlite = dynamic_cast<storage::sqlite::SqliteBackend*>(&db->backend());
  ASSERT_NE(sqlite, nullptr);
  const int64_t checkpoints = sqlite->background_checkpoints();
  BatchResult r = BatchProcessor(*db, "plain", o).insert(src);
  ASSERT_EQ(r.inserted, kRecords);
  EXPECT_GT(sqlite->background_checkpoints(), checkpoints) << "the load ran no background checkpoint";
  EXPECT_EQ(index_count(dir.file("b.db")), indexes);
  EXPECT_TRUE(db->integrity_check().empty());
  EXPECT_EQ(std::get<int64_t>(db->query("SELECT COUNT(*) FROM plain WHERE n >= 0").rows[0][0]), kRecords);
  EXPECT_EQ(std::get<int64_t>(db->query("SELECT COUNT(*) FROM plain WHERE s = 'text value 00000000'").rows[0][0]), 1);
  EXPECT_EQ(rows_in_main_file(dir.file("b.db"), dir.file("copy.db"), "eav_value_decimal"), kRecords);
  EXPECT_EQ(rows_in_main_file(dir.file("b.db"), dir.file("copy.db"), "eav_entity"), kRecords);
}

// A second opener while a load runs (its poller, `eavdb query` in another shell) must neither
// rebuild the indexes under the load (before, every open did: a full CREATE INDEX inside the
// reader's open, racing the loader's appends) nor lose them for good: the load's end does it.
TEST_F(BatchTest, IndexesOfALiveLoadAreLeftToItsEnd) {
  const int64_t before = index_count(dir.file("b.db"));
  ASSERT_TRUE(db->backend().begin_bulk_load(1000000));
  const int64_t during = index_count(dir.file("b.db"));
  ASSERT_LT(during, before);
  {
    auto reader = Database::open(dir.file("b.db"));
    EXPECT_EQ(index_count(dir.file("b.db")), during);
    EXPECT_FALSE(reader->backend().begin_bulk_load(1000000)) << "one load at a time drops the indexes";
  }
  db->backend().end_bulk_load();
  EXPECT_EQ(index_count(dir.file("b.db")), before);
  EXPECT_TRUE(db->integrity_check().empty());
}

}  // namespace
}  // namespace eavdb
