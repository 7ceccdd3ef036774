// Session (identity map, dirty tracking, optimistic concurrency) and SQLite storage tests.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <thread>

#include "eavdb/database.h"
#include "eavdb/session.h"
#include "test_util.h"

namespace eavdb {
namespace {

using testing::TempDir;

EntityTypeDef product_type() {
  EntityTypeDef t;
  t.code = "product";
  t.attributes = {testing::attr("name", ValueType::kVarchar, true),
                  testing::attr("price", ValueType::kDecimal),
                  testing::attr("stock", ValueType::kInt),
                  testing::attr("released", ValueType::kDatetime),
                  testing::attr("notes", ValueType::kText)};
  return t;
}

class SessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db = Database::open(dir.file("s.db"));
    db->define_type(product_type());
  }
  int64_t create_product(const std::string& name, const std::string& price) {
    Session s = db->session();
    Entity& e = s.create("product");
    e.set("name", name);
    e.set("price", price);
    e.set("stock", int64_t{5});
    s.flush();
    return e.id();
  }
  // Counts value rows in every typed table with a raw SQLite connection.
  int64_t value_rows() {
    sqlite3* raw = nullptr;
    EXPECT_EQ(sqlite3_open(dir.file("s.db").c_str(), &raw), SQLITE_OK);
    int64_t n = 0;
    for (const char* t : {"varchar", "int", "decimal", "datetime", "text"}) {
      sqlite3_stmt* st = nullptr;
      std::string sql = std::string("SELECT count(*) FROM eav_value_") + t;
      sqlite3_prepare_v2(raw, sql.c_str(), -1, &st, nullptr);
      sqlite3_step(st);
      n += sqlite3_column_int64(st, 0);
      sqlite3_finalize(st);
    }
    sqlite3_close(raw);
    return n;
  }
  TempDir dir;
  std::unique_ptr<Database> db;
};

TEST_F(SessionTest, IdentityMapReturnsSameObject) {
  int64_t id = create_product("lamp", "19.99");
  Session s = db->session();
  Entity* a = s.find("product", id);
  Entity* b = s.find("product", id);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a, b);
  a->set("stock", int64_t{7});
  EXPECT_EQ(std::get<int64_t>(b->get("stock")), 7);  // same object: the change is visible
  Session other = db->session();
  EXPECT_NE(other.find("product", id), a);
  EXPECT_EQ(s.find("product", id + 1000), nullptr);
}

TEST_F(SessionTest, CreateAssignsAscendingIdsAndVersionOne) {
  Session s = db->session();
  Entity& a = s.create("product");
  a.set("name", std::string("a"));
  Entity& b = s.create("product");
  b.set("name", std::string("b"));
  EXPECT_EQ(a.id(), 0);
  FlushResult r = s.flush();
  EXPECT_EQ(r.inserted, 2);
  EXPECT_LT(a.id(), b.id());
  EXPECT_EQ(a.version(), 1);
  EXPECT_EQ(s.find("product", a.id()), &a);  // new entities join the identity map
}

TEST_F(SessionTest, DirtyTrackingWritesOnlyChangedAttributes) {
  int64_t id = create_product("lamp", "19.99");
  EXPECT_EQ(value_rows(), 3);
  Session s = db->session();
  Entity* e = s.find("product", id);
  EXPECT_FALSE(e->dirty());
  EXPECT_EQ(s.flush().value_rows_written, 0);  // unchanged entity: nothing written
  e->set("price", std::string("19.99"));       // same value: not a change
  EXPECT_FALSE(e->dirty());
  e->set("stock", int64_t{6});
  EXPECT_TRUE(e->dirty());
  FlushResult r = s.flush();
  EXPECT_EQ(r.updated, 1);
  EXPECT_EQ(r.value_rows_written, 1);  // one attribute row, not the whole entity
  EXPECT_EQ(e->version(), 2);
  e->set("notes", Value{});  // removing a value the entity does not have: no change
  EXPECT_FALSE(e->dirty());
  e->set("price", Value{});
  EXPECT_EQ(s.flush().value_rows_written, 1);
  EXPECT_EQ(value_rows(), 2);
  auto rec = db->load("product", {id});
  ASSERT_TRUE(rec[0]);
  EXPECT_EQ(rec[0]->version, 3);
  EXPECT_EQ(rec[0]->values.size(), 2u);
}

