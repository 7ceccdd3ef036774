// eavdb_cache_sim — hit ratios of the cache policies (src/cache/policy.h) on synthetic traces,
// next to Bélády's offline optimum.
//
// Traces (all from one seeded std::mt19937_64, so every run replays the same accesses):
//   zipf-A        Zipf(A) popularity over --keys keys, A ∈ {0.6, 0.8, 0.99, 1.2}; ranks are drawn
//                 by inverse CDF (binary search over the precomputed cumulative weights).
//   zipf-0.99+scan  the Zipf(0.99) trace interrupted every accesses/20 draws by a sequential scan
//                 over keys/20 fresh keys that never recur (a batch job reading through a table).
//   zipf-shift    Zipf(0.99) over --keys keys, then from half the accesses Zipf(0.99) over as many
//                 other keys (a seeded scramble): a shift of popularity to a disjoint working set.
//   loop          a cycle over a set 10% larger than the cache (LRU's worst case); one trace per
//                 cache size.
//   sliding       recency-biased: each access is a new key (1/4) or one of the cache/2 newest keys,
//                 uniformly (LRU's best case: frequency carries no information, so W-TinyLFU is
//                 only as good as its hill climber makes the window); one trace per cache size.
// Cache sizes: 0.1%, 1% and 10% of --keys entries (every entry weighs 1).
// Policies: W-TinyLFU and LRU as the L2 cache drives them (record_hit on a hit; record_miss then
// insert on a miss), reading key hashes and weights from the simulator (an EntrySource), and OPT: Bélády's algorithm with bypass — on a miss the key is cached only if
// its next use comes before the farthest next use in the cache, which it then evicts (next uses
// precomputed by one backward pass; a lazy max-heap finds the farthest).
// Hit ratio = hits / accesses, counting every access from a cold start (compulsory misses
// included) unless --warmup N excludes the first N accesses of each trace.
//
// Output: a table on stdout (the "B/entry" column: W-TinyLFU's metadata_bytes per entry of
// capacity); --timeline adds, per row, W-TinyLFU minus LRU in points for each 1/40 of the trace
// (where a policy loses: cold start, a shift, a climber step); --json FILE also writes the
// figures as JSON. --small runs a tiny
// configuration (CI). Exit status: 0 success, 1 internal inconsistency, 2 usage error.
#include <fmt/format.h>
#include <rapidjson/ostreamwrapper.h>
#include <rapidjson/prettywriter.h>
#include <xxhash.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <limits>
#include <queue>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "cache/policy.h"

