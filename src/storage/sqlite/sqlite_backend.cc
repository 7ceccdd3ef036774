#include "storage/sqlite/sqlite_backend.h"

#include <fmt/format.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>


#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <charconv>
#include <iterator>
#include <cstdint>
#include <cstring>
#include <chrono>
#include <map>
#include <set>
#include <thread>
#include <tuple>
#include <unordered_map>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>

#include "eavdb/error.h"
#include "storage/deadline.h"
#include "storage/sqlite/schema.sql.h"

namespace eavdb::storage::sqlite {

std::string path_from_url(std::string_view url) {
  constexpr std::string_view kScheme = "sqlite://";
  if (url.starts_with(kScheme)) url.remove_prefix(kScheme.size());
  else if (url.find("://") != std::string_view::npos)
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("unsupported database URL '{}': use sqlite:///path or a file path", url));
  if (url.empty()) throw Error(ErrorCode::kInvalidArgument, "empty database path");
  return std::string(url);
}

namespace {

// Bytes of the database file each reader connection maps (lease_reader).
constexpr int64_t kReaderMmapBytes = int64_t{256} << 20;

// Page cache (KiB) while CREATE INDEX sorts (rebuild_indexes_locked).
constexpr int kIndexSortKib = 1024;
// During a bulk load, a commit that leaves at least this many frames in the WAL asks the
// background checkpointer to copy them into the database file (SQLite's own auto-checkpoint
// threshold, which a batch raises to kBatchCheckpointPages).
constexpr int kBackgroundCheckpointFrames = 1000;

constexpr ValueType kAllTypes[] = {ValueType::kVarchar, ValueType::kInt, ValueType::kDecimal,
                                   ValueType::kDatetime, ValueType::kText};

std::string value_table(ValueType t) { return fmt::format("eav_value_{}", value_type_name(t)); }

// Bytes of B-tree pages per row of flat table `table` (its pages x page size / its rows), for the
// planner's page-read model (flat::FlatTable::row_bytes); 0 when the table is empty or the
// SQLite library lacks the dbstat virtual table. Walks the table's pages once (~0.1 s for
// 36,000 pages), so it runs at flat build and analyze time only.
double measure_flat_row_bytes(Connection& c, const std::string& table) {
  try {
    Statement st = c.prepare(fmt::format(
        "SELECT (SELECT sum(pgsize) FROM dbstat WHERE name = ?1), (SELECT count(*) FROM \"{}\")", table));
    st.bind(1, std::string_view(table));
    if (!st.step() || st.is_null(0) || st.column_int(1) == 0) return 0;
    return static_cast<double>(st.column_int(0)) / static_cast<double>(st.column_int(1));
  } catch (const Error&) {
    return 0;
  }
}

// Records a measured row width (see measure_flat_row_bytes) in eav_meta('flat_row_bytes:<type>').
void store_flat_row_bytes(Connection& c, int64_t type_id, double bytes) {
  if (bytes <= 0) return;
  Statement st = c.prepare(
      "INSERT INTO eav_meta(key, value) VALUES('flat_row_bytes:' || ?1, ?2)"
      " ON CONFLICT(key) DO UPDATE SET value = ?2");
  st.bind(1, type_id);
  st.bind(2, std::string_view(fmt::format("{:.1f}", bytes)));
  st.run();
}

int64_t now_micros() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

// A JSON array of ids, bound to `json_each(?)` so one statement serves any number of ids.
std::string id_array(const std::vector<int64_t>& ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(ids[i]);
  }
  s += ']';
  return s;
}

// Adds to each record in `found` its attribute values, read with one statement per value table
// for all the ids in `json` (a JSON array).
void load_values(Connection& c, const std::string& json, std::unordered_map<int64_t, EntityRecord>& found) {
  for (ValueType t : kAllTypes) {
    Statement st = c.prepare(fmt::format(
        "SELECT entity_id, attribute_id, value FROM {} WHERE entity_id IN (SELECT value FROM json_each(?))",
        value_table(t)));
    st.bind(1, std::string_view(json));
    while (st.step()) {
      auto it = found.find(st.column_int(0));
      if (it != found.end()) it->second.values.emplace_back(st.column_int(1), st.column_value(2, t));
    }
  }
}

// Counts occurrences per attribute id: few distinct keys, each added many times. A direct-mapped
// cache (key mod kCache -> position) makes the usual lookup one comparison, with no hashing or
// allocation; a miss searches the short list of keys.
class AttributeCounter {
 public:
  void add(int64_t key) {
    ++total_;
    uint32_t& slot = cache_[static_cast<uint64_t>(key) % kCache];
    if (slot < counts_.size() && counts_[slot].first == key) {
      ++counts_[slot].second;
      return;
    }
    for (uint32_t i = 0; i < counts_.size(); ++i)
      if (counts_[i].first == key) {
        ++counts_[i].second;
        slot = i;
        return;
      }
    slot = static_cast<uint32_t>(counts_.size());
    counts_.emplace_back(key, 1);
  }
  /// (key, occurrences) in order of first occurrence.
  const std::vector<std::pair<int64_t, int64_t>>& counts() const { return counts_; }
  /// Keys added so far.
  int64_t total() const { return total_; }

 private:
  static constexpr size_t kCache = 64;
  std::vector<std::pair<int64_t, int64_t>> counts_;
  std::array<uint32_t, kCache> cache_ = {};  ///< key mod kCache -> its likely position in counts_
  int64_t total_ = 0;
};

// The counter that eavdb_tally() adds to on this thread (the committing thread runs the writer's
// statements), or nullptr.
thread_local AttributeCounter* active_tally = nullptr;

// SQL eavdb_tally(attribute_id, x): counts one row of attribute_id in the active TallyScope and
// returns x unchanged. Put in a DELETE's WHERE (x = 1) it counts the rows the DELETE removes; in
// an upsert's DO UPDATE SET (x = excluded.value) the rows it replaces — per row, without reading
// any row twice.
void tally_function(sqlite3_context* ctx, int, sqlite3_value** argv) {
  if (active_tally) active_tally->add(sqlite3_value_int64(argv[0]));
  sqlite3_result_value(ctx, argv[1]);
}

// Makes `counter` the one eavdb_tally() adds to while the scope lives.
class TallyScope {
 public:
  explicit TallyScope(AttributeCounter& counter) : previous_(active_tally) { active_tally = &counter; }
  ~TallyScope() { active_tally = previous_; }
  TallyScope(const TallyScope&) = delete;
  TallyScope& operator=(const TallyScope&) = delete;

 private:
  AttributeCounter* previous_;
};

