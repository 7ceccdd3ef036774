// Database-level cache behaviour: cached finds and queries, read-your-writes, attribute-level tag
// invalidation, negative entries, cross-process coherence on one SQLite file (a second Database
// and a real second process), session L1, and a randomised concurrent reader/writer check.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <random>
#include <thread>

#include "eavdb/database.h"
#include "eavdb/session.h"
#include "storage/backend.h"
#include "test_util.h"

namespace eavdb {
namespace {

using testing::TempDir;

EntityTypeDef item_type() {
  EntityTypeDef t;
  t.code = "item";
  t.attributes = {testing::attr("name", ValueType::kVarchar), testing::attr("price", ValueType::kDecimal),
                  testing::attr("stock", ValueType::kInt), testing::attr("notes", ValueType::kText)};
  return t;
}

int64_t attr_id(const Database& db, const std::string& code) {
  return db.require_type("item").find(code)->id;
}

ChangeSet update(const Database& db, int64_t id, const std::string& attr, Value v) {
  ChangeSet cs;
  EntityWrite w;
  const EntityTypeDef type = db.require_type("item");
  w.kind = EntityWrite::Kind::kUpdate;
  w.type_id = type.id;
  w.id = id;
  const AttributeDef* a = type.find(attr);
  w.values.push_back({a->id, a->type, coerce(v, a->type)});
  cs.writes.push_back(std::move(w));
  return cs;
}

class CacheCoherenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db = Database::open(dir.file("c.db"));
    db->define_type(item_type());
    Session s = db->session();
    for (int i = 0; i < 20; ++i) {
      Entity& e = s.create("item");
      e.set("name", "item" + std::to_string(i));
      e.set("price", std::to_string(i) + ".50");
      e.set("stock", int64_t{i});
    }
    s.flush();
  }
  const Value& get(Database& d, int64_t id, const std::string& attr) {
    static thread_local std::vector<std::optional<EntityRecord>> keep;
    keep = d.load("item", {id});
    static const Value null;
    if (!keep[0]) return null;
    const int64_t a = attr_id(d, attr);
    for (const auto& [aid, v] : keep[0]->values)
      if (aid == a) return v;
    return null;
  }
  TempDir dir;
  std::unique_ptr<Database> db;
};

TEST_F(CacheCoherenceTest, RepeatedFindIsServedFromL2) {
  auto first = db->load("item", {3});
  const auto before = db->cache_stats().l2;
  auto second = db->load("item", {3});
  const auto after = db->cache_stats().l2;
  ASSERT_TRUE(first[0] && second[0]);
  EXPECT_EQ(first[0]->values, second[0]->values);
  EXPECT_EQ(after.hits, before.hits + 1);
  EXPECT_EQ(after.misses, before.misses);
  EXPECT_EQ(after.loads, before.loads);
}

TEST_F(CacheCoherenceTest, ReadYourWrites) {
  EXPECT_EQ(std::get<int64_t>(get(*db, 4, "stock")), 3);  // item i has id i + 1 and stock i
  for (int64_t v = 100; v < 110; ++v) {
    db->commit(update(*db, 4, "stock", v));
    EXPECT_EQ(std::get<int64_t>(get(*db, 4, "stock")), v);
  }
  // Batch loads too.
  auto recs = db->load("item", {1, 4, 5});
  ASSERT_TRUE(recs[1]);
  EXPECT_EQ(recs[1]->version, 11);
}

TEST_F(CacheCoherenceTest, NegativeEntryIsInvalidatedByCreate) {
  auto none = db->load("item", {21});
  EXPECT_FALSE(none[0]);
  EXPECT_FALSE(db->load("item", {21})[0]);  // the negative entry answers
  Session s = db->session();
  Entity& e = s.create("item");
  e.set("name", "new");
  s.flush();
  ASSERT_EQ(e.id(), 21);
  auto found = db->load("item", {21});
  ASSERT_TRUE(found[0]);
  EXPECT_EQ(found[0]->version, 1);
}

