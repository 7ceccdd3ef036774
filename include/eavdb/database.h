// eavdb — Database: the library's entry point.
//
// A Database owns one backend (SQLite by default: one writer connection, a pool of reader
// connections, WAL mode), the schema catalog of one tenant, and the single write funnel commit().
// Every mutation — Session::flush, import, the CLI — goes through commit().
//
// Thread-safety: every method may be called from several threads at once; commits are
// serialised on the writer connection, reads use pooled reader connections.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "eavdb/cache.h"
#include "eavdb/changeset.h"
#include "eavdb/error.h"
#include "eavdb/explain.h"
#include "eavdb/result.h"
#include "eavdb/schema.h"
#include "eavdb/value.h"

namespace eavdb {

class Session;
namespace storage { class Backend; }
namespace cache { struct CachedResult; class Caches; }

/// Options for Database::open.
struct Options {
  std::string tenant = "default";  ///< every read and write is scoped to this tenant
  int reader_connections = 4;      ///< size of the reader pool (SQLite)
  bool create_if_missing = true;   ///< create the file and schema when absent
  int busy_timeout_ms = 5000;      ///< how long a writer waits for another process's lock (ms)
  int page_cache_kib = 32768;      ///< SQLite page cache per connection, in KiB
  CacheOptions cache;              ///< the cache levels (eavdb/cache.h)
  /// Slow-query log: an NDJSON file (appended to) receiving one line per query that took at
  /// least slow_query_ms (see Database::query_shapes for the line format); empty: no log.
  /// Database::open throws Error(kInvalidArgument) when the file cannot be opened.
  std::string slow_query_log;
  double slow_query_ms = 100;      ///< threshold of the slow-query log, in ms (0: every query)
  bool slow_query_redact = true;   ///< write every parameter as "?" in the slow-query log
  std::size_t query_shape_capacity = 1000;  ///< most query shapes query_shapes() tracks (LRU beyond)
  /// Automatic index advisor (off by default): a background thread runs advise() after every
  /// auto_advise_every queries and applies the recommended indexes, at most auto_advise_max
  /// changes over the Database's lifetime; flat tables only with auto_flat.
  bool auto_advise = false;
  int auto_advise_every = 1000;
  std::size_t auto_advise_max = 8;
  /// With auto_advise: also enable a type's flat table when the advisor's estimate says it pays
  /// (flat::kMaxColumns bounds its columns).
  bool auto_flat = false;
  /// Deferred flat tables: besides after this Database's own commits, the background worker
  /// checks them for other processes' changes this often (ms).
  int flat_sync_interval_ms = 200;
  /// Run the deferred flat-sync worker in this Database (default). Off: deferred flat tables are
  /// caught up only by flat_sync() or by another process's worker (queries stay exact).
  bool flat_sync_worker = true;
};

/// An open eavdb store.
class Database {
 public:
  /// Opens `url`: "sqlite:///abs/path.db", "sqlite://rel/path.db" or a plain file path.
  /// Creates and migrates the schema as needed. Throws Error(kVersion) when the file was written
  /// by a newer eavdb, Error(kStorage) when it is not an eavdb/SQLite file, Error(kInvalidArgument)
  /// for an unsupported URL scheme.
  static std::unique_ptr<Database> open(std::string_view url, const Options& options = {});
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // ---- schema -------------------------------------------------------------------------------
  /// Creates the type if it does not exist and adds any attribute it does not have yet. Existing
  /// attributes keep their declared type: redeclaring one with another type is Error(kSchema).
  /// Codes must satisfy is_valid_code and not be reserved. Returns the stored definition.
  EntityTypeDef define_type(const EntityTypeDef& def);
  /// The stored definition of a type, or std::nullopt.
  std::optional<EntityTypeDef> find_type(std::string_view code) const;
  /// Like find_type but throws Error(kNotFound) with a "did you mean" suggestion.
  EntityTypeDef require_type(std::string_view code) const;
  /// Every type of the tenant, ordered by code.
  std::vector<EntityTypeDef> types() const;