// Runs `fn` inside BEGIN IMMEDIATE / COMMIT, rolling back on any exception.
template <typename Fn>
void in_transaction(Connection& c, Fn&& fn) {
  c.prepare("BEGIN IMMEDIATE").run();
  try {
    fn();
    c.prepare("COMMIT").run();
  } catch (...) {
    sqlite3_exec(c.raw(), "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

}  // namespace

// A reader connection borrowed from the pool; returned on destruction. Leased under a
// DeadlineScope, its statements are interrupted once that deadline passes (Error(kTimeout)):
// SQLite calls the progress handler every kProgressSteps VM instructions, and a non-zero return
// interrupts the running statement (SQLITE_INTERRUPT).
class SqliteBackend::ReaderLease {
 public:
  static constexpr int kProgressSteps = 1000;

  ReaderLease(SqliteBackend* owner, std::unique_ptr<Connection> c) : owner_(owner), c_(std::move(c)) {
    if (DeadlineScope* scope = DeadlineScope::current()) {
      limited_ = true;
      sqlite3_progress_handler(
          c_->raw(), kProgressSteps,
          [](void* p) -> int {
            auto* s = static_cast<DeadlineScope*>(p);
            if (std::chrono::steady_clock::now() < s->deadline()) return 0;
            s->mark_fired();
            return 1;
          },
          scope);
    }
  }
  ReaderLease(ReaderLease&& o) noexcept : owner_(o.owner_), c_(std::move(o.c_)), limited_(o.limited_) {}
  ~ReaderLease() {
    if (!c_) return;
    clear_deadline();
    std::lock_guard lock(owner_->pool_mu_);
    owner_->idle_readers_.push_back(std::move(c_));
    owner_->pool_cv_.notify_one();
  }
  Connection* operator->() const { return c_.get(); }
  Connection& operator*() const { return *c_; }
  /// Removes the deadline's progress handler (before ending a transaction, which must never be
  /// interrupted); later statements run unlimited.
  void clear_deadline() noexcept {
    if (limited_) sqlite3_progress_handler(c_->raw(), 0, nullptr, nullptr);
    limited_ = false;
  }

 private:
  SqliteBackend* owner_;
  std::unique_ptr<Connection> c_;
  bool limited_ = false;  ///< a DeadlineScope's progress handler is installed
};

// Runs passive WAL checkpoints on a thread and connection of its own whenever asked: during a
// bulk load the writer's commits append to the WAL while this copies the frames already
// committed into the database file, on the core that the loader's parser leaves idle, instead
// of one long checkpoint after the load (and during the index rebuild, when the loading thread
// waits). A passive checkpoint never blocks the writer or readers and copies only committed
// frames; one that cannot finish (SQLITE_BUSY: another connection checkpoints) is no error, the
// final checkpoint of end_batch() copies the rest. Thread-safe.
class SqliteBackend::Checkpointer {
 public:
  Checkpointer(const std::string& path, int busy_timeout_ms, std::atomic<int64_t>& runs)
      : conn_(path, false, busy_timeout_ms, 256), runs_(runs), thread_([this] { run(); }) {}
  ~Checkpointer() { stop(); }
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  /// Asks for a checkpoint; returns at once. Requests made while one runs coalesce into one more.
  void request() {
    {
      std::lock_guard lock(mu_);
      requested_ = true;
    }
    cv_.notify_one();
  }
  /// Runs a pending request (and lets a running checkpoint finish), then ends the thread.
  /// Idempotent.
  void stop() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void run() {
    std::unique_lock lock(mu_);
    while (true) {
      cv_.wait(lock, [this] { return requested_ || stopping_; });
      if (!requested_) return;  // stopping, nothing pending
      requested_ = false;
      lock.unlock();
      sqlite3_wal_checkpoint_v2(conn_.raw(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
      runs_.fetch_add(1, std::memory_order_relaxed);
      lock.lock();
    }
  }

  Connection conn_;
  std::atomic<int64_t>& runs_;  ///< SqliteBackend::background_checkpoints_
  std::mutex mu_;
  std::condition_variable cv_;
  bool requested_ = false;  ///< guarded by mu_
  bool stopping_ = false;   ///< guarded by mu_
  std::thread thread_;      ///< declared last: starts once the members above exist
};

SqliteBackend::SqliteBackend(const std::string& path, bool create, int readers, int busy_timeout_ms,
                             int page_cache_kib)
    : path_(path), busy_timeout_ms_(busy_timeout_ms), page_cache_kib_(page_cache_kib), readers_max_(std::max(1, readers)) {
  writer_ = std::make_unique<Connection>(path, create, busy_timeout_ms, page_cache_kib);
  // The commit funnel's row counter (see tally_function); the writer's own, not SQL users'.
  check(writer_->raw(),
        sqlite3_create_function_v2(writer_->raw(), "eavdb_tally", 2, SQLITE_UTF8 | SQLITE_DIRECTONLY, nullptr,
                                   tally_function, nullptr, nullptr, nullptr),
        "register eavdb_tally");
  migrate(create);
  std::lock_guard lock(write_mu_);
  {
    Statement st = writer_->prepare("SELECT value FROM eav_meta WHERE key = 'store_id'");
    if (st.step()) store_id_ = st.column_text(0);
  }
  if (store_id_.empty()) {
    writer_->exec("INSERT OR IGNORE INTO eav_meta(key, value) VALUES('store_id', lower(hex(randomblob(16))))");
    Statement st = writer_->prepare("SELECT value FROM eav_meta WHERE key = 'store_id'");
    st.step();
    store_id_ = st.column_text(0);
  }
}

std::string SqliteBackend::store_id() { return store_id_; }

SqliteBackend::~SqliteBackend() {
  stop_background_checkpoints();  // a load that never ended
  if (bulk_lock_fd_ >= 0) ::close(bulk_lock_fd_);  // a load that never ended: the next open repairs it
}

int SqliteBackend::try_bulk_lock() const {
  const std::string lock_path = path_ + "-bulkload";
  const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(ErrorCode::kIo, fmt::format("bulk load lock '{}': {}", lock_path, std::strerror(errno)));
  if (::flock(fd, LOCK_EX | LOCK_NB) == 0) return fd;
  ::close(fd);
  return -1;
}

int SqliteBackend::current_schema_version() { return static_cast<int>(kMigrations.size()); }

void SqliteBackend::migrate(bool create) {
  std::lock_guard lock(write_mu_);
  Connection& c = *writer_;
  const int target = current_schema_version();
  // The file's schema version: 0 for a new (empty) file. Throws for a foreign SQLite file, for a
  // missing database when !create, and for a version newer than this eavdb.
  auto read_version = [&] {
    int version = 0;
    Statement st = c.prepare("SELECT count(*) FROM sqlite_schema WHERE name = 'eav_meta'");
    st.step();
    if (st.column_int(0) > 0) {
      Statement v = c.prepare("SELECT value FROM eav_meta WHERE key = 'schema_version'");
      if (v.step()) version = std::stoi(v.column_text(0));
    } else {
      Statement any = c.prepare("SELECT count(*) FROM sqlite_schema");
      any.step();
      if (any.column_int(0) > 0)
        throw Error(ErrorCode::kStorage, fmt::format("'{}' is a SQLite file but not an eavdb database", path_));
      if (!create) throw Error(ErrorCode::kNotFound, fmt::format("'{}' holds no eavdb database", path_));
    }
    if (version > target)
      throw Error(ErrorCode::kVersion,
                  fmt::format("'{}' has schema version {}, this eavdb supports up to {}: upgrade eavdb",
                              path_, version, target));
    return version;
  };
  if (read_version() < target) {
    // Another process may be creating or upgrading the same file at this moment (an importer and
    // a poller started together): the version read above may already be stale. BEGIN IMMEDIATE
    // waits for that process's migration to commit; the version read again under the write lock
    // decides what is left to do (before, both ran the migrations and the second failed with
    // "table eav_meta already exists").
    in_transaction(c, [&] {
      const int version = read_version();
      if (version == target) return;
      for (int v = version; v < target; ++v) c.exec(kMigrations[v]);
      c.exec(fmt::format(
          "INSERT INTO eav_meta(key, value) VALUES('schema_version', '{}') "
          "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
          target));
    });
  }
  // Repairs a bulk load that died with its indexes dropped; a load still running in another
  // process (it holds the bulk-load lock) keeps its indexes dropped until it ends.
  {
    Statement st = c.prepare("SELECT count(*) FROM eav_meta WHERE key = 'indexes_deferred'");
    st.step();
    if (st.column_int(0) == 0) return;
  }
  int fd = -1;
  try {
    fd = try_bulk_lock();
    if (fd < 0) return;
  } catch (const Error&) {
    // No lock file (e.g. an unwritable directory): no load can be running there; repair.
  }
  try {
    rebuild_indexes_locked();
  } catch (...) {
    if (fd >= 0) ::close(fd);
    throw;
  }
  if (fd >= 0) ::close(fd);
}

void SqliteBackend::rebuild_indexes_locked() {
  Connection& c = *writer_;
  {
    Statement st = c.prepare("SELECT count(*) FROM eav_meta WHERE key = 'indexes_deferred'");
    st.step();
    if (st.column_int(0) == 0) return;
  }  // reset before DDL: an active statement would lock the schema
  // CREATE INDEX sorts its keys in runs of at most the page cache's size. One run of the whole
  // index in the 32 MiB cache is a cache-hostile sort; runs of kIndexSortKib fit the CPU caches
  // and merge fast (measured on flights-200k: the whole import's CPU time fell by about a fifth
  // with 1 MiB runs; 256 KiB and 4 MiB were no better, sorter worker threads no help on 2
  // cores). The cache size is restored afterwards, also on error.
  c.exec(fmt::format("PRAGMA cache_size = -{}", kIndexSortKib));
  try {
    in_transaction(c, [&] {
      for (const auto& [name, ddl] : kDeferrableIndexes) c.exec(ddl);
      c.exec("DELETE FROM eav_meta WHERE key = 'indexes_deferred'");
    });
  } catch (...) {
    sqlite3_exec(c.raw(), fmt::format("PRAGMA cache_size = -{}", std::max(64, page_cache_kib_)).c_str(), nullptr, nullptr, nullptr);
    throw;
  }
  c.exec(fmt::format("PRAGMA cache_size = -{}", std::max(64, page_cache_kib_)));
}

bool SqliteBackend::begin_bulk_load(int64_t expected_rows) {
  constexpr int64_t kMinRows = 10000;
  if (expected_rows < kMinRows) return false;
  std::lock_guard lock(write_mu_);
  Connection& c = *writer_;
  if (bulk_lock_fd_ >= 0) return false;  // this backend's own load already dropped them
  int fd = -1;
  try {
    fd = try_bulk_lock();
  } catch (const Error&) {
    return false;  // without the lock a crash could not be told from a live load: keep the indexes
  }
  if (fd < 0) return false;  // another process's load has them dropped, or is just ending
  bool dropped = false;
  try {
  in_transaction(c, [&] {
    {
      Statement deferred = c.prepare("SELECT count(*) FROM eav_meta WHERE key = 'indexes_deferred'");
      deferred.step();
      if (deferred.column_int(0) > 0) return;  // another load already dropped them
    }
    {
      Statement held = c.prepare("SELECT count(*) FROM eav_entity");
      held.step();
      if (held.column_int(0) > expected_rows) return;  // rebuilding would cost more than it saves
    }  // statements reset before DDL: an active one would lock the schema
    for (const auto& [name, ddl] : kDeferrableIndexes) c.exec(fmt::format("DROP INDEX IF EXISTS {}", name));
    c.exec("INSERT INTO eav_meta(key, value) VALUES('indexes_deferred', '1')");
    dropped = true;
  });
  } catch (...) {
    ::close(fd);
    throw;
  }
  if (!dropped) {
    ::close(fd);
    return false;
  }
  bulk_lock_fd_ = fd;  // held until end_bulk_load has rebuilt the indexes
  start_background_checkpoints();
  return true;
}

void SqliteBackend::start_background_checkpoints() {
  try {
    checkpointer_ = std::make_unique<Checkpointer>(path_, busy_timeout_ms_, background_checkpoints_);
  } catch (const Error&) {
    return;  // no second connection: the writer's own (auto-)checkpoints do the work
  }
  // Replaces the auto-checkpoint hook (sqlite3_wal_autocheckpoint) until end_bulk_load. Runs on
  // the committing thread, after COMMIT, with write_mu_ held.
  sqlite3_wal_hook(
      writer_->raw(),
      [](void* self, sqlite3* db, const char* schema, int frames) -> int {
        if (frames >= kBatchCheckpointPages) {
          // The WAL grew past a batch's bound anyway (a checkpoint could not keep up, or a
          // reader pins old frames): checkpoint inline, as the auto-checkpoint would.
          sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
        } else if (frames >= kBackgroundCheckpointFrames) {
          static_cast<Checkpointer*>(self)->request();
        }
        return SQLITE_OK;
      },
      checkpointer_.get());
}

void SqliteBackend::stop_background_checkpoints() noexcept {
  if (!checkpointer_) return;
  // The hook goes first: it points at the checkpointer.
  sqlite3_wal_autocheckpoint(writer_->raw(), batch_depth_ > 0 ? kBatchCheckpointPages : 1000);
  checkpointer_->stop();
  checkpointer_.reset();
}

void SqliteBackend::end_bulk_load() {
  std::lock_guard lock(write_mu_);
  // The rows are all committed: their WAL frames are copied into the file while the indexes
  // are rebuilt, and the rebuilt indexes' own frames are the final checkpoint's work.
  if (checkpointer_) checkpointer_->request();
  try {
    rebuild_indexes_locked();
  } catch (...) {
    stop_background_checkpoints();
    throw;
  }
  stop_background_checkpoints();
  if (bulk_lock_fd_ >= 0) {
    ::close(bulk_lock_fd_);
    bulk_lock_fd_ = -1;
  }
}

void SqliteBackend::begin_batch() {
  std::lock_guard lock(write_mu_);
  // (While a bulk load's checkpointer runs, its WAL hook stays: stop_background_checkpoints()
  // restores the batch threshold.)
  if (batch_depth_++ == 0 && !checkpointer_) sqlite3_wal_autocheckpoint(writer_->raw(), kBatchCheckpointPages);
}

void SqliteBackend::end_batch() noexcept {
  std::lock_guard lock(write_mu_);
  if (batch_depth_ == 0 || --batch_depth_ > 0) return;
  if (!checkpointer_) sqlite3_wal_autocheckpoint(writer_->raw(), 1000);  // SQLite's default, as Connection opens it
  // Passive: copies what no reader still needs and never waits; SQLITE_BUSY is not an error here
  // (the next commit past the threshold, or the last close, checkpoints the rest).
  sqlite3_wal_checkpoint_v2(writer_->raw(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
}

SqliteBackend::ReaderLease SqliteBackend::lease_reader() {
  std::unique_lock lock(pool_mu_);
  for (;;) {
    if (!idle_readers_.empty()) {
      auto c = std::move(idle_readers_.back());
      idle_readers_.pop_back();
      return ReaderLease(this, std::move(c));
    }
    if (readers_total_ < readers_max_) {
      ++readers_total_;
      lock.unlock();
      try {
        auto c = std::make_unique<Connection>(path_, false, busy_timeout_ms_, page_cache_kib_);
        // Readers map the file (up to kReaderMmapBytes) instead of copying every page they touch
        // into their page cache with pread and a malloc per page: a bulk load of 10,000 random
        // ids of flights-200k spent about half its CPU time there (measured: 0.27 s -> 0.14 s).
        // The writer keeps pread/pwrite, and WAL frames are read as before.
        c->exec(fmt::format("PRAGMA mmap_size = {}", kReaderMmapBytes));
        return ReaderLease(this, std::move(c));
      } catch (...) {
        std::lock_guard relock(pool_mu_);
        --readers_total_;
        throw;
      }
    }
    pool_cv_.wait(lock);
  }
}

int64_t SqliteBackend::ensure_tenant(std::string_view code) {
  std::lock_guard lock(write_mu_);
  Connection& c = *writer_;
  {
    Statement ins = c.prepare("INSERT INTO eav_tenant(code) VALUES(?) ON CONFLICT(code) DO NOTHING");
    ins.bind(1, code);
    ins.run();
  }
  Statement sel = c.prepare("SELECT id FROM eav_tenant WHERE code = ?");
  sel.bind(1, code);
  if (!sel.step()) throw Error(ErrorCode::kStorage, "tenant row vanished");
  return sel.column_int(0);
}

std::vector<EntityTypeDef> SqliteBackend::load_catalog(int64_t tenant_id) {
  auto reader = lease_reader();
  std::vector<EntityTypeDef> types;
  std::unordered_map<int64_t, size_t> index;
  {
    Statement st = reader->prepare("SELECT id, code, label FROM eav_entity_type WHERE tenant_id = ? ORDER BY code");
    st.bind(1, tenant_id);
    while (st.step()) {
      EntityTypeDef t;
      t.id = st.column_int(0);
      t.code = st.column_text(1);
      t.label = st.column_text(2);
      index[t.id] = types.size();
      types.push_back(std::move(t));
    }
  }
  Statement st = reader->prepare(
      "SELECT a.type_id, a.id, a.code, a.label, a.value_type, a.required, a.is_unique, a.filterable,"
      " a.sortable, a.default_value FROM eav_attribute a JOIN eav_entity_type t ON t.id = a.type_id"
      " WHERE t.tenant_id = ? ORDER BY a.id");
  st.bind(1, tenant_id);
  while (st.step()) {
    AttributeDef a;
    a.id = st.column_int(1);
    a.code = st.column_text(2);
    a.label = st.column_text(3);
    auto vt = parse_value_type(st.column_text(4));
    if (!vt) throw Error(ErrorCode::kStorage, "corrupt attribute type: " + st.column_text(4));
    a.type = *vt;
    a.required = st.column_int(5) != 0;
    a.unique = st.column_int(6) != 0;
    a.filterable = st.column_int(7) != 0;
    a.sortable = st.column_int(8) != 0;
    if (!st.is_null(9)) a.default_value = coerce(Value(st.column_text(9)), a.type);
    types[index.at(st.column_int(0))].attributes.push_back(std::move(a));
  }
  return types;
}

EntityTypeDef SqliteBackend::save_type(int64_t tenant_id, const EntityTypeDef& def) {
  {
    std::lock_guard lock(write_mu_);
    Connection& c = *writer_;
    in_transaction(c, [&] {
      {
        Statement ins = c.prepare(
            "INSERT INTO eav_entity_type(tenant_id, code, label) VALUES(?, ?, ?)"
            " ON CONFLICT(tenant_id, code) DO NOTHING");
        ins.bind(1, tenant_id);
        ins.bind(2, def.code);
        ins.bind(3, def.label.empty() ? std::string_view(def.code) : std::string_view(def.label));
        ins.run();
      }
      int64_t type_id;
      {
        Statement sel = c.prepare("SELECT id FROM eav_entity_type WHERE tenant_id = ? AND code = ?");
        sel.bind(1, tenant_id);
        sel.bind(2, def.code);
        sel.step();
        type_id = sel.column_int(0);
      }
      for (const AttributeDef& a : def.attributes) {
        Statement existing = c.prepare("SELECT value_type FROM eav_attribute WHERE type_id = ? AND code = ?");
        existing.bind(1, type_id);
        existing.bind(2, a.code);
        if (existing.step()) {
          std::string stored = existing.column_text(0);
          if (stored != value_type_name(a.type))
            throw Error(ErrorCode::kSchema,
                        fmt::format("attribute '{}.{}' is declared {}, cannot redeclare it as {}",
                                    def.code, a.code, stored, value_type_name(a.type)));
          continue;
        }
        Statement ins = c.prepare(
            "INSERT INTO eav_attribute(type_id, code, label, value_type, required, is_unique,"
            " filterable, sortable, default_value) VALUES(?,?,?,?,?,?,?,?,?)");
        ins.bind(1, type_id);
        ins.bind(2, a.code);
        ins.bind(3, a.label.empty() ? std::string_view(a.code) : std::string_view(a.label));
        ins.bind(4, value_type_name(a.type));
        ins.bind(5, int64_t{a.required});
        ins.bind(6, int64_t{a.unique});
        ins.bind(7, int64_t{a.filterable});
        ins.bind(8, int64_t{a.sortable});
        if (a.default_value && !is_null(*a.default_value)) ins.bind(9, to_string(*a.default_value));
        else ins.bind_null(9);
        ins.run();
      }
    });
  }
  for (auto& t : load_catalog(tenant_id))
    if (t.code == def.code) return t;
  throw Error(ErrorCode::kStorage, "type vanished after save: " + def.code);
}

// State of one commit: where results go and the next id to allocate.
struct SqliteBackend::CommitContext {
  Connection& c;
  const ChangeSet& changes;
  int64_t now;
  int64_t next_id;                 // ids are allocated in blocks from max(id) + 1
  std::set<int64_t> unique_attrs;  // attribute ids declared unique
  CommitResult& out;
  // eav_count deltas of the chunk (or replayed write) being applied, not yet written:
  // (type id, attribute id; 0 for the entity count) -> change. Cleared when it rolls back.
  std::map<std::pair<int64_t, int64_t>, int64_t> count_delta = {};
};

void SqliteBackend::write_entity(CommitContext& ctx, size_t index) {
  Connection& c = ctx.c;
  const EntityWrite& w = ctx.changes.writes[index];
  const int64_t tenant_id = ctx.changes.tenant_id;
  int64_t id = w.id;
  int64_t version = 0;
  if (w.kind == EntityWrite::Kind::kInsert) {
    id = ctx.next_id++;
    Statement ins = c.prepare(
        "INSERT INTO eav_entity(id, type_id, tenant_id, version, created_at, updated_at) VALUES(?,?,?,1,?,?)");
    ins.bind(1, id);
    ins.bind(2, w.type_id);
    ins.bind(3, tenant_id);
    ins.bind(4, ctx.now);
    ins.bind(5, ctx.now);
    ins.run();
    version = 1;
    ++ctx.count_delta[{w.type_id, 0}];
  } else {
    // Version check and bump (or delete) in one statement; zero rows changed means the entity
    // is missing or stale. Numbered parameters let both statements share one binding.
    {
      Statement st = c.prepare(
          w.kind == EntityWrite::Kind::kUpdate
              ? "UPDATE eav_entity SET version = version + 1, updated_at = ?1"
                " WHERE id = ?2 AND type_id = ?3 AND tenant_id = ?4 AND (?5 < 0 OR version = ?5)"
              : "DELETE FROM eav_entity"
                " WHERE id = ?2 AND type_id = ?3 AND tenant_id = ?4 AND (?5 < 0 OR version = ?5)");
      if (w.kind == EntityWrite::Kind::kUpdate) st.bind(1, ctx.now);
      st.bind(2, id);
      st.bind(3, w.type_id);
      st.bind(4, tenant_id);
      st.bind(5, w.expected_version);
      st.run();
    }
    if (c.changes() == 0) {
      Statement sel = c.prepare("SELECT version FROM eav_entity WHERE id = ? AND type_id = ? AND tenant_id = ?");
      sel.bind(1, id);
      sel.bind(2, w.type_id);
      sel.bind(3, tenant_id);
      if (!sel.step()) throw Error(ErrorCode::kNotFound, fmt::format("entity {} does not exist", id));
      throw Error(ErrorCode::kConflict,
                  fmt::format("entity {} was changed by another writer: expected version {}, stored {}",
                              id, w.expected_version, sel.column_int(0)));
    }
    if (w.kind == EntityWrite::Kind::kDelete) {
      --ctx.count_delta[{w.type_id, 0}];
      for (ValueType t : kAllTypes) {
        Statement del = c.prepare(
            fmt::format("DELETE FROM {} WHERE entity_id = ? AND eavdb_tally(attribute_id, 1)", value_table(t)));
        del.bind(1, id);
        AttributeCounter removed;
        {
          TallyScope tally(removed);
          del.run();
        }
        for (const auto& [attribute, n] : removed.counts()) ctx.count_delta[{w.type_id, attribute}] -= n;
        ctx.out.value_rows_written += c.changes();
      }
      ctx.out.ids[index] = id;
      ctx.out.versions[index] = 0;
      ++ctx.out.entities_written;
      return;
    }
    Statement sel = c.prepare("SELECT version FROM eav_entity WHERE id = ?");
    sel.bind(1, id);
    sel.step();
    version = sel.column_int(0);
  }
  AttributeCounter replaced;  // value rows the upserts below replaced
  for (const AttributeWrite& a : w.values) {
    const std::string table = value_table(a.type);
    if (is_null(a.value)) {
      if (w.kind == EntityWrite::Kind::kInsert) continue;
      Statement del = c.prepare(fmt::format("DELETE FROM {} WHERE entity_id = ? AND attribute_id = ?", table));
      del.bind(1, id);
      del.bind(2, a.attribute_id);
      del.run();
      ctx.out.value_rows_written += c.changes();
      ctx.count_delta[{w.type_id, a.attribute_id}] -= c.changes();
      continue;
    }
    // A new holder unless the upsert replaced a row (eavdb_tally counts it in the DO UPDATE): an
    // update's existing value, or an insert's earlier value of the same attribute.
    Statement up = c.prepare(fmt::format(
        "INSERT INTO {}(entity_id, attribute_id, value) VALUES(?,?,?)"
        " ON CONFLICT(entity_id, attribute_id) DO UPDATE SET value = eavdb_tally(attribute_id, excluded.value)",
        table));
    up.bind(1, id);
    up.bind(2, a.attribute_id);
    up.bind_value(3, a.value);
    const int64_t before = replaced.total();
    {
      TallyScope tally(replaced);
      up.run();
    }
    if (replaced.total() == before) ++ctx.count_delta[{w.type_id, a.attribute_id}];
    ctx.out.value_rows_written += 1;
  }
  ctx.out.ids[index] = id;
  ctx.out.versions[index] = version;
  ++ctx.out.entities_written;
}

void SqliteBackend::check_unique(CommitContext& ctx, size_t index) {
  if (ctx.unique_attrs.empty()) return;
  const EntityWrite& w = ctx.changes.writes[index];
  for (const AttributeWrite& a : w.values) {
    if (is_null(a.value) || !ctx.unique_attrs.count(a.attribute_id)) continue;
    Statement st = ctx.c.prepare(fmt::format(
        "SELECT entity_id FROM {} WHERE attribute_id = ? AND value = ? AND entity_id != ? LIMIT 1",
        value_table(a.type)));
    st.bind(1, a.attribute_id);
    st.bind_value(2, a.value);
    st.bind(3, ctx.out.ids[index]);
    if (st.step())
      throw Error(ErrorCode::kConstraint,
                  fmt::format("unique attribute (id {}) value '{}' is already held by entity {}", a.attribute_id,
                              to_string(a.value), st.column_int(0)));
  }
}

namespace {

// Rows per multi-row statement: 3 parameters per value row stays far below SQLite's limit of
// 32,766 variables, and larger statements stop paying off (measured: bench/bulk.sh).
constexpr size_t kRowsPerStatement = 256;

// Runs "<prefix> VALUES <row>,<row>,..." for `n` rows, kRowsPerStatement at a time, with one
// cached statement per distinct row count. bind(stmt, first_param, row_index) binds one row.
// A remainder is written in power-of-two pieces (200 rows: 128 + 64 + 8), so a table has at
// most 9 statement shapes: with any row count per chunk, every remainder was a new statement to
// parse and cache (5.8% of a catalog import's CPU in sqlite3_prepare).
template <typename Bind>
void multi_row(Connection& c, const std::string& prefix, const std::string& suffix, std::string_view row,
               int params_per_row, size_t n, Bind&& bind) {
  static_assert(std::has_single_bit(kRowsPerStatement));
  for (size_t begin = 0, k = 0; begin < n; begin += k) {
    k = std::bit_floor(std::min(kRowsPerStatement, n - begin));
    std::string sql = prefix;
    sql.reserve(prefix.size() + k * (row.size() + 1) + suffix.size());
    for (size_t i = 0; i < k; ++i) {
      if (i) sql += ',';
      sql += row;
    }
    sql += suffix;
    Statement st = c.prepare(sql);
    for (size_t i = 0; i < k; ++i) bind(st, static_cast<int>(i) * params_per_row + 1, begin + i);
    st.run();
  }
}

struct ValueRow {
  int64_t entity_id;
  int64_t attribute_id;
  const Value* value;
};

}  // namespace

bool SqliteBackend::write_chunk_set_based(CommitContext& ctx, size_t begin, size_t end) {
  // The set-based path needs one type, no version checks, and no entity both updated and
  // deleted (whose order would matter); anything else takes the per-write path.
  const auto& writes = ctx.changes.writes;
  const int64_t type_id = writes[begin].type_id;
  std::vector<size_t> inserts, updates, deletes;
  std::set<int64_t> updated_ids, deleted_ids;
  for (size_t i = begin; i < end; ++i) {
    const EntityWrite& w = writes[i];
    if (w.type_id != type_id || (w.kind != EntityWrite::Kind::kInsert && w.expected_version >= 0)) return false;
    if (w.kind == EntityWrite::Kind::kInsert) inserts.push_back(i);
    else if (w.kind == EntityWrite::Kind::kUpdate) updates.push_back(i), updated_ids.insert(w.id);
    else deletes.push_back(i), deleted_ids.insert(w.id);
  }
  if (deleted_ids.size() != deletes.size()) return false;
  for (int64_t id : deleted_ids)
    if (updated_ids.count(id)) return false;

  Connection& c = ctx.c;
  const int64_t tenant_id = ctx.changes.tenant_id;
  std::vector<ValueRow> rows[5];
  auto type_slot = [](ValueType t) { return static_cast<size_t>(t); };
  // Writes the collected value rows of every type with multi-row INSERTs (`suffix`: the
  // ON CONFLICT clause for updates) and empties the collection.
  auto write_value_rows = [&](std::string_view suffix) {
    for (ValueType t : kAllTypes) {
      auto& r = rows[type_slot(t)];
      multi_row(c, fmt::format("INSERT INTO {}(entity_id, attribute_id, value) VALUES ", value_table(t)),
                std::string(suffix), "(?,?,?)", 3, r.size(), [&](Statement& st, int p, size_t i) {
                  st.bind(p, r[i].entity_id);
                  st.bind(p + 1, r[i].attribute_id);
                  st.bind_value_nocopy(p + 2, *r[i].value);  // the ChangeSet outlives the statement
                });
      ctx.out.value_rows_written += static_cast<int64_t>(r.size());
      r.clear();
    }
  };
  // Bumps the version of (or deletes) every entity in `json` in one statement; numbered
  // parameters let both statements share one binding. Fewer rows changed than `expected`
  // means an entity is missing: the chunk fails and is replayed write by write.
  auto touch_entities = [&](EntityWrite::Kind kind, const std::string& json, size_t expected) {
    Statement st = c.prepare(
        kind == EntityWrite::Kind::kUpdate
            ? "UPDATE eav_entity SET version = version + 1, updated_at = ?1"
              " WHERE id IN (SELECT value FROM json_each(?2)) AND type_id = ?3 AND tenant_id = ?4"
            : "DELETE FROM eav_entity WHERE id IN (SELECT value FROM json_each(?2)) AND type_id = ?3 AND tenant_id = ?4");
    if (kind == EntityWrite::Kind::kUpdate) st.bind(1, ctx.now);
    st.bind(2, std::string_view(json));
    st.bind(3, type_id);
    st.bind(4, tenant_id);
    st.run();
    if (c.changes() != static_cast<int64_t>(expected))
      throw Error(ErrorCode::kNotFound, "an entity of the chunk does not exist");
  };

  // Inserts: a block of ids, one multi-row statement per 256 entities and per value type.
  if (!inserts.empty()) {
    AttributeCounter held;  // value rows per attribute id
    const int64_t first = ctx.next_id;
    ctx.next_id += static_cast<int64_t>(inserts.size());
    multi_row(c, "INSERT INTO eav_entity(id, type_id, tenant_id, version, created_at, updated_at) VALUES ", "",
              "(?,?,?,1,?,?)", 5, inserts.size(), [&](Statement& st, int p, size_t i) {
                st.bind(p, first + static_cast<int64_t>(i));
                st.bind(p + 1, type_id);
                st.bind(p + 2, tenant_id);
                st.bind(p + 3, ctx.now);
                st.bind(p + 4, ctx.now);
              });
    for (size_t k = 0; k < inserts.size(); ++k) {
      const size_t i = inserts[k];
      const int64_t id = first + static_cast<int64_t>(k);
      ctx.out.ids[i] = id;
      ctx.out.versions[i] = 1;
      for (const AttributeWrite& a : writes[i].values)
        if (!is_null(a.value)) {
          rows[type_slot(a.type)].push_back({id, a.attribute_id, &a.value});
          held.add(a.attribute_id);
        }
    }
    ctx.out.entities_written += static_cast<int64_t>(inserts.size());
    // Counts: every value row is new (plain INSERTs: an attribute repeated in a write fails the
    // chunk, which then rolls back with its counts).
    ctx.count_delta[{type_id, 0}] += static_cast<int64_t>(inserts.size());
    for (const auto& [attribute, n] : held.counts()) ctx.count_delta[{type_id, attribute}] += n;
    write_value_rows("");
  }

  // Updates: one version bump for the set, then value upserts (and deletes for NULLs).
  if (!updates.empty()) {
    std::vector<int64_t> ids(updated_ids.begin(), updated_ids.end());
    const std::string json = id_array(ids);
    touch_entities(EntityWrite::Kind::kUpdate, json, ids.size());
    std::unordered_map<int64_t, int64_t> versions;
    {
      Statement st = c.prepare("SELECT id, version FROM eav_entity WHERE id IN (SELECT value FROM json_each(?))");
      st.bind(1, std::string_view(json));
      while (st.step()) versions[st.column_int(0)] = st.column_int(1);
    }
    std::vector<std::pair<int64_t, const AttributeWrite*>> removals;
    for (size_t i : updates) {
      const EntityWrite& w = writes[i];
      ctx.out.ids[i] = w.id;
      ctx.out.versions[i] = versions[w.id];
      for (const AttributeWrite& a : w.values) {
        if (is_null(a.value)) removals.emplace_back(w.id, &a);
        else rows[type_slot(a.type)].push_back({w.id, a.attribute_id, &a.value});
      }
    }
    ctx.out.entities_written += static_cast<int64_t>(updates.size());
    // Counts: an upsert adds a holder only where the (entity, attribute) row did not exist: each
    // row written counts, less each one that replaced a row, which eavdb_tally() counts as it
    // runs in the DO UPDATE (also the second upsert of an attribute of an entity updated twice
    // in the chunk: it replaces the first one's row).
    AttributeCounter written, replaced;
    for (const auto& r : rows)
      for (const ValueRow& v : r) written.add(v.attribute_id);
    {
      TallyScope tally(replaced);
      write_value_rows(" ON CONFLICT(entity_id, attribute_id) DO UPDATE SET value = eavdb_tally(attribute_id, excluded.value)");
    }
    for (const auto& [attribute, n] : written.counts()) ctx.count_delta[{type_id, attribute}] += n;
    for (const auto& [attribute, n] : replaced.counts()) ctx.count_delta[{type_id, attribute}] -= n;
    // NULLs run after every upsert of the chunk; each removes the row it finds (counted exactly).
    for (auto& [id, a] : removals) {
      Statement del = c.prepare(
          fmt::format("DELETE FROM {} WHERE entity_id = ? AND attribute_id = ?", value_table(a->type)));
      del.bind(1, id);
      del.bind(2, a->attribute_id);
      del.run();
      ctx.out.value_rows_written += c.changes();
      ctx.count_delta[{type_id, a->attribute_id}] -= c.changes();
    }
  }

  // Deletes: the entity rows, then their values in every typed table.
  if (!deletes.empty()) {
    std::vector<int64_t> ids(deleted_ids.begin(), deleted_ids.end());
    const std::string json = id_array(ids);
    touch_entities(EntityWrite::Kind::kDelete, json, ids.size());
    ctx.count_delta[{type_id, 0}] -= static_cast<int64_t>(ids.size());
    for (ValueType t : kAllTypes) {
      // The removed rows are counted per attribute by eavdb_tally() as the DELETE visits them
      // (it finds them by the primary key's entity_id prefix, so it visits no other row): cheaper
      // than DELETE ... RETURNING, which stores every returned row in a temporary table, or than
      // reading the rows first (bulk delete of 20,000 flights: +8% and +3-5% engine time).
      AttributeCounter removed;  // value rows per attribute id
      Statement st = c.prepare(fmt::format(
          "DELETE FROM {} WHERE entity_id IN (SELECT value FROM json_each(?)) AND eavdb_tally(attribute_id, 1)",
          value_table(t)));
      st.bind(1, std::string_view(json));
      {
        TallyScope tally(removed);
        st.run();
      }
      for (const auto& [attribute, n] : removed.counts()) ctx.count_delta[{type_id, attribute}] -= n;
      ctx.out.value_rows_written += c.changes();
    }
    for (size_t i : deletes) {
      ctx.out.ids[i] = writes[i].id;
      ctx.out.versions[i] = 0;
    }
    ctx.out.entities_written += static_cast<int64_t>(deletes.size());
  }
  for (size_t i = begin; i < end; ++i) check_unique(ctx, i);
  return true;
}

CommitResult SqliteBackend::commit(const ChangeSet& changes, const BeforeCommit& before_commit) {
  CommitResult out;
  if (changes.empty()) return out;
  const size_t n = changes.writes.size();
  out.ids.assign(n, 0);
  out.versions.assign(n, 0);
  std::lock_guard lock(write_mu_);
  Connection& c = *writer_;
  in_transaction(c, [&] {
    CommitContext ctx{c, changes, now_micros(), 0, {}, out};
    {
      // Ids are never reused, even after the newest entity was deleted (caches keep tombstones).
      Statement st = c.prepare(
          "SELECT max(COALESCE((SELECT max(id) FROM eav_entity), 0),"
          " COALESCE((SELECT CAST(value AS INTEGER) FROM eav_meta WHERE key = 'entity_id_hwm'), 0)) + 1");
      st.step();
      ctx.next_id = st.column_int(0);
    }
    const int64_t first_id = ctx.next_id;
    {
      Statement st = c.prepare("SELECT id FROM eav_attribute WHERE is_unique = 1");
      while (st.step()) ctx.unique_attrs.insert(st.column_int(0));
    }
    const size_t chunk = static_cast<size_t>(std::max<int64_t>(1, changes.chunk_size));
    for (size_t begin = 0; begin < n; begin += chunk) {
      const size_t end = std::min(n, begin + chunk);
      // Counters and the id block as they were before the chunk, to undo it on rollback.
      const int64_t next_id = ctx.next_id, rows = out.value_rows_written, entities = out.entities_written;
      c.exec("SAVEPOINT eav_chunk");
      ctx.count_delta.clear();
      try {
        if (!write_chunk_set_based(ctx, begin, end)) {
          for (size_t i = begin; i < end; ++i) {
            write_entity(ctx, i);
            check_unique(ctx, i);
          }
        }
        apply_count_deltas(ctx);  // inside the savepoint: a rollback undoes the counts with the rows
        c.exec("RELEASE eav_chunk");
        continue;
      } catch (const Error& e) {
        c.exec("ROLLBACK TO eav_chunk");
        c.exec("RELEASE eav_chunk");
        ctx.count_delta.clear();
        if (!changes.isolate || e.code() == ErrorCode::kStorage) throw;
      }
      // Replay the chunk write by write, each under its own savepoint.
      ctx.next_id = next_id;
      out.value_rows_written = rows;
      out.entities_written = entities;
      for (size_t i = begin; i < end; ++i) {
        const int64_t rec_next_id = ctx.next_id, rec_rows = out.value_rows_written, rec_entities = out.entities_written;
        c.exec("SAVEPOINT eav_write");
        try {
          write_entity(ctx, i);
          check_unique(ctx, i);
          apply_count_deltas(ctx);
          c.exec("RELEASE eav_write");
        } catch (const Error& e) {
          c.exec("ROLLBACK TO eav_write");
          c.exec("RELEASE eav_write");
          ctx.count_delta.clear();
          if (e.code() == ErrorCode::kStorage) throw;
          ctx.next_id = rec_next_id;
          out.value_rows_written = rec_rows;
          out.entities_written = rec_entities;
          out.ids[i] = 0;
          out.versions[i] = 0;
          out.failures.push_back({i, e.code(), e.what()});
        }
      }
    }
    if (ctx.next_id != first_id) {
      Statement st = c.prepare(
          "INSERT INTO eav_meta(key, value) VALUES('entity_id_hwm', ?)"
          " ON CONFLICT(key) DO UPDATE SET value = excluded.value");
      st.bind(1, std::to_string(ctx.next_id - 1));
      st.run();
    }
    sync_planner_state(c, changes, out);
    const bool announced = before_commit ? before_commit(out) : true;
    log_invalidations(c, changes, out, announced);
  });
  return out;
}

void SqliteBackend::apply_count_deltas(CommitContext& ctx) {
  if (ctx.count_delta.empty()) return;
  Statement st = ctx.c.prepare(
      "INSERT INTO eav_count(type_id, attribute_id, n) VALUES(?, ?, ?)"
      " ON CONFLICT(type_id, attribute_id) DO UPDATE SET n = n + excluded.n");
  for (const auto& [key, delta] : ctx.count_delta) {
    if (delta == 0) continue;
    st.bind(1, key.first);
    st.bind(2, key.second);
    st.bind(3, delta);
    st.run();
    sqlite3_reset(st.raw());
  }
  ctx.count_delta.clear();
}

void SqliteBackend::log_invalidations(Connection& c, const ChangeSet& changes, CommitResult& out, bool announced) {
  // Small commits name each entity; large ones name the types (readers then drop the whole type).
  constexpr size_t kPerEntityLimit = 256;
  constexpr int64_t kKeepRows = 100000;  // readers further behind than this flush everything
  std::set<int64_t> types;
  size_t written = 0;
  for (size_t i = 0; i < changes.writes.size(); ++i)
    if (out.ids[i] != 0) {
      types.insert(changes.writes[i].type_id);
      ++written;
    }
  if (written == 0) return;
  Statement st = c.prepare(
      "INSERT INTO eav_invalidation(seq, tenant_id, type_id, entity_id, version, announced)"
      " VALUES((SELECT COALESCE(max(seq), 0) + 1 FROM eav_invalidation), ?, ?, ?, ?, ?)");
  const int64_t rows = static_cast<int64_t>(written <= kPerEntityLimit ? written : types.size());
  if (written <= kPerEntityLimit) {
    for (size_t i = 0; i < changes.writes.size(); ++i) {
      if (out.ids[i] == 0) continue;
      st.bind(1, changes.tenant_id);
      st.bind(2, changes.writes[i].type_id);
      st.bind(3, out.ids[i]);
      st.bind(4, out.versions[i]);
      st.bind(5, int64_t{announced ? 1 : 0});
      st.run();
      sqlite3_reset(st.raw());
    }
  } else {
    for (int64_t type : types) {
      st.bind(1, changes.tenant_id);
      st.bind(2, type);
      st.bind_null(3);
      st.bind(4, int64_t{0});
      st.bind(5, int64_t{announced ? 1 : 0});
      st.run();
      sqlite3_reset(st.raw());
    }
  }
  const int64_t last = sqlite3_last_insert_rowid(c.raw());
  out.change_seq_first = last - rows + 1;
  out.change_seq_last = last;
  if (last % 1024 < rows) {  // crossed a multiple of 1024: prune now and then, not every commit
    Statement prune = c.prepare("DELETE FROM eav_invalidation WHERE seq <= ?");
    prune.bind(1, last - kKeepRows);
    prune.run();
  }
}

const unsigned char* SqliteBackend::wal_index_header() {
  // SQLite's own mapping of the -shm file, through the VFS of version_conn_: valid while that
  // connection is open, and protected by the shared "DMS" lock the connection holds. Opening and
  // closing the -shm file ourselves would be wrong: POSIX advisory locks belong to the process,
  // so close() on any descriptor of the file drops every lock SQLite holds on it; another process
  // then reinitialises (truncates) the -shm under our readers, which die of SIGBUS.
  sqlite3_file* file = nullptr;
  if (sqlite3_file_control(version_conn_->raw(), "main", SQLITE_FCNTL_FILE_POINTER, &file) != SQLITE_OK ||
      file == nullptr || file->pMethods == nullptr || file->pMethods->iVersion < 2 ||
      file->pMethods->xShmMap == nullptr)
    return nullptr;
  volatile void* region = nullptr;
  // Region 0 (32 KiB) holds the header; bExtend = 0 never creates or grows the file.
  if (file->pMethods->xShmMap(file, 0, 32768, 0, &region) != SQLITE_OK) return nullptr;
  return static_cast<const unsigned char*>(const_cast<void*>(region));
}

int64_t SqliteBackend::data_version() {
  std::lock_guard lock(version_mu_);
  // Fast path: the WAL-index header (two 48-byte copies at the start of the -shm file, see
  // https://www.sqlite.org/walformat.html) changes with every commit of any process. While it
  // reads exactly as last time, nothing was committed and the answer is the previous one —
  // no lock syscalls. Any difference (a commit, a checkpoint, a torn read) falls through to the
  // authoritative PRAGMA data_version.
  constexpr size_t kHeader = 96;
  unsigned char header[kHeader];
  bool stable = false;
  const unsigned char* shm = version_conn_ ? wal_index_header() : nullptr;
  if (shm) {
    std::atomic_thread_fence(std::memory_order_acquire);
    std::memcpy(header, shm, kHeader);
    stable = std::memcmp(header, header + kHeader / 2, kHeader / 2) == 0;
    if (stable && have_shm_header_ && std::memcmp(header, shm_header_, kHeader) == 0) return last_data_version_;
  }
  if (!version_conn_) version_conn_ = std::make_unique<Connection>(path_, false, busy_timeout_ms_, 64);
  Statement st = version_conn_->prepare("PRAGMA data_version");
  st.step();
  last_data_version_ = st.column_int(0);
  if (shm && stable) {
    std::memcpy(shm_header_, header, kHeader);  // read before the PRAGMA: never newer than it
    have_shm_header_ = true;
  }
  return last_data_version_;
}

int64_t SqliteBackend::last_change_seq() {
  auto reader = lease_reader();
  Statement st = reader->prepare("SELECT COALESCE(max(seq), 0) FROM eav_invalidation");
  st.step();
  return st.column_int(0);
}

std::vector<Backend::Change> SqliteBackend::changes_since(int64_t after, int64_t limit) {
  std::vector<Change> out;
  auto reader = lease_reader();
  Statement st = reader->prepare(
      "SELECT seq, tenant_id, type_id, COALESCE(entity_id, 0), version, announced FROM eav_invalidation"
      " WHERE seq > ? ORDER BY seq LIMIT ?");
  st.bind(1, after);
  st.bind(2, limit);
  while (st.step())
    out.push_back({st.column_int(0), st.column_int(1), st.column_int(2), st.column_int(3), st.column_int(4),
                   st.column_int(5) != 0});
  return out;
}

namespace {

// Decodes value column `col` of a value-table row of type `t` straight from SQLite's buffers
// (no temporary std::string for decimal text).
Value load_column(sqlite3_stmt* st, int col, ValueType t) {
  switch (t) {
    case ValueType::kInt: return sqlite3_column_int64(st, col);
    case ValueType::kDatetime: return DateTime{sqlite3_column_int64(st, col)};
    case ValueType::kDecimal: {
      if (sqlite3_column_type(st, col) == SQLITE_INTEGER) return Decimal::from_int(sqlite3_column_int64(st, col));
      const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, col));
      return Decimal::parse(std::string_view(p ? p : "", static_cast<size_t>(sqlite3_column_bytes(st, col))));
    }
    case ValueType::kVarchar:
    case ValueType::kText: {
      const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, col));
      return std::string(p ? p : "", static_cast<size_t>(sqlite3_column_bytes(st, col)));
    }
  }
  return std::monostate{};
}

}  // namespace

std::vector<std::optional<EntityRecord>> SqliteBackend::load(int64_t tenant_id, int64_t type_id,
                                                             const std::vector<int64_t>& ids) {
  std::vector<std::optional<EntityRecord>> out(ids.size());
  if (ids.empty()) return out;
  // The distinct ids in ascending order, so every statement walks its B-tree forwards (json_each
  // yields them in array order, and CROSS JOIN keeps it the outer loop: no IN-list temp index to
  // build and sort per statement). `slot[k]` is where unique id k goes in `out`; later duplicates
  // get copies at the end. A request that is already ascending and distinct (BatchProcessor
  // sends that) skips the sort.
  const size_t n = ids.size();
  std::vector<int64_t> uniq;
  std::vector<uint32_t> slot;
  std::vector<uint32_t> order;  // positions of `ids` by (id, position); empty when ids ascend strictly
  if (std::adjacent_find(ids.begin(), ids.end(), std::greater_equal<int64_t>()) == ids.end()) {
    uniq = ids;
    slot.resize(n);
    for (size_t i = 0; i < n; ++i) slot[i] = static_cast<uint32_t>(i);
  } else {
    if (n > UINT32_MAX) throw Error(ErrorCode::kInvalidArgument, fmt::format("load: {} ids in one call", n));
    std::vector<std::pair<int64_t, uint32_t>> sorted(n);  // (id, position), by id then position
    for (size_t i = 0; i < n; ++i) sorted[i] = {ids[i], static_cast<uint32_t>(i)};
    std::sort(sorted.begin(), sorted.end());
    order.resize(n);
    for (size_t i = 0; i < n; ++i) order[i] = sorted[i].second;
    uniq.reserve(n);
    slot.reserve(n);
    for (uint32_t pos : order) {
      if (!uniq.empty() && uniq.back() == ids[pos]) continue;
      uniq.push_back(ids[pos]);
      slot.push_back(pos);
    }
  }
  std::string json;
  json.reserve(uniq.size() * 8 + 2);
  json += '[';
  for (size_t i = 0; i < uniq.size(); ++i) {
    if (i) json += ',';
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, uniq[i]);
    json.append(buf, end);
  }
  json += ']';

  // A value row read before it is moved into its record: the records' vectors are then
  // allocated once at their exact size.
  struct Staged {
    uint32_t k;  // index into uniq
    int64_t attribute_id;
    Value value;
  };
  std::vector<Staged> staged;
  std::vector<uint32_t> counts(uniq.size(), 0);
  std::vector<bool> found(uniq.size(), false);
  auto reader = lease_reader();
  // One read transaction so the catalog, entity and value rows are one snapshot. Statements per
  // call, whatever ids.size(): BEGIN, the attributes, the flat-table registration, then either
  // the flat table or the entities and one per value table the type has attributes of, COMMIT
  // (at most 10).
  reader->prepare("BEGIN").run();
  try {
    bool uses[std::size(kAllTypes)] = {};
    struct Attr {
      int64_t id;
      std::string code;
      ValueType type;
    };
    std::vector<Attr> attrs;  // ascending id
    {
      Statement st = reader->prepare("SELECT id, code, value_type FROM eav_attribute WHERE type_id = ? ORDER BY id");
      st.bind(1, type_id);
      while (st.step()) {
        const std::string name = st.column_text(2);
        for (size_t t = 0; t < std::size(kAllTypes); ++t)
          if (value_type_name(kAllTypes[t]) == name) {
            uses[t] = true;
            attrs.push_back({st.column_int(0), st.column_text(1), kAllTypes[t]});
          }
      }
    }
    // A flat table kept in step on every commit (not deferred) that has a column for every
    // attribute holds exactly what the EAV tables do (flat/flat.h), one row per entity: one seek
    // per id instead of one in eav_entity and one per value table.
    std::string flat_table;
    {
      Statement st = reader->prepare(
          "SELECT f.table_name, f.attribute_ids, EXISTS(SELECT 1 FROM eav_meta WHERE key = 'flat_deferred:' || f.type_id)"
          " FROM eav_flat_table AS f JOIN eav_entity_type AS t ON t.id = f.type_id WHERE f.type_id = ? AND t.tenant_id = ?");
      st.bind(1, type_id);
      st.bind(2, tenant_id);
      if (st.step() && st.column_int(2) == 0 && !attrs.empty()) {
        const std::vector<int64_t> covered = flat::decode_ids(st.column_text(1));
        if (covered.size() == attrs.size() &&
            std::equal(covered.begin(), covered.end(), attrs.begin(), [](int64_t id, const Attr& a) { return id == a.id; }))
          flat_table = st.column_text(0);
      }
    }
    // The entity row under `raw`'s columns 0-3 (id, version, created_at, updated_at): advances
    // the cursor `k` over `uniq` to its id and starts its record in `out`.
    auto start_record = [&](sqlite3_stmt* raw, size_t& k, const char* what) -> EntityRecord& {
      const int64_t id = sqlite3_column_int64(raw, 0);
      while (k < uniq.size() && uniq[k] < id) ++k;
      if (k == uniq.size() || uniq[k] != id) throw Error(ErrorCode::kStorage, fmt::format("load: unexpected {} row {}", what, id));
      found[k] = true;
      EntityRecord& r = out[slot[k]].emplace();
      r.id = id;
      r.type_id = type_id;
      r.version = sqlite3_column_int64(raw, 1);
      r.created_at = sqlite3_column_int64(raw, 2);
      r.updated_at = sqlite3_column_int64(raw, 3);
      return r;
    };
    if (!flat_table.empty()) {
      std::string sql = "SELECT f.id, f.version, f.created_at, f.updated_at";
      for (const Attr& at : attrs) {
        AttributeDef def;
        def.code = at.code;
        sql += ", f." + flat::column_name(def);
      }
      sql += fmt::format(" FROM json_each(?) AS j CROSS JOIN {} AS f ON f.id = j.value", flat_table);
      Statement st = reader->prepare_query(sql);
      st.bind(1, std::string_view(json));
      sqlite3_stmt* raw = st.raw();
      size_t k = 0;
      while (st.step()) {
        EntityRecord& r = start_record(raw, k, "flat");
        size_t present = 0;
        for (size_t c = 0; c < attrs.size(); ++c) present += sqlite3_column_type(raw, static_cast<int>(c + 4)) != SQLITE_NULL;
        r.values.reserve(present);
        for (size_t c = 0; c < attrs.size(); ++c) {
          const int col = static_cast<int>(c + 4);
          if (sqlite3_column_type(raw, col) != SQLITE_NULL) r.values.emplace_back(attrs[c].id, load_column(raw, col, attrs[c].type));
        }
      }
    } else {
      const int64_t attributes = static_cast<int64_t>(attrs.size());
      {
        // eav_entity by its rowid (the (type_id, id) index would cost a second seek per id);
        // type and tenant are checked on the row.
        Statement st = reader->prepare(
            "SELECT e.id, e.version, e.created_at, e.updated_at FROM json_each(?) AS j"
            " CROSS JOIN eav_entity AS e ON e.id = j.value WHERE +e.type_id = ? AND +e.tenant_id = ?");
        st.bind(1, std::string_view(json));
        st.bind(2, type_id);
        st.bind(3, tenant_id);
        size_t k = 0;
        while (st.step()) start_record(st.raw(), k, "entity");
      }
      staged.reserve(static_cast<size_t>(std::min<int64_t>(attributes, 8)) * uniq.size());
      for (size_t t = 0; t < std::size(kAllTypes); ++t) {
        if (!uses[t]) continue;
        const ValueType vt = kAllTypes[t];
        Statement st = reader->prepare(fmt::format(
            "SELECT v.entity_id, v.attribute_id, v.value FROM json_each(?) AS j CROSS JOIN {} AS v ON v.entity_id = j.value",
            value_table(vt)));
        st.bind(1, std::string_view(json));
        sqlite3_stmt* raw = st.raw();
        size_t k = 0;
        while (st.step()) {
          const int64_t id = sqlite3_column_int64(raw, 0);
          while (k < uniq.size() && uniq[k] < id) ++k;
          if (k == uniq.size() || uniq[k] != id) throw Error(ErrorCode::kStorage, fmt::format("load: unexpected value row {}", id));
          if (!found[k]) continue;  // an entity of another type or tenant
          ++counts[k];
          staged.push_back({static_cast<uint32_t>(k), sqlite3_column_int64(raw, 1), load_column(raw, 2, vt)});
        }
      }
    }
    reader->prepare("COMMIT").run();
  } catch (...) {
    sqlite3_exec(reader->raw(), "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
  for (size_t k = 0; k < uniq.size(); ++k)
    if (counts[k]) out[slot[k]]->values.reserve(counts[k]);
  for (Staged& s : staged) out[slot[s.k]]->values.emplace_back(s.attribute_id, std::move(s.value));
  for (size_t k = 0; k < uniq.size(); ++k) {
    if (!found[k]) continue;
    auto& vals = out[slot[k]]->values;
    // Rows of one table ascend by attribute id; several tables interleave.
    auto by_attribute = [](const auto& a, const auto& b) { return a.first < b.first; };
    if (!std::is_sorted(vals.begin(), vals.end(), by_attribute)) std::sort(vals.begin(), vals.end(), by_attribute);
  }
  // Later occurrences of a repeated id: copies of the first.
  for (size_t i = 1; i < order.size(); ++i)
    if (ids[order[i]] == ids[order[i - 1]] && out[order[i - 1]]) out[order[i]] = out[order[i - 1]];
  return out;
}

std::vector<std::optional<int64_t>> SqliteBackend::find_by_values(int64_t attribute_id, ValueType type,
                                                                  const std::vector<Value>& values) {
  std::vector<std::optional<int64_t>> out(values.size());
  if (values.empty()) return out;
  // The values travel as one JSON array (strings for text and decimals, integers for int and
  // datetime); the column's collation makes decimal matches numeric.
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartArray();
  for (const Value& v : values) {
    if (auto* i = std::get_if<int64_t>(&v)) w.Int64(*i);
    else if (auto* t = std::get_if<DateTime>(&v)) w.Int64(t->micros);
    else if (is_null(v)) w.Null();
    else {
      std::string s = to_string(v);
      w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size()));
    }
  }
  w.EndArray();
  // Decimals match numerically: key them without trailing fractional zeros (19.90 -> 19.9).
  auto key_of = [type](const Value& v) {
    std::string k = to_string(v);
    if (type == ValueType::kDecimal && k.find('.') != std::string::npos) {
      while (k.back() == '0') k.pop_back();
      if (k.back() == '.') k.pop_back();
    }
    return k;
  };
  std::unordered_map<std::string, int64_t> holder;
  {
    auto reader = lease_reader();
    Statement st = reader->prepare(fmt::format(
        "SELECT value, entity_id FROM {} WHERE attribute_id = ? AND value IN (SELECT value FROM json_each(?))",
        value_table(type)));
    st.bind(1, attribute_id);
    st.bind(2, std::string_view(buf.GetString(), buf.GetSize()));
    while (st.step()) holder.emplace(key_of(st.column_value(0, type)), st.column_int(1));
  }
  for (size_t i = 0; i < values.size(); ++i) {
    if (is_null(values[i])) continue;
    if (auto it = holder.find(key_of(values[i])); it != holder.end()) out[i] = it->second;
  }
  return out;
}

std::vector<std::string> SqliteBackend::integrity_check() {
  // On a reader: the eavdb_decimal collation that the decimal index needs is registered there.
  auto reader = lease_reader();
  std::vector<std::string> problems;
  Statement st = reader->prepare_once("PRAGMA integrity_check");
  while (st.step()) {
    std::string line = st.column_text(0);
    if (line != "ok") problems.push_back(std::move(line));
  }
  // Value rows must belong to an existing entity (the write funnel deletes them together).
  for (ValueType t : kAllTypes) {
    Statement orphans = reader->prepare_once(fmt::format(
        "SELECT count(*) FROM {} v WHERE NOT EXISTS (SELECT 1 FROM eav_entity e WHERE e.id = v.entity_id)",
        value_table(t)));
    orphans.step();
    if (int64_t n = orphans.column_int(0))
      problems.push_back(fmt::format("{} value rows of missing entities in {}", n, value_table(t)));
    // ... of an attribute of the entity's own type, stored in the attribute's value table
    // (Database::commit enforces it; value-index query plans rely on it, see query::Layout).
    Statement foreign = reader->prepare_once(fmt::format(
        "SELECT count(*) FROM {} v JOIN eav_entity e ON e.id = v.entity_id"
        " LEFT JOIN eav_attribute a ON a.id = v.attribute_id"
        " WHERE a.id IS NULL OR a.type_id != e.type_id OR a.value_type != '{}'",
        value_table(t), value_type_name(t)));
    foreign.step();
    if (int64_t n = foreign.column_int(0))
      problems.push_back(fmt::format("{} value rows in {} whose attribute is not of their entity's type or value type",
                                     n, value_table(t)));
  }
  // The exact counts (eav_count) against the rows they count, in one snapshot: the entities per
  // type, and per attribute the rows of its own value table (as migration 6 fills them). A value
  // row written around the funnel shows twice: above, and as a count it bypassed.
  std::map<std::pair<int64_t, int64_t>, std::pair<int64_t, int64_t>> counts;  // -> (stored, actual)
  reader->prepare("BEGIN").run();
  try {
    {
      Statement st = reader->prepare_once("SELECT type_id, attribute_id, n FROM eav_count");
      while (st.step()) counts[{st.column_int(0), st.column_int(1)}].first = st.column_int(2);
    }
    {
      Statement st = reader->prepare_once("SELECT type_id, count(*) FROM eav_entity GROUP BY type_id");
      while (st.step()) counts[{st.column_int(0), 0}].second = st.column_int(1);
    }
    for (ValueType t : kAllTypes) {
      Statement st = reader->prepare_once(fmt::format(
          "SELECT a.type_id, v.attribute_id, count(*) FROM {} v JOIN eav_attribute a ON a.id = v.attribute_id"
          " WHERE a.value_type = '{}' GROUP BY v.attribute_id",
          value_table(t), value_type_name(t)));
      while (st.step()) counts[{st.column_int(0), st.column_int(1)}].second = st.column_int(2);
    }
    reader->prepare("COMMIT").run();
  } catch (...) {
    sqlite3_exec(reader->raw(), "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
  for (const auto& [key, n] : counts) {
    if (n.first == n.second) continue;
    if (key.second == 0)
      problems.push_back(fmt::format("eav_count of type {} (entities): stored {}, actual {}", key.first, n.first, n.second));
    else
      problems.push_back(fmt::format("eav_count of type {} attribute {}: stored {}, actual {}", key.first, key.second,
                                     n.first, n.second));
  }
  return problems;
}

std::map<int64_t, int64_t> SqliteBackend::exact_counts(int64_t type_id) {
  auto reader = lease_reader();
  std::map<int64_t, int64_t> out;
  Statement st = reader->prepare("SELECT attribute_id, n FROM eav_count WHERE type_id = ?");
  st.bind(1, type_id);
  while (st.step()) out.emplace(st.column_int(0), st.column_int(1));
  return out;
}

namespace {

// The entity ids every statement of `scans` returns, ascending, as a JSON array ("[3,17,42]"),
// for a kIntersect plan's json_each. The first scan's ids (the planner puts the smallest lookup
// first) set bits over their [min, max] range; each further scan keeps the bits it returns too.
// A range too wide for a bit set (ids more than 2^28 apart) intersects sorted vectors instead.
// With `trace`, records each scan's id count (scans after an empty result do not run).
std::string intersect_id_scans(Connection& c, const std::vector<query::CompiledQuery::Part>& scans,
                               Backend::ExecutionTrace* trace) {
  // One lookup's ids, gathered inside SQLite by the eavdb_id_sink aggregate into the
  // connection's buffer (connection.h), valid until the next lookup: flights-200k Q3, two
  // lookups of 9.4k and 10.8k ids, one row per id cost ~60 ns a row more.
  auto read = [&](const query::CompiledQuery::Part& scan) -> const std::vector<int64_t>& {
    {
      Statement st = c.prepare_query("SELECT eavdb_id_sink(id) FROM (" + scan.sql + ")");
      st.bind_params(scan.params);
      st.run();
    }
    if (trace) trace->id_scan_rows.push_back(static_cast<int64_t>(c.id_sink().size()));
    return c.id_sink();
  };
  const std::vector<int64_t>& first = read(scans[0]);
  std::vector<int64_t> out;
  if (!first.empty()) {
    const auto [lo_it, hi_it] = std::minmax_element(first.begin(), first.end());
    const int64_t lo = *lo_it, hi = *hi_it;
    if (static_cast<uint64_t>(hi - lo) < (uint64_t{1} << 28)) {
      const auto bits = static_cast<size_t>(hi - lo) + 1;
      std::vector<uint64_t> keep((bits + 63) / 64), seen(keep.size());
      for (int64_t id : first) keep[static_cast<size_t>(id - lo) / 64] |= uint64_t{1} << ((id - lo) % 64);
      for (size_t k = 1; k < scans.size(); ++k) {
        std::fill(seen.begin(), seen.end(), 0);
        for (int64_t id : read(scans[k]))
          if (id >= lo && id <= hi) seen[static_cast<size_t>(id - lo) / 64] |= uint64_t{1} << ((id - lo) % 64);
        for (size_t w = 0; w < keep.size(); ++w) keep[w] &= seen[w];
      }
      for (size_t w = 0; w < keep.size(); ++w)
        for (uint64_t word = keep[w]; word; word &= word - 1)
          out.push_back(lo + static_cast<int64_t>(w * 64 + static_cast<size_t>(std::countr_zero(word))));
    } else {
      out = first;
      std::sort(out.begin(), out.end());
      out.erase(std::unique(out.begin(), out.end()), out.end());
      for (size_t k = 1; k < scans.size() && !out.empty(); ++k) {
        std::vector<int64_t> other = read(scans[k]), both;
        std::sort(other.begin(), other.end());
        std::set_intersection(out.begin(), out.end(), other.begin(), other.end(), std::back_inserter(both));
        out = std::move(both);
        out.erase(std::unique(out.begin(), out.end()), out.end());
      }
    }
  }
  if (trace) trace->id_set_rows = static_cast<int64_t>(out.size());
  return id_array(out);
}

// Column `col` of the current row in its storage form, as a compiled-query parameter.
query::SqlParam column_param(const Statement& st, int col) {
  switch (sqlite3_column_type(st.raw(), col)) {
    case SQLITE_INTEGER: return query::SqlParam(static_cast<int64_t>(sqlite3_column_int64(st.raw(), col)));
    case SQLITE_FLOAT: return query::SqlParam(sqlite3_column_double(st.raw(), col));
    case SQLITE_NULL: return query::SqlParam();
    default: return query::SqlParam(st.column_text(col));
  }
}

}  // namespace

Rows SqliteBackend::execute(const query::CompiledQuery& q, std::optional<std::chrono::steady_clock::time_point> deadline,
                            ExecutionTrace* trace) {
  if (trace) *trace = ExecutionTrace{};
  const auto ms_since = [](std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
  };
  // The time limit: the lease taken under this scope is interrupted once `deadline` passes (see
  // ReaderLease); without one, a caller's scope (if any) still applies. The limit is cleared
  // before the ROLLBACK/COMMIT so ending the transaction is never interrupted.
  DeadlineScope limit(deadline);
  auto reader = lease_reader();
  Rows rows;
  // One statement's rows (SELECT * rows widened to every attribute); an index intersection first
  // runs its lookups and binds the ids they share.
  auto read_rows = [](const query::CompiledQuery& cq, Statement& st, Rows& part, std::vector<query::SqlParam>* keys) {
    while (st.step()) {
      std::vector<Value> row;
      if (cq.select_star && !cq.star_inline) {
        row.emplace_back(st.column_int(0));
      } else {
        row.reserve(cq.columns.size());
        for (size_t j = 0; j < cq.columns.size(); ++j)
          row.push_back(st.column_value(static_cast<int>(j), cq.columns[j].type));
      }
      part.push_back(std::move(row));
      if (keys) keys->push_back(column_param(st, cq.walk_ties->key_column));
    }
  };
  auto run_one = [&](const query::CompiledQuery& cq) {
    Rows part;
    {
      // The lookups run before the statement is taken from the statement cache (theirs share it).
      const auto scans_start = trace ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
      const std::string ids = cq.id_scans.empty() ? std::string() : intersect_id_scans(*reader, cq.id_scans, trace);
      if (trace && !cq.id_scans.empty()) trace->id_scan_ms = ms_since(scans_start);
      std::vector<query::SqlParam> keys;
      {
        Statement st = reader->prepare_query(cq.sql);
        st.bind_params(cq.params);
        if (!cq.id_scans.empty()) st.bind(cq.id_set_param + 1, std::string_view(ids));
        read_rows(cq, st, part, cq.walk_ties ? &keys : nullptr);
      }
      if (trace && cq.walk_fallback) trace->walk_rows = static_cast<int64_t>(part.size());
      // A descending walk that filled its page: each key's rows in id order (CompiledQuery::WalkTies).
      const auto page = static_cast<size_t>(cq.walk_page);
      if (cq.walk_ties && page > 0 && part.size() >= page) {
        // The walk read one row past its page: the page cut its last key's run when that row
        // holds the same key. Runs before the cut are whole: reversed into id order.
        const bool cut = part.size() > page && keys[page] == keys[page - 1];
        if (trace) trace->walk_key_reread = cut;
        part.resize(page);
        size_t whole = page;
        if (cut)
          for (whole = page - 1; whole > 0 && keys[whole - 1] == keys[page - 1];) --whole;
        for (size_t a = 0; a < whole;) {
          size_t z = a + 1;
          while (z < whole && keys[z] == keys[a]) ++z;
          std::reverse(part.begin() + static_cast<std::ptrdiff_t>(a), part.begin() + static_cast<std::ptrdiff_t>(z));
          a = z;
        }
        if (cut) {
          const query::CompiledQuery::WalkTies& t = *cq.walk_ties;
          std::vector<query::SqlParam> params = t.one_key.params;
          params[static_cast<size_t>(t.key_param)] = keys[page - 1];
          params[static_cast<size_t>(t.limit_param)] = static_cast<int64_t>(page - whole);
          part.resize(whole);
          Statement one = reader->prepare_query(t.one_key.sql);
          one.bind_params(params);
          read_rows(cq, one, part, nullptr);
        }
      }
    }
    if (cq.select_star && !cq.star_inline && !part.empty()) fill_star_rows(*reader, cq, part);
    return part;
  };
  // Appends one statement's rows; a bounded walk's are replaced by its fallback's when the walk
  // is not exact (its guard matched, or it found fewer rows than its page).
  auto run = [&](const query::CompiledQuery& cq) {
    Rows part;
    bool exact = true;
    if (cq.walk_fallback && cq.walk_guard) {
      Statement g = reader->prepare_query(cq.walk_guard->sql);
      g.bind_params(cq.walk_guard->params);
      exact = !g.step();
    }
    const auto walk_start = trace ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    if (exact) part = run_one(cq);
    if (trace && cq.walk_fallback) {
      trace->walk_guard_matched = !exact;
      trace->walk_ms = ms_since(walk_start);
    }
    if (cq.walk_fallback && (!exact || part.size() < static_cast<size_t>(cq.walk_page))) {
      if (trace) trace->walk_fallback = true;
      part = run_one(*cq.walk_fallback);
    } else if (cq.walk_ties) {
      part.erase(part.begin(), part.begin() + static_cast<std::ptrdiff_t>(
                                               std::min(part.size(), static_cast<size_t>(cq.walk_ties->skip))));
    }
    for (auto& r : part) rows.push_back(std::move(r));
  };
  // One read transaction: for SELECT * the id query and the value loads (and a top-N split's
  // second statement) see one snapshot.
  reader->prepare("BEGIN").run();
  try {
    const auto wanted = static_cast<size_t>(q.split_offset + q.split_limit);
    if (q.null_rows && q.null_rows_first) {
      run(*q.null_rows);
      if (rows.size() < wanted) run(q);
    } else {
      run(q);
      if (q.null_rows && rows.size() < wanted) run(*q.null_rows);
    }
    if (q.null_rows) {
      const auto skip = std::min(rows.size(), static_cast<size_t>(q.split_offset));
      rows.erase(rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(skip));
      if (rows.size() > static_cast<size_t>(q.split_limit)) rows.resize(static_cast<size_t>(q.split_limit));
    }
    reader.clear_deadline();
    reader->prepare("COMMIT").run();
  } catch (...) {
    reader.clear_deadline();
    sqlite3_exec(reader->raw(), "ROLLBACK", nullptr, nullptr, nullptr);
    if (limit.fired())
      throw Error(ErrorCode::kTimeout, "query interrupted: it ran past its time limit");
    throw;
  }
  return rows;
}

void SqliteBackend::fill_star_rows(Connection& c, const query::CompiledQuery& q, Rows& rows) {
  // rows hold [id]; widen each to [id, attribute values in q.type->attributes order].
  const auto& attrs = q.type->attributes;
  std::unordered_map<int64_t, size_t> column_of;
  for (size_t j = 0; j < attrs.size(); ++j) column_of[attrs[j].id] = j + 1;
  std::unordered_map<int64_t, EntityRecord> found;
  std::vector<int64_t> ids;
  ids.reserve(rows.size());
  for (auto& row : rows) {
    int64_t id = std::get<int64_t>(row[0]);
    ids.push_back(id);
    found[id].id = id;
    row.resize(attrs.size() + 1);
  }
  load_values(c, id_array(ids), found);
  for (auto& row : rows) {
    for (auto& [attr_id, value] : found[std::get<int64_t>(row[0])].values) {
      auto it = column_of.find(attr_id);
      if (it != column_of.end()) row[it->second] = std::move(value);
    }
  }
}

// ---- planner support ---------------------------------------------------------------------------

namespace {

// A dynamically typed statistics column (min/max/bound) as a key; nullopt for NULL.
std::optional<query::StatKey> column_key(const Statement& st, int col) {
  switch (sqlite3_column_type(st.raw(), col)) {
    case SQLITE_INTEGER: return query::StatKey(st.column_int(col));
    case SQLITE_FLOAT: return query::StatKey(sqlite3_column_double(st.raw(), col));
    case SQLITE_NULL: return std::nullopt;
    default: return query::StatKey(st.column_text(col));
  }
}

void bind_key(Statement& st, int i, const std::optional<query::StatKey>& k) {
  if (!k) return st.bind_null(i);
  if (auto* v = std::get_if<int64_t>(&*k)) return st.bind(i, *v);
  if (auto* v = std::get_if<double>(&*k)) return st.bind(i, *v);
  st.bind(i, std::string_view(std::get<std::string>(*k)));
}

}  // namespace

void SqliteBackend::sync_planner_state(Connection& c, const ChangeSet& changes, const CommitResult& out) {
  // Entities written per type; ids are collected only for types with a flat table to re-sync
  // (a bulk commit of thousands of entities into a type without one only needs the count).
  std::vector<std::tuple<int64_t, std::string, std::string>> syncs;
  {
    // Deferred flat tables (eav_meta 'flat_deferred:<type id>') are caught up after commit.
    Statement reg = c.prepare(
        "SELECT type_id, sync_delete, sync_insert FROM eav_flat_table WHERE NOT EXISTS"
        " (SELECT 1 FROM eav_meta WHERE key = 'flat_deferred:' || type_id)");
    while (reg.step()) syncs.emplace_back(reg.column_int(0), reg.column_text(1), reg.column_text(2));
  }
  std::map<int64_t, int64_t> counts;                // type id -> entities written
  std::map<int64_t, std::vector<int64_t>> written;  // type id -> entity ids, for flat types only
  for (const auto& [type, del, ins] : syncs) written.try_emplace(type);
  for (size_t i = 0; i < changes.writes.size(); ++i) {
    if (out.ids[i] == 0) continue;
    const int64_t type = changes.writes[i].type_id;
    ++counts[type];
    if (!written.empty())
      if (auto it = written.find(type); it != written.end()) it->second.push_back(out.ids[i]);
  }
  if (counts.empty()) return;
  {
    Statement bump = c.prepare(
        "INSERT INTO eav_type_stats(type_id, modifications) VALUES(?, ?)"
        " ON CONFLICT(type_id) DO UPDATE SET modifications = modifications + excluded.modifications");
    for (const auto& [type, n] : counts) {
      bump.bind(1, type);
      bump.bind(2, n);
      bump.run();
      sqlite3_reset(bump.raw());
    }
  }
  for (const auto& [type, del, ins] : syncs) {
    const std::vector<int64_t>& ids = written[type];
    if (ids.empty()) continue;
    const std::string json = id_array(ids);
    for (const std::string* sql : {&del, &ins}) {
      Statement st = c.prepare(*sql);
      st.bind(1, std::string_view(json));
      st.run();
    }
  }
}

query::TypeStats SqliteBackend::analyze(const EntityTypeDef& type) {
  query::TypeStats stats;
  stats.type_id = type.id;
  stats.analyzed_at = now_micros();
  int64_t modifications_seen = 0;
  double flat_row_bytes = 0;  // of the type's flat table, when it has one
  {
    auto reader = lease_reader();
    reader->prepare("BEGIN").run();
    try {
      {
        Statement st = reader->prepare("SELECT count(*) FROM eav_entity WHERE type_id = ?");
        st.bind(1, type.id);
        st.step();
        stats.entity_count = st.column_int(0);
      }
      {
        Statement st = reader->prepare("SELECT modifications FROM eav_type_stats WHERE type_id = ?");
        st.bind(1, type.id);
        if (st.step()) modifications_seen = st.column_int(0);
      }
      for (const AttributeDef& a : type.attributes) {
        const std::string table = value_table(a.type);
        int64_t count = 0;
        {
          Statement st = reader->prepare(fmt::format("SELECT count(*) FROM {} WHERE attribute_id = ?", table));
          st.bind(1, a.id);
          st.step();
          count = st.column_int(0);
        }
        query::AttributeStatsBuilder builder(a.id, count);
        Statement st = reader->prepare(
            fmt::format("SELECT value FROM {} WHERE attribute_id = ? ORDER BY value", table));
        st.bind(1, a.id);
        while (st.step()) {
          switch (a.type) {
            case ValueType::kInt:
            case ValueType::kDatetime: builder.add(query::StatKey(st.column_int(0))); break;
            case ValueType::kDecimal: builder.add(query::StatKey(sqlite3_column_double(st.raw(), 0))); break;
            case ValueType::kVarchar:
            case ValueType::kText: builder.add(query::StatKey(st.column_text(0))); break;
          }
        }
        stats.attributes.emplace(a.id, builder.finish());
      }
      {
        Statement st = reader->prepare("SELECT table_name FROM eav_flat_table WHERE type_id = ?");
        st.bind(1, type.id);
        if (st.step()) flat_row_bytes = measure_flat_row_bytes(*reader, st.column_text(0));
      }
      reader->prepare("COMMIT").run();
    } catch (...) {
      sqlite3_exec(reader->raw(), "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
  }
  std::lock_guard lock(write_mu_);
  Connection& c = *writer_;
  in_transaction(c, [&] {
    {
      Statement st = c.prepare(
          "INSERT INTO eav_type_stats(type_id, entity_count, modifications, analyzed_at) VALUES(?1, ?2, 0, ?3)"
          " ON CONFLICT(type_id) DO UPDATE SET entity_count = ?2, analyzed_at = ?3,"
          " modifications = max(0, modifications - ?4)");
      st.bind(1, type.id);
      st.bind(2, stats.entity_count);
      st.bind(3, stats.analyzed_at);
      st.bind(4, modifications_seen);
      st.run();
    }
    {
      Statement del = c.prepare(
          "DELETE FROM eav_attribute_histogram WHERE attribute_id IN"
          " (SELECT attribute_id FROM eav_attribute_stats WHERE type_id = ?)");
      del.bind(1, type.id);
      del.run();
      Statement del2 = c.prepare("DELETE FROM eav_attribute_stats WHERE type_id = ?");
      del2.bind(1, type.id);
      del2.run();
    }
    Statement ins = c.prepare(
        "INSERT INTO eav_attribute_stats(attribute_id, type_id, non_null, distinct_estimate, min_value, max_value)"
        " VALUES(?, ?, ?, ?, ?, ?)");
    Statement hist = c.prepare("INSERT INTO eav_attribute_histogram(attribute_id, bucket, bound) VALUES(?, ?, ?)");
    for (const auto& [id, a] : stats.attributes) {
      ins.bind(1, id);
      ins.bind(2, type.id);
      ins.bind(3, a.non_null);
      ins.bind(4, a.distinct);
      bind_key(ins, 5, a.min);
      bind_key(ins, 6, a.max);
      ins.run();
      sqlite3_reset(ins.raw());
      for (size_t b = 0; b < a.bounds.size(); ++b) {
        hist.bind(1, id);
        hist.bind(2, static_cast<int64_t>(b));
        bind_key(hist, 3, a.bounds[b]);
        hist.run();
        sqlite3_reset(hist.raw());
      }
    }
    store_flat_row_bytes(c, type.id, flat_row_bytes);
  });
  stats.modifications = 0;
  return stats;
}

std::optional<query::TypeStats> SqliteBackend::load_statistics(int64_t type_id) {
  auto reader = lease_reader();
  query::TypeStats stats;
  stats.type_id = type_id;
  reader->prepare("BEGIN").run();
  try {
    {
      Statement st = reader->prepare(
          "SELECT entity_count, modifications, analyzed_at FROM eav_type_stats WHERE type_id = ?");
      st.bind(1, type_id);
      if (st.step() && !st.is_null(2)) {
        stats.entity_count = st.column_int(0);
        stats.modifications = st.column_int(1);
        stats.analyzed_at = st.column_int(2);
      }
    }
    if (stats.analyzed_at == 0) {
      reader->prepare("COMMIT").run();
      return std::nullopt;
    }
    {
      Statement st = reader->prepare(
          "SELECT attribute_id, non_null, distinct_estimate, min_value, max_value FROM eav_attribute_stats"
          " WHERE type_id = ?");
      st.bind(1, type_id);
      while (st.step()) {
        query::AttributeStats a;
        a.attribute_id = st.column_int(0);
        a.non_null = st.column_int(1);
        a.distinct = sqlite3_column_double(st.raw(), 2);
        a.min = column_key(st, 3);
        a.max = column_key(st, 4);
        stats.attributes.emplace(a.attribute_id, std::move(a));
      }
    }
    {
      Statement st = reader->prepare(
          "SELECT h.attribute_id, h.bound FROM eav_attribute_histogram h JOIN eav_attribute_stats s"
          " ON s.attribute_id = h.attribute_id WHERE s.type_id = ? ORDER BY h.attribute_id, h.bucket");
      st.bind(1, type_id);
      while (st.step()) {
        auto it = stats.attributes.find(st.column_int(0));
        auto k = column_key(st, 1);
        if (it != stats.attributes.end() && k) it->second.bounds.push_back(std::move(*k));
      }
    }
    reader->prepare("COMMIT").run();
  } catch (...) {
    sqlite3_exec(reader->raw(), "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
  return stats;
}

std::vector<std::string> SqliteBackend::backend_plan(const query::CompiledQuery& q) {
  auto reader = lease_reader();
  Statement st = reader->prepare_once("EXPLAIN QUERY PLAN " + q.sql);
  st.bind_params(q.params);
  std::map<int64_t, int> depth;  // node id -> depth
  std::vector<std::string> out;
  while (st.step()) {
    const int64_t id = st.column_int(0), parent = st.column_int(1);
    auto it = depth.find(parent);
    const int d = it == depth.end() ? 0 : it->second + 1;
    depth[id] = d;
    out.push_back(std::string(static_cast<size_t>(2 * d), ' ') + st.column_text(3));
  }
  return out;
}

int64_t SqliteBackend::count_rows(const std::string& sql, const std::vector<query::SqlParam>& params) {
  auto reader = lease_reader();
  Statement st = reader->prepare_once("SELECT count(*) FROM (" + sql + ")");
  st.bind_params(params);
  st.step();
  return st.column_int(0);
}

std::vector<flat::FlatTable> SqliteBackend::flat_tables() {
  auto reader = lease_reader();
  std::vector<flat::FlatTable> out;
  Statement st = reader->prepare(
      "SELECT f.type_id, f.table_name, f.attribute_ids, CAST(m.value AS REAL) FROM eav_flat_table f"
      " LEFT JOIN eav_meta m ON m.key = 'flat_row_bytes:' || f.type_id ORDER BY f.type_id");
  while (st.step()) {
    out.push_back({st.column_int(0), st.column_text(1), flat::decode_ids(st.column_text(2)), {}});
    if (!st.is_null(3)) out.back().row_bytes = sqlite3_column_double(st.raw(), 3);
  }
  return out;
}

flat::FlatTable SqliteBackend::flat_build(const EntityTypeDef& type) {
  const std::string table = flat::table_name(type);
  const std::string shadow = table + "_shadow";
  const auto attrs = flat::covered_attributes(type);
  std::vector<int64_t> ids;
  for (const AttributeDef* a : attrs) ids.push_back(a->id);
  std::sort(ids.begin(), ids.end());
  const auto sync = flat::sync_sql(type, table, attrs);
  std::lock_guard lock(write_mu_);
  Connection& c = *writer_;
  in_transaction(c, [&] {
    c.exec(fmt::format("DROP TABLE IF EXISTS {}", shadow));
    c.exec(flat::create_sql(shadow, attrs));
    c.exec(flat::populate_sql(type, shadow, attrs));
    c.exec(fmt::format("DROP TABLE IF EXISTS {}", table));
    c.exec(fmt::format("ALTER TABLE {} RENAME TO {}", shadow, table));
    for (const auto& ddl : flat::index_sql(table, attrs)) c.exec(ddl);
    c.exec(fmt::format("ANALYZE {}", table));  // SQLite's own statistics pick the flat table's indexes
    store_flat_row_bytes(c, type.id, measure_flat_row_bytes(c, table));
    Statement reg = c.prepare(
        "INSERT INTO eav_flat_table(type_id, table_name, attribute_ids, sync_delete, sync_insert, created_at)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(type_id) DO UPDATE SET table_name = ?2, attribute_ids = ?3,"
        " sync_delete = ?4, sync_insert = ?5, created_at = ?6");
    reg.bind(1, type.id);
    reg.bind(2, std::string_view(table));
    reg.bind(3, flat::encode_ids(ids));
    reg.bind(4, std::string_view(sync[0]));
    reg.bind(5, std::string_view(sync[1]));
    reg.bind(6, now_micros());
    reg.run();
    // A deferred table just rebuilt reflects every change so far.
    Statement fresh = c.prepare(
        "UPDATE eav_meta SET value = (SELECT COALESCE(max(seq), 0) FROM eav_invalidation) || ':' || ?2"
        " WHERE key = 'flat_deferred:' || ?1");
    fresh.bind(1, type.id);
    fresh.bind(2, now_micros());
    fresh.run();
  });
  return {type.id, table, ids, {}};
}

bool SqliteBackend::flat_drop(int64_t type_id) {
  std::lock_guard lock(write_mu_);
  Connection& c = *writer_;
  bool dropped = false;
  in_transaction(c, [&] {
    std::string table;
    {
      Statement st = c.prepare("SELECT table_name FROM eav_flat_table WHERE type_id = ?");
      st.bind(1, type_id);
      if (!st.step()) return;
      table = st.column_text(0);
    }
    c.exec(fmt::format("DROP TABLE IF EXISTS {}", table));
    Statement del = c.prepare("DELETE FROM eav_flat_table WHERE type_id = ?");
    del.bind(1, type_id);
    del.run();
    Statement meta = c.prepare("DELETE FROM eav_meta WHERE key = 'flat_deferred:' || ?");
    meta.bind(1, type_id);
    meta.run();
    dropped = true;
  });
  return dropped;
}

namespace {

std::string deferred_key(int64_t type_id) { return "flat_deferred:" + std::to_string(type_id); }

// "<synced_seq>:<synced_at µs>" as kept in eav_meta.
std::pair<int64_t, int64_t> parse_sync_value(const std::string& v) {
  const auto colon = v.find(':');
  int64_t seq = 0, at = 0;
  std::from_chars(v.data(), v.data() + (colon == std::string::npos ? v.size() : colon), seq);
  if (colon != std::string::npos) std::from_chars(v.data() + colon + 1, v.data() + v.size(), at);
  return {seq, at};
}

// The flat table's name and sync statements, or nullopt when the type has none.
std::optional<std::array<std::string, 3>> flat_registration(Connection& c, int64_t type_id) {
  Statement st = c.prepare("SELECT table_name, sync_delete, sync_insert FROM eav_flat_table WHERE type_id = ?");
  st.bind(1, type_id);
  if (!st.step()) return std::nullopt;
  return std::array<std::string, 3>{st.column_text(0), st.column_text(1), st.column_text(2)};
}

int64_t max_seq(Connection& c) {
  Statement st = c.prepare("SELECT COALESCE(max(seq), 0) FROM eav_invalidation");
  st.step();
  return st.column_int(0);
}

// Inside a write transaction: brings the flat table of `type_id` up to every logged change after
// `synced`; returns the seq it now reflects.
int64_t catch_up_flat(Connection& c, int64_t type_id, int64_t synced, const std::array<std::string, 3>& reg) {
  const int64_t last = max_seq(c);
  if (last <= synced) return synced;
  bool whole = false;
  {
    // Pruned past us: the log no longer holds every change after `synced`.
    Statement first = c.prepare("SELECT COALESCE(min(seq), 0) FROM eav_invalidation");
    first.step();
    whole = first.column_int(0) > synced + 1;
  }
  std::vector<int64_t> ids;
  if (!whole) {
    Statement st = c.prepare("SELECT entity_id FROM eav_invalidation WHERE seq > ? AND type_id = ? ORDER BY seq");
    st.bind(1, synced);
    st.bind(2, type_id);
    while (st.step()) {
      if (st.is_null(0)) {
        whole = true;  // a large commit named the type only
        break;
      }
      ids.push_back(st.column_int(0));
    }
  }
  if (whole) {
    c.exec("DELETE FROM " + reg[0]);
    ids.clear();
    Statement all = c.prepare("SELECT id FROM eav_entity WHERE type_id = ?");
    all.bind(1, type_id);
    while (all.step()) ids.push_back(all.column_int(0));
  }
  if (!ids.empty()) {
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    const std::string json = id_array(ids);
    for (const std::string* sql : {&reg[1], &reg[2]}) {
      Statement st = c.prepare(*sql);
      st.bind(1, std::string_view(json));
      st.run();
    }
  }
  return last;
}

void put_sync_value(Connection& c, int64_t type_id, int64_t seq) {
  Statement st = c.prepare(
      "INSERT INTO eav_meta(key, value) VALUES(?1, ?2) ON CONFLICT(key) DO UPDATE SET value = ?2");
  st.bind(1, std::string_view(deferred_key(type_id)));
  st.bind(2, std::string_view(fmt::format("{}:{}", seq, now_micros())));
  st.run();
}

}  // namespace

void SqliteBackend::flat_set_deferred(const EntityTypeDef& type, bool deferred) {
  std::lock_guard lock(write_mu_);
  Connection& c = *writer_;
  in_transaction(c, [&] {
    auto reg = flat_registration(c, type.id);
    if (!reg)
      throw Error(ErrorCode::kNotFound, fmt::format("type '{}' has no flat table (eavdb flat enable {})", type.code, type.code));
    std::optional<int64_t> synced;
    {
      Statement st = c.prepare("SELECT value FROM eav_meta WHERE key = ?");
      st.bind(1, std::string_view(deferred_key(type.id)));
      if (st.step()) synced = parse_sync_value(st.column_text(0)).first;
    }
    if (deferred) {
      // Already deferred: keep its position. Else it was maintained by every commit: fresh now.
      if (!synced) put_sync_value(c, type.id, max_seq(c));
    } else if (synced) {
      catch_up_flat(c, type.id, *synced, *reg);
      Statement del = c.prepare("DELETE FROM eav_meta WHERE key = ?");
      del.bind(1, std::string_view(deferred_key(type.id)));
      del.run();
    }
  });
}

Backend::FlatSyncState SqliteBackend::flat_sync_state(int64_t type_id) {
  FlatSyncState out;
  auto reader = lease_reader();
  reader->prepare("BEGIN").run();
  try {
    {
      Statement st = reader->prepare("SELECT value FROM eav_meta WHERE key = ?");
      st.bind(1, std::string_view(deferred_key(type_id)));
      if (st.step()) {
        out.deferred = true;
        std::tie(out.synced_seq, out.synced_at) = parse_sync_value(st.column_text(0));
      }
    }
    if (out.deferred) {
      Statement st = reader->prepare("SELECT count(*) FROM eav_invalidation WHERE seq > ? AND type_id = ?");
      st.bind(1, out.synced_seq);
      st.bind(2, type_id);
      st.step();
      out.lag = st.column_int(0);
      Statement first = reader->prepare("SELECT COALESCE(min(seq), 0) FROM eav_invalidation");
      first.step();
      if (first.column_int(0) > out.synced_seq + 1 && out.lag == 0) out.lag = 1;  // pruned past: unknown, not fresh
    }
    reader->prepare("COMMIT").run();
  } catch (...) {
    reader->exec("ROLLBACK");
    throw;
  }
  return out;
}

Backend::FlatSyncState SqliteBackend::flat_catch_up(const EntityTypeDef& type) {
  {
    std::lock_guard lock(write_mu_);
    Connection& c = *writer_;
    in_transaction(c, [&] {
      auto reg = flat_registration(c, type.id);
      if (!reg) return;
      Statement st = c.prepare("SELECT value FROM eav_meta WHERE key = ?");
      st.bind(1, std::string_view(deferred_key(type.id)));
      if (!st.step()) return;  // on-commit: nothing to do
      const int64_t synced = parse_sync_value(st.column_text(0)).first;
      const int64_t now = catch_up_flat(c, type.id, synced, *reg);
      put_sync_value(c, type.id, now);
    });
  }
  return flat_sync_state(type.id);
}

std::vector<Backend::IndexInfo> SqliteBackend::list_indexes() {
  auto reader = lease_reader();
  std::vector<IndexInfo> out;
  Statement st = reader->prepare(
      "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name");
  while (st.step()) out.push_back({st.column_text(0), st.column_text(1)});
  return out;
}

void SqliteBackend::create_index(const std::string& ddl, const std::string& table) {
  std::lock_guard lock(write_mu_);
  Connection& c = *writer_;
  in_transaction(c, [&] {
    c.exec(ddl);
    c.exec(fmt::format("ANALYZE {}", table));
  });
}

}  // namespace eavdb::storage::sqlite
