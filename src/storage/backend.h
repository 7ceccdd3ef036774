// eavdb::storage — the backend interface: everything the layers above need from a database.
//
// One implementation today (sqlite/); PostgreSQL comes later behind the same interface.
// Implementations are thread-safe: commit() is serialised internally, reads may run concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "eavdb/changeset.h"
#include "eavdb/result.h"
#include "eavdb/schema.h"
#include "flat/flat.h"
#include "query/compiler.h"
#include "query/statistics.h"

namespace eavdb::storage {

/// Raw result rows of a compiled query, decoded with CompiledQuery::columns' types.
using Rows = std::vector<std::vector<Value>>;

/// A storage backend.
class Backend {
 public:
  virtual ~Backend() = default;

  /// The id of tenant `code`, created when absent.
  virtual int64_t ensure_tenant(std::string_view code) = 0;
  /// Every entity type of a tenant with its attributes (attributes ordered by id).
  virtual std::vector<EntityTypeDef> load_catalog(int64_t tenant_id) = 0;
  /// Creates the type if absent and adds the attributes it lacks (matched by code); returns the
  /// stored definition with ids. Throws Error(kSchema) when an existing attribute would change type.
  virtual EntityTypeDef save_type(int64_t tenant_id, const EntityTypeDef& def) = 0;

  /// Before a bulk load of about `expected_rows` entities: when that is at least as many as the
  /// store holds (and ≥ 10,000), drops the secondary indexes so the load only appends, and
  /// records that in the store. Returns true when it did; the caller must then call
  /// end_bulk_load(). While the load runs, other openers leave the indexes dropped (SQLite: the
  /// loader holds an flock on "<file>-bulkload"); a crash in between is repaired by the next open
  /// (indexes rebuilt). Returns false when another load already dropped them.
  virtual bool begin_bulk_load(int64_t expected_rows) = 0;
  /// Rebuilds the indexes that begin_bulk_load dropped.
  virtual void end_bulk_load() = 0;
  /// Bracket a batch of many commits (BatchProcessor): in between, the backend may postpone
  /// housekeeping that each commit would otherwise do and do it once in end_batch() (SQLite: WAL
  /// checkpoints). Calls nest and may come from several threads; every begin_batch() needs one
  /// end_batch(). end_batch() never throws. Defaults: nothing.
  virtual void begin_batch() {}
  virtual void end_batch() noexcept {}

  /// Runs inside the commit transaction after every write succeeded and just before COMMIT, with
  /// the result (ids and new versions): the caches announce the new versions to L3 there. Returns
  /// false when that announcement did not reach L3 (it is then recorded in the invalidation log,
  /// so other processes catch L3 up). An exception from it rolls the transaction back.
  using BeforeCommit = std::function<bool(const CommitResult&)>;
  /// Applies a ChangeSet atomically (see Database::commit for errors), calling `before_commit`
  /// (when set) just before COMMIT.
  virtual CommitResult commit(const ChangeSet& changes, const BeforeCommit& before_commit = {}) = 0;

  /// One invalidation-log row: entity `entity_id` of `type_id` changed (entity_id 0: any entity
  /// of the type).
  struct Change {
    int64_t seq = 0;
    int64_t tenant_id = 0;
    int64_t type_id = 0;
    int64_t entity_id = 0;
    int64_t version = 0;    ///< the entity's new version; 0 for a delete or a per-type row
    bool announced = true;  ///< false: the committer could not announce the change to L3
  };
  /// A counter that changes whenever another connection (of any process) committed since the
  /// previous call (SQLite: PRAGMA data_version on a dedicated connection). Cheap: no table read.
  virtual int64_t data_version() = 0;
  /// A random id generated when the store was created: names the store in shared caches.
  virtual std::string store_id() = 0;
  /// The newest invalidation-log sequence number (0 when empty).
  virtual int64_t last_change_seq() = 0;
  /// Log rows with seq > `after`, ascending, at most `limit`.
  virtual std::vector<Change> changes_since(int64_t after, int64_t limit) = 0;

  /// Loads entities of type `type_id` (tenant `tenant_id`) by id in one read snapshot;
  /// index-aligned with `ids` (any order, repeats allowed: each gets the record), nullopt where
  /// missing; values ordered by attribute id. Uses a fixed number of statements regardless of
  /// ids.size() (SQLite: at most 10); ids that ascend strictly skip the internal sort.
  virtual std::vector<std::optional<EntityRecord>> load(int64_t tenant_id, int64_t type_id,
                                                        const std::vector<int64_t>& ids) = 0;

  /// Entity ids holding each of `values` for attribute `attribute_id` of type `type` (a unique
  /// attribute: at most one holder each); index-aligned, nullopt where no entity has the value.
  /// One statement per call, whatever values.size().
  virtual std::vector<std::optional<int64_t>> find_by_values(int64_t attribute_id, ValueType type,
                                                             const std::vector<Value>& values) = 0;

  /// Runs the backend's own consistency check (SQLite: PRAGMA integrity_check, plus the exact
  /// counts of exact_counts() against the rows they count); returns the problems found, empty
  /// when the store is intact.
  virtual std::vector<std::string> integrity_check() = 0;

  /// The exact counts of type `type_id` as of the last commit, maintained by commit() in the
  /// same transaction as the writes: key 0 -> live entities of the type, key A -> entities of
  /// the type holding a (non-null) value of attribute A. Absent keys mean 0 (a stored 0 may also
  /// appear). One read of one snapshot; thread-safe.
  virtual std::map<int64_t, int64_t> exact_counts(int64_t type_id) = 0;

