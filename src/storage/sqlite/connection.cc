#include "storage/sqlite/connection.h"

#include <fmt/format.h>

#include <chrono>
#include <thread>

#include <algorithm>
#include <cstring>
#include <optional>

#include "eavdb/error.h"

namespace eavdb::storage::sqlite {

void check(sqlite3* db, int rc, std::string_view what) {
  if (rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE) return;
  throw Error(ErrorCode::kStorage,
              fmt::format("sqlite: {}: {} ({})", what, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc),
                          sqlite3_errstr(rc)));
}

namespace {

int decimal_collation(void*, int la, const void* a, int lb, const void* b) {
  // Equal bytes are equal numbers: index builds compare many equal values (few distinct
  // decimals per attribute), and this skips parsing both sides for them.
  if (la == lb && std::memcmp(a, b, static_cast<size_t>(la)) == 0) return 0;
  return compare_decimal_text(std::string_view(static_cast<const char*>(a), la),
                              std::string_view(static_cast<const char*>(b), lb));
}

// Aggregate state for eavdb_decimal_sum / eavdb_decimal_avg, held in SQLite's aggregate context.
struct DecimalAgg {
  Decimal* sum;  // heap-allocated on first non-NULL input
  int64_t count;
};

void decimal_step(sqlite3_context* ctx, int, sqlite3_value** argv) {
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL) return;
  auto* agg = static_cast<DecimalAgg*>(sqlite3_aggregate_context(ctx, sizeof(DecimalAgg)));
  if (!agg) return sqlite3_result_error_nomem(ctx);
  try {
    Decimal v;
    if (sqlite3_value_type(argv[0]) == SQLITE_INTEGER) {
      v = Decimal::from_int(sqlite3_value_int64(argv[0]));
    } else {
      auto* text = reinterpret_cast<const char*>(sqlite3_value_text(argv[0]));
      v = Decimal::parse(std::string_view(text, sqlite3_value_bytes(argv[0])));
    }
    if (!agg->sum) agg->sum = new Decimal(v);
    else *agg->sum = *agg->sum + v;
    ++agg->count;
  } catch (const std::exception& e) {
    sqlite3_result_error(ctx, e.what(), -1);
  }
}

template <bool kAverage>
void decimal_final(sqlite3_context* ctx) {
  auto* agg = static_cast<DecimalAgg*>(sqlite3_aggregate_context(ctx, 0));
  if (!agg || !agg->sum) return sqlite3_result_null(ctx);
  try {
    Decimal out = kAverage ? Decimal::divide(*agg->sum, agg->count) : *agg->sum;
    sqlite3_result_text(ctx, out.str().c_str(), static_cast<int>(out.str().size()), SQLITE_TRANSIENT);
  } catch (const std::exception& e) {
    sqlite3_result_error(ctx, e.what(), -1);
  }
  delete agg->sum;
  agg->sum = nullptr;
}

}  // namespace

void register_functions(sqlite3* db) {
  check(db, sqlite3_create_collation(db, "eavdb_decimal", SQLITE_UTF8, nullptr, decimal_collation),
        "register collation");
  constexpr int kFlags = SQLITE_UTF8 | SQLITE_DETERMINISTIC;
  check(db, sqlite3_create_function(db, "eavdb_decimal_sum", 1, kFlags, nullptr, nullptr,
                                    decimal_step, decimal_final<false>),
        "register eavdb_decimal_sum");
  check(db, sqlite3_create_function(db, "eavdb_decimal_avg", 1, kFlags, nullptr, nullptr,
                                    decimal_step, decimal_final<true>),
        "register eavdb_decimal_avg");
  check(db, sqlite3_exec(db, "PRAGMA case_sensitive_like = ON", nullptr, nullptr, nullptr),
        "case_sensitive_like");
}

// ---- Statement ----------------------------------------------------------------------------

Statement::~Statement() {
  if (owned_) {
    sqlite3_finalize(stmt_);
    return;
  }
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

void Statement::bind(int i, int64_t v) { check(sqlite3_db_handle(stmt_), sqlite3_bind_int64(stmt_, i, v), "bind"); }
void Statement::bind(int i, double v) { check(sqlite3_db_handle(stmt_), sqlite3_bind_double(stmt_, i, v), "bind"); }
void Statement::bind(int i, std::string_view v) {
  check(sqlite3_db_handle(stmt_),
        sqlite3_bind_text64(stmt_, i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8), "bind");
}
void Statement::bind_null(int i) { check(sqlite3_db_handle(stmt_), sqlite3_bind_null(stmt_, i), "bind"); }

void Statement::bind_value(int i, const Value& v) {
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) bind_null(i);
        else if constexpr (std::is_same_v<T, int64_t>) bind(i, x);
        else if constexpr (std::is_same_v<T, Decimal>) bind(i, std::string_view(x.str()));
        else if constexpr (std::is_same_v<T, DateTime>) bind(i, x.micros);
        else bind(i, std::string_view(x));
      },
      v);
}