namespace {

using eavdb::cache::Evicted;
using eavdb::cache::Handle;
using eavdb::cache::kNoHandle;
using eavdb::cache::Policy;
using eavdb::cache::PolicyKind;
using Clock = std::chrono::steady_clock;

constexpr uint32_t kNever = std::numeric_limits<uint32_t>::max();  // "no next use"

// A sequence of key ids in [0, key_space).
struct Trace {
  std::string name;
  std::vector<uint32_t> keys;
  uint32_t key_space = 0;
};

// Uniform double in [0, 1) from the top 53 bits of one draw (portable, unlike
// std::uniform_real_distribution whose algorithm is implementation-defined).
double uniform(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

// Zipf(alpha) ranks in [0, n): P(rank = r) ∝ 1 / (r + 1)^alpha, by inverse CDF.
class ZipfSampler {
 public:
  ZipfSampler(uint32_t n, double alpha) : cdf_(n) {
    double sum = 0;
    for (uint32_t i = 0; i < n; ++i) cdf_[i] = sum += std::pow(static_cast<double>(i) + 1, -alpha);
    for (double& c : cdf_) c /= sum;
  }
  uint32_t operator()(std::mt19937_64& rng) const {
    const auto it = std::upper_bound(cdf_.begin(), cdf_.end(), uniform(rng));
    return static_cast<uint32_t>(std::min<size_t>(static_cast<size_t>(it - cdf_.begin()), cdf_.size() - 1));
  }

 private:
  std::vector<double> cdf_;
};

Trace zipf_trace(uint32_t keys, uint64_t accesses, double alpha, uint64_t seed) {
  Trace t{fmt::format("zipf-{}", alpha), {}, keys};
  const ZipfSampler zipf(keys, alpha);
  std::mt19937_64 rng(seed);
  t.keys.reserve(accesses);
  for (uint64_t i = 0; i < accesses; ++i) t.keys.push_back(zipf(rng));
  return t;
}

// Zipf(0.99) with a scan of keys/20 fresh keys after every accesses/20 Zipf draws; the trace has
// `accesses` entries in all.
Trace scan_trace(uint32_t keys, uint64_t accesses, uint64_t seed) {
  Trace t{"zipf-0.99+scan", {}, keys};
  const ZipfSampler zipf(keys, 0.99);
  std::mt19937_64 rng(seed);
  const uint64_t period = std::max<uint64_t>(1, accesses / 20);
  const uint64_t scan = std::max<uint32_t>(1, keys / 20);
  uint64_t fresh = keys;
  t.keys.reserve(accesses);
  while (t.keys.size() < accesses) {
    for (uint64_t i = 0; i < period && t.keys.size() < accesses; ++i) t.keys.push_back(zipf(rng));
    for (uint64_t i = 0; i < scan && t.keys.size() < accesses; ++i) {
      t.keys.push_back(static_cast<uint32_t>(fresh++));
    }
  }
  t.key_space = static_cast<uint32_t>(fresh);
  return t;
}

// A popularity shift: Zipf(0.99) over keys [0, keys) for the first half of the accesses, then
// Zipf(0.99) over the disjoint keys [keys, 2 keys), ranks mapped to keys by a seeded random
// permutation (so the new hot keys are not the old ones' neighbours). Every cached key goes
// stale at once, with sketch counts that last for many periods (issue 4: "never below LRU on
// any trace").
Trace zipf_shift_trace(uint32_t keys, uint64_t accesses, uint64_t seed) {
  Trace t{"zipf-shift", {}, 2 * keys};
  const ZipfSampler zipf(keys, 0.99);
  std::mt19937_64 rng(seed);
  std::vector<uint32_t> scramble(keys);
  for (uint32_t k = 0; k < keys; ++k) scramble[k] = keys + k;
  std::shuffle(scramble.begin(), scramble.end(), rng);
  t.keys.reserve(accesses);
  for (uint64_t i = 0; i < accesses / 2; ++i) t.keys.push_back(zipf(rng));
  for (uint64_t i = accesses / 2; i < accesses; ++i) t.keys.push_back(scramble[zipf(rng)]);
  return t;
}

// Cycles over `span` keys.
Trace loop_trace(uint32_t span, uint64_t accesses) {
  Trace t{"loop", {}, span};
  t.keys.reserve(accesses);
  for (uint64_t i = 0; i < accesses; ++i) t.keys.push_back(static_cast<uint32_t>(i % span));
  return t;
}

// A recency-biased trace: a sliding working set. Each access is a brand-new key (probability
// 1/4) or, uniformly, one of the `span` newest keys; a key's popularity says nothing about its
// future, only its age does. One trace per cache size (span = half the cache).
Trace sliding_trace(uint32_t span, uint64_t accesses, uint64_t seed) {
  Trace t{"sliding", {}, 0};
  std::mt19937_64 rng(seed);
  uint64_t newest = 0;
  t.keys.reserve(accesses);
  for (uint64_t i = 0; i < accesses; ++i) {
    if (rng() % 4 == 0) {
      t.keys.push_back(static_cast<uint32_t>(++newest));
    } else {
      t.keys.push_back(static_cast<uint32_t>(newest - std::min<uint64_t>(newest, rng() % span)));
    }
  }
  t.key_space = static_cast<uint32_t>(newest + 1);
  return t;
}

// Figures of one policy on one trace and cache size.
struct Run {
  double hit_ratio = 0;
  double seconds = 0;
  uint64_t window_max = 0;  // W-TinyLFU's window at the end
  uint64_t metadata_bytes = 0;
  std::vector<uint64_t> segment_hits;  // hits per 1/kSegments of the trace (--timeline)
};

constexpr size_t kSegments = 40;  // --timeline resolution

// The simulator's record of its entries for the policy (EntrySource): key by handle, and the key's
// hash; every entry weighs 1.
class SimEntries final : public eavdb::cache::EntrySource {
 public:
  explicit SimEntries(const std::vector<uint64_t>& hashes) : hashes_(hashes) {}
  uint64_t key_hash(Handle handle) const noexcept override { return hashes_[key_of[handle]]; }
  uint64_t weight(Handle) const noexcept override { return 1; }
  std::vector<uint32_t> key_of;  // by handle

 private:
  const std::vector<uint64_t>& hashes_;
};

// Replays `trace` against a policy of `capacity` entries, checking the policy's reports against
// the owner's own key -> handle map as it goes (throws std::logic_error on a mismatch).
Run run_policy(PolicyKind kind, const Trace& trace, const std::vector<uint64_t>& hashes, uint64_t capacity,
               uint64_t warmup) {
  const auto start = Clock::now();
  SimEntries entries(hashes);
  std::vector<uint32_t>& key_of = entries.key_of;
  auto policy = Policy::create(kind, capacity, capacity, &entries);
  std::vector<Handle> handle_of(trace.key_space, kNoHandle);
  std::vector<Evicted> evicted;
  uint64_t hits = 0;
  Run r;
  r.segment_hits.assign(kSegments, 0);
  const size_t segment = std::max<size_t>(1, (trace.keys.size() + kSegments - 1) / kSegments);
  for (size_t t = 0; t < trace.keys.size(); ++t) {
    const uint32_t k = trace.keys[t];
    if (handle_of[k] != kNoHandle) {
      policy->record_hit(handle_of[k]);
      if (t >= warmup) ++hits;
      ++r.segment_hits[t / segment];
      continue;
    }
    policy->record_miss(hashes[k]);
    evicted.clear();
    const Handle h = policy->insert(hashes[k], 1, evicted);
    for (const Evicted& e : evicted) {
      if (e.handle == kNoHandle) {
        if (e.key_hash != hashes[k] || h != kNoHandle) {
          throw std::logic_error("bad report of a dropped insert");
        }
        continue;
      }
      if (e.handle >= key_of.size() || hashes[key_of[e.handle]] != e.key_hash ||
          handle_of[key_of[e.handle]] != e.handle) {
        throw std::logic_error("evicted entry does not match the owner's map");
      }
      handle_of[key_of[e.handle]] = kNoHandle;
    }
    if (h != kNoHandle) {
      if (h >= key_of.size()) key_of.resize(h + 1);
      key_of[h] = k;
      handle_of[k] = h;
    }
  }
  const eavdb::cache::PolicyStats stats = policy->stats();
  if (stats.entries > capacity) throw std::logic_error("policy over its bound");
  r.hit_ratio = static_cast<double>(hits) / static_cast<double>(trace.keys.size() - warmup);
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  r.window_max = stats.window_max;
  r.metadata_bytes = stats.metadata_bytes;
  return r;
}

// Bélády's optimum with bypass; see the file comment.
Run run_opt(const Trace& trace, uint64_t capacity, uint64_t warmup) {
  const auto start = Clock::now();
  const size_t n = trace.keys.size();
  std::vector<uint32_t> next_use(n);
  {
    std::vector<uint32_t> upcoming(trace.key_space, kNever);
    for (size_t t = n; t-- > 0;) {
      next_use[t] = upcoming[trace.keys[t]];
      upcoming[trace.keys[t]] = static_cast<uint32_t>(t);
    }
  }
  // Cached keys with their next use; the heap holds (next use, key) pairs, stale ones included
  // (a pair is current iff the key is cached with that next use: next uses never repeat).
  std::vector<uint32_t> cached_next(trace.key_space, kNever);
  std::vector<uint8_t> cached(trace.key_space, 0);
  std::priority_queue<std::pair<uint32_t, uint32_t>> heap;
  uint64_t size = 0, hits = 0;
  for (size_t t = 0; t < n; ++t) {
    const uint32_t k = trace.keys[t];
    const uint32_t next = next_use[t];
    if (cached[k]) {
      if (t >= warmup) ++hits;
      cached_next[k] = next;
      heap.emplace(next, k);
      continue;
    }
    if (next == kNever) continue;  // never used again: bypass
    if (size == capacity) {
      while (!cached[heap.top().second] || cached_next[heap.top().second] != heap.top().first) heap.pop();
      if (heap.top().first < next) continue;  // everything cached is needed sooner: bypass
      cached[heap.top().second] = 0;
      heap.pop();
      --size;
    }
    cached[k] = 1;
    cached_next[k] = next;
    heap.emplace(next, k);
    ++size;
  }
  Run r;
  r.hit_ratio = static_cast<double>(hits) / static_cast<double>(n - warmup);
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return r;
}

// One row of the report.
struct Row {
  std::string trace;
  double cache_percent = 0;
  uint64_t entries = 0;
  Run opt, wtinylfu, lru;
};

void write_json(const std::string& path, const std::vector<Row>& rows, uint32_t keys, uint64_t accesses,
                uint64_t seed, uint64_t warmup) {
  std::ofstream out(path);
  if (!out) throw std::runtime_error("cannot write " + path);
  rapidjson::OStreamWrapper osw(out);
  rapidjson::PrettyWriter<rapidjson::OStreamWrapper> w(osw);
  w.StartObject();
  w.Key("keys");
  w.Uint(keys);
  w.Key("accesses");
  w.Uint64(accesses);
  w.Key("seed");
  w.Uint64(seed);
  w.Key("warmup");
  w.Uint64(warmup);
  w.Key("results");
  w.StartArray();
  for (const Row& r : rows) {
    w.StartObject();
    w.Key("trace");
    w.String(r.trace.c_str());
    w.Key("cache_percent");
    w.Double(r.cache_percent);
    w.Key("entries");
    w.Uint64(r.entries);
    w.Key("opt");
    w.Double(r.opt.hit_ratio);
    w.Key("wtinylfu");
    w.Double(r.wtinylfu.hit_ratio);
    w.Key("lru");
    w.Double(r.lru.hit_ratio);
    w.Key("wtinylfu_window_max");
    w.Uint64(r.wtinylfu.window_max);
    w.Key("wtinylfu_metadata_bytes");
    w.Uint64(r.wtinylfu.metadata_bytes);
    w.Key("wtinylfu_ns_per_access");
    w.Double(r.wtinylfu.seconds * 1e9 / static_cast<double>(accesses));
    w.Key("lru_ns_per_access");
    w.Double(r.lru.seconds * 1e9 / static_cast<double>(accesses));
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  out << '\n';
  if (!out) throw std::runtime_error("cannot write " + path);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"eavdb_cache_sim: hit ratios of W-TinyLFU, LRU and OPT on synthetic traces"};
  uint32_t keys = 500'000;
  uint64_t accesses = 4'000'000;
  uint64_t seed = 42;
  uint64_t warmup = 0;
  bool small = false;
  bool timeline = false;
  std::string json_path;
  std::vector<std::string> only;
  app.add_option("--keys", keys, "distinct keys of the Zipf traces")->check(CLI::Range(1000u, 100'000'000u));
  app.add_option("--accesses", accesses, "accesses per trace")
      ->check(CLI::Range(uint64_t{1000}, uint64_t{1} << 31));
  app.add_option("--seed", seed, "trace generator seed");
  app.add_option("--warmup", warmup, "leading accesses of each trace left out of the hit ratio");
  app.add_flag("--small", small, "tiny configuration for CI (20,000 keys, 200,000 accesses)");
  app.add_flag("--timeline", timeline,
               "after each row, W-TinyLFU minus LRU hit ratio (points) per 1/40 of the trace");
  app.add_option("--json", json_path, "also write the results to this JSON file");
  app.add_option("--trace", only,
                 "run only these traces (zipf-0.6, zipf-0.8, zipf-0.99, zipf-1.2, "
                 "zipf-0.99+scan, zipf-shift, loop, sliding)");
  try {
    app.parse(argc, argv);
    if (small) {
      keys = 20'000;
      accesses = 200'000;
    }
    if (warmup >= accesses) throw CLI::ValidationError("--warmup", "must be smaller than --accesses");
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  auto wanted = [&](const std::string& name) {
    return only.empty() || std::find(only.begin(), only.end(), name) != only.end();
  };

  try {
    const auto start = Clock::now();
    std::vector<Trace> traces;
    for (double alpha : {0.6, 0.8, 0.99, 1.2}) {
      if (wanted(fmt::format("zipf-{}", alpha))) traces.push_back(zipf_trace(keys, accesses, alpha, seed));
    }
    if (wanted("zipf-0.99+scan")) traces.push_back(scan_trace(keys, accesses, seed));
    if (wanted("zipf-shift")) traces.push_back(zipf_shift_trace(keys, accesses, seed));
    const bool loop = wanted("loop");
    const bool sliding = wanted("sliding");

    std::vector<Row> rows;
    fmt::print("keys {}, accesses {}, seed {}, hit ratios over {} accesses per trace\n\n", keys, accesses,
               seed, warmup == 0 ? "all" : fmt::format("all but the first {}", warmup));
    fmt::print("{:<16} {:>6} {:>8} {:>8} {:>10} {:>8} {:>8} {:>8} {:>8}\n", "trace", "cache", "entries", "OPT",
               "W-TinyLFU", "LRU", "W-LRU", "window", "B/entry");
    auto run_row = [&](const Trace& trace, double percent, uint64_t entries) {
      std::vector<uint64_t> hashes(trace.key_space);
      for (uint32_t k = 0; k < trace.key_space; ++k) hashes[k] = XXH3_64bits_withSeed(&k, sizeof k, seed);
      Row row{trace.name,
              percent,
              entries,
              run_opt(trace, entries, warmup),
              run_policy(PolicyKind::kWTinyLfu, trace, hashes, entries, warmup),
              run_policy(PolicyKind::kLru, trace, hashes, entries, warmup)};
      fmt::print("{:<16} {:>5}% {:>8} {:>7.2f}% {:>9.2f}% {:>7.2f}% {:>+7.2f} {:>8} {:>8.2f}\n", row.trace, percent,
                 entries, 100 * row.opt.hit_ratio, 100 * row.wtinylfu.hit_ratio, 100 * row.lru.hit_ratio,
                 100 * (row.wtinylfu.hit_ratio - row.lru.hit_ratio), row.wtinylfu.window_max,
                 static_cast<double>(row.wtinylfu.metadata_bytes) / static_cast<double>(entries));
      if (timeline) {
        const double segment = std::ceil(static_cast<double>(trace.keys.size()) / kSegments);
        std::string line = "  W-LRU per 1/40:";
        for (size_t i = 0; i < kSegments; ++i) {
          const double diff = static_cast<double>(row.wtinylfu.segment_hits[i]) -
                              static_cast<double>(row.lru.segment_hits[i]);
          line += fmt::format(" {:+.1f}", 100 * diff / segment);
        }
        fmt::print("{}\n", line);
      }
      std::fflush(stdout);
      rows.push_back(std::move(row));
    };
    for (double percent : {0.1, 1.0, 10.0}) {
      const auto entries = std::max<uint64_t>(1, static_cast<uint64_t>(std::llround(keys * percent / 100)));
      for (const Trace& trace : traces) run_row(trace, percent, entries);
      if (loop) {
        run_row(loop_trace(static_cast<uint32_t>(entries + std::max<uint64_t>(1, entries / 10)), accesses),
                percent, entries);
      }
      if (sliding) {
        run_row(sliding_trace(static_cast<uint32_t>(std::max<uint64_t>(1, entries / 2)), accesses, seed),
                percent, entries);
      }
    }
    fmt::print("\n{:.1f} s\n", std::chrono::duration<double>(Clock::now() - start).count());
    if (!json_path.empty()) write_json(json_path, rows, keys, accesses, seed, warmup);
  } catch (const std::exception& e) {
    fmt::print(stderr, "eavdb_cache_sim: {}\n", e.what());
    return 1;
  }
  return 0;
}