  /// What one execute() ran besides its main statement, for EXPLAIN ANALYZE's per-node actual
  /// rows. Times in ms of wall time; -1: did not run.
  struct ExecutionTrace {
    /// A bounded walk (query::CompiledQuery::walk_fallback): the rows its statement returned (a
    /// descending walk reads one past its page), -1 when its guard matched first.
    int64_t walk_rows = -1;
    double walk_ms = -1;
    bool walk_guard_matched = false;  ///< a NULLS FIRST flat walk's guard found a row without the key
    bool walk_fallback = false;       ///< the walk was not exact: its fallback statement answered
    bool walk_key_reread = false;     ///< the page cut its last key's run: that key re-read by id
    /// An index intersection (query::CompiledQuery::id_scans): ids each lookup returned, in order,
    /// and the ids they all share.
    std::vector<int64_t> id_scan_rows;
    int64_t id_set_rows = -1;
    double id_scan_ms = -1;
  };

  /// Runs compiled query SQL in one read snapshot and decodes its rows by `q.columns`. For
  /// SELECT * (q.select_star) each row is [id, every attribute of q.type in definition order].
  /// With `deadline`, statements are interrupted once it passes: Error(kTimeout), nothing kept.
  /// With `trace`, records what ran besides the main statement (reset first).
  virtual Rows execute(const query::CompiledQuery& q,
                       std::optional<std::chrono::steady_clock::time_point> deadline = std::nullopt,
                       ExecutionTrace* trace = nullptr) = 0;

  // ---- planner support ------------------------------------------------------------------------
  /// Computes the statistics of `type` in one read snapshot (sorted scans of each attribute's
  /// (attribute_id, value) index, see query::AttributeStatsBuilder), stores them and subtracts the
  /// writes seen by the scan from the type's modification counter. Returns them.
  virtual query::TypeStats analyze(const EntityTypeDef& type) = 0;
  /// The stored statistics of a type with its current modification counter, or std::nullopt
  /// when it was never analyzed.
  virtual std::optional<query::TypeStats> load_statistics(int64_t type_id) = 0;
  /// The backend's own plan for compiled SQL (SQLite: EXPLAIN QUERY PLAN lines, indented by depth).
  virtual std::vector<std::string> backend_plan(const query::CompiledQuery& q) = 0;
  /// Runs `SELECT count(*) FROM (<sql>)` with `params` (EXPLAIN ANALYZE's per-node actual rows).
  virtual int64_t count_rows(const std::string& sql, const std::vector<query::SqlParam>& params) = 0;

  // ---- flat tables ------------------------------------------------------------------------------
  /// Every registered flat table (of every tenant; type ids are global).
  virtual std::vector<flat::FlatTable> flat_tables() = 0;
  /// Creates, or rebuilds, the flat table of `type` covering flat::covered_attributes(type): builds
  /// it under a shadow name, fills it from the EAV tables, then drops the old table and renames the
  /// shadow in the same write transaction (WAL readers keep reading the old one meanwhile).
  /// Registers the table so every later commit syncs it. Returns the registration.
  virtual flat::FlatTable flat_build(const EntityTypeDef& type) = 0;
  /// Drops the flat table of type `type_id` and its registration; false when it had none.
  virtual bool flat_drop(int64_t type_id) = 0;

  /// Sync state of a flat table (see flat_set_deferred).
  struct FlatSyncState {
    bool deferred = false;   ///< false: on-commit (always fresh)
    int64_t synced_seq = 0;  ///< deferred: the change-log seq the table reflects (every change up to it)
    int64_t synced_at = 0;   ///< deferred: µs since epoch of the last catch-up
    int64_t lag = 0;         ///< deferred: change-log rows of the type after synced_seq (0: fresh)
  };
  /// Switches the flat table of `type_id` to deferred sync (commits no longer maintain it; see
  /// flat_catch_up) or back to on-commit (then catches it up in the same transaction). The state
  /// lives in eav_meta('flat_deferred:<type id>'), so a binary without deferred sync keeps
  /// maintaining the table on commit (it only gets fresher). Throws Error(kNotFound) when the
  /// type has no flat table.
  virtual void flat_set_deferred(const EntityTypeDef& type, bool deferred) = 0;
  /// The sync state of a flat table, read in one snapshot (deferred=false for on-commit or none).
  virtual FlatSyncState flat_sync_state(int64_t type_id) = 0;
  /// In one write transaction: applies to the deferred flat table of `type` every change logged
  /// after its synced_seq (re-syncing the changed ids; the whole table when the log names the
  /// type only or was pruned past it) and records the newest seq. No-op for on-commit tables.
  /// Returns the state after.
  virtual FlatSyncState flat_catch_up(const EntityTypeDef& type) = 0;

  // ---- index advisor ----------------------------------------------------------------------------
  /// One secondary index of the store.
  struct IndexInfo {
    std::string name;
    std::string table;
  };
  /// Every named secondary index (SQLite: sqlite_master), ordered by name.
  virtual std::vector<IndexInfo> list_indexes() = 0;
  /// Runs one DDL statement generated by eavdb (CREATE INDEX ...; never user text) in its own
  /// write transaction, then ANALYZEs the index's table so the backend's planner knows it.
  virtual void create_index(const std::string& ddl, const std::string& table) = 0;
};

}  // namespace eavdb::storage
