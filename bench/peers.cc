// eavdb_bench_peers — the naive "peer" of the bulk benchmark (bench/bulk.sh): what a user's
// per-entity loop over the public API costs. Every mode works one entity at a time, with one
// session and one commit (or one load) per entity, and prints one JSON line:
//   {"mode":..., "records":N, "seconds":S, "records_per_second":R, ...}
// The timing covers only the loop (not opening the database or reading the id list).
//
// Usage:
//   eavdb_bench_peers naive-insert DB FILE TYPE N         first N records of a JSON/NDJSON/CSV file
//   eavdb_bench_peers naive-find   DB TYPE IDS_FILE       Database::load(type, {id}) per id, caches off
//   eavdb_bench_peers naive-update DB TYPE IDS_FILE ATTR VALUE   session, find, set, flush per id
//   eavdb_bench_peers naive-delete DB TYPE IDS_FILE       session, find, remove, flush per id
//   eavdb_bench_peers bulk-load    DB TYPE IDS_FILE       BatchProcessor::load of all ids, caches off
//   eavdb_bench_peers floor-load   DB TYPE IDS_FILE       raw sqlite3 C loop: the minimal seeks
//   eavdb_bench_peers floor-insert SRC_DB DST_DB INDEXES  the rows of SRC_DB written to a new DST_DB
// bulk-load is the in-process time of the bulk side (what `eavdb bulk load` spends in the load,
// without process start, open, catalog load and output). floor-load is the storage floor of a
// load: the ids sorted, then per id one rowid seek in eav_entity and one (entity_id) range seek
// in each value table the type has attributes of, with statements prepared once, columns read
// with sqlite3_column_* and nothing built: no decoding to Value, no records, no allocation per
// value. It opens the file read-only with the same mmap size as eavdb's readers.
// floor-insert is the storage floor of an import: it reads every row of eav_entity and the five
// value tables of SRC_DB (an eavdb import's result) into memory, untimed, creates DST_DB as a new
// eavdb store (same schema, pragmas and collations: eavdb's own Connection), and times writing
// exactly those rows as fast as SQLite takes them: one transaction, cached 256-row prepared
// INSERTs, rows in primary-key order, then the checkpoint. INDEXES is `keep` (the secondary
// indexes are maintained row by row) or `rebuild` (dropped first and created after the rows, in
// 1 MiB sort runs, as eavdb's bulk load does). "phases" holds the seconds of each step.
// naive-insert needs TYPE to exist with every attribute the records use (the benchmark imports a
// few records first). Exit status: 0 success, 1 error (message on stderr), 2 usage error.
#include <fmt/format.h>
#include <sqlite3.h>
#include <rapidjson/ostreamwrapper.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <ctime>
#include <cstdint>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "eavdb/batch.h"
#include "eavdb/database.h"
#include "eavdb/error.h"
#include "eavdb/session.h"
#include "io/io.h"
#include "storage/sqlite/connection.h"