TEST_F(CacheCoherenceTest, DeletedIsNotServedAndIdsAreNotReused) {
  db->load("item", {20});
  Session s = db->session();
  s.remove(*s.find("item", 20));
  s.flush();
  EXPECT_FALSE(db->load("item", {20})[0]);
  Session s2 = db->session();
  Entity& e = s2.create("item");
  e.set("name", "after delete");
  s2.flush();
  EXPECT_EQ(e.id(), 21);  // the deleted newest id is not handed out again
}

TEST_F(CacheCoherenceTest, QueryCacheIsInvalidatedOnlyByWhatTheQueryReads) {
  const std::string q = "SELECT name FROM item WHERE stock >= 10 ORDER BY stock";
  auto r1 = db->query(q);
  auto hits = [&] { return db->cache_stats().l4.hits; };
  const uint64_t h0 = hits();
  auto r2 = db->query(q);
  EXPECT_EQ(hits(), h0 + 1);
  EXPECT_EQ(r1.rows, r2.rows);
  // Another layout of the same query shares the entry.
  db->query("select   NAME from ITEM where stock>=10 order by stock");
  EXPECT_EQ(hits(), h0 + 2);
  // An update of an attribute the query does not read keeps the entry.
  db->commit(update(*db, 12, "notes", std::string("irrelevant")));
  db->query(q);
  EXPECT_EQ(hits(), h0 + 3);
  // An update of one it reads drops it, and the new answer is right.
  db->commit(update(*db, 12, "name", std::string("renamed")));
  auto r3 = db->query(q);
  EXPECT_EQ(hits(), h0 + 3);
  ASSERT_EQ(r3.rows.size(), 10u);
  EXPECT_EQ(std::get<std::string>(r3.rows[1][0]), "renamed");  // id 12 has stock 11
  // An insert drops every query of the type.
  db->query(q);
  Session s = db->session();
  Entity& e = s.create("item");
  e.set("stock", int64_t{99});
  e.set("name", "z");
  s.flush();
  auto r4 = db->query(q);
  EXPECT_EQ(r4.rows.size(), 11u);
  // Parameters are part of the key.
  auto p5 = db->query("SELECT count(*) FROM item WHERE stock >= ?", {Value{int64_t{5}}});
  auto p15 = db->query("SELECT count(*) FROM item WHERE stock >= ?", {Value{int64_t{15}}});
  EXPECT_NE(p5.rows, p15.rows);
}

TEST_F(CacheCoherenceTest, RowVersionColumnsFollowUpdates) {
  const std::string q = "SELECT version FROM item WHERE id = 2";
  EXPECT_EQ(std::get<int64_t>(db->query(q).rows[0][0]), 1);
  db->commit(update(*db, 2, "notes", std::string("x")));  // not an attribute the query names
  EXPECT_EQ(std::get<int64_t>(db->query(q).rows[0][0]), 2);
}

TEST_F(CacheCoherenceTest, SecondDatabaseOnTheSameFileSeesCommitsAtOnce) {
  auto other = Database::open(dir.file("c.db"));  // another process, as far as caches go
  EXPECT_EQ(std::get<int64_t>(get(*db, 7, "stock")), 6);
  EXPECT_EQ(std::get<int64_t>(get(*other, 7, "stock")), 6);
  const std::string q = "SELECT sum(stock) FROM item";
  auto before = db->query(q);
  other->query(q);
  for (int64_t v = 1000; v < 1005; ++v) {
    other->commit(update(*other, 7, "stock", v));
    EXPECT_EQ(std::get<int64_t>(get(*db, 7, "stock")), v);
    db->commit(update(*db, 8, "stock", v));
    EXPECT_EQ(std::get<int64_t>(get(*other, 8, "stock")), v);
  }
  auto after = db->query(q);
  EXPECT_NE(before.rows, after.rows);
  EXPECT_EQ(after.rows, other->query(q).rows);
  EXPECT_GT(db->cache_stats().foreign_commits, 0u);
  // Untouched entities stay cached across the foreign commits.
  get(*db, 3, "stock");
  const auto h = db->cache_stats().l2.hits;
  other->commit(update(*other, 9, "stock", int64_t{1}));
  get(*db, 3, "stock");
  EXPECT_EQ(db->cache_stats().l2.hits, h + 1);
}

