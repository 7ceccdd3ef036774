// eavdb — cache configuration and statistics (the four levels of DESIGN.md §3).
//
//  L1  per session: the identity map and a per-session query cache (gone with the session);
//  L2  shared by the threads of one process: entities by id, W-TinyLFU, bounded by bytes;
//  L3  shared across processes: Redis ("redis://host:port[/db]") or a directory ("file:///dir");
//  L4  query results keyed by the normalised query, parameters and tenant, tagged with the entity
//      type and the attributes the query reads; a commit bumps those tags (O(1) per tag).
//
// Guarantee: no level hands back data older than a commit that returned before the read began —
// in this process always; in another process sharing the SQLite file, as soon as it next reads
// (it checks PRAGMA data_version and the store's invalidation log before serving from a cache).
// Plain value types; thread-compatible.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>

namespace eavdb {

/// Cache settings, part of Database Options.
struct CacheOptions {
  bool enabled = true;  ///< false: every read goes to the database (L1 identity map still works)

  // L2: entities by id, shared by the process's threads.
  uint64_t l2_max_bytes = 64ull << 20;  ///< bytes charged for keys, records and per-entry overhead
  uint64_t l2_max_entries = 1u << 20;   ///< entry bound (also sizes the frequency sketch)
  std::string policy = "wtinylfu";      ///< "wtinylfu" or "lru"
  std::chrono::milliseconds entity_ttl{300'000};    ///< record TTL before jitter; 0: no expiry
  std::chrono::milliseconds negative_ttl{5'000};    ///< TTL of "no such id" entries
  std::map<std::string, std::chrono::milliseconds, std::less<>> type_ttl;  ///< per-type overrides
  double ttl_jitter = 0.1;   ///< TTLs are scaled by a uniform factor in [1 − j, 1 + j]
  double xfetch_beta = 1.0;  ///< XFetch early-refresh β; 0 disables early refresh

  // L3: shared across processes. Empty: none.
  std::string l3_url;
  int l3_timeout_ms = 100;  ///< per-command timeout for Redis

  // L4: query results.
  uint64_t l4_max_bytes = 32ull << 20;
  uint64_t l4_max_entries = 100'000;
  uint64_t l4_max_result_bytes = 1ull << 20;  ///< larger results are not cached
  std::chrono::milliseconds query_ttl{60'000};
};

/// Counters of one level. Monotonic since open, except entries and bytes (current).
struct CacheLevelStats {
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t evictions = 0;        ///< dropped by the policy to make room
  uint64_t expirations = 0;      ///< dropped because their TTL passed
  uint64_t invalidations = 0;    ///< dropped because a commit (or a clear) made them stale
  uint64_t stale_fills = 0;      ///< fills refused because a commit raced the load
  uint64_t early_refreshes = 0;  ///< XFetch refreshes started
  uint64_t loads = 0;            ///< loads from the level below
  uint64_t load_ns = 0;          ///< total time of those loads, ns
  uint64_t errors = 0;           ///< L3: failed calls (never surfaced to the caller)
  uint64_t entries = 0;          ///< live entries
  uint64_t bytes = 0;            ///< charged bytes
  /// hits / (hits + misses), 0 when there was no lookup.
  double hit_ratio() const noexcept {
    return hits + misses ? static_cast<double>(hits) / static_cast<double>(hits + misses) : 0.0;
  }
  /// Mean load latency in µs, 0 when there was no load.
  double mean_load_us() const noexcept {
    return loads ? static_cast<double>(load_ns) / 1000.0 / static_cast<double>(loads) : 0.0;
  }
  /// Adds every counter of `o`.
  CacheLevelStats& operator+=(const CacheLevelStats& o) noexcept {
    hits += o.hits; misses += o.misses; evictions += o.evictions; expirations += o.expirations;
    invalidations += o.invalidations; stale_fills += o.stale_fills; early_refreshes += o.early_refreshes;
    loads += o.loads; load_ns += o.load_ns; errors += o.errors; entries += o.entries; bytes += o.bytes;
    return *this;
  }
};

/// Every level's counters plus coherence events.
struct CacheStats {
  CacheLevelStats l1, l2, l3, l4;
  std::string policy;            ///< L2 policy name
  std::string l3_url;            ///< empty without L3
  std::string l3_breaker;        ///< "closed", "open" or "half_open"; empty without L3
  bool bus_connected = false;    ///< the L3 invalidation subscription is up (Redis only)
  uint64_t foreign_commits = 0;  ///< commits of other processes noticed (SQLite invalidation log)
  uint64_t full_flushes = 0;     ///< times L2/L4 were dropped whole (bus lost, log gap, clear)
  uint64_t bus_messages = 0;     ///< invalidations received from other processes over the bus
  /// Propagation delay of those messages (publisher's commit → our invalidation), µs, over the
  /// last 4096 messages; 0 without samples. Clocks of one machine (CLOCK_REALTIME).
  double bus_delay_p50_us = 0, bus_delay_p99_us = 0, bus_delay_max_us = 0;
  uint64_t policy_metadata_bytes = 0;  ///< L2 policy bookkeeping (slots + sketches)
};

}  // namespace eavdb
