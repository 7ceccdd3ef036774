// Cache micro- and end-to-end benchmarks (Google Benchmark), with their baselines in the same
// binary and the ratios printed at the end:
//   L1 hit (Session::find in the identity map), L2 hit with 1 and 2 threads against a
//   std::unordered_map under one mutex (both as a shared_ptr copy and as an in-place read), L2 miss + fill, cached vs uncached find and L4 hit vs
//   query execution on the synthetic catalog, Zipf-distributed finds on movies.json with caches
//   on and off, and (when EAVDB_BENCH_REDIS=redis://127.0.0.1:PORT is set) an L3 Redis hit beside
//   a raw hiredis GET.
//
// Environment: EAVDB_DATA_DIR (vega-datasets data dir, for movies.json), EAVDB_BENCH_CATALOG
// (catalog entities, default 50000), EAVDB_BENCH_REDIS (L3 URL). Run through bench/cache.sh.
// `--l2-probe ITERS ROUNDS` times the L2 hit alone by thread CPU clock (see l2_probe()).
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <hiredis/hiredis.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <unordered_map>

#include "batch/generator.h"
#include "cache/remote.h"
#include "cache/shared_cache.h"
#include "eavdb/database.h"
#include "eavdb/import.h"
#include "eavdb/session.h"

namespace {

using namespace eavdb;

std::string env(const char* name, const char* fallback = "") {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

// Zipf(α) ranks over [0, n): precomputed CDF + binary search.
class Zipf {
 public:
  Zipf(size_t n, double alpha) : cdf_(n) {
    double sum = 0;
    for (size_t i = 0; i < n; ++i) cdf_[i] = (sum += 1.0 / std::pow(static_cast<double>(i + 1), alpha));
    for (double& c : cdf_) c /= sum;
  }
  size_t operator()(std::mt19937_64& rng) const {
    const double u = std::uniform_real_distribution<double>(0, 1)(rng);
    return static_cast<size_t>(std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin());
  }

 private:
  std::vector<double> cdf_;
};

struct Fixture {
  std::filesystem::path dir;
  std::unique_ptr<Database> cached, plain;
  int64_t catalog_first = 0, catalog_count = 0;
  int64_t movies_first = 0, movies_count = 0;
  std::vector<int64_t> zipf_catalog, zipf_movies;  // precomputed id sequences
};
Fixture* fx = nullptr;

void setup() {
  fx = new Fixture;
  fx->dir = std::filesystem::temp_directory_path() / fmt::format("eavdb-cache-bench-{}", ::getpid());
  std::filesystem::create_directories(fx->dir);
  const std::string db_path = (fx->dir / "bench.db").string();
  Options on;
  on.cache.l3_url = env("EAVDB_BENCH_REDIS");
  Options off;
  off.cache.enabled = false;
  fx->cached = Database::open(db_path, on);
  fx->plain = Database::open(db_path, off);

  fx->catalog_count = std::stoll(env("EAVDB_BENCH_CATALOG", "50000"));
  const std::string catalog_file = (fx->dir / "catalog.ndjson").string();
  {
    std::ofstream out(catalog_file);
    batch::generate_catalog(out, fx->catalog_count, 42);
  }
  ImportOptions io;
  io.type = "product";
  ImportReport r = import_file(*fx->plain, catalog_file, io);
  fx->catalog_first = r.first_id;
  const std::string data = env("EAVDB_DATA_DIR");
  if (!data.empty() && std::filesystem::exists(data + "/movies.json")) {
    ImportOptions mo;
    mo.type = "movies";
    ImportReport m = import_file(*fx->plain, data + "/movies.json", mo);
    fx->movies_first = m.first_id;
    fx->movies_count = m.imported;
  }
  std::mt19937_64 rng(7);
  Zipf zc(static_cast<size_t>(fx->catalog_count), 0.99);
  for (int i = 0; i < 1 << 16; ++i) fx->zipf_catalog.push_back(fx->catalog_first + static_cast<int64_t>(zc(rng)));
  if (fx->movies_count > 0) {
    Zipf zm(static_cast<size_t>(fx->movies_count), 0.99);
    for (int i = 0; i < 1 << 16; ++i) fx->zipf_movies.push_back(fx->movies_first + static_cast<int64_t>(zm(rng)));
  }
}

void teardown() {
  fx->cached.reset();
  fx->plain.reset();
  std::error_code ec;
  std::filesystem::remove_all(fx->dir, ec);
  delete fx;
}

// ---- L1 -----------------------------------------------------------------------------------------
void BM_L1_SessionFind(benchmark::State& state) {
  Session s = fx->cached->session();
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < 1024; ++i) ids.push_back(fx->catalog_first + i);
  s.find_many("product", ids);
  size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(s.find("product", ids[i++ & 1023]));
}
BENCHMARK(BM_L1_SessionFind);

// ---- L2 structure vs a mutex-guarded map ---------------------------------------------------------
struct KeyHash {
  uint64_t operator()(int64_t k) const noexcept {
    uint64_t x = static_cast<uint64_t>(k) * 0x9E3779B97F4A7C15ull;
    return x ^ (x >> 29);
  }
};
using L2 = cache::SharedCache<int64_t, std::string, KeyHash>;
constexpr int64_t kL2Keys = 100000;
L2* l2 = nullptr;
L2* l2_inline = nullptr;  // the same cache without the maintenance thread (readers drain inline)
std::mutex baseline_mu;
std::unordered_map<int64_t, std::shared_ptr<const std::string>>* baseline = nullptr;

// Keys as Caffeine's benchmarks draw them: Zipf(0.99) ranks, scrambled over the key space.
std::vector<int64_t>* l2_keys = nullptr;

// A cache holding every key 0 .. kL2Keys, its read buffers drained by a maintenance thread or
// (maintenance_thread = false) inline by the readers.
L2* make_l2(bool maintenance_thread) {
  cache::SharedCacheOptions o;
  o.max_bytes = 1ull << 30;
  o.max_entries = 131072;  // room for every key: the hit benchmark measures hits
  o.maintenance_thread = maintenance_thread;
  auto* c = new L2(o);
  for (int64_t k = 0; k < kL2Keys; ++k) c->put(k, std::make_shared<const std::string>("value"), 64, {}, c->epoch(k));
  return c;
}

void fill_l2() {
  l2 = make_l2(true);
  l2_inline = make_l2(false);
  baseline = new std::unordered_map<int64_t, std::shared_ptr<const std::string>>;
  for (int64_t k = 0; k < kL2Keys; ++k) (*baseline)[k] = std::make_shared<const std::string>("value");
  l2_keys = new std::vector<int64_t>;
  std::mt19937_64 rng(11);
  Zipf z(static_cast<size_t>(kL2Keys), 0.99);
  for (int i = 0; i < 1 << 20; ++i)
    l2_keys->push_back(static_cast<int64_t>((z(rng) * 0x9E3779B97F4A7C15ull) % static_cast<uint64_t>(kL2Keys)));
}

void BM_L2_Hit(benchmark::State& state) {
  size_t i = static_cast<size_t>(state.thread_index()) * 7919;
  const auto& keys = *l2_keys;
  for (auto _ : state) benchmark::DoNotOptimize(l2->get(keys[i++ & (keys.size() - 1)]));
}
BENCHMARK(BM_L2_Hit)->Threads(1)->Threads(2)->UseRealTime();

// BM_L2_Hit with the policy work on the readers' threads (no maintenance thread), for comparison.
void BM_L2_HitInlineDrain(benchmark::State& state) {
  size_t i = static_cast<size_t>(state.thread_index()) * 7919;
  const auto& keys = *l2_keys;
  for (auto _ : state) benchmark::DoNotOptimize(l2_inline->get(keys[i++ & (keys.size() - 1)]));
}
BENCHMARK(BM_L2_HitInlineDrain)->Threads(1)->Threads(2)->UseRealTime();

void BM_Baseline_MutexMap(benchmark::State& state) {
  size_t i = static_cast<size_t>(state.thread_index()) * 7919;
  const auto& keys = *l2_keys;
  for (auto _ : state) {
    std::shared_ptr<const std::string> v;
    {
      std::lock_guard lock(baseline_mu);
      auto it = baseline->find(keys[i++ & (keys.size() - 1)]);
      if (it != baseline->end()) v = it->second;
    }
    benchmark::DoNotOptimize(v);
  }
}
BENCHMARK(BM_Baseline_MutexMap)->Threads(1)->Threads(2)->UseRealTime();

// The hit as the find path takes it: the value is read in place under the shard's read lock
// (L2::read_if_present), no shared_ptr copied. The baseline does the same under its mutex.
void BM_L2_HitRead(benchmark::State& state) {
  size_t i = static_cast<size_t>(state.thread_index()) * 7919;
  const auto& keys = *l2_keys;
  for (auto _ : state) {
    size_t n = 0;
    l2->read_if_present(keys[i++ & (keys.size() - 1)], [&](const std::string& v) { n = v.size(); });
    benchmark::DoNotOptimize(n);
  }
}
BENCHMARK(BM_L2_HitRead)->Threads(1)->Threads(2)->UseRealTime();

void BM_Baseline_MutexMapRead(benchmark::State& state) {
  size_t i = static_cast<size_t>(state.thread_index()) * 7919;
  const auto& keys = *l2_keys;
  for (auto _ : state) {
    size_t n = 0;
    {
      std::lock_guard lock(baseline_mu);
      auto it = baseline->find(keys[i++ & (keys.size() - 1)]);
      if (it != baseline->end()) n = it->second->size();
    }
    benchmark::DoNotOptimize(n);
  }
}
BENCHMARK(BM_Baseline_MutexMapRead)->Threads(1)->Threads(2)->UseRealTime();

void BM_L2_MissFill(benchmark::State& state) {
  cache::SharedCacheOptions o;
  o.max_bytes = 64ull << 20;
  o.max_entries = 1 << 16;
  L2 c(o);
  auto v = std::make_shared<const std::string>("value");
  int64_t k = 0;
  for (auto _ : state) {
    ++k;
    if (!c.get(k)) c.put(k, v, 64, {}, c.epoch(k));
  }
}
BENCHMARK(BM_L2_MissFill);

// ---- Database: find and query with caches on and off --------------------------------------------
void find_zipf(benchmark::State& state, Database& db, const char* type, const std::vector<int64_t>& ids) {
  if (ids.empty()) {
    state.SkipWithError("dataset not available (EAVDB_DATA_DIR)");
    return;
  }
  size_t i = 0;
  std::vector<int64_t> one(1);
  for (auto _ : state) {
    one[0] = ids[i++ & (ids.size() - 1)];
    benchmark::DoNotOptimize(db.load(type, one));
  }
}
void BM_Find_Cached(benchmark::State& s) { find_zipf(s, *fx->cached, "product", fx->zipf_catalog); }
void BM_Find_Uncached(benchmark::State& s) { find_zipf(s, *fx->plain, "product", fx->zipf_catalog); }
void BM_MoviesZipfFind_Cached(benchmark::State& s) { find_zipf(s, *fx->cached, "movies", fx->zipf_movies); }
void BM_MoviesZipfFind_Uncached(benchmark::State& s) { find_zipf(s, *fx->plain, "movies", fx->zipf_movies); }
BENCHMARK(BM_Find_Cached);
BENCHMARK(BM_Find_Uncached);
BENCHMARK(BM_MoviesZipfFind_Cached);
BENCHMARK(BM_MoviesZipfFind_Uncached);

const char* kQuery = "SELECT name, price FROM product WHERE category = ? AND rating >= 4 ORDER BY price DESC LIMIT 20";
const char* kCategories[] = {"Computers", "Home & Kitchen", "Books", "Toys & Games", "Sports & Outdoors"};

void run_query(benchmark::State& state, Database& db) {
  size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(db.query(kQuery, {Value{std::string(kCategories[i++ % 5])}}));
}
void BM_Query_L4Hit(benchmark::State& s) { run_query(s, *fx->cached); }
void BM_Query_Uncached(benchmark::State& s) { run_query(s, *fx->plain); }
BENCHMARK(BM_Query_L4Hit);
BENCHMARK(BM_Query_Uncached)->Unit(benchmark::kMicrosecond);

// ---- L3 Redis vs raw hiredis ----------------------------------------------------------------------
std::unique_ptr<cache::RemoteStore> l3;
redisContext* raw_redis = nullptr;

void BM_L3_RedisHit(benchmark::State& state) {
  if (!l3) return state.SkipWithError("EAVDB_BENCH_REDIS not set");
  std::vector<int64_t> ids{1};
  for (auto _ : state) {
    auto r = l3->get_entities("bench", ids);
    if (r[0].state != cache::RemoteEntity::State::kPresent) return state.SkipWithError("L3 miss");
  }
}
BENCHMARK(BM_L3_RedisHit)->Unit(benchmark::kMicrosecond);

void BM_Baseline_HiredisGet(benchmark::State& state) {
  if (!raw_redis) return state.SkipWithError("EAVDB_BENCH_REDIS not set");
  for (auto _ : state) {
    auto* reply = static_cast<redisReply*>(redisCommand(raw_redis, "GET %s", "eavdb:bench:raw"));
    if (!reply || reply->type != REDIS_REPLY_STRING) return state.SkipWithError("GET failed");
    freeReplyObject(reply);
  }
}
BENCHMARK(BM_Baseline_HiredisGet)->Unit(benchmark::kMicrosecond);

void setup_redis() {
  const std::string url = env("EAVDB_BENCH_REDIS");
  if (url.empty()) return;
  l3 = cache::RemoteStore::open(url);
  EntityRecord rec = fx->cached->load("product", {fx->catalog_first})[0].value();
  cache::RemoteEntity e;
  e.state = cache::RemoteEntity::State::kPresent;
  e.record = rec;
  e.record.id = 1;
  l3->put_entities("bench", {{1, e}}, std::chrono::hours(1), std::chrono::seconds(5));
  const auto hp = url.substr(std::string("redis://").size());
  const auto colon = hp.find(':');
  raw_redis = redisConnect(hp.substr(0, colon).c_str(), std::stoi(hp.substr(colon + 1)));
  auto* reply = static_cast<redisReply*>(redisCommand(raw_redis, "SET eavdb:bench:raw %b", "value-of-similar-size-to-a-record", 33));
  if (reply) freeReplyObject(reply);
}

// Collects each benchmark's real time per iteration for the ratio table.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  std::map<std::string, double> ns;
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& r : runs)
      if (!r.error_occurred) ns[r.benchmark_name()] = r.GetAdjustedRealTime() * unit_ns(r.time_unit);
    ConsoleReporter::ReportRuns(runs);
  }
  static double unit_ns(benchmark::TimeUnit u) {
    switch (u) {
      case benchmark::kNanosecond: return 1;
      case benchmark::kMicrosecond: return 1e3;
      case benchmark::kMillisecond: return 1e6;
      default: return 1e9;
    }
  }
};