TEST_F(SessionTest, OptimisticConflictWritesNothing) {
  int64_t id = create_product("lamp", "19.99");
  Session s1 = db->session();
  Session s2 = db->session();
  Entity* e1 = s1.find("product", id);
  Entity* e2 = s2.find("product", id);
  e1->set("stock", int64_t{1});
  s1.flush();
  e2->set("stock", int64_t{2});
  e2->set("name", std::string("other"));
  try {
    s2.flush();
    FAIL() << "expected a conflict";
  } catch (const Error& err) {
    EXPECT_EQ(err.code(), ErrorCode::kConflict);
    EXPECT_NE(std::string(err.what()).find("version"), std::string::npos);
  }
  EXPECT_TRUE(e2->dirty());  // pending changes are kept
  auto rec = db->load("product", {id});
  Session check = db->session();
  Entity* e = check.find("product", id);
  EXPECT_EQ(std::get<int64_t>(e->get("stock")), 1);
  EXPECT_EQ(std::get<std::string>(e->get("name")), "lamp");
  EXPECT_EQ(e->version(), 2);
}

TEST_F(SessionTest, ConflictOnDeleteOfChangedEntity) {
  int64_t id = create_product("lamp", "1");
  Session s1 = db->session();
  Session s2 = db->session();
  Entity* e2 = s2.find("product", id);
  s1.find("product", id)->set("stock", int64_t{9});
  s1.flush();
  s2.remove(*e2);
  EXPECT_THROW(s2.flush(), Error);
  EXPECT_TRUE(db->load("product", {id})[0].has_value());
}

TEST_F(SessionTest, RemoveDeletesEntityAndValues) {
  int64_t id = create_product("lamp", "1");
  Session s = db->session();
  Entity* e = s.find("product", id);
  s.remove(*e);
  EXPECT_EQ(s.find("product", id), nullptr);
  EXPECT_EQ(s.flush().removed, 1);
  EXPECT_FALSE(e->dirty());
  EXPECT_EQ(s.flush().removed, 0);
  EXPECT_FALSE(db->load("product", {id})[0].has_value());
  EXPECT_EQ(value_rows(), 0);
}

TEST_F(SessionTest, ExactDecimalsAndDatetimesRoundTrip) {
  Session s = db->session();
  Entity& e = s.create("product");
  e.set("name", std::string("x"));
  e.set("price", std::string("19.90"));
  e.set("released", std::string("1998-06-12T10:30:00.000123+02:00"));
  s.flush();
  Session s2 = db->session();
  Entity* r = s2.find("product", e.id());
  EXPECT_EQ(std::get<Decimal>(r->get("price")).str(), "19.90");
  EXPECT_EQ(std::get<DateTime>(r->get("released")).to_iso(), "1998-06-12T08:30:00.000123Z");
  QueryResult q = db->query("SELECT price FROM product WHERE price = 19.9");
  ASSERT_EQ(q.rows.size(), 1u);
  EXPECT_EQ(std::get<Decimal>(q.rows[0][0]).str(), "19.90");
}

TEST_F(SessionTest, RejectsBadValuesWithClearErrors) {
  Session s = db->session();
  Entity& e = s.create("product");
  try {
    e.set("name", std::string(256, 'x'));
    FAIL();
  } catch (const Error& err) {
    EXPECT_EQ(err.code(), ErrorCode::kTypeMismatch);
    EXPECT_NE(std::string(err.what()).find("name"), std::string::npos);
    EXPECT_NE(std::string(err.what()).find("255"), std::string::npos);
  }
  EXPECT_THROW(e.set("stock", std::string("12abc")), Error);
  EXPECT_THROW(e.set("released", std::string("yesterday")), Error);
  try {
    e.set("prise", std::string("1"));
    FAIL();
  } catch (const Error& err) {
    EXPECT_EQ(err.code(), ErrorCode::kNotFound);
    EXPECT_NE(std::string(err.what()).find("price"), std::string::npos);  // suggestion
  }
  // required attribute missing: flush refuses and writes nothing
  EXPECT_THROW(s.flush(), Error);
  EXPECT_EQ(value_rows(), 0);
}