  // ---- writes -------------------------------------------------------------------------------
  /// The write funnel: applies `changes` in one transaction (all or nothing). Inserts get ids in
  /// ascending order of their position. Throws Error(kConflict) when an expected_version does not
  /// match (nothing is written), Error(kNotFound) for an update/delete of a missing entity,
  /// Error(kConstraint) for a unique violation, Error(kInvalidArgument) when a write names a type
  /// that is not this tenant's, or a value an attribute that is not of the entity's type or with
  /// another value type (message: write index, entity, attribute, reason; nothing is written).
  /// The tenant_id of `changes` is overwritten with this Database's tenant.
  CommitResult commit(ChangeSet changes);

  // ---- reads --------------------------------------------------------------------------------
  /// Loads entities of `type_code` by id, results index-aligned with `ids` (std::nullopt for a
  /// missing id or one of another type/tenant). A fixed number of statements for any count.
  std::vector<std::optional<EntityRecord>> load(std::string_view type_code,
                                                const std::vector<int64_t>& ids) const;
  /// What load_cached() found: the type (a view into the catalog snapshot it was read from) and
  /// the entity's record.
  struct CachedLoad {
    std::shared_ptr<const EntityTypeDef> type;
    EntityRecord record;
  };
  /// A cache-only, non-blocking load(type_code, {id}) for callers on an event-loop thread: the
  /// record from the shared entity cache (L2) when the answer is known to be what load() would
  /// return now, else std::nullopt (caching disabled, an unknown type — the catalog is not
  /// reloaded —, an L2 miss or a cached "no such entity", or another process committed since the
  /// last check, whose invalidation log load() would have to read first). No database statement
  /// runs and no other thread's load is waited for; std::nullopt means "ask load()". Every commit
  /// that returned before the call is reflected. Thread-safe; never throws.
  std::optional<CachedLoad> load_cached(std::string_view type_code, int64_t id) const noexcept;
  /// A number that changes whenever any connection of any process commits to the store (SQLite:
  /// PRAGMA data_version; no system call while the WAL index header is unchanged). Callers
  /// remember it before reading something and trust the copy while it is unchanged.
  /// Thread-safe. Throws Error(kStorage) when the store cannot be asked.
  int64_t data_version() const;
  /// Runs a query of the DESIGN.md §2 language with positional parameters for '?'.
  /// Errors: see query::compile (kSyntax, kNotFound, kTypeMismatch, kLimit, kInvalidArgument).
  QueryResult query(std::string_view sql, const std::vector<Value>& params = {}) const;
  /// Like query(sql, params), with per-query options (a forced plan, a deadline; see QueryOptions).
  /// Also Error(kInvalidArgument) when PlanKind::kFlat is forced and no flat table covers the
  /// query, and Error(kTimeout) when the deadline passed while the query ran.
  QueryResult query(std::string_view sql, const std::vector<Value>& params, const QueryOptions& options) const;

