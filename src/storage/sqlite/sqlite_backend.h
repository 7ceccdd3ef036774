// eavdb::storage::sqlite — the embedded SQLite backend.
//
// One writer connection (commits serialised by a mutex, BEGIN IMMEDIATE transactions) and a
// pool of reader connections (WAL lets them read while a commit runs). Thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "storage/backend.h"
#include "storage/sqlite/connection.h"

namespace eavdb::storage::sqlite {

/// The file path of a database URL: "sqlite:///abs/path" -> "/abs/path", "sqlite://rel" -> "rel",
/// "path" -> "path". Throws Error(kInvalidArgument) for another scheme or an empty path.
std::string path_from_url(std::string_view url);

/// SQLite implementation of Backend.
class SqliteBackend final : public Backend {
 public:
  /// Opens (and when `create`, creates) the file at `path` and migrates its schema to the
  /// current version. Throws Error(kVersion) for a file from a newer eavdb, Error(kStorage) for a
  /// file that is not an eavdb database.
  /// `page_cache_kib` sizes each connection's page cache.
  SqliteBackend(const std::string& path, bool create, int readers, int busy_timeout_ms, int page_cache_kib);
  ~SqliteBackend() override;

  int64_t ensure_tenant(std::string_view code) override;
  std::vector<EntityTypeDef> load_catalog(int64_t tenant_id) override;
  EntityTypeDef save_type(int64_t tenant_id, const EntityTypeDef& def) override;
  bool begin_bulk_load(int64_t expected_rows) override;
  void end_bulk_load() override;
  /// Raises the writer's WAL auto-checkpoint threshold to kBatchCheckpointPages for the batch
  /// (random updates and deletes dirty most pages in every transaction; checkpointing after each
  /// one copied them to the file again each time) and runs one passive checkpoint at the end.
  void begin_batch() override;
  void end_batch() noexcept override;
  /// WAL pages (4 KiB each by default) after which a commit inside a batch checkpoints anyway:
  /// bounds the WAL file of a long batch to about 128 MiB.
  static constexpr int kBatchCheckpointPages = 32768;
  CommitResult commit(const ChangeSet& changes, const BeforeCommit& before_commit = {}) override;
  int64_t data_version() override;
  std::string store_id() override;
  int64_t last_change_seq() override;
  std::vector<Change> changes_since(int64_t after, int64_t limit) override;
  std::vector<std::optional<EntityRecord>> load(int64_t tenant_id, int64_t type_id,
                                                const std::vector<int64_t>& ids) override;
  std::vector<std::optional<int64_t>> find_by_values(int64_t attribute_id, ValueType type,
                                                     const std::vector<Value>& values) override;
  Rows execute(const query::CompiledQuery& q,
               std::optional<std::chrono::steady_clock::time_point> deadline = std::nullopt,
               ExecutionTrace* trace = nullptr) override;
  /// Also reports every (type, attribute) whose eav_count row differs from the rows it counts.
  std::vector<std::string> integrity_check() override;
  std::map<int64_t, int64_t> exact_counts(int64_t type_id) override;
  query::TypeStats analyze(const EntityTypeDef& type) override;
  std::optional<query::TypeStats> load_statistics(int64_t type_id) override;
  std::vector<std::string> backend_plan(const query::CompiledQuery& q) override;
  int64_t count_rows(const std::string& sql, const std::vector<query::SqlParam>& params) override;
  std::vector<flat::FlatTable> flat_tables() override;
  flat::FlatTable flat_build(const EntityTypeDef& type) override;
  bool flat_drop(int64_t type_id) override;
  void flat_set_deferred(const EntityTypeDef& type, bool deferred) override;
  FlatSyncState flat_sync_state(int64_t type_id) override;
  FlatSyncState flat_catch_up(const EntityTypeDef& type) override;
  std::vector<IndexInfo> list_indexes() override;
  void create_index(const std::string& ddl, const std::string& table) override;