TEST_F(SessionTest, SchemaRules) {
  EntityTypeDef t = product_type();
  t.attributes[1].type = ValueType::kInt;  // price declared decimal before
  EXPECT_THROW(db->define_type(t), Error);
  EntityTypeDef bad;
  bad.code = "thing";
  bad.attributes = {testing::attr("version", ValueType::kInt)};
  EXPECT_THROW(db->define_type(bad), Error);
  bad.code = "Bad Code";
  EXPECT_THROW(db->define_type(bad), Error);
  // Adding an attribute keeps the others.
  EntityTypeDef more;
  more.code = "product";
  more.attributes = {testing::attr("color", ValueType::kVarchar)};
  EntityTypeDef stored = db->define_type(more);
  EXPECT_EQ(stored.attributes.size(), 6u);
  try {
    db->require_type("prodcut");
    FAIL();
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("did you mean 'product'"), std::string::npos);
  }
}

TEST(StorageTest, NewerSchemaVersionIsAClearError) {
  TempDir dir;
  { auto db = Database::open(dir.file("v.db")); }
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(dir.file("v.db").c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, "UPDATE eav_meta SET value = '999' WHERE key = 'schema_version'", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(raw);
  try {
    Database::open(dir.file("v.db"));
    FAIL();
  } catch (const Error& err) {
    EXPECT_EQ(err.code(), ErrorCode::kVersion);
    EXPECT_NE(std::string(err.what()).find("999"), std::string::npos);
  }
}

// Several openers of one new file at once (an importer and a poller started together): each
// must wait for whichever creates the schema, not run the migrations a second time (that failed
// with "table eav_meta already exists" and lost the importer's run). Repeated, because the race
// needs the openers to read the version before the first one commits.
TEST(StorageTest, ConcurrentFirstOpensOfANewFileAllSucceed) {
  TempDir dir;
  constexpr int kRounds = 20, kOpeners = 6;
  for (int round = 0; round < kRounds; ++round) {
    const std::string file = dir.file("race" + std::to_string(round) + ".db");
    std::atomic<int> ready{0}, failures{0};
    std::vector<std::thread> openers;
    for (int i = 0; i < kOpeners; ++i)
      openers.emplace_back([&] {
        ready++;
        while (ready.load() < kOpeners) std::this_thread::yield();
        try {
          auto db = Database::open(file);
        } catch (const Error& e) {
          ADD_FAILURE() << "round " << round << ": " << e.what();
          failures++;
        }
      });
    for (auto& t : openers) t.join();
    ASSERT_EQ(failures.load(), 0);
    EXPECT_NO_THROW(Database::open(file, {}));
  }
}

TEST(StorageTest, ForeignFilesAreRefused) {
  TempDir dir;
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(dir.file("other.db").c_str(), &raw), SQLITE_OK);
  sqlite3_exec(raw, "CREATE TABLE t(x)", nullptr, nullptr, nullptr);
  sqlite3_close(raw);
  EXPECT_THROW(Database::open(dir.file("other.db")), Error);
  std::string junk = dir.write("junk.db", std::string(4096, 'j'));
  EXPECT_THROW(Database::open(junk), Error);
  EXPECT_THROW(Database::open("postgres://localhost/x"), Error);
}