void Statement::bind_value_nocopy(int i, const Value& v) {
  auto text = [&](std::string_view t) {
    check(sqlite3_db_handle(stmt_), sqlite3_bind_text64(stmt_, i, t.data(), t.size(), SQLITE_STATIC, SQLITE_UTF8),
          "bind");
  };
  if (const auto* d = std::get_if<Decimal>(&v)) return text(d->str());
  if (const auto* s = std::get_if<std::string>(&v)) return text(*s);
  bind_value(i, v);
}

void Statement::bind_param(int i, const query::SqlParam& p) {
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) bind_null(i);
        else if constexpr (std::is_same_v<T, std::string>) bind(i, std::string_view(x));
        else bind(i, x);
      },
      p);
}

bool Statement::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  sqlite3* db = sqlite3_db_handle(stmt_);
  std::string msg = sqlite3_errmsg(db);
  sqlite3_reset(stmt_);
  if ((rc & 0xff) == SQLITE_CONSTRAINT)
    throw Error(ErrorCode::kConstraint, "sqlite: constraint failed: " + msg);
  check(db, rc, "step");
  return false;
}

std::string Statement::column_text(int col) const {
  auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  return p ? std::string(p, sqlite3_column_bytes(stmt_, col)) : std::string();
}

Value Statement::column_value(int col, ValueType t) const {
  if (is_null(col)) return std::monostate{};
  switch (t) {
    case ValueType::kInt: return column_int(col);
    case ValueType::kDatetime: return DateTime{column_int(col)};
    case ValueType::kDecimal:
      if (sqlite3_column_type(stmt_, col) == SQLITE_INTEGER) return Decimal::from_int(column_int(col));
      return Decimal::parse(column_text(col));
    case ValueType::kVarchar:
    case ValueType::kText: return column_text(col);
  }
  return std::monostate{};
}

// ---- Connection ---------------------------------------------------------------------------

Connection::Connection(const std::string& path, bool create, int busy_timeout_ms, int page_cache_kib) {
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
  int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    throw Error(ErrorCode::kStorage, fmt::format("cannot open database '{}': {}", path, msg));
  }
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, busy_timeout_ms);
  try {
    register_functions(db_);
    // A large page cache (default 32 MiB): bulk writes touch index pages all over the file, and
    // SQLite's default 2 MiB cache re-read them from disk (pread) for every chunk.
    // Switching a new file to WAL needs its exclusive lock, and SQLite answers SQLITE_BUSY
    // without calling the busy handler while another connection opens or converts the same file
    // (several processes opening a new database together): retry within the busy timeout.
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(busy_timeout_ms);
    while (true) {
      const int mode_rc = sqlite3_exec(db_, "PRAGMA journal_mode = WAL", nullptr, nullptr, nullptr);
      if (mode_rc == SQLITE_OK) break;
      if ((mode_rc & 0xff) != SQLITE_BUSY || std::chrono::steady_clock::now() >= give_up) exec("PRAGMA journal_mode = WAL");
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    exec(fmt::format("PRAGMA synchronous = NORMAL; PRAGMA cache_size = -{};", std::max(64, page_cache_kib)));
  } catch (...) {
    sqlite3_close(db_);
    throw;
  }
}

Connection::~Connection() {
  for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
  for (auto& [sql, stmt] : query_lru_) sqlite3_finalize(stmt);
  sqlite3_close(db_);
}

void Connection::exec(std::string_view sql) {
  std::string s(sql);
  char* err = nullptr;
  int rc = sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    if (rc == SQLITE_NOTADB)
      throw Error(ErrorCode::kStorage, "file is not a database: " + msg);
    throw Error(ErrorCode::kStorage, "sqlite: " + msg);
  }
}

Statement Connection::prepare(const std::string& sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end()) return Statement(it->second);
  sqlite3_stmt* stmt = nullptr;
  check(db_, sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &stmt, nullptr),
        "prepare");
  cache_.emplace(sql, stmt);
  return Statement(stmt);
}

Statement Connection::prepare_query(const std::string& sql) {
  if (auto it = query_index_.find(sql); it != query_index_.end()) {
    query_lru_.splice(query_lru_.begin(), query_lru_, it->second);
    return Statement(it->second->second);
  }
  sqlite3_stmt* stmt = nullptr;
  check(db_, sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt,
                                nullptr),
        "prepare");
  query_lru_.emplace_front(sql, stmt);
  query_index_[sql] = query_lru_.begin();
  while (query_lru_.size() > kQueryStatements) {
    sqlite3_finalize(query_lru_.back().second);
    query_index_.erase(query_lru_.back().first);
    query_lru_.pop_back();
  }
  return Statement(stmt);
}

Statement Connection::prepare_once(const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  check(db_, sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &stmt, nullptr),
        "prepare");
  return Statement(stmt, true);
}

}  // namespace eavdb::storage::sqlite