namespace {

using namespace eavdb;
using Clock = std::chrono::steady_clock;

constexpr int kExitUsage = 2;

struct Timing {
  explicit Timing(std::string m = {}) : mode(std::move(m)) {}
  std::string mode;
  int64_t records = 0;
  double seconds = 0;
  int64_t values = 0;   // attribute values written (insert/update) or read (find)
  int64_t missing = 0;  // find: ids that did not exist
  double cpu_seconds = 0;   // CPU time of the timed section (this thread: user + system)
  double warm_seconds = -1; // bulk-load / floor-load: a second pass over the same ids (pages mapped)
  std::vector<std::pair<std::string, double>> phases;  // floor-insert: seconds per step
};

void print(const Timing& t) {
  rapidjson::OStreamWrapper osw(std::cout);
  rapidjson::Writer<rapidjson::OStreamWrapper> w(osw);
  w.StartObject();
  w.Key("mode");
  w.String(t.mode.c_str(), static_cast<rapidjson::SizeType>(t.mode.size()));
  w.Key("records");
  w.Int64(t.records);
  w.Key("seconds");
  w.Double(t.seconds);
  w.Key("records_per_second");
  w.Double(t.seconds > 0 ? static_cast<double>(t.records) / t.seconds : 0.0);
  w.Key("values");
  w.Int64(t.values);
  w.Key("missing");
  w.Int64(t.missing);
  w.Key("cpu_seconds");
  w.Double(t.cpu_seconds);
  if (t.warm_seconds >= 0) {
    w.Key("warm_seconds");
    w.Double(t.warm_seconds);
  }
  if (!t.phases.empty()) {
    w.Key("phases");
    w.StartObject();
    for (const auto& [name, secs] : t.phases) {
      w.Key(name.c_str(), static_cast<rapidjson::SizeType>(name.size()));
      w.Double(secs);
    }
    w.EndObject();
  }
  w.EndObject();
  osw.Flush();
  std::cout << '\n';
}

double since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// CPU seconds this thread has used (user + system): less noisy than wall time on a shared machine.
double thread_cpu() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

std::vector<int64_t> read_ids(const std::string& path) {
  std::vector<int64_t> ids;
  auto source = open_id_source(path);
  while (auto id = source->next()) ids.push_back(*id);
  return ids;
}

int64_t parse_count(std::string_view text) {
  auto n = io::parse_int_text(text);
  if (!n || *n < 0) throw Error(ErrorCode::kInvalidArgument, fmt::format("N must be a count >= 0, got '{}'", text));
  return *n;
}

// For each of the first `limit` records: new session, create, set every field, flush.
Timing naive_insert(Database& db, const std::string& file, const std::string& type_code, int64_t limit) {
  const EntityTypeDef type = db.require_type(type_code);
  auto reader = io::open_reader(file, io::format_from_path(file));
  Timing t{"naive-insert"};
  io::Record rec;
  const double cpu0 = thread_cpu();
  const auto start = Clock::now();
  while (t.records < limit && reader->next(rec)) {
    if (rec.error) throw Error(ErrorCode::kInvalidArgument, fmt::format("{}: record {}: {}", file, rec.index + 1, *rec.error));
    Session s = db.session();
    Entity& e = s.create(type_code);
    for (const auto& [name, raw] : rec.fields) {
      const std::string code = normalize_code(name);
      const AttributeDef* attr = type.find(code);
      if (!attr)
        throw Error(ErrorCode::kNotFound,
                    fmt::format("{}: record {}: field '{}': type '{}' has no attribute '{}'", file, rec.index + 1, name, type_code, code));
      try {
        Value v = io::convert(raw, attr->type);
        if (!is_null(v)) e.set(code, v);
      } catch (const Error& err) {
        throw Error(err.code(), fmt::format("{}: record {}: field '{}': {}", file, rec.index + 1, name, err.what()));
      }
    }
    t.values += s.flush().value_rows_written;
    ++t.records;
  }
  t.seconds = since(start);
  t.cpu_seconds = thread_cpu() - cpu0;
  if (t.records < limit)
    throw Error(ErrorCode::kInvalidArgument, fmt::format("{} has only {} records, {} requested", file, t.records, limit));
  return t;
}

// One Database::load per id (the uncached per-id read: the database is opened with caches off).
Timing naive_find(Database& db, const std::string& type_code, const std::vector<int64_t>& ids) {
  db.require_type(type_code);
  Timing t{"naive-find"};
  const double cpu0 = thread_cpu();
  const auto start = Clock::now();
  for (int64_t id : ids) {
    auto found = db.load(type_code, {id});
    if (found.front()) t.values += static_cast<int64_t>(found.front()->values.size());
    else ++t.missing;
    ++t.records;
  }
  t.seconds = since(start);
  t.cpu_seconds = thread_cpu() - cpu0;
  return t;
}

// The bulk side in process: one BatchProcessor::load of every id (the caches are off), then a
// second, warm pass (warm_seconds: the file's pages already mapped by the first).
Timing bulk_load(Database& db, const std::string& type_code, const std::vector<int64_t>& ids) {
  db.require_type(type_code);
  BatchProcessor bp(db, type_code);
  Timing t{"bulk-load"};
  const double cpu0 = thread_cpu();
  auto start = Clock::now();
  LoadResult r = bp.load(ids);
  t.seconds = since(start);
  t.cpu_seconds = thread_cpu() - cpu0;
  for (const auto& e : r.entities)
    if (e) t.values += static_cast<int64_t>(e->values.size());
  t.records = static_cast<int64_t>(ids.size());
  t.missing = static_cast<int64_t>(r.missing.size());
  r = {};
  start = Clock::now();
  r = bp.load(ids);
  t.warm_seconds = since(start);
  return t;
}

// Throws Error(kStorage) with SQLite's message when rc is not OK/ROW/DONE.
void sqlite_check(sqlite3* db, int rc, std::string_view what) {
  if (rc != SQLITE_OK && rc != SQLITE_ROW && rc != SQLITE_DONE)
    throw Error(ErrorCode::kStorage, fmt::format("floor-load: {}: {}", what, sqlite3_errmsg(db)));
}

// The storage floor of a load (see the header comment). The timing covers sorting the ids and
// the seeks; opening the file, preparing the statements and reading the id list are outside it,
// as they are for the other modes.
Timing floor_load(const std::string& path, const EntityTypeDef& type, const std::vector<int64_t>& ids) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
  std::vector<sqlite3_stmt*> stmts;
  struct Closer {
    sqlite3*& db;
    std::vector<sqlite3_stmt*>& stmts;
    ~Closer() {
      for (sqlite3_stmt* st : stmts) sqlite3_finalize(st);
      sqlite3_close(db);
    }
  } closer{db, stmts};
  sqlite_check(db, rc, "open");
  sqlite_check(db, sqlite3_exec(db, "PRAGMA mmap_size = 268435456", nullptr, nullptr, nullptr), "mmap_size");
  auto prepare = [&](const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    sqlite_check(db, sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), "prepare");
    stmts.push_back(st);
  };
  prepare("SELECT type_id, tenant_id, version, created_at, updated_at FROM eav_entity WHERE id = ?");
  for (ValueType vt : {ValueType::kVarchar, ValueType::kInt, ValueType::kDecimal, ValueType::kDatetime, ValueType::kText}) {
    if (std::none_of(type.attributes.begin(), type.attributes.end(), [&](const AttributeDef& a) { return a.type == vt; }))
      continue;
    prepare(fmt::format("SELECT attribute_id, value FROM eav_value_{} WHERE entity_id = ?", value_type_name(vt)));
  }
  Timing t{"floor-load"};
  uint64_t checksum = 0;  // keeps the column reads from being optimised away (wraps: unsigned)
  // One pass: sorts a copy of the ids, then seeks each; counts values and missing ids into `t`.
  auto pass = [&](Timing& t) {
    std::vector<int64_t> sorted = ids;
    std::sort(sorted.begin(), sorted.end());
    for (int64_t id : sorted) {
      sqlite3_stmt* ent = stmts[0];
      sqlite3_bind_int64(ent, 1, id);
      int step = sqlite3_step(ent);
      sqlite_check(db, step, "step");
      if (step != SQLITE_ROW || sqlite3_column_int64(ent, 0) != type.id) ++t.missing;
      else checksum += static_cast<uint64_t>(sqlite3_column_int64(ent, 2)) + static_cast<uint64_t>(sqlite3_column_int64(ent, 3)) +
                       static_cast<uint64_t>(sqlite3_column_int64(ent, 4));
      sqlite3_reset(ent);
      for (size_t i = 1; i < stmts.size(); ++i) {
        sqlite3_stmt* st = stmts[i];
        sqlite3_bind_int64(st, 1, id);
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
          checksum += static_cast<uint64_t>(sqlite3_column_int64(st, 0)) + static_cast<uint64_t>(sqlite3_column_bytes(st, 1));
          ++t.values;
        }
        sqlite_check(db, step, "step");
        sqlite3_reset(st);
      }
    }
  };
  sqlite_check(db, sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr), "begin");
  const double cpu0 = thread_cpu();
  auto start = Clock::now();
  pass(t);
  t.seconds = since(start);
  t.cpu_seconds = thread_cpu() - cpu0;
  Timing warm;
  start = Clock::now();
  pass(warm);
  t.warm_seconds = since(start);
  sqlite_check(db, sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), "commit");
  t.records = static_cast<int64_t>(ids.size());
  if (checksum == 42) std::cerr << "";  // never true in practice; the reads must not be dead code
  return t;
}

