// Test fixture for the query layer: an in-memory SQLite database with the eavdb schema and SQL
// extensions, a small catalog, direct-SQL inserts, and a runner for compiled queries.
//
// Self-contained on purpose (registers its own decimal collation and aggregates from
// eavdb::compare_decimal_text / Decimal), so query tests do not depend on the storage layer.
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "eavdb/error.h"
#include "eavdb/schema.h"
#include "eavdb/value.h"
#include "query/compiler.h"
#include "storage/sqlite/connection.h"
#include "storage/sqlite/schema.sql.h"

namespace eavdb::query::qtest {

/// An in-memory eavdb SQLite store for query tests. Not thread-safe.
class QueryDb {
 public:
  QueryDb() {
    if (sqlite3_open(":memory:", &db_) != SQLITE_OK) throw std::runtime_error("sqlite3_open");
    storage::sqlite::register_functions(db_);  // the same SQL extensions as the backend
    for (auto m : storage::sqlite::kMigrations) exec(std::string(m));
    exec("INSERT INTO eav_tenant(id, code) VALUES (1, 'default')");
  }
  ~QueryDb() { sqlite3_close(db_); }
  QueryDb(const QueryDb&) = delete;
  QueryDb& operator=(const QueryDb&) = delete;

  /// Executes SQL without parameters; fails the test on error.
  void exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : "?";
      sqlite3_free(err);
      throw std::runtime_error("exec failed: " + msg + " in " + sql);
    }
  }

  /// Stores a type with attributes (code, type) and returns the stored definition.
  const EntityTypeDef& define(const std::string& code, const std::vector<std::pair<std::string, ValueType>>& attrs) {
    auto def = std::make_unique<EntityTypeDef>();
    def->id = next_type_id_++;
    def->code = code;
    def->label = code;
    exec("INSERT INTO eav_entity_type(id, tenant_id, code, label) VALUES (" + std::to_string(def->id) +
         ", 1, '" + code + "', '" + code + "')");
    for (const auto& [acode, t] : attrs) {
      AttributeDef a;
      a.id = next_attr_id_++;
      a.code = acode;
      a.label = acode;
      a.type = t;
      exec("INSERT INTO eav_attribute(id, type_id, code, label, value_type) VALUES (" + std::to_string(a.id) +
           ", " + std::to_string(def->id) + ", '" + acode + "', '" + acode + "', '" +
           std::string(value_type_name(t)) + "')");
      def->attributes.push_back(std::move(a));
    }
    auto& ref = *def;
    types_[code] = std::move(def);
    return ref;
  }

  /// Inserts an entity with the given attribute values (NULL values are skipped); returns its id.
  int64_t insert(const std::string& type, const std::vector<std::pair<std::string, Value>>& values,
                 int64_t created_at = 0, int64_t version = 1) {
    const EntityTypeDef& def = *types_.at(type);
    int64_t id = next_entity_id_++;
    exec("INSERT INTO eav_entity(id, type_id, tenant_id, version, created_at, updated_at) VALUES (" +
         std::to_string(id) + ", " + std::to_string(def.id) + ", 1, " + std::to_string(version) + ", " +
         std::to_string(created_at) + ", " + std::to_string(created_at) + ")");
    for (const auto& [code, v] : values) {
      if (is_null(v)) continue;
      const AttributeDef* a = def.find(code);
      if (!a) throw std::runtime_error("no attribute " + code);
      sqlite3_stmt* st = prepare("INSERT INTO eav_value_" + std::string(value_type_name(a->type)) +
                                 "(entity_id, attribute_id, value) VALUES (?, ?, ?)");
      sqlite3_bind_int64(st, 1, id);
      sqlite3_bind_int64(st, 2, a->id);
      Value c = coerce(v, a->type);
      if (auto* i = std::get_if<int64_t>(&c)) sqlite3_bind_int64(st, 3, *i);
      else if (auto* d = std::get_if<Decimal>(&c)) sqlite3_bind_text(st, 3, d->str().c_str(), -1, SQLITE_TRANSIENT);
      else if (auto* t = std::get_if<DateTime>(&c)) sqlite3_bind_int64(st, 3, t->micros);
      else sqlite3_bind_text(st, 3, std::get<std::string>(c).c_str(), -1, SQLITE_TRANSIENT);
      int rc = sqlite3_step(st);
      sqlite3_finalize(st);
      if (rc != SQLITE_DONE) throw std::runtime_error(sqlite3_errmsg(db_));
    }
    return id;
  }

  /// The catalog over the defined types.
  Catalog catalog() const {
    Catalog c;
    c.find_type = [this](std::string_view code) -> const EntityTypeDef* {
      auto it = types_.find(std::string(code));
      return it == types_.end() ? nullptr : it->second.get();
    };
    c.type_codes = [this] {
      std::vector<std::string> out;
      for (const auto& [code, def] : types_) out.push_back(code);
      return out;
    };
    return c;
  }

  /// Compiles `sql` against the catalog.
  CompiledQuery compile(std::string_view sql, const std::vector<Value>& params = {}) const {
    return query::compile(sql, params, catalog());
  }

  /// Runs compiled SQL and decodes rows by the output column types (SELECT *: only the id).
  std::vector<std::vector<Value>> run(const CompiledQuery& q) {
    sqlite3_stmt* st = prepare(q.sql);
    for (std::size_t k = 0; k < q.params.size(); ++k) {
      int i = static_cast<int>(k + 1);
      const SqlParam& p = q.params[k];
      if (auto* n = std::get_if<int64_t>(&p)) sqlite3_bind_int64(st, i, *n);
      else if (auto* d = std::get_if<double>(&p)) sqlite3_bind_double(st, i, *d);
      else if (auto* s = std::get_if<std::string>(&p)) sqlite3_bind_text(st, i, s->data(), int(s->size()), SQLITE_TRANSIENT);
      else sqlite3_bind_null(st, i);
    }
    std::vector<std::vector<Value>> rows;
    int rc;
    std::size_t ncols = q.select_star ? 1 : q.columns.size();
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      EXPECT_EQ(static_cast<std::size_t>(sqlite3_column_count(st)), ncols);
      std::vector<Value> row;
      for (std::size_t c = 0; c < ncols; ++c) row.push_back(column(st, int(c), q.columns[c].type));
      rows.push_back(std::move(row));
    }
    std::string err = rc == SQLITE_DONE ? "" : sqlite3_errmsg(db_);
    sqlite3_finalize(st);
    if (!err.empty()) throw Error(ErrorCode::kStorage, err + " in " + q.sql);
    return rows;
  }

  /// Compiles and runs.
  std::vector<std::vector<Value>> run(std::string_view sql, const std::vector<Value>& params = {}) {
    return run(compile(sql, params));
  }

  /// Compiles and runs a query whose first column is an int (e.g. id); returns that column.
  std::vector<int64_t> ids(std::string_view sql, const std::vector<Value>& params = {}) {
    std::vector<int64_t> out;
    for (const auto& row : run(sql, params)) out.push_back(std::get<int64_t>(row.at(0)));
    return out;
  }

  sqlite3* raw() const { return db_; }

 private:
  sqlite3* db_ = nullptr;
  std::map<std::string, std::unique_ptr<EntityTypeDef>> types_;
  int64_t next_type_id_ = 1, next_attr_id_ = 1, next_entity_id_ = 1;

  sqlite3_stmt* prepare(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), int(sql.size()), &st, nullptr) != SQLITE_OK)
      throw Error(ErrorCode::kStorage, std::string(sqlite3_errmsg(db_)) + " in " + sql.substr(0, 2000));
    return st;
  }

  static Value column(sqlite3_stmt* st, int c, ValueType t) {
    if (sqlite3_column_type(st, c) == SQLITE_NULL) return std::monostate{};
    auto text = [&] { return std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, c)),
                                         std::size_t(sqlite3_column_bytes(st, c))); };
    switch (t) {
      case ValueType::kInt: return sqlite3_column_int64(st, c);
      case ValueType::kDecimal:
        return sqlite3_column_type(st, c) == SQLITE_INTEGER ? Decimal::from_int(sqlite3_column_int64(st, c))
                                                            : Decimal::parse(text());
      case ValueType::kDatetime: return DateTime{sqlite3_column_int64(st, c)};
      default: return text();
    }
  }
};