TEST(StorageTest, TenantsAreIsolated) {
  TempDir dir;
  Options a, b;
  a.tenant = "acme";
  b.tenant = "globex";
  auto da = Database::open(dir.file("t.db"), a);
  auto dbb = Database::open(dir.file("t.db"), b);
  da->define_type(product_type());
  EXPECT_FALSE(dbb->find_type("product").has_value());
  dbb->define_type(product_type());
  Session s = da->session();
  Entity& e = s.create("product");
  e.set("name", std::string("secret"));
  s.flush();
  EXPECT_FALSE(dbb->load("product", {e.id()})[0].has_value());
  EXPECT_EQ(dbb->query("SELECT COUNT(*) FROM product").rows[0][0], Value{int64_t{0}});
  EXPECT_EQ(da->query("SELECT COUNT(*) FROM product").rows[0][0], Value{int64_t{1}});
}

TEST(StorageTest, LoadManyKeepsRequestOrder) {
  TempDir dir;
  auto db = Database::open(dir.file("l.db"));
  db->define_type(product_type());
  Session s = db->session();
  std::vector<Entity*> created;
  for (int i = 0; i < 50; ++i) {
    Entity& e = s.create("product");
    e.set("name", "p" + std::to_string(i));
    created.push_back(&e);
  }
  s.flush();
  std::vector<int64_t> ids = {created[7]->id(), 999999, created[3]->id(), created[7]->id()};
  auto recs = db->load("product", ids);
  ASSERT_EQ(recs.size(), 4u);
  EXPECT_EQ(recs[0]->id, ids[0]);
  EXPECT_FALSE(recs[1].has_value());
  EXPECT_EQ(recs[2]->id, ids[2]);
  EXPECT_EQ(recs[3]->id, ids[0]);
}

}  // namespace
}  // namespace eavdb

namespace eavdb {
namespace {

// Readers on pooled connections run while a writer commits: no errors, and every reader sees
// a count that never goes backwards (each query is one snapshot of committed data).
TEST(StorageTest, ConcurrentReadersSeeMonotonicCommittedState) {
  testing::TempDir dir;
  Options opts;
  opts.reader_connections = 3;
  auto db = Database::open(dir.file("c.db"), opts);
  db->define_type(product_type());
  std::atomic<bool> done{false};
  std::atomic<int> errors{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      int64_t last = 0;
      while (!done.load()) {
        try {
          auto r = db->query("SELECT COUNT(*) FROM product WHERE stock >= 0");
          int64_t n = std::get<int64_t>(r.rows[0][0]);
          if (n < last) ++errors;
          last = n;
        } catch (const std::exception&) {
          ++errors;
        }
      }
    });
  }
  constexpr int kCommits = 200;
  for (int i = 0; i < kCommits; ++i) {
    Session s = db->session();
    Entity& e = s.create("product");
    e.set("name", "p" + std::to_string(i));
    e.set("stock", int64_t{i});
    s.flush();
  }
  done = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(std::get<int64_t>(db->query("SELECT COUNT(*) FROM product").rows[0][0]), kCommits);
}

}  // namespace
}  // namespace eavdb

namespace eavdb {
namespace {

TEST(SessionFindMany, LoadsManyKeepsIdentityAndOrder) {
  testing::TempDir dir;
  auto db = Database::open(dir.file("m.db"));
  db->define_type(product_type());
  std::vector<int64_t> ids;
  {
    Session s = db->session();
    std::vector<Entity*> created;
    for (int i = 0; i < 20; ++i) {
      Entity& e = s.create("product");
      e.set("name", "p" + std::to_string(i));
      created.push_back(&e);
    }
    s.flush();
    for (auto* e : created) ids.push_back(e->id());
  }
  Session s = db->session();
  Entity* first = s.find("product", ids[3]);
  auto many = s.find_many("product", {ids[5], 999999, ids[3], ids[5]});
  ASSERT_EQ(many.size(), 4u);
  EXPECT_EQ(std::get<std::string>(many[0]->get("name")), "p5");
  EXPECT_EQ(many[1], nullptr);
  EXPECT_EQ(many[2], first);  // identity map: the already-tracked object
  EXPECT_EQ(many[3], many[0]);
}

}  // namespace
}  // namespace eavdb
