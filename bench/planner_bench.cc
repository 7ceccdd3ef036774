// eavdb_planner_bench — the planner benchmark's driver (bench/planner.sh): queries Q1–Q8 of issue 5
// (point equality, range, three-predicate AND, OR of two attributes, top-20 by a sort key with a
// filter, GROUP BY with COUNT/AVG, LIKE prefix, IS NULL) on one dataset, each run by
//   auto   eavdb, automatic plan (statistics analyzed, flat table enabled: the planner picks it)
//   eav    eavdb, plan forced to EAV (typed value tables, cost-based driver and join order)
//   naive  hand-written EAV SQL on the same file: one LEFT JOIN per attribute, no planner
//   wide   the floor: raw SQLite on a wide table holding the same rows, an index on every column
// All eavdb runs have the caches off, so every run plans and executes. Prints a Markdown table of
// median latencies (ms) and ratios, and the same as JSON with --json. Never fails on timing; exits
// non-zero when a run fails or when the four runs of one query disagree on the row count.
//
// Usage: eavdb_planner_bench --dataset zipcodes|catalog --data-dir DIR --work DIR
//                            [--entities N] [--reps R] [--json FILE]
#include <fmt/format.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "batch/generator.h"
#include "eavdb/database.h"
#include "eavdb/import.h"
#include "storage/sqlite/connection.h"

namespace {

using namespace eavdb;
using Clock = std::chrono::steady_clock;

// One benchmark query as a template: {attr} is an attribute (or {id}); the driver renders it for
// eavdb and the wide table (the plain name) and as naive EAV SQL (aN.value over LEFT JOINs).
struct QueryTemplate {
  std::string name;
  std::string select;
  std::string where;  // may be empty
  std::string tail;   // GROUP BY / ORDER BY / LIMIT
};

struct Rendered {
  std::string eav, wide, naive;
};

Rendered render(const QueryTemplate& q, const EntityTypeDef& type) {
  std::map<std::string, std::string> joins;  // code -> alias
  auto subst = [&](const std::string& text, bool naive) {
    std::string out;
    for (size_t i = 0; i < text.size();) {
      if (text[i] != '{') {
        out += text[i++];
        continue;
      }
      size_t end = text.find('}', i);
      std::string code = text.substr(i + 1, end - i - 1);
      i = end + 1;
      if (!naive) out += code;
      else if (code == "id") out += "e.id";
      else {
        if (!joins.count(code)) joins[code] = fmt::format("a{}", joins.size() + 1);
        out += joins[code] + ".value";
      }
    }
    return out;
  };
  Rendered r;
  const std::string w = q.where.empty() ? "" : " WHERE " + subst(q.where, false);
  r.eav = fmt::format("SELECT {} FROM {}{} {}", subst(q.select, false), type.code, w, subst(q.tail, false));
  r.wide = fmt::format("SELECT {} FROM wide{} {}", subst(q.select, false), w, subst(q.tail, false));
  const std::string sel = subst(q.select, true), where = subst(q.where, true), tail = subst(q.tail, true);
  std::string from = "eav_entity e";
  for (const auto& [code, alias] : joins) {
    const AttributeDef* a = type.find(code);
    from += fmt::format(" LEFT JOIN eav_value_{} {} ON {}.entity_id = e.id AND {}.attribute_id = {}",
                        value_type_name(a->type), alias, alias, alias, a->id);
  }
  r.naive = fmt::format("SELECT {} FROM {} WHERE e.type_id = {}{} {}", sel, from, type.id,
                        where.empty() ? "" : " AND (" + where + ")", tail);
  return r;
}

std::vector<QueryTemplate> queries(const std::string& dataset) {
  if (dataset == "zipcodes")
    return {
        {"Q1 point", "{id}, {city}, {state}", "{zip_code} = '10001'", ""},
        {"Q2 range", "{id}, {city}", "{latitude} BETWEEN 40.0 AND 40.2", ""},
        {"Q3 and3", "{id}, {zip_code}", "{state} = 'NY' AND {city} = 'Holtsville' AND {county} = 'Suffolk'", ""},
        {"Q4 or", "{id}, {zip_code}", "{city} = 'Springfield' OR {county} = 'Kings'", ""},
        {"Q5 top20", "{id}, {city}, {latitude}", "{state} = 'CA'", "ORDER BY {latitude} LIMIT 20"},
        {"Q6 group", "{state}, COUNT(*), AVG({latitude})", "", "GROUP BY {state}"},
        {"Q7 like", "{id}, {city}", "{city} LIKE 'Spring%'", ""},
        {"Q8 null", "{id}, {zip_code}", "{state} = 'NY' AND {county} IS NULL", ""},
    };
  return {
      {"Q1 point", "{id}, {name}, {price}", "{sku} = 'SKU-00001234'", ""},
      {"Q2 range", "{id}, {name}", "{price} BETWEEN 20 AND 20.5", ""},
      {"Q3 and3", "{id}, {sku}", "{category} = 'Books' AND {brand} = 'Nexio' AND {rating} >= 4.5", ""},
      {"Q4 or", "{id}, {sku}", "{brand} = 'Korvik' OR {publisher} = 'Penguin Random House'", ""},
      {"Q5 top20", "{id}, {name}, {price}", "{category} = 'Computers'", "ORDER BY {price} LIMIT 20"},
      {"Q6 group", "{category}, COUNT(*), AVG({price})", "", "GROUP BY {category}"},
      {"Q7 like", "{id}, {name}", "{name} LIKE 'Korvik Sig%'", ""},
      {"Q8 null", "{id}, {sku}", "{category} = 'Electronics' AND {voltage} IS NULL", ""},
  };
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

// Runs `fn` reps times after one warm-up; returns the median ms and the row count it reported.
std::pair<double, int64_t> measure(int reps, const std::function<int64_t()>& fn) {
  int64_t rows = fn();
  std::vector<double> ms;
  for (int i = 0; i < reps; ++i) {
    auto t = Clock::now();
    rows = fn();
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t).count());
  }
  return {median(ms), rows};
}