/// Defines `movie` (title varchar, year int, rating decimal, released datetime, notes text,
/// genre varchar, gross int), `person` (name varchar) and `item` (category varchar, price
/// decimal), and inserts:
///   id title  year  rating released             genre   gross notes   version created_at (µs)
///   1  Alpha  1999  7.5    1999-03-01           Drama   100   first   1       1000000
///   2  beta   2005  10.5   -                    Comedy  200   -       2       2000000
///   3  Gamma  -     9.75   2010-01-01           Drama   -     -       1       3000000
///   4  Delta  2005  -      -                    -       50    -       3       4000000
///   5  alpha  1     -0.25  2000-06-15T12:00:00Z Comedy  -     -       1       5000000
///   6  (no attributes)                                                1       6000000
///   items 7..11: (A, 0.1) (A, 0.2) (B, 9.5) (C, 4) (C, 6.25)
inline void define_movies(QueryDb& db) {
  db.define("movie", {{"title", ValueType::kVarchar}, {"year", ValueType::kInt}, {"rating", ValueType::kDecimal},
                      {"released", ValueType::kDatetime}, {"notes", ValueType::kText},
                      {"genre", ValueType::kVarchar}, {"gross", ValueType::kInt}});
  db.define("person", {{"name", ValueType::kVarchar}});
  db.define("item", {{"category", ValueType::kVarchar}, {"price", ValueType::kDecimal}});
  using V = Value;
  auto dt = [](const char* s) { return V(DateTime::parse(s)); };
  auto dec = [](const char* s) { return V(Decimal::parse(s)); };
  db.insert("movie", {{"title", V("Alpha")}, {"year", V(int64_t{1999})}, {"rating", dec("7.5")},
                      {"released", dt("1999-03-01")}, {"genre", V("Drama")}, {"gross", V(int64_t{100})},
                      {"notes", V("first")}}, 1000000, 1);
  db.insert("movie", {{"title", V("beta")}, {"year", V(int64_t{2005})}, {"rating", dec("10.5")},
                      {"genre", V("Comedy")}, {"gross", V(int64_t{200})}}, 2000000, 2);
  db.insert("movie", {{"title", V("Gamma")}, {"rating", dec("9.75")}, {"released", dt("2010-01-01")},
                      {"genre", V("Drama")}}, 3000000, 1);
  db.insert("movie", {{"title", V("Delta")}, {"year", V(int64_t{2005})}, {"gross", V(int64_t{50})}}, 4000000, 3);
  db.insert("movie", {{"title", V("alpha")}, {"year", V(int64_t{1})}, {"rating", dec("-0.25")},
                      {"released", dt("2000-06-15T12:00:00Z")}, {"genre", V("Comedy")}}, 5000000, 1);
  db.insert("movie", {}, 6000000, 1);
  // The same movies as an ordinary wide table: the reference answer for differential tests.
  db.exec(
      "CREATE TABLE wide_movie(id INTEGER PRIMARY KEY, version INTEGER, title TEXT, year INTEGER, rating REAL,"
      " genre TEXT, gross INTEGER, notes TEXT);"
      "INSERT INTO wide_movie VALUES (1, 1, 'Alpha', 1999, 7.5, 'Drama', 100, 'first'),"
      " (2, 2, 'beta', 2005, 10.5, 'Comedy', 200, NULL), (3, 1, 'Gamma', NULL, 9.75, 'Drama', NULL, NULL),"
      " (4, 3, 'Delta', 2005, NULL, NULL, 50, NULL), (5, 1, 'alpha', 1, -0.25, 'Comedy', NULL, NULL),"
      " (6, 1, NULL, NULL, NULL, NULL, NULL, NULL)");
  db.insert("item", {{"category", V("A")}, {"price", dec("0.1")}});
  db.insert("item", {{"category", V("A")}, {"price", dec("0.2")}});
  db.insert("item", {{"category", V("B")}, {"price", dec("9.5")}});
  db.insert("item", {{"category", V("C")}, {"price", dec("4")}});
  db.insert("item", {{"category", V("C")}, {"price", dec("6.25")}});
}

/// Runs `fn` and returns the Error it throws (fails the test when it throws nothing).
template <typename Fn>
Error expect_error(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "expected an eavdb::Error";
  return Error(ErrorCode::kInvalidArgument, "<none thrown>");
}

}  // namespace eavdb::query::qtest