TEST_F(CacheCoherenceTest, AnotherProcessCommitIsSeen) {
  if (std::string(EAVDB_BINARY).empty()) GTEST_SKIP();
  EXPECT_EQ(std::get<std::string>(get(*db, 5, "name")), "item4");  // id i + 1 is item i
  const std::string cmd = std::string(EAVDB_BINARY) + " --db " + dir.file("c.db") +
                          " put item 5 name=changed-elsewhere > /dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  EXPECT_EQ(std::get<std::string>(get(*db, 5, "name")), "changed-elsewhere");
  auto r = db->query("SELECT name FROM item WHERE id = 5");
  EXPECT_EQ(std::get<std::string>(r.rows[0][0]), "changed-elsewhere");
}

// Regression: the cheap change check once opened and closed the -shm file itself. POSIX locks
// belong to the process, so that close() dropped every lock SQLite held on the -shm; the next
// process to open the file then re-initialised it (truncated it) under this process, whose next
// read died of SIGBUS (seen as a bulk import killed by "Bus error" while another process polled).
TEST_F(CacheCoherenceTest, ChangeCheckKeepsSqliteShmLocks) {
  for (int i = 0; i < 3; ++i) db->backend().data_version();
  get(*db, 2, "stock");
  const std::string shm = dir.file("c.db") + "-shm";
  // Another process asks whether it could take the DMS lock (byte 128 of the -shm, SQLite's
  // os_unix.c UNIX_SHM_DMS) exclusively: it must not, since our connections hold it shared.
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const int fd = ::open(shm.c_str(), O_RDWR);
    if (fd < 0) _exit(2);
    struct flock lk {};
    lk.l_type = F_WRLCK;
    lk.l_whence = SEEK_SET;
    lk.l_start = 128;
    lk.l_len = 1;
    if (fcntl(fd, F_GETLK, &lk) != 0) _exit(3);
    _exit(lk.l_type == F_UNLCK ? 1 : 0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "this process no longer holds SQLite's shared lock on the -shm";
  // And a foreign reader opening the file does not break our later reads and commits.
  if (!std::string(EAVDB_BINARY).empty()) {
    const std::string cmd = std::string(EAVDB_BINARY) + " --db " + dir.file("c.db") +
                            " query 'SELECT COUNT(*) FROM item' > /dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }
  db->commit(update(*db, 2, "stock", int64_t{77}));
  for (int i = 0; i < 3; ++i) db->backend().data_version();
  EXPECT_EQ(std::get<int64_t>(get(*db, 2, "stock")), 77);
}

TEST_F(CacheCoherenceTest, LargeForeignCommitDropsTheType) {
  auto other = Database::open(dir.file("c.db"));
  get(*db, 1, "stock");
  ChangeSet cs;
  const EntityTypeDef item = other->require_type("item");
  const int64_t type = item.id;
  const AttributeDef* stock = item.find("stock");
  for (int64_t id = 1; id <= 20; ++id) {
    EntityWrite w;
    w.kind = EntityWrite::Kind::kUpdate;
    w.type_id = type;
    w.id = id;
    w.values.push_back({stock->id, ValueType::kInt, int64_t{-1}});
    cs.writes.push_back(std::move(w));
  }
  for (int i = 0; i < 1000; ++i) {  // > 256 writes: logged per type, not per entity
    EntityWrite w;
    w.kind = EntityWrite::Kind::kInsert;
    w.type_id = type;
    cs.writes.push_back(std::move(w));
  }
  other->commit(std::move(cs));
  EXPECT_EQ(std::get<int64_t>(get(*db, 1, "stock")), -1);
  EXPECT_EQ(std::get<int64_t>(db->query("SELECT count(*) FROM item").rows[0][0]), 1020);
}

TEST_F(CacheCoherenceTest, SessionQueryCacheIsL1) {
  Session s = db->session();
  auto a = s.query("SELECT name FROM item WHERE stock = 3");
  auto b = s.query("SELECT name FROM item WHERE stock = 3");
  EXPECT_EQ(a.rows, b.rows);
  EXPECT_EQ(s.cache_stats().hits, 1u);
  db->commit(update(*db, 4, "name", std::string("x")));  // id 4 has stock 3
  auto c = s.query("SELECT name FROM item WHERE stock = 3");
  EXPECT_EQ(std::get<std::string>(c.rows[0][0]), "x");
  EXPECT_EQ(s.cache_stats().hits, 1u);
  // Identity-map finds count as L1 too.
  s.find("item", 1);
  s.find("item", 1);
  EXPECT_EQ(s.cache_stats().hits, 2u);
}

TEST_F(CacheCoherenceTest, DisabledCacheReadsTheDatabase) {
  Options o;
  o.cache.enabled = false;
  auto plain = Database::open(dir.file("c.db"), o);
  plain->load("item", {1});
  plain->load("item", {1});
  EXPECT_EQ(plain->cache_stats().l2.hits, 0u);
  db->commit(update(*db, 1, "stock", int64_t{77}));
  EXPECT_EQ(std::get<int64_t>(get(*plain, 1, "stock")), 77);
}

TEST_F(CacheCoherenceTest, ClearAndWarm) {
  EXPECT_EQ(db->cache_warm("item"), 20);
  const auto h = db->cache_stats().l2.hits;
  db->load("item", {1, 2, 3});
  EXPECT_EQ(db->cache_stats().l2.hits, h + 3);
  db->cache_clear();
  EXPECT_EQ(db->cache_stats().l2.entries, 0u);
  EXPECT_EQ(db->cache_warm("item", "SELECT id FROM item WHERE stock < 5"), 5);
  EXPECT_THROW(db->cache_warm("item", "SELECT name FROM item"), Error);
}

uint64_t cache_hits(Database& db) {
  const auto s = db.cache_stats();
  return s.l2.hits + s.l4.hits;
}

// Readers and writers in several threads: no read may return a version older than one whose
// commit returned before the read began. Runs under ThreadSanitizer in CI.
TEST_F(CacheCoherenceTest, ConcurrentReadersNeverSeeOlderThanCommitted) {
  constexpr int kEntities = 20, kWriters = 2, kReaders = 3, kWritesEach = 150;
  std::array<std::atomic<int64_t>, kEntities + 1> committed{};
  for (auto& c : committed) c = 1;
  std::atomic<bool> done{false};
  std::atomic<int> violations{0}, reads{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w)
    threads.emplace_back([&, w] {
      std::mt19937 rng(static_cast<unsigned>(w));
      for (int i = 0; i < kWritesEach; ++i) {
        const int64_t id = 1 + static_cast<int64_t>(rng() % kEntities);
        CommitResult r = db->commit(update(*db, id, "stock", int64_t{i}));
        int64_t seen = committed[id].load();
        while (seen < r.versions[0] && !committed[id].compare_exchange_weak(seen, r.versions[0])) {}
      }
    });
  for (int rd = 0; rd < kReaders; ++rd)
    threads.emplace_back([&, rd] {
      std::mt19937 rng(100u + static_cast<unsigned>(rd));
      // Readers go on after the writers stop until some read was served from a cache, so the
      // check below proves the caches were exercised whatever the thread timing (under load
      // every read may land between two commits). The bound keeps a broken cache from hanging.
      for (int after = 0; !done || (cache_hits(*db) == 0 && after < 5000); after += done ? 1 : 0) {
        const int64_t id = 1 + static_cast<int64_t>(rng() % kEntities);
        const int64_t floor = committed[id].load();  // committed before this read began
        int64_t got = 0;
        if (rng() % 2) {
          auto rec = db->load("item", {id});
          got = rec[0] ? rec[0]->version : 0;
        } else {
          auto r = db->query("SELECT version FROM item WHERE id = ?", {Value{id}});
          got = r.rows.empty() ? 0 : std::get<int64_t>(r.rows[0][0]);
        }
        if (got < floor) violations++;
        reads++;
      }
    });
  for (int w = 0; w < kWriters; ++w) threads[static_cast<size_t>(w)].join();
  done = true;
  for (size_t t = kWriters; t < threads.size(); ++t) threads[t].join();
  EXPECT_EQ(violations.load(), 0);
  EXPECT_GT(reads.load(), 0);
  EXPECT_GT(cache_hits(*db), 0u);
}

}  // namespace
}  // namespace eavdb