int64_t run_sqlite(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK)
    throw std::runtime_error(fmt::format("{}: {}", sqlite3_errmsg(db), sql));
  int64_t rows = 0;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) ++rows;
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) throw std::runtime_error(fmt::format("{}: {}", sqlite3_errmsg(db), sql));
  return rows;
}

void exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "?";
    sqlite3_free(err);
    throw std::runtime_error(msg + ": " + sql);
  }
}

// The wide table: every entity of the type as one row, typed columns (decimals REAL), and an
// index per column (the EAV store has one (attribute_id, value) index per value table).
void build_wide(Database& db, const EntityTypeDef& type, const std::string& path) {
  std::filesystem::remove(path);
  sqlite3* w = nullptr;
  sqlite3_open(path.c_str(), &w);
  std::string ddl = "CREATE TABLE wide(id INTEGER PRIMARY KEY";
  std::string ins = "INSERT INTO wide VALUES(?";
  for (const auto& a : type.attributes) {
    const char* t = a.type == ValueType::kInt || a.type == ValueType::kDatetime ? "INTEGER"
                    : a.type == ValueType::kDecimal                            ? "REAL"
                                                                               : "TEXT";
    ddl += fmt::format(", \"{}\" {}", a.code, t);
    ins += ",?";
  }
  exec(w, ddl + ")");
  exec(w, "BEGIN");
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(w, (ins + ")").c_str(), -1, &st, nullptr);
  QueryResult all = db.query(fmt::format("SELECT * FROM {}", type.code));
  for (const auto& row : all.rows) {
    for (size_t j = 0; j < row.size(); ++j) {
      const Value& v = row[j];
      const int p = static_cast<int>(j + 1);
      if (is_null(v)) sqlite3_bind_null(st, p);
      else if (auto* i = std::get_if<int64_t>(&v)) sqlite3_bind_int64(st, p, *i);
      else if (auto* d = std::get_if<Decimal>(&v)) sqlite3_bind_double(st, p, d->to_double());
      else if (auto* t = std::get_if<DateTime>(&v)) sqlite3_bind_int64(st, p, t->micros);
      else sqlite3_bind_text(st, p, std::get<std::string>(v).c_str(), -1, SQLITE_TRANSIENT);
    }
    sqlite3_step(st);
    sqlite3_reset(st);
  }
  sqlite3_finalize(st);
  exec(w, "COMMIT");
  for (const auto& a : type.attributes)
    if (a.type != ValueType::kText) exec(w, fmt::format("CREATE INDEX wide_{} ON wide(\"{}\")", a.code, a.code));
  exec(w, "ANALYZE");
  sqlite3_close(w);
}

}  // namespace