void print_ratios(const RatioReporter& rep) {
  auto get = [&](const std::string& name) {  // a single run, or the median of repetitions
    for (const std::string& n : {name, name + "_median"})
      if (auto it = rep.ns.find(n); it != rep.ns.end()) return it->second;
    return 0.0;
  };
  auto line = [&](const char* what, const std::string& ours, const std::string& peer, const char* target) {
    const double a = get(ours), b = get(peer);
    if (a <= 0 || b <= 0) return fmt::print("{:<44} n/a\n", what);
    fmt::print("{:<44} {:>10.1f} ns vs {:>10.1f} ns  ratio {:>8.1f}x   (target {})\n", what, a, b, b / a, target);
  };
  fmt::print("\n== cache ratios (peer time / eavdb time; higher is better) ==\n");
  fmt::print("{:<44} {:>10.1f} ns   (target <= 30 ns)\n", "L1 hit (Session::find, identity map)", get("BM_L1_SessionFind"));
  fmt::print("{:<44} {:>10.1f} ns   (target <= 100 ns)\n", "L2 hit, 1 thread", get("BM_L2_Hit/real_time/threads:1"));
  line("L2 hit vs mutex+unordered_map, 1 thread", "BM_L2_Hit/real_time/threads:1", "BM_Baseline_MutexMap/real_time/threads:1", "~1x");
  line("L2 hit vs mutex+unordered_map, 2 threads", "BM_L2_Hit/real_time/threads:2", "BM_Baseline_MutexMap/real_time/threads:2", "> 1x");
  line("L2 hit vs readers draining inline, 1 thread", "BM_L2_Hit/real_time/threads:1", "BM_L2_HitInlineDrain/real_time/threads:1", "> 1x");
  line("L2 hit vs readers draining inline, 2 threads", "BM_L2_Hit/real_time/threads:2", "BM_L2_HitInlineDrain/real_time/threads:2", ">= 1x");
  fmt::print("{:<44} {:>10.1f} ns   (target <= 100 ns)\n", "L2 hit read in place, 1 thread", get("BM_L2_HitRead/real_time/threads:1"));
  line("L2 read in place vs mutex+map, 1 thread", "BM_L2_HitRead/real_time/threads:1", "BM_Baseline_MutexMapRead/real_time/threads:1", "~1x");
  line("L2 read in place vs mutex+map, 2 threads", "BM_L2_HitRead/real_time/threads:2", "BM_Baseline_MutexMapRead/real_time/threads:2", "> 1x");
  line("cached find vs uncached find (catalog)", "BM_Find_Cached", "BM_Find_Uncached", ">= 50x");
  line("cached find vs uncached (movies, Zipf)", "BM_MoviesZipfFind_Cached", "BM_MoviesZipfFind_Uncached", ">= 50x");
  line("L4 hit vs executing the query", "BM_Query_L4Hit", "BM_Query_Uncached", ">= 100x");
  line("L3 Redis hit vs raw hiredis GET", "BM_L3_RedisHit", "BM_Baseline_HiredisGet", "close to 1x");
}

