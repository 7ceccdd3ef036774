// eavdb::storage::sqlite — a SQLite connection with a prepared-statement cache.
//
// Not thread-safe: a Connection is used by one thread at a time (the backend hands them out).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "eavdb/value.h"
#include "query/compiler.h"

namespace eavdb::storage::sqlite {

/// Throws Error(kStorage) with the connection's message when rc is not OK/ROW/DONE.
void check(sqlite3* db, int rc, std::string_view what);

/// Registers eavdb's SQL extensions on a connection: the `eavdb_decimal` collation (numeric
/// order of canonical decimal TEXT), the aggregates eavdb_decimal_sum(x) and eavdb_decimal_avg(x)
/// (exact; INTEGER or decimal TEXT in, canonical decimal TEXT out, NULL for no input),
/// case-sensitive LIKE and, with `id_sink`, the aggregate eavdb_id_sink(x): clears `*id_sink`,
/// appends every non-NULL integer of the group in row order and returns their count (one
/// aggregate at a time per sink; `id_sink` must outlive the connection).
void register_functions(sqlite3* db, std::vector<int64_t>* id_sink = nullptr);

/// A prepared statement borrowed from a Connection's cache; reset and unbound on destruction.
class Statement {
 public:
  /// Wraps `stmt`; when `owned`, the statement is finalized on destruction instead of reset.
  explicit Statement(sqlite3_stmt* stmt, bool owned = false) : stmt_(stmt), owned_(owned) {}
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  /// Binds 1-based parameter `i`.
  void bind(int i, int64_t v);
  void bind(int i, double v);
  void bind(int i, std::string_view v);
  void bind_null(int i);
  /// Binds a typed value in its storage form (decimal as canonical TEXT, datetime as µs).
  void bind_value(int i, const Value& v);
  /// Like bind_value, but text is bound without a copy (SQLITE_STATIC): `v` must stay alive and
  /// unchanged until the statement has run and this Statement is destroyed (which unbinds it).
  /// For the bulk write path, whose values live in the ChangeSet for the whole commit.
  void bind_value_nocopy(int i, const Value& v);
  /// Binds a compiled-query parameter.
  void bind_param(int i, const query::SqlParam& p);
  /// Binds `params` to parameters 1..params.size(), in order.
  void bind_params(const std::vector<query::SqlParam>& params);

  /// Advances; true when a row is available, false when done. Throws Error(kStorage).
  bool step();
  /// Runs to completion (for statements without rows).
  void run() { while (step()) {} }

  bool is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  int64_t column_int(int col) const { return sqlite3_column_int64(stmt_, col); }
  std::string column_text(int col) const;
  /// Column `col` decoded as a value of type `t` (NULL -> monostate).
  Value column_value(int col, ValueType t) const;

  sqlite3_stmt* raw() const noexcept { return stmt_; }

 private:
  sqlite3_stmt* stmt_;
  bool owned_;
};

/// One open SQLite connection.
class Connection {
 public:
  /// Opens `path` (SQLITE_OPEN_CREATE when `create`), registers functions and applies the
  /// connection pragmas (WAL, synchronous=NORMAL, busy timeout in ms, page cache in KiB).
  /// Throws Error(kStorage).
  Connection(const std::string& path, bool create, int busy_timeout_ms, int page_cache_kib = 32768);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Executes SQL text without parameters (may hold several statements).
  void exec(std::string_view sql);
  /// A cached prepared statement for `sql` (prepared once per connection, then reused).
  Statement prepare(const std::string& sql);
  /// A statement prepared for one use (ad-hoc query SQL, which would otherwise grow the cache
  /// without bound), finalized when the Statement is destroyed.
  Statement prepare_once(const std::string& sql);
  /// A prepared statement from a bounded LRU cache of the last kQueryStatements ad-hoc query SQL
  /// texts (query SQL depends on the query's shape, not its values, so repeated queries of one
  /// shape skip SQLite's prepare); the least recently used statement is finalized when a new one
  /// does not fit. The statement must not be in use when the next prepare_query runs.
  Statement prepare_query(const std::string& sql);
  static constexpr std::size_t kQueryStatements = 128;
  /// Rows changed by the last statement.
  int64_t changes() const { return sqlite3_changes64(db_); }
  sqlite3* raw() const noexcept { return db_; }
  /// The integers the last `eavdb_id_sink(x)` aggregate run on this connection collected, in row
  /// order (see register_functions); valid until the next one runs. Not thread-safe (like the
  /// connection).
  const std::vector<int64_t>& id_sink() const noexcept { return id_sink_; }

 private:
  std::vector<int64_t> id_sink_;  ///< eavdb_id_sink's buffer (registered by the constructor)
  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, sqlite3_stmt*> cache_;
  using QueryEntry = std::pair<std::string, sqlite3_stmt*>;
  std::list<QueryEntry> query_lru_;  ///< front: most recently used
  std::unordered_map<std::string, std::list<QueryEntry>::iterator> query_index_;
};

}  // namespace eavdb::storage::sqlite
