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
// naive-insert needs TYPE to exist with every attribute the records use (the benchmark imports a
// few records first). Exit status: 0 success, 1 error (message on stderr), 2 usage error.
#include <fmt/format.h>
#include <rapidjson/ostreamwrapper.h>
#include <rapidjson/writer.h>

#include <chrono>
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

namespace {

using namespace eavdb;
using Clock = std::chrono::steady_clock;

constexpr int kExitUsage = 2;

struct Timing {
  std::string mode;
  int64_t records = 0;
  double seconds = 0;
  int64_t values = 0;   // attribute values written (insert/update) or read (find)
  int64_t missing = 0;  // find: ids that did not exist
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
  w.EndObject();
  osw.Flush();
  std::cout << '\n';
}

double since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

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
  if (t.records < limit)
    throw Error(ErrorCode::kInvalidArgument, fmt::format("{} has only {} records, {} requested", file, t.records, limit));
  return t;
}

// One Database::load per id (the uncached per-id read: the database is opened with caches off).
Timing naive_find(Database& db, const std::string& type_code, const std::vector<int64_t>& ids) {
  db.require_type(type_code);
  Timing t{"naive-find"};
  const auto start = Clock::now();
  for (int64_t id : ids) {
    auto found = db.load(type_code, {id});
    if (found.front()) t.values += static_cast<int64_t>(found.front()->values.size());
    else ++t.missing;
    ++t.records;
  }
  t.seconds = since(start);
  return t;
}

// Per id: new session, find, then `change` (set or remove), flush. A missing id is an error.
template <typename Change>
Timing naive_modify(Database& db, const std::string& mode, const std::string& type_code, const std::vector<int64_t>& ids,
                    Change change) {
  db.require_type(type_code);
  Timing t{mode};
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
  return t;
}

int usage() {
  std::cerr << "usage:\n"
               "  eavdb_bench_peers naive-insert DB FILE TYPE N\n"
               "  eavdb_bench_peers naive-find DB TYPE IDS_FILE\n"
               "  eavdb_bench_peers naive-update DB TYPE IDS_FILE ATTR VALUE\n"
               "  eavdb_bench_peers naive-delete DB TYPE IDS_FILE\n";
  return kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return usage();
  const std::string& mode = args[0];
  const size_t want = mode == "naive-insert" ? 5 : mode == "naive-update" ? 6 : mode == "naive-find" || mode == "naive-delete" ? 4 : 0;
  if (want == 0 || args.size() != want) return usage();
  try {
    // naive-find measures the uncached per-id read the issue compares bulk load with: caches
    // off, as `eavdb --no-cache bulk load` on the other side (random distinct ids never hit a
    // cache anyway, but filling L2 and sizing its sketch are costs of their own).
    Options options;
    if (mode == "naive-find") options.cache.enabled = false;
    auto db = Database::open(args[1], options);
    Timing t;
    if (mode == "naive-insert") {
      t = naive_insert(*db, args[2], args[3], parse_count(args[4]));
    } else if (mode == "naive-find") {
      t = naive_find(*db, args[2], read_ids(args[3]));
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
