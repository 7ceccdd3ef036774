// eavdb::cache — the cache levels of one Database, wired together (DESIGN.md §3):
//
//   read by id:  L2 shared memory → L3 Redis/file → database, filling upward;
//   query:       L4 results (validated by tag versions) → L3 shared results → execute;
//   commit:      announce new versions to L3 before COMMIT; after it, drop the L2 entries, bump
//                the L4 tags and publish the invalidation to other processes.
//
// Tags: "t<type>" changes on any insert or delete of the type (every query of the type reads
// it), "a<attribute>" on an update of the attribute, "u<type>" on any update (queries reading
// version/created_at/updated_at), and one global tag every entry carries (bumped by a full flush).
// Tag versions here are process-local counters that only grow; other processes' commits reach
// them through the Redis bus or the SQLite invalidation log (the Database feeds those in).
//
// When the bus connection is lost, L2 and L4 are flushed and bypassed until it is back (reads go
// to L3/the database), so a missed invalidation cannot be served from memory.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cache/remote.h"
#include "cache/shared_cache.h"
#include "eavdb/cache.h"
#include "eavdb/changeset.h"
#include "eavdb/result.h"

namespace eavdb::cache {

/// L2 key: an entity of a type (the tenant is the Database's).
struct EntityKey {
  int64_t type_id = 0;
  int64_t id = 0;
  friend bool operator==(const EntityKey&, const EntityKey&) = default;
};
/// 64-bit xxHash of an EntityKey.
struct EntityKeyHash {
  uint64_t operator()(const EntityKey& k) const noexcept;
};
/// 64-bit xxHash of a string.
struct StringHash {
  uint64_t operator()(const std::string& s) const noexcept;
};

/// An L2 value: the record, or nullopt for "no such entity" (a negative entry).
struct CachedEntity {
  std::optional<EntityRecord> record;
};

/// Process-local tag versions (see the file comment). Tags are never removed, so pointers to
/// their counters stay valid for the table's lifetime.
class TagTable {
 public:
  TagTable();
  /// The counter of `tag`, created at 1 when new.
  const std::atomic<uint64_t>* get(const std::string& tag);
  /// Moves `tag` forward (creating it).
  void bump(const std::string& tag);
  /// The global tag every cached result carries.
  const std::atomic<uint64_t>* global() const noexcept { return &global_; }
  /// Moves the global tag forward: every cached result becomes invalid.
  void bump_global() noexcept { global_.fetch_add(1, std::memory_order_acq_rel); }

 private:
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, std::unique_ptr<std::atomic<uint64_t>>> tags_;
  std::atomic<uint64_t> global_{1};
};

/// An L4 value: a query result with the versions its tags had before the query ran.
struct CachedResult {
  QueryResult result;
  std::vector<std::pair<const std::atomic<uint64_t>*, uint64_t>> tags;
  /// True while every tag still has the recorded version.
  bool valid() const noexcept;
};

/// The tag of an entity type: every query of the type reads it ("t<type id>").
std::string type_tag(int64_t type_id);
/// The tags a query reads (see the file comment).
std::vector<std::string> query_tags(int64_t type_id, const std::vector<int64_t>& attributes, bool reads_row_versions);

/// The tags a committed ChangeSet bumps, and the entity invalidations it implies.
Invalidation make_invalidation(std::string ns, const ChangeSet& changes, const CommitResult& result);

/// Bytes charged for a cached entity or result (keys, heap strings, containers, control blocks).
uint64_t charge(const CachedEntity& e);
uint64_t charge(const QueryResult& r);

/// The cache levels of one Database.
class Caches {
 public:
  /// `ns` names the store and tenant ("<store id>:<tenant id>") for L3 keys and the bus.
  /// Opens L3 when options.l3_url is set (an unreachable Redis is not an error: the circuit
  /// breaker bypasses it). Throws Error(kInvalidArgument) for bad options.
  Caches(const CacheOptions& options, std::string ns);
  ~Caches();
  Caches(const Caches&) = delete;
  Caches& operator=(const Caches&) = delete;

  const CacheOptions& options() const noexcept { return options_; }
  const std::string& ns() const noexcept { return ns_; }

  /// Loads entities of `type_id`, index-aligned with `ids` (nullopt: no such entity), through
  /// L2 and L3; `load` reads the database for the ids no cache level has. A single id misses
  /// with single-flight (concurrent finds of one id run one load).
  using EntityLoader = std::function<std::vector<std::optional<EntityRecord>>(const std::vector<int64_t>& ids)>;
  std::vector<std::optional<EntityRecord>> get_entities(int64_t type_id, std::chrono::milliseconds ttl,
                                                        const std::vector<int64_t>& ids, const EntityLoader& load);