// The storage floor of an import (see the header comment).
Timing floor_insert(const std::string& src_path, const std::string& dst_path, const std::string& indexes) {
  if (indexes != "keep" && indexes != "rebuild")
    throw Error(ErrorCode::kInvalidArgument, fmt::format("INDEXES must be 'keep' or 'rebuild', got '{}'", indexes));
  struct Row {
    int64_t a = 0, b = 0, i = 0;
    std::string s;  // the value of TEXT columns
    bool text = false;
  };
  constexpr const char* kTables[] = {"eav_value_varchar", "eav_value_int", "eav_value_decimal", "eav_value_datetime",
                                     "eav_value_text"};
  std::vector<std::array<int64_t, 6>> entities;
  std::vector<std::vector<Row>> values(std::size(kTables));
  {
    storage::sqlite::Connection src(src_path, false, 5000);
    storage::sqlite::Statement st =
        src.prepare("SELECT id, type_id, tenant_id, version, created_at, updated_at FROM eav_entity ORDER BY id");
    while (st.step()) {
      auto& e = entities.emplace_back();
      for (int c = 0; c < 6; ++c) e[static_cast<size_t>(c)] = st.column_int(c);
    }
    for (size_t t = 0; t < std::size(kTables); ++t) {
      storage::sqlite::Statement vs = src.prepare(
          fmt::format("SELECT entity_id, attribute_id, value FROM {} ORDER BY entity_id, attribute_id", kTables[t]));
      while (vs.step()) {
        Row& r = values[t].emplace_back();
        r.a = vs.column_int(0);
        r.b = vs.column_int(1);
        r.text = sqlite3_column_type(vs.raw(), 2) == SQLITE_TEXT;
        if (r.text) r.s = vs.column_text(2);
        else r.i = vs.column_int(2);
      }
    }
  }
  Database::open(dst_path).reset();  // creates the schema
  storage::sqlite::Connection c(dst_path, false, 5000);
  std::vector<std::pair<std::string, std::string>> index_ddl;  // the secondary indexes (name, DDL)
  {
    storage::sqlite::Statement st =
        c.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name");
    while (st.step()) index_ddl.emplace_back(st.column_text(0), st.column_text(1));
  }
  Timing t{"floor-insert-" + indexes};
  const double cpu0 = thread_cpu();
  const auto start = Clock::now();
  auto phase_start = start;
  auto phase = [&](const std::string& name) {
    const auto now = Clock::now();
    t.phases.emplace_back(name, std::chrono::duration<double>(now - phase_start).count());
    phase_start = now;
  };
  if (indexes == "rebuild") {
    for (const auto& [name, ddl] : index_ddl) c.exec(fmt::format("DROP INDEX {}", name));
    phase("drop_indexes");
  }
  if (getenv("FLOOR_NOCKPT")) sqlite3_wal_autocheckpoint(c.raw(), 32768);
  c.exec("BEGIN");
  // `n` rows in statements of up to 256 (then power-of-two remainders), as eavdb writes them.
  auto write = [&](const std::string& prefix, const std::string& row, int per_row, size_t n, auto&& bind) {
    for (size_t begin = 0, k = 0; begin < n; begin += k) {
      k = std::bit_floor(std::min<size_t>(256, n - begin));
      std::string sql = prefix;
      for (size_t i = 0; i < k; ++i) sql += i ? "," + row : row;
      storage::sqlite::Statement st = c.prepare(sql);
      for (size_t i = 0; i < k; ++i) bind(st.raw(), static_cast<int>(i) * per_row + 1, begin + i);
      st.run();
    }
  };
  write("INSERT INTO eav_entity(id, type_id, tenant_id, version, created_at, updated_at) VALUES ", "(?,?,?,?,?,?)", 6,
        entities.size(), [&](sqlite3_stmt* st, int p, size_t i) {
          for (int col = 0; col < 6; ++col) sqlite3_bind_int64(st, p + col, entities[i][static_cast<size_t>(col)]);
        });
  phase("insert_eav_entity");
  for (size_t tb = 0; tb < std::size(kTables); ++tb) {
    const auto& rows = values[tb];
    if (rows.empty()) continue;
    write(fmt::format("INSERT INTO {}(entity_id, attribute_id, value) VALUES ", kTables[tb]), "(?,?,?)", 3, rows.size(),
          [&](sqlite3_stmt* st, int p, size_t i) {
            const Row& r = rows[i];
            sqlite3_bind_int64(st, p, r.a);
            sqlite3_bind_int64(st, p + 1, r.b);
            if (r.text) sqlite3_bind_text(st, p + 2, r.s.data(), static_cast<int>(r.s.size()), SQLITE_STATIC);
            else sqlite3_bind_int64(st, p + 2, r.i);
          });
    t.values += static_cast<int64_t>(rows.size());
    phase(std::string("insert_") + kTables[tb]);
  }
  c.exec("COMMIT");
  phase("commit");
  if (indexes == "rebuild") {
    c.exec("PRAGMA cache_size = -1024");
    c.exec("BEGIN");
    for (const auto& [name, ddl] : index_ddl) {
      c.exec(ddl);
      phase("create_" + name);
    }
    c.exec("COMMIT");
    c.exec("PRAGMA cache_size = -32768");
    phase("commit_indexes");
  }
  sqlite_check(c.raw(), sqlite3_wal_checkpoint_v2(c.raw(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr),
               "checkpoint");
  phase("checkpoint");
  t.seconds = since(start);
  t.cpu_seconds = thread_cpu() - cpu0;
  t.records = static_cast<int64_t>(entities.size());
  return t;
}

// Per id: new session, find, then `change` (set or remove), flush. A missing id is an error.
template <typename Change>
Timing naive_modify(Database& db, const std::string& mode, const std::string& type_code, const std::vector<int64_t>& ids,
                    Change change) {
  db.require_type(type_code);
  Timing t{mode};
  const double cpu0 = thread_cpu();
  const auto start = Clock::now();
  for (int64_t id : ids) {
    Session s = db.session();
    Entity* e = s.find(type_code, id);
    if (!e) throw Error(ErrorCode::kNotFound, fmt::format("{} {} does not exist", type_code, id));
    change(s, *e);
    t.values += s.flush().value_rows_written;
    ++t.records;
  }
  t.seconds = since(start);
  t.cpu_seconds = thread_cpu() - cpu0;
  return t;
}

int usage() {
  std::cerr << "usage:\n"
               "  eavdb_bench_peers naive-insert DB FILE TYPE N\n"
               "  eavdb_bench_peers naive-find DB TYPE IDS_FILE\n"
               "  eavdb_bench_peers naive-update DB TYPE IDS_FILE ATTR VALUE\n"
               "  eavdb_bench_peers naive-delete DB TYPE IDS_FILE\n"
               "  eavdb_bench_peers bulk-load DB TYPE IDS_FILE\n"
               "  eavdb_bench_peers floor-load DB TYPE IDS_FILE\n"
               "  eavdb_bench_peers floor-insert SRC_DB DST_DB keep|rebuild\n";
  return kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return usage();
  const std::string& mode = args[0];
  const size_t want = mode == "naive-insert" ? 5 : mode == "naive-update" ? 6 : mode == "naive-find" || mode == "naive-delete" || mode == "bulk-load" || mode == "floor-load" || mode == "floor-insert" ? 4 : 0;
  if (want == 0 || args.size() != want) return usage();
  try {
    // naive-find measures the uncached per-id read the issue compares bulk load with: caches
    // off, as `eavdb --no-cache bulk load` on the other side (random distinct ids never hit a
    // cache anyway, but filling L2 and sizing its sketch are costs of their own).
    Options options;
    if (mode == "naive-find" || mode == "bulk-load" || mode == "floor-load") options.cache.enabled = false;
    if (mode == "floor-insert") {
      print(floor_insert(args[1], args[2], args[3]));
      return 0;
    }
    auto db = Database::open(args[1], options);
    Timing t;
    if (mode == "naive-insert") {
      t = naive_insert(*db, args[2], args[3], parse_count(args[4]));
    } else if (mode == "naive-find") {
      t = naive_find(*db, args[2], read_ids(args[3]));
    } else if (mode == "bulk-load") {
      t = bulk_load(*db, args[2], read_ids(args[3]));
    } else if (mode == "floor-load") {
      const EntityTypeDef type = db->require_type(args[2]);
      const std::vector<int64_t> ids = read_ids(args[3]);
      db.reset();  // the floor reads the file with its own connection only
      t = floor_load(args[1], type, ids);
    } else if (mode == "naive-update") {
      const std::string& attr = args[4];
      const Value value{args[5]};  // coerced to the attribute's type by Entity::set
      t = naive_modify(*db, mode, args[2], read_ids(args[3]), [&](Session&, Entity& e) { e.set(attr, value); });
    } else {
      t = naive_modify(*db, mode, args[2], read_ids(args[3]), [](Session& s, Entity& e) { s.remove(e); });
    }
    print(t);
    return 0;
  } catch (const Error& e) {
    std::cerr << "error: " << error_code_name(e.code()) << ": " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