int main(int argc, char** argv) {
  std::string dataset = "zipcodes", data_dir, work = "/tmp/eavdb-planner-bench", json_out;
  int64_t entities = 20000;
  int reps = 15;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "missing value for " << a << "\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--dataset") dataset = next();
    else if (a == "--data-dir") data_dir = next();
    else if (a == "--work") work = next();
    else if (a == "--entities") entities = std::stoll(next());
    else if (a == "--reps") reps = std::stoi(next());
    else if (a == "--json") json_out = next();
    else {
      std::cerr << "usage: eavdb_planner_bench --dataset zipcodes|catalog --data-dir DIR --work DIR [--entities N] "
                   "[--reps R] [--json FILE]\n";
      return 2;
    }
  }
  if (dataset != "zipcodes" && dataset != "catalog") {
    std::cerr << "unknown dataset " << dataset << "\n";
    return 2;
  }
  try {
    std::filesystem::create_directories(work);
    const std::string db_path = work + "/" + dataset + ".db";
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(db_path + suffix);
    Options opts;
    opts.cache.enabled = false;
    auto db = Database::open(db_path, opts);
    ImportOptions io;
    std::string input;
    if (dataset == "zipcodes") {
      io.type = "zipcode";
      input = data_dir + "/zipcodes.csv";
    } else {
      io.type = "product";
      input = work + "/catalog.ndjson";
      std::ofstream out(input);
      batch::generate_catalog(out, entities, 42);
    }
    auto t0 = Clock::now();
    ImportReport rep = import_file(*db, input, io);
    std::fprintf(stderr, "imported %lld %s in %.1f s\n", static_cast<long long>(rep.imported), io.type.c_str(),
                 std::chrono::duration<double>(Clock::now() - t0).count());
    db->analyze(io.type);
    db->flat_enable(io.type);
    const EntityTypeDef type = db->require_type(io.type);
    build_wide(*db, type, work + "/" + dataset + "-wide.db");
    sqlite3* wide = nullptr;
    sqlite3_open((work + "/" + dataset + "-wide.db").c_str(), &wide);
    storage::sqlite::Connection naive(db_path, false, 5000);  // registers eavdb_decimal

    struct Row {
      std::string name, plan;
      double ms[4];
      int64_t rows[4];
    };
    std::vector<Row> results;
    bool mismatch = false;
    for (const auto& q : queries(dataset)) {
      Rendered r = render(q, type);
      Row row{q.name, db->explain(r.eav).plan, {}, {}};
      int k = 0;
      for (PlanKind plan : {PlanKind::kAuto, PlanKind::kEav}) {
        auto [ms, n] = measure(reps, [&] {
          return static_cast<int64_t>(db->query(r.eav, {}, QueryOptions{plan}).rows.size());
        });
        row.ms[k] = ms;
        row.rows[k++] = n;
      }
      std::tie(row.ms[2], row.rows[2]) = measure(reps, [&] {
        storage::sqlite::Statement st = naive.prepare_once(r.naive);
        int64_t n = 0;
        while (st.step()) ++n;
        return n;
      });
      std::tie(row.ms[3], row.rows[3]) = measure(reps, [&] { return run_sqlite(wide, r.wide); });
      for (int j = 1; j < 4; ++j)
        if (row.rows[j] != row.rows[0]) {
          std::fprintf(stderr, "%s: row counts differ (auto %lld, run %d: %lld)\n  eav: %s\n  naive: %s\n  wide: %s\n",
                       q.name.c_str(), static_cast<long long>(row.rows[0]), j, static_cast<long long>(row.rows[j]),
                       r.eav.c_str(), r.naive.c_str(), r.wide.c_str());
          mismatch = true;
        }
      results.push_back(row);
    }
    // Planner overhead: a query of the same shape whose execution is trivial (LIMIT 0), so the
    // time is parse + bind + plan (a plan-cache hit) + SQLite prepare.
    const std::string probe = queries(dataset)[2].where;
    Rendered pr = render({"probe", "{id}", probe, "LIMIT 0"}, type);
    auto [overhead_ms, unused] = measure(std::max(reps, 200), [&] {
      return static_cast<int64_t>(db->query(pr.eav, {}, QueryOptions{PlanKind::kEav}).rows.size());
    });
    (void)unused;
    // SQLite's prepare of the same statement alone (what the statement cache saves per query).
    const std::string probe_sql = db->explain(pr.eav, {}, false, QueryOptions{PlanKind::kEav}).sql;
    auto [prepare_ms, unused2] = measure(std::max(reps, 200), [&] {
      storage::sqlite::Statement st = naive.prepare_once(probe_sql);
      return int64_t{0};
    });
    (void)unused2;
    sqlite3_close(wide);

    std::printf("\n%s (%s entities), median of %d runs, ms\n\n", dataset.c_str(),
                fmt::format("{}", rep.imported).c_str(), reps);
    std::printf("| query | rows | auto plan | auto | forced eav | naive eav | wide sqlite | naive/eav | auto/wide |\n");
    std::printf("|---|---:|---|---:|---:|---:|---:|---:|---:|\n");
    for (const auto& r : results)
      std::printf("| %s | %lld | %s | %.3f | %.3f | %.3f | %.3f | %.1fx | %.2fx |\n", r.name.c_str(),
                  static_cast<long long>(r.rows[0]), r.plan.c_str(), r.ms[0], r.ms[1], r.ms[2], r.ms[3],
                  r.ms[2] / std::max(r.ms[1], 1e-6), r.ms[0] / std::max(r.ms[3], 1e-6));
    std::printf("\nquery overhead (LIMIT 0: parse + bind + plan-cache hit + cached statement + run): %.1f us; "
                "SQLite prepare of the same SQL alone (saved by the statement cache): %.1f us\n",
                overhead_ms * 1000, prepare_ms * 1000);
    auto [hits, misses] = db->plan_cache_counts();
    std::printf("plan cache: %lld hits, %lld misses\n", static_cast<long long>(hits), static_cast<long long>(misses));
    if (!json_out.empty()) {
      std::ofstream out(json_out);
      out << "{\"dataset\":\"" << dataset << "\",\"entities\":" << rep.imported << ",\"overhead_us\":" << overhead_ms * 1000
          << ",\"queries\":[";
      for (size_t i = 0; i < results.size(); ++i) {
        const auto& r = results[i];
        out << (i ? "," : "") << fmt::format(R"({{"name":"{}","plan":"{}","rows":{},"auto_ms":{},"eav_ms":{},"naive_ms":{},"wide_ms":{}}})",
                                             r.name, r.plan, r.rows[0], r.ms[0], r.ms[1], r.ms[2], r.ms[3]);
      }
      out << "]}\n";
    }
    return mismatch ? 1 : 0;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
