#include "storage/sqlite/connection.h"

#include <fmt/format.h>

#include <chrono>
#include <thread>

#include <algorithm>
#include <cstring>
#include <optional>

#include "eavdb/error.h"
#include "storage/deadline.h"

namespace eavdb::storage::sqlite {

void check(sqlite3* db, int rc, std::string_view what) {
  if (rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE) return;
  if (rc == SQLITE_INTERRUPT) DeadlineScope::rethrow_if_fired();  // the thread's deadline: kTimeout
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

// Aggregate state for eavdb_decimal_sum / eavdb_decimal_avg, held in SQLite's aggregate context
// (zero-initialised by SQLite). Values are summed exactly in a 128-bit integer at the largest
// scale seen so far (`fast_lo`/`fast_hi`), which costs a few ns per row; a value the fast path cannot take
// (more than 18 digits, a scale above 18, exponent or '+' notation, or a sum reaching 10^36)
// moves the sum to Decimal arithmetic (`sum`, string digits, ~150 ns per row with its
// allocations), which parses and validates every later value as before. Both give the same
// exact sum with the same scale (the largest input scale), so results never depend on the path:
// GROUP BY state, AVG(latitude) over zipcodes' 42,049 rows spent ~7 ms in Decimal::parse and
// operator+ (half the query) before the fast path.
__extension__ typedef __int128 Int128;            // GCC/Clang extension (quiet under -Wpedantic)
__extension__ typedef unsigned __int128 UInt128;

// SQLite's aggregate context is only 8-byte aligned, so the 128-bit sum is kept as two 64-bit
// halves (an Int128 member would need 16: misaligned access, found by UBSan).
struct DecimalAgg {
  Decimal* sum;   // heap-allocated once the slow path takes over
  int64_t count;
  uint64_t fast_lo, fast_hi;  // the exact sum * 10^scale while sum == nullptr (two's complement)
  int scale;

  Int128 fast() const noexcept { return static_cast<Int128>((static_cast<UInt128>(fast_hi) << 64) | fast_lo); }
  void set_fast(Int128 v) noexcept {
    fast_lo = static_cast<uint64_t>(static_cast<UInt128>(v));
    fast_hi = static_cast<uint64_t>(static_cast<UInt128>(v) >> 64);
  }
};
static_assert(alignof(DecimalAgg) <= 8, "sqlite3_aggregate_context guarantees 8-byte alignment only");

constexpr int kFastMaxScale = 18;
constexpr int kFastMaxDigits = 18;

Int128 pow10_128(int n) {
  Int128 p = 1;
  while (n-- > 0) p *= 10;
  return p;
}

// The fast sum as canonical decimal text (`scale` fractional digits, trailing zeros kept).
std::string fast_text(Int128 v, int scale) {
  const bool neg = v < 0;
  UInt128 m = neg ? static_cast<UInt128>(-(v + 1)) + 1 : static_cast<UInt128>(v);
  std::string digits;
  do {
    digits.push_back(static_cast<char>('0' + static_cast<int>(m % 10)));
    m /= 10;
  } while (m != 0);
  while (digits.size() <= static_cast<std::size_t>(scale)) digits.push_back('0');
  std::reverse(digits.begin(), digits.end());
  std::string out = neg && v != 0 ? "-" : "";
  out.append(digits, 0, digits.size() - static_cast<std::size_t>(scale));
  if (scale > 0) out.append(".").append(digits, digits.size() - static_cast<std::size_t>(scale));
  return out;
}

// Adds m * 10^-scale to the fast sum; false when the sum would reach 10^36.
bool fast_add_scaled(DecimalAgg& agg, int64_t m, int scale) {
  static const Int128 kLimit = pow10_128(36);
  Int128 acc = agg.fast();
  int s = agg.scale;
  if (scale > s) {
    const Int128 f = pow10_128(scale - s);
    if (acc >= kLimit / f || acc <= -kLimit / f) return false;  // rescaled |acc| stays < 10^36
    acc *= f;
    s = scale;
  }
  const Int128 add = static_cast<Int128>(m) * pow10_128(s - scale);
  acc += add;
  if (acc >= kLimit || acc <= -kLimit) return false;
  agg.set_fast(acc);
  agg.scale = s;
  return true;
}

// Adds plain decimal text ([-]digits[.digits]) to the fast sum; false when it cannot (see
// DecimalAgg), leaving the sum unchanged.
bool fast_add(DecimalAgg& agg, std::string_view t) {
  bool neg = false;
  if (!t.empty() && t[0] == '-') {
    neg = true;
    t.remove_prefix(1);
  }
  int64_t m = 0;
  int digits = 0, frac = -1;
  for (char c : t) {
    if (c == '.' && frac < 0) {
      frac = 0;
      continue;
    }
    if (c < '0' || c > '9') return false;
    if (m == 0 && c == '0' && frac < 0) continue;  // leading zeros
    if (++digits > kFastMaxDigits) return false;
    m = m * 10 + (c - '0');
    if (frac >= 0) ++frac;
  }
  if (t.empty() || t == "." || t.back() == '.' || t.front() == '.') return false;  // Decimal::parse decides
  frac = std::max(frac, 0);
  if (frac > kFastMaxScale) return false;
  return fast_add_scaled(agg, neg ? -m : m, frac);
}


void decimal_step(sqlite3_context* ctx, int, sqlite3_value** argv) {
  const int type = sqlite3_value_type(argv[0]);
  if (type == SQLITE_NULL) return;
  auto* agg = static_cast<DecimalAgg*>(sqlite3_aggregate_context(ctx, sizeof(DecimalAgg)));
  if (!agg) return sqlite3_result_error_nomem(ctx);
  try {
    std::string_view text;
    if (type != SQLITE_INTEGER) {
      auto* p = reinterpret_cast<const char*>(sqlite3_value_text(argv[0]));
      if (!p) return sqlite3_result_error_nomem(ctx);
      text = std::string_view(p, static_cast<std::size_t>(sqlite3_value_bytes(argv[0])));
    }
    if (!agg->sum) {
      if (type == SQLITE_INTEGER ? fast_add_scaled(*agg, sqlite3_value_int64(argv[0]), 0) : fast_add(*agg, text)) {
        ++agg->count;
        return;
      }
      agg->sum = new Decimal(Decimal::parse(fast_text(agg->fast(), agg->scale)));  // the slow path takes over
    }
    const Decimal v = type == SQLITE_INTEGER ? Decimal::from_int(sqlite3_value_int64(argv[0])) : Decimal::parse(text);
    *agg->sum = *agg->sum + v;
    ++agg->count;
  } catch (const std::exception& e) {
    sqlite3_result_error(ctx, e.what(), -1);
  }
}

template <bool kAverage>
void decimal_final(sqlite3_context* ctx) {
  auto* agg = static_cast<DecimalAgg*>(sqlite3_aggregate_context(ctx, 0));
  if (!agg || agg->count == 0) {
    if (agg) delete agg->sum;
    return sqlite3_result_null(ctx);
  }
  try {
    const Decimal sum = agg->sum ? *agg->sum : Decimal::parse(fast_text(agg->fast(), agg->scale));
    const Decimal out = kAverage ? Decimal::divide(sum, agg->count) : sum;
    sqlite3_result_text(ctx, out.str().c_str(), static_cast<int>(out.str().size()), SQLITE_TRANSIENT);
  } catch (const std::exception& e) {
    sqlite3_result_error(ctx, e.what(), -1);
  }
  delete agg->sum;
  agg->sum = nullptr;
}

// eavdb_id_sink(x): appends every non-NULL integer of the group, in row order, to the vector
// registered with the function (the connection's Connection::id_sink(), cleared when the group
// starts) and returns their count. An index intersection (query::Layout::Source::kIntersect)
// reads each lookup's entity ids through it: the scan stays inside one sqlite3_step instead of
// returning a row per id, and the ids land in a buffer that keeps its capacity from query to
// query (a blob result grown by realloc and copied out allocated ~250 KiB per lookup, and the
// page faults of that memory were a quarter of flights-200k Q3's forced-EAV time).
void id_sink_step(sqlite3_context* ctx, int, sqlite3_value** argv) {
  auto* sink = static_cast<std::vector<int64_t>*>(sqlite3_user_data(ctx));
  auto* started = static_cast<char*>(sqlite3_aggregate_context(ctx, 1));
  if (!started) return sqlite3_result_error_nomem(ctx);
  if (!*started) {
    sink->clear();
    *started = 1;
  }
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL) return;
  try {
    sink->push_back(sqlite3_value_int64(argv[0]));
  } catch (const std::bad_alloc&) {
    sqlite3_result_error_nomem(ctx);
  }
}

void id_sink_final(sqlite3_context* ctx) {
  auto* sink = static_cast<std::vector<int64_t>*>(sqlite3_user_data(ctx));
  const auto* started = static_cast<char*>(sqlite3_aggregate_context(ctx, 0));
  if (!started || !*started) sink->clear();  // no rows
  sqlite3_result_int64(ctx, static_cast<sqlite3_int64>(sink->size()));
}

}  // namespace