  /// The record of entity `id` of `type_id` when L2 holds it (present, unexpired, not due for
  /// an early refresh, and L2 is usable), else nullopt (also for a cached "no such entity").
  /// Never loads and never waits for another thread's load: safe on an I/O thread. A hit counts
  /// as an L2 hit; a miss counts nothing (the caller's fallback through get_entities counts it).
  std::optional<EntityRecord> get_cached_entity(int64_t type_id, int64_t id);

  /// The cache signature of a query: tenant, normalised text and typed parameters.
  static std::string signature(int64_t tenant_id, std::string_view normalized_sql, const std::vector<Value>& params);

  /// A query result through L4 (and L3's shared results). `run` compiles and executes the query;
  /// it must call `before_execute(tags)` after compiling and before reading the database, and use
  /// the result it returns instead of executing when that is set (an L3 hit). A caller that
  /// finds the same query already running in another thread waits for that run until `deadline`
  /// (steady clock; none: no limit), then Error(kTimeout).
  using BeforeExecute = std::function<std::optional<QueryResult>(const std::vector<std::string>& tags)>;
  using QueryRunner = std::function<QueryResult(const BeforeExecute& before_execute)>;
  std::shared_ptr<const CachedResult> query(const std::string& signature, const QueryRunner& run,
                                            std::optional<std::chrono::steady_clock::time_point> deadline = std::nullopt);
  /// The L4 entry for `signature` when present and valid (for L1's cheap re-validation path).
  std::shared_ptr<const CachedResult> cached_result(const std::string& signature);

  /// Called inside the commit transaction, before COMMIT: announces the new versions to L3.
  /// Returns false when that failed (the announcement stays pending here, and the commit's log
  /// rows say so, so other processes catch L3 up: see catch_up()).
  bool before_commit(const Invalidation& inv);
  /// Called after COMMIT returned: drops L2 entries, bumps L4 tags, publishes to other processes.
  void after_commit(const Invalidation& inv);
  /// Applies another process's change (from the bus or the SQLite invalidation log).
  void apply_foreign(const Invalidation& inv);
  /// Announces to L3, on behalf of another process, committed changes that process could not
  /// announce (learned from the SQLite invalidation log; inv.committed is set here): their
  /// version pointers move forward, tags are bumped, a large change bumps the generation. Until
  /// that succeeds this process reads around L3, as after a failed announce of its own.
  void catch_up(Invalidation inv);
  /// Drops L2 and L4 whole (a gap in what we know of other processes' commits, or a clear).
  void flush_all();
  /// flush_all() plus every L3 entry of this namespace.
  void clear();

  /// Per-level counters; L1 counts are added by the Database.
  CacheStats stats() const;
  /// Adds a finished session's L1 counters.
  void add_l1(const CacheLevelStats& l1);

 private:
  void on_bus_message(const Invalidation& inv);
  void on_bus_connection(bool connected);
  void retry_pending();
  bool l2_usable() const noexcept { return !bus_down_.load(std::memory_order_acquire); }

  CacheOptions options_;
  std::string ns_;
  std::string origin_;
  SharedCache<EntityKey, CachedEntity, EntityKeyHash> l2_;
  SharedCache<std::string, CachedResult, StringHash> l4_;
  TagTable tags_;
  std::unique_ptr<RemoteStore> l3_;
  std::unique_ptr<Subscription> subscription_;
  std::atomic<bool> bus_down_{false};
  /// An announce (own, or a catch-up for another process) failed and is pending: L3 may hold
  /// records older than committed data, so this process reads around it until it went through.
  std::atomic<bool> announce_pending_{false};
  std::mutex pending_mu_;
  std::vector<Invalidation> pending_announce_, pending_publish_;
  std::atomic<uint64_t> full_flushes_{0}, bus_messages_{0}, foreign_commits_{0};
  std::atomic<uint64_t> l3_hits_{0}, l3_misses_{0}, l3_load_ns_{0}, l3_loads_{0};
  std::atomic<uint64_t> l4_hits_{0}, l4_misses_{0};
  mutable std::mutex delay_mu_;
  std::vector<double> bus_delays_us_;  ///< ring of the last kDelaySamples propagation delays
  size_t bus_delay_next_ = 0;
  mutable std::mutex l1_mu_;
  CacheLevelStats l1_;
};

}  // namespace eavdb::cache