  /// Passive WAL checkpoints run on the background checkpointer thread of bulk loads since this
  /// backend opened (each end_bulk_load() runs at least one). Thread-safe.
  int64_t background_checkpoints() const noexcept { return background_checkpoints_.load(std::memory_order_relaxed); }

  /// The schema version this binary writes.
  static int current_schema_version();

 private:
  class ReaderLease;
  class Checkpointer;
  ReaderLease lease_reader();
  void migrate(bool create);
  void rebuild_indexes_locked();
  // Start / stop checkpointer_ and its WAL hook on the writer (write_mu_ held).
  void start_background_checkpoints();
  void stop_background_checkpoints() noexcept;
  // The bulk-load lock: an flock(2) on "<file>-bulkload", held by the process whose load dropped
  // the indexes, from before the 'indexes_deferred' mark is written until the indexes are back.
  // The kernel releases it when that process dies, so an opener can tell a live load (leave its
  // indexes alone) from a crashed one (rebuild them). Returns the locked descriptor, or -1 when
  // another descriptor holds the lock. Throws Error(kIo) when the file cannot be opened.
  int try_bulk_lock() const;
  void fill_star_rows(Connection& c, const query::CompiledQuery& q, Rows& rows);
  struct CommitContext;
  // Applies one write (the per-write path: sessions, mixed chunks, isolation replay).
  void write_entity(CommitContext& ctx, size_t index);
  // Throws Error(kConstraint) when a unique attribute value of write `index` is held elsewhere.
  void check_unique(CommitContext& ctx, size_t index);
  // Applies writes [begin, end) with multi-row / set-based statements; false when the chunk
  // does not qualify (then nothing was written).
  bool write_chunk_set_based(CommitContext& ctx, size_t begin, size_t end);
  // SQLite's mapping of the WAL-index header (first 96 bytes of the -shm file) through
  // version_conn_'s VFS, or nullptr when not mapped. Caller holds version_mu_.
  const unsigned char* wal_index_header();
  // Adds the pending eav_count deltas of ctx (one upsert per touched (type, attribute)) and
  // clears them; runs inside the savepoint of the chunk or replayed write they belong to.
  void apply_count_deltas(CommitContext& ctx);
  // Appends the commit's rows to eav_invalidation and prunes old ones.
  void log_invalidations(Connection& c, const ChangeSet& changes, CommitResult& out, bool announced);
  // Inside the commit's transaction: re-syncs the flat tables of the written types and adds the
  // written entities to each type's modification counter (eav_type_stats).
  void sync_planner_state(Connection& c, const ChangeSet& changes, const CommitResult& out);

  std::string path_;
  std::string store_id_;
  int bulk_lock_fd_ = -1;  // held while this backend's bulk load has the indexes dropped
  // Checkpoints the WAL on its own thread and connection while this backend's bulk load runs
  // (begin_bulk_load .. end_bulk_load); guarded by write_mu_.
  std::unique_ptr<Checkpointer> checkpointer_;
  std::atomic<int64_t> background_checkpoints_{0};
  int busy_timeout_ms_;
  int page_cache_kib_;
  std::mutex write_mu_;
  std::unique_ptr<Connection> writer_;
  int batch_depth_ = 0;  ///< open begin_batch() calls; guarded by write_mu_
  std::mutex version_mu_;
  std::unique_ptr<Connection> version_conn_;  ///< only runs PRAGMA data_version
  unsigned char shm_header_[96] = {};         ///< the header as of last_data_version_
  bool have_shm_header_ = false;
  int64_t last_data_version_ = 0;
  std::mutex pool_mu_;
  std::condition_variable pool_cv_;
  std::vector<std::unique_ptr<Connection>> idle_readers_;
  int readers_total_ = 0;
  int readers_max_ = 0;
};

}  // namespace eavdb::storage::sqlite