void register_functions(sqlite3* db, std::vector<int64_t>* id_sink) {
  check(db, sqlite3_create_collation(db, "eavdb_decimal", SQLITE_UTF8, nullptr, decimal_collation),
        "register collation");
  constexpr int kFlags = SQLITE_UTF8 | SQLITE_DETERMINISTIC;
  check(db, sqlite3_create_function(db, "eavdb_decimal_sum", 1, kFlags, nullptr, nullptr,
                                    decimal_step, decimal_final<false>),
        "register eavdb_decimal_sum");
  check(db, sqlite3_create_function(db, "eavdb_decimal_avg", 1, kFlags, nullptr, nullptr,
                                    decimal_step, decimal_final<true>),
        "register eavdb_decimal_avg");
  if (id_sink)
    check(db, sqlite3_create_function(db, "eavdb_id_sink", 1, SQLITE_UTF8, id_sink, nullptr, id_sink_step,
                                      id_sink_final),
          "register eavdb_id_sink");
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

void Statement::bind_params(const std::vector<query::SqlParam>& params) {
  for (size_t i = 0; i < params.size(); ++i) bind_param(static_cast<int>(i + 1), params[i]);
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
      return Decimal::parse(std::string_view(reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col)),
                                             static_cast<size_t>(sqlite3_column_bytes(stmt_, col))));
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
    register_functions(db_, &id_sink_);
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