  // ---- planner ------------------------------------------------------------------------------
  /// EXPLAIN: plans `sql` like query() and returns the plan tree with estimated rows, the backend
  /// SQL and SQLite's own plan. With `analyze` (EXPLAIN ANALYZE) it also runs the query and the
  /// driver's candidate scan and records actual rows and times. Errors as query().
  ExplainResult explain(std::string_view sql, const std::vector<Value>& params = {}, bool analyze = false,
                        const QueryOptions& options = {}) const;
  /// Recomputes the planner statistics of one type (or of every type when `type_code` is empty):
  /// entity count; per attribute non-null count, HyperLogLog distinct estimate, min/max and a
  /// 64-bucket equi-depth histogram. Queries also do this on their own when a type was never
  /// analyzed or when more than max(500, 20%) of its entities were written since. Clears the plan
  /// cache. Throws Error(kNotFound) for an unknown type.
  std::vector<AnalyzeReport> analyze(std::string_view type_code = {});
  /// Creates the flat table of a type (or rebuilds it when it exists) from the EAV tables, in one
  /// write transaction; from then on every commit keeps it in step inside the same transaction
  /// (kOnCommit) or a background worker catches it up after commits (kDeferred: commits stay
  /// cheap; queries read it only while it is fresh, see QueryOptions::max_flat_lag), and queries
  /// whose columns it covers read it. Throws Error(kNotFound) for an unknown type.
  FlatTableInfo flat_enable(std::string_view type_code, FlatSync sync = FlatSync::kOnCommit);
  /// Catches a deferred flat table up with every committed change now (what the worker does);
  /// returns its state. No-op for an on-commit table. Throws Error(kNotFound) for an unknown type
  /// or one without a flat table.
  FlatTableInfo flat_sync(std::string_view type_code);
  /// Rebuilds the flat table (a shadow table filled then swapped in; picks up attributes added
  /// since). Throws Error(kNotFound) for an unknown type or one without a flat table.
  FlatTableInfo flat_rebuild(std::string_view type_code);
  /// Drops the flat table of a type; false when it had none. Throws Error(kNotFound) for an
  /// unknown type.
  bool flat_disable(std::string_view type_code);
  /// The flat tables of this tenant's types, with their sync mode and lag.
  std::vector<FlatTableInfo> flat_tables() const;
  /// Statistics of the query shapes this Database ran since open (every successful query(),
  /// including L4 cache hits and Session queries that reach the Database; a Session's own L1
  /// hits are not seen), at most `limit`, highest p99 latency first.
  /// Slow queries also go to Options::slow_query_log as NDJSON lines {"time" (RFC 3339 UTC),
  /// "sql", "params" (each "?" when redacted), "plan", "rows", "duration_ms"}. Thread-safe.
  std::vector<QueryShapeStats> query_shapes(size_t limit = 20) const;
  /// The index advisor: recommendations for one type (or every type the recorded shapes query
  /// when `type_code` is empty), from the recorded query shapes, the planner statistics and the
  /// writes this Database committed, largest estimated net gain first (see IndexAdvice). Only
  /// changes whose estimated gain is positive are listed. Throws Error(kNotFound) for an unknown
  /// type. Thread-safe.
  std::vector<IndexAdvice> advise(std::string_view type_code = {}) const;
  /// Applies one recommendation of advise(): creates the partial text-value index or the
  /// flat-table column index (DDL generated from the catalog, not from `advice.action`), or
  /// enables the flat table; then clears the plan cache. Throws Error(kNotFound) for an unknown
  /// type or attribute, Error(kInvalidArgument) for an unknown kind, a text_index on a non-text
  /// attribute or a flat_index without a covering flat table.
  void apply_advice(const IndexAdvice& advice);
  /// What the automatic advisor (Options::auto_advise) did so far.
  AutoAdviseStatus auto_advise_status() const;
  /// Plan-cache lookups that hit / missed since open.
  std::pair<int64_t, int64_t> plan_cache_counts() const;

  /// Checks the store's consistency (SQLite integrity_check plus eavdb's own invariants);
  /// returns the problems found, empty when intact.
  std::vector<std::string> integrity_check() const;

  /// A new unit of work bound to this database (see session.h).
  Session session();

  // ---- caches -------------------------------------------------------------------------------
  /// Counters of every cache level (L1 counts sessions that have ended).
  CacheStats cache_stats() const;
  /// Drops every cached entity and result of this tenant, in memory and in L3.
  void cache_clear();
  /// Loads entities of `type_code` into L2 (and L3): every entity, or the ids returned by `sql`
  /// (a query over the type whose first column is id; its result is cached in L4 too).
  /// Returns the number of entities loaded. Errors as load() and query().
  int64_t cache_warm(std::string_view type_code, std::string_view sql = {});

  /// The tenant's storage id.
  int64_t tenant_id() const noexcept;
  /// The backend (for layers below the faces: batch, tests).
  storage::Backend& backend() noexcept;

 private:
  friend class Session;
  struct Impl;
  explicit Database(std::unique_ptr<Impl> impl);
  // The cache levels, or nullptr when disabled.
  cache::Caches* caches() const noexcept;
  // query() through L4, returning the shared cached entry (Session's L1 keeps it).
  std::shared_ptr<const cache::CachedResult> query_cached(std::string_view sql, const std::vector<Value>& params,
                                                          const QueryOptions& options = {}) const;
  // Compiles and executes; `before_execute` (the cache's hook) gets the query's tags first.
  QueryResult run_query(std::string_view sql, const std::vector<Value>& params,
                        const std::function<std::optional<QueryResult>(const std::vector<std::string>&)>*
                            before_execute,
                        const QueryOptions& options = {}) const;
  // The automatic advisor's thread body (Options::auto_advise).
  void advisor_loop();
  // The deferred flat-sync worker's thread body, and its wake-up after a commit of `changes`.
  void flat_worker_loop();
  void wake_flat_worker(const ChangeSet& changes);
  std::unique_ptr<Impl> impl_;
};

}  // namespace eavdb