// Invalidation across two processes through Redis: the parent commits `n` updates, a forked child
// that shares the SQLite file and Redis receives them over pub/sub; the child reports the
// propagation delay (publisher's commit → its invalidation) as p50 / p99 / max.
int propagation(const std::string& redis_url, int n) {
  const auto dir = std::filesystem::temp_directory_path() / fmt::format("eavdb-prop-{}", ::getpid());
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "p.db").string();
  Options o;
  o.cache.l3_url = redis_url;
  {
    auto db = Database::open(path, o);
    EntityTypeDef t;
    t.code = "counter";
    AttributeDef a;
    a.code = "n";
    a.label = "n";
    a.type = ValueType::kInt;
    t.attributes.push_back(a);
    db->define_type(t);
    Session s = db->session();
    s.create("counter").set("n", int64_t{0});
    s.flush();
  }
  int ready[2], done[2];
  if (pipe(ready) != 0 || pipe(done) != 0) return 1;
  const pid_t child = fork();
  if (child == 0) {
    auto db = Database::open(path, o);
    db->load("counter", {1});
    for (int i = 0; i < 200 && !db->cache_stats().bus_connected; ++i) usleep(10000);
    char c = 'r';
    if (write(ready[1], &c, 1) != 1) _exit(1);
    if (read(done[0], &c, 1) != 1) _exit(1);
    usleep(200000);  // the last messages arrive
    const CacheStats st = db->cache_stats();
    fmt::print("invalidation across two processes through Redis: {} of {} messages, delay p50 {:.0f} µs, "
               "p99 {:.0f} µs, max {:.0f} µs (target p99 < 10 ms)\n",
               st.bus_messages, n, st.bus_delay_p50_us, st.bus_delay_p99_us, st.bus_delay_max_us);
    std::fflush(stdout);
    _exit(st.bus_messages > 0 ? 0 : 2);
  }
  char c;
  if (read(ready[0], &c, 1) != 1) return 1;
  auto db = Database::open(path, o);
  const EntityTypeDef t = db->require_type("counter");
  for (int i = 1; i <= n; ++i) {
    ChangeSet cs;
    EntityWrite w;
    w.kind = EntityWrite::Kind::kUpdate;
    w.type_id = t.id;
    w.id = 1;
    w.values.push_back({t.attributes[0].id, ValueType::kInt, int64_t{i}});
    cs.writes.push_back(std::move(w));
    db->commit(std::move(cs));
    usleep(2000);
  }
  if (write(done[1], "d", 1) != 1) return 1;
  int status = 0;
  waitpid(child, &status, 0);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

}  // namespace

