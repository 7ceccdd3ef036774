// Database-level tests with a real Redis (started by the test on 127.0.0.1): two "processes"
// (Database instances with their own caches) sharing Redis receive each other's invalidations
// over pub/sub; Redis killed and restarted mid-run fails no request and never serves stale data;
// and a randomised reader/writer check across two real processes (this binary re-executed as the
// writer) sharing Redis and the SQLite file.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "eavdb/database.h"
#include "eavdb/session.h"
#include "redis_server.h"
#include "test_util.h"

namespace eavdb {
namespace {

using testing::TempDir;

EntityTypeDef counter_type() {
  EntityTypeDef t;
  t.code = "counter";
  t.attributes = {testing::attr("n", ValueType::kInt), testing::attr("label", ValueType::kVarchar)};
  return t;
}

ChangeSet set_n(const EntityTypeDef& t, int64_t id, int64_t n) {
  ChangeSet cs;
  EntityWrite w;
  w.kind = EntityWrite::Kind::kUpdate;
  w.type_id = t.id;
  w.id = id;
  w.values.push_back({t.find("n")->id, ValueType::kInt, n});
  cs.writes.push_back(std::move(w));
  return cs;
}

int64_t n_of(Database& db, int64_t id) {
  auto rec = db.load("counter", {id});
  if (!rec[0]) return -1;
  const int64_t attr = db.require_type("counter").find("n")->id;
  for (const auto& [a, v] : rec[0]->values)
    if (a == attr) return std::get<int64_t>(v);
  return -1;
}

class CacheRedisDb : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::RedisServer::available()) GTEST_SKIP() << "redis-server not installed";
    redis = std::make_unique<testing::RedisServer>();
    Options o;
    o.cache.l3_url = redis->url();
    a = Database::open(dir.file("r.db"), o);
    type = a->define_type(counter_type());
    Session s = a->session();
    for (int i = 0; i < 10; ++i) s.create("counter").set("n", int64_t{0});
    s.flush();
    b = Database::open(dir.file("r.db"), o);
    for (int i = 0; i < 1000 && !(a->cache_stats().bus_connected && b->cache_stats().bus_connected); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  TempDir dir;
  std::unique_ptr<testing::RedisServer> redis;
  std::unique_ptr<Database> a, b;
  EntityTypeDef type;
};

TEST_F(CacheRedisDb, SecondProcessHitsL3AndSeesCommits) {
  EXPECT_EQ(n_of(*a, 3), 0);  // a fills L2 and L3
  EXPECT_EQ(n_of(*b, 3), 0);  // b: L2 miss, L3 hit
  EXPECT_GE(b->cache_stats().l3.hits, 1u);
  for (int64_t v = 1; v <= 20; ++v) {
    a->commit(set_n(type, 3, v));
    EXPECT_EQ(n_of(*b, 3), v);  // never the older value, from any level
    EXPECT_EQ(n_of(*a, 3), v);
  }
}

TEST_F(CacheRedisDb, InvalidationsArriveOverTheBus) {
  ASSERT_TRUE(b->cache_stats().bus_connected);
  n_of(*b, 4);
  const uint64_t before = b->cache_stats().bus_messages;
  a->commit(set_n(type, 4, 42));
  for (int i = 0; i < 5000 && b->cache_stats().bus_messages == before; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  const CacheStats st = b->cache_stats();
  EXPECT_GT(st.bus_messages, before);
  EXPECT_GT(st.bus_delay_max_us, 0.0);
  EXPECT_EQ(n_of(*b, 4), 42);
}

// A committer whose announce to Redis fails (here: Redis frozen for its call) leaves L3 holding
// the old record under the old version pointer; once Redis answers again, another process must
// not be served that record. The commit's invalidation-log rows say "unannounced", and the reader
// moves the pointer forward itself before it reads L3. (Before that, b was served n = 0 until a
// happened to retry its pending announce: the stale reads of the kill/restart test below.)
TEST_F(CacheRedisDb, UnannouncedCommitIsCaughtUpByTheReader) {
  EXPECT_EQ(n_of(*a, 6), 0);  // fills L3 at version 1
  EXPECT_EQ(n_of(*b, 6), 0);
  ASSERT_GE(b->cache_stats().l3.hits, 1u);
  redis->pause();
  a->commit(set_n(type, 6, 7));  // the announce times out: the commit still succeeds
  redis->resume();
  EXPECT_EQ(n_of(*b, 6), 7);
  EXPECT_EQ(n_of(*b, 6), 7);
  // A large unannounced change (per-type log row) is caught up too: b bumps the generation.
  EXPECT_EQ(n_of(*b, 7), 0);
  redis->pause();
  ChangeSet big = set_n(type, 7, 9);
  for (int i = 0; i < 300; ++i) {  // > 256 writes: logged per type
    EntityWrite w;
    w.kind = EntityWrite::Kind::kInsert;
    w.type_id = type.id;
    big.writes.push_back(std::move(w));
  }
  a->commit(std::move(big));
  redis->resume();
  EXPECT_EQ(n_of(*b, 7), 9);
  EXPECT_EQ(std::get<int64_t>(b->query("SELECT n FROM counter WHERE id = 7").rows[0][0]), 9);
}

TEST_F(CacheRedisDb, RedisKilledAndRestartedFailsNoRequest) {
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0}, stale{0}, ops{0};
  std::atomic<int64_t> committed{0};
  std::thread writer([&] {
    for (int64_t v = 1; !stop; ++v) {
      try {
        a->commit(set_n(type, 5, v));
        committed = v;
      } catch (const std::exception&) {
        failures++;
      }
      ops++;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  std::thread reader([&] {
    while (!stop) {
      try {
        const int64_t floor = committed.load();
        if (n_of(*b, 5) < floor) stale++;
        b->query("SELECT n FROM counter WHERE id = 5");
      } catch (const std::exception&) {
        failures++;
      }
      ops++;
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  redis->stop();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_TRUE(redis->start());
  // The breaker closes again and the bus reconnects.
  for (int i = 0; i < 500 && !(b->cache_stats().bus_connected && b->cache_stats().l3_breaker == "closed"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  stop = true;
  writer.join();
  reader.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(stale.load(), 0);
  EXPECT_GT(ops.load(), 100);
  const CacheStats st = b->cache_stats();
  EXPECT_TRUE(st.bus_connected);
  EXPECT_EQ(st.l3_breaker, "closed");
  EXPECT_GT(st.full_flushes, 0u);  // the lost subscription flushed L2/L4
  EXPECT_EQ(n_of(*b, 5), committed.load());
}

// ---- two real processes ------------------------------------------------------------------------
// The writer process records, for every commit, the CLOCK_MONOTONIC time its commit() returned in
// a file both processes map: slot [id][version]. CLOCK_MONOTONIC is one clock for every process
// of the machine, so the reader can tell which versions were committed before a read began.

constexpr int kXpEntities = 10;
constexpr int kXpWrites = 300;
constexpr int kXpVersions = kXpWrites + 2;  // versions start at 1 (the create)
constexpr const char* kXpChildEnv = "EAVDB_TEST_XP_WRITER";  // "<db>\n<redis url>\n<shared file>"

struct XpShared {
  std::atomic<int64_t> committed_ns[kXpEntities + 1][kXpVersions];  // 0: not committed (yet)
  std::atomic<int> writes_done;
  std::atomic<int> writer_failed;
};

int64_t monotonic_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

XpShared* map_shared(const std::string& path, bool create) {
  if (create) {
    std::ofstream(path, std::ios::binary).put('\0');
    std::filesystem::resize_file(path, sizeof(XpShared));
  }
  const int fd = ::open(path.c_str(), O_RDWR);
  if (fd < 0) return nullptr;
  void* p = ::mmap(nullptr, sizeof(XpShared), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  return p == MAP_FAILED ? nullptr : static_cast<XpShared*>(p);  // zero-filled: all atomics 0
}

// The writer process: not a test of its own; it does nothing unless the parent test below started
// this binary with kXpChildEnv set.
TEST(CacheRedisDbTwoProcessRole, Writer) {
  const char* spec = std::getenv(kXpChildEnv);
  if (!spec) GTEST_SKIP() << "runs only as the child of CacheRedisDb.TwoProcessesNeverSeeOlderThanCommitted";
  std::string db_path, url, shared_path;
  {
    std::istringstream in(spec);
    std::getline(in, db_path);
    std::getline(in, url);
    std::getline(in, shared_path);
  }
  XpShared* shared = map_shared(shared_path, false);
  ASSERT_NE(shared, nullptr);
  try {
    Options o;
    o.cache.l3_url = url;
    auto db = Database::open(db_path, o);
    const EntityTypeDef t = db->require_type("counter");
    for (int i = 0; i < 1000 && !db->cache_stats().bus_connected; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::mt19937 rng(4242);
    for (int i = 1; i <= kXpWrites; ++i) {
      const int64_t id = 1 + static_cast<int64_t>(rng() % kXpEntities);
      n_of(*db, id);  // the writer's caches and L3 hold the entity too
      const CommitResult r = db->commit(set_n(t, id, i));
      const int64_t v = r.versions.at(0);
      if (v <= 0 || v >= kXpVersions) throw std::runtime_error("unexpected version " + std::to_string(v));
      shared->committed_ns[id][v].store(monotonic_ns(), std::memory_order_release);
      shared->writes_done.fetch_add(1, std::memory_order_release);
      if (i % 8 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  } catch (const std::exception& e) {
    shared->writer_failed.store(1);
    FAIL() << e.what();
  }
}

// The acceptance check across processes: a second process (this test binary re-executed as the
// writer above) commits random updates through its own Database; readers here (both Database
// instances of the fixture, from several threads) load entities and query versions while it runs.
// No read may return a version older than one whose commit returned before the read began minus
// the propagation delay this process measured on its bus (its maximum), which is the only
// staleness the design allows.
TEST_F(CacheRedisDb, TwoProcessesNeverSeeOlderThanCommitted) {
  const std::string shared_path = dir.file("xp.shared");
  XpShared* shared = map_shared(shared_path, true);
  ASSERT_NE(shared, nullptr);
  for (int64_t id = 1; id <= kXpEntities; ++id) shared->committed_ns[id][1].store(1);  // created
  for (int64_t id = 1; id <= kXpEntities; ++id) n_of(*a, id);  // caches warm
  const std::string spec = dir.file("r.db") + "\n" + redis->url() + "\n" + shared_path;
  std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  std::string filter = "--gtest_filter=CacheRedisDbTwoProcessRole.Writer";
  std::vector<char*> argv{self.data(), filter.data(), nullptr};
  std::vector<std::string> env_strings{std::string(kXpChildEnv) + "=" + spec};
  for (char** e = environ; *e; ++e)
    if (!std::string_view(*e).starts_with(std::string(kXpChildEnv) + "=")) env_strings.emplace_back(*e);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t child = 0;
  ASSERT_EQ(::posix_spawn(&child, self.c_str(), nullptr, nullptr, argv.data(), envp.data()), 0);

  struct Read {
    int64_t id, started_ns, got;
  };
  std::atomic<bool> writer_done{false};
  std::vector<std::vector<Read>> reads(4);
  std::vector<std::thread> readers;
  for (size_t r = 0; r < reads.size(); ++r)
    readers.emplace_back([&, r] {
      Database& db = r % 2 ? *b : *a;
      std::mt19937 rng(static_cast<unsigned>(r));
      while (!writer_done.load()) {
        const int64_t id = 1 + static_cast<int64_t>(rng() % kXpEntities);
        const int64_t started = monotonic_ns();
        int64_t got = 0;
        if (rng() % 3) {
          auto rec = db.load("counter", {id});
          got = rec[0] ? rec[0]->version : 0;
        } else {
          auto res = db.query("SELECT version FROM counter WHERE id = ?", {Value{id}});
          got = res.rows.empty() ? 0 : std::get<int64_t>(res.rows[0][0]);
        }
        reads[r].push_back({id, started, got});
      }
    });
  int status = 0;
  ::waitpid(child, &status, 0);
  writer_done = true;
  for (auto& t : readers) t.join();
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "writer process failed, status " << status;
  ASSERT_EQ(shared->writer_failed.load(), 0);
  ASSERT_EQ(shared->writes_done.load(), kXpWrites);

  // The staleness allowed: the longest propagation delay either Database measured on the bus.
  const CacheStats sa = a->cache_stats(), sb = b->cache_stats();
  const auto allowed_ns = static_cast<int64_t>(std::max(sa.bus_delay_max_us, sb.bus_delay_max_us) * 1000);
  size_t total = 0, violations = 0;
  std::string first;
  for (const auto& per_thread : reads)
    for (const Read& rd : per_thread) {
      ++total;
      int64_t floor = 0;  // newest version committed before the read began (less the allowance)
      for (int64_t v = kXpVersions - 1; v >= 1 && floor == 0; --v) {
        const int64_t at = shared->committed_ns[rd.id][v].load();
        if (at != 0 && at + allowed_ns <= rd.started_ns) floor = v;
      }
      if (rd.got < floor && violations++ == 0)
        first = "id " + std::to_string(rd.id) + " read version " + std::to_string(rd.got) + ", committed " +
                std::to_string(floor);
    }
  std::printf("[ two procs] %zu reads, %zu writes by the other process, bus messages %llu + %llu, "
              "allowed staleness %.0f us, cache hits %llu\n",
              total, static_cast<size_t>(kXpWrites), static_cast<unsigned long long>(sa.bus_messages),
              static_cast<unsigned long long>(sb.bus_messages), static_cast<double>(allowed_ns) / 1000,
              static_cast<unsigned long long>(sa.l2.hits + sb.l2.hits + sa.l3.hits + sb.l3.hits + sa.l4.hits +
                                              sb.l4.hits));
  EXPECT_EQ(violations, 0u) << first;
  EXPECT_GT(total, 0u);
  // The other process's commits reached this one through Redis.
  EXPECT_GT(sa.bus_messages + sb.bus_messages, 0u);
  // Afterwards both Databases serve exactly the last committed version.
  for (int64_t id = 1; id <= kXpEntities; ++id) {
    int64_t last = 1;
    for (int64_t v = 1; v < kXpVersions; ++v)
      if (shared->committed_ns[id][v].load() != 0) last = v;
    EXPECT_EQ(a->load("counter", {id})[0]->version, last);
    EXPECT_EQ(b->load("counter", {id})[0]->version, last);
  }
  ::munmap(shared, sizeof(XpShared));
}

}  // namespace
}  // namespace eavdb