// --l2-probe ITERS ROUNDS [MODE]: the L2 hit workload of BM_L2_Hit / BM_L2_HitRead (same
// cache, same Zipf keys) timed by the thread's CPU clock, ROUNDS rounds of ITERS get() and ITERS
// read_if_present() each, beside ITERS lookups in the mutex-guarded map (copying the shared_ptr,
// as BM_Baseline_MutexMap); prints min and median ns per hit. MODE: "thread" (default: read
// buffers drained by the maintenance thread, whose CPU time per hit is printed too), "inline"
// (readers drain), or "both" (two caches, rounds interleaved: a same-run comparison). CPU time
// ignores time spent descheduled on a shared machine, and the fixed iteration count makes the run
// reproducible under `valgrind --tool=cachegrind` (instructions and cache misses per hit: run
// ITERS=0 and ITERS=N and divide the difference by 2 × N × ROUNDS).
int l2_probe(long iters, int rounds, const std::string& mode) {
  if (mode != "thread" && mode != "inline" && mode != "both") {
    fmt::print(stderr, "--l2-probe: MODE is thread, inline or both\n");
    return 2;
  }
  // fill_l2() also starts a maintenance thread: every mode then runs in a multi-threaded process,
  // where shared_ptr copies are atomic (as in a server), and the map baseline is measured alike.
  fill_l2();
  delete l2;
  delete l2_inline;
  l2 = l2_inline = nullptr;
  struct Run {
    const char* name;
    L2* cache;
    std::vector<double> get_ns, read_ns;
    cache::MaintenanceStats before;
  };
  std::vector<Run> runs;
  if (mode != "inline") runs.push_back({"thread", make_l2(true), {}, {}, {}});
  if (mode != "thread") runs.push_back({"inline", make_l2(false), {}, {}, {}});
  const auto cpu_ns = [] {
    timespec t{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) * 1e9 + static_cast<double>(t.tv_nsec);
  };
  const auto& keys = *l2_keys;
  const double n = static_cast<double>(std::max(1L, iters));
  std::vector<double> map_ns;
  size_t i = 0, sink = 0;
  for (Run& run : runs) run.before = run.cache->maintenance_stats();
  for (int r = 0; r < rounds; ++r) {
    for (Run& run : runs) {
      double t0 = cpu_ns();
      for (long k = 0; k < iters; ++k) sink += run.cache->get(keys[i++ & (keys.size() - 1)]) != nullptr;
      run.get_ns.push_back((cpu_ns() - t0) / n);
      t0 = cpu_ns();
      for (long k = 0; k < iters; ++k)
        run.cache->read_if_present(keys[i++ & (keys.size() - 1)], [&](const std::string& v) { sink += v.size(); });
      run.read_ns.push_back((cpu_ns() - t0) / n);
    }
    const double t0 = cpu_ns();
    for (long k = 0; k < iters; ++k) {
      std::shared_ptr<const std::string> v;
      {
        std::lock_guard lock(baseline_mu);
        auto it = baseline->find(keys[i++ & (keys.size() - 1)]);
        if (it != baseline->end()) v = it->second;
      }
      sink += v != nullptr;
    }
    map_ns.push_back((cpu_ns() - t0) / n);
  }
  const auto median = [](std::vector<double>& v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  if (rounds > 0) {
    const double map_median = median(map_ns);
    fmt::print("L2 hit (thread CPU ns, {} rounds of {}): mutex+unordered_map median {:.1f}\n", rounds, iters,
               map_median);
    for (Run& run : runs) {
      const double get_median = median(run.get_ns), read_median = median(run.read_ns);
      const cache::MaintenanceStats m = run.cache->maintenance_stats();
      const double reads = 2.0 * n * rounds;
      fmt::print("  {:<6}: get min {:.1f} median {:.1f} ({:.2f}x the map); read in place min {:.1f} median {:.1f}; "
                 "hits {}\n",
                 run.name, run.get_ns.front(), get_median, get_median / map_median, run.read_ns.front(), read_median,
                 run.cache->stats().hits);
      fmt::print("          maintenance: thread CPU {:.1f} ns per hit, {} wake-ups, {} inline drains, {} drained, "
                 "{} dropped\n",
                 m.thread_cpu_ns < 0 ? 0.0 : static_cast<double>(m.thread_cpu_ns - run.before.thread_cpu_ns) / reads,
                 m.wakeups - run.before.wakeups, m.inline_drains - run.before.inline_drains,
                 m.drained - run.before.drained, m.dropped - run.before.dropped);
    }
  }
  benchmark::DoNotOptimize(sink);
  for (Run& run : runs) delete run.cache;
  delete baseline;
  delete l2_keys;
  return 0;
}

int main(int argc, char** argv) {
  if ((argc == 4 || argc == 5) && std::string(argv[1]) == "--l2-probe")
    return l2_probe(std::stol(argv[2]), std::stoi(argv[3]), argc == 5 ? argv[4] : "thread");
  if (argc == 3 && std::string(argv[1]) == "--propagation") {
    const std::string url = env("EAVDB_BENCH_REDIS");
    if (url.empty()) {
      fmt::print(stderr, "--propagation needs EAVDB_BENCH_REDIS\n");
      return 2;
    }
    return propagation(url, std::stoi(argv[2]));
  }
  benchmark::Initialize(&argc, argv);
  setup();
  fill_l2();
  setup_redis();
  RatioReporter rep;
  benchmark::RunSpecifiedBenchmarks(&rep);
  print_ratios(rep);
  const auto l2s = l2->stats();
  fmt::print("L2 structure: {} entries (capacity {}), policy metadata {} bytes = {:.1f} per entry of capacity "
             "(target <= 16)\n",
             l2s.entries, l2->options().max_entries, l2->policy_metadata_bytes(),
             static_cast<double>(l2->policy_metadata_bytes()) / static_cast<double>(l2->options().max_entries));
  // The policy work of those hits ran on the maintenance thread: its CPU time, per hit, is part
  // of the cost of a hit even though the readers' times above leave it out.
  const cache::MaintenanceStats m = l2->maintenance_stats();
  fmt::print("L2 maintenance: {} hits; maintenance thread CPU {:.1f} ns per hit, {} wake-ups, {} inline drains, "
             "{} reads dropped\n",
             l2s.hits, static_cast<double>(std::max<int64_t>(0, m.thread_cpu_ns)) / static_cast<double>(std::max<uint64_t>(1, l2s.hits)),
             m.wakeups, m.inline_drains, m.dropped);
  const CacheStats st = fx->cached->cache_stats();
  fmt::print("Database L2: {} entries, {} bytes, hit ratio {:.3f}; L4 hit ratio {:.3f}\n", st.l2.entries,
             st.l2.bytes, st.l2.hit_ratio(), st.l4.hit_ratio());
  l3.reset();
  if (raw_redis) redisFree(raw_redis);
  delete l2;
  delete l2_inline;
  delete baseline;
  delete l2_keys;
  teardown();
  benchmark::Shutdown();
  return 0;
}
