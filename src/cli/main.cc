// The `eavdb` command: a thin face over the library (parse arguments, call, render).
//
// Exit status: 0 success; 1 error (message on stderr); 2 usage error; 3 import finished but
// rejected some records.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <rapidjson/document.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <tuple>
#include <iostream>
#include <map>
#include <thread>
#include <algorithm>

#include "batch/generator.h"
#include "cli/progress.h"
#include "cli/stats.h"
#include "eavdb/batch.h"
#include "eavdb/database.h"
#include "eavdb/import.h"
#include "eavdb/session.h"
#include "io/io.h"
#include "loadtest/loadtest.h"
#include "monitor/profiler.h"
#include "server/server.h"
#include "server/tokens.h"
#include "storage/sqlite/sqlite_backend.h"

namespace {

using namespace eavdb;

constexpr int kExitError = 1;
constexpr int kExitRejected = 3;

PlanKind plan_kind(const std::string& name) {
  return name == "eav" ? PlanKind::kEav : name == "flat" ? PlanKind::kFlat : PlanKind::kAuto;
}

std::string default_db_url() {
  const char* env = std::getenv("EAVDB_URL");
  return env && *env ? env : "./eavdb.db";
}

// Renders type definitions through the result writer (one row per attribute).
void write_types(std::ostream& os, const std::vector<EntityTypeDef>& types, io::OutputFormat fmt_,
                 bool single) {
  if (fmt_ == io::OutputFormat::kJson) return io::write_types_json(os, types, single);
  QueryResult r;
  r.columns = {{"type", ValueType::kVarchar}, {"attribute", ValueType::kVarchar},
               {"label", ValueType::kVarchar}, {"value_type", ValueType::kVarchar},
               {"required", ValueType::kInt}, {"unique", ValueType::kInt}};
  for (const auto& t : types)
    for (const auto& a : t.attributes)
      r.rows.push_back({t.code, a.code, a.label, std::string(value_type_name(a.type)),
                        int64_t{a.required}, int64_t{a.unique}});
  io::write_result(os, r, fmt_);
}

// Cache counters as a result table: one row per level, then the coherence state.
QueryResult cache_stats_rows(const CacheStats& st) {
  QueryResult r;
  r.columns = {{"level", ValueType::kVarchar},     {"hits", ValueType::kInt},          {"misses", ValueType::kInt},
               {"hit_ratio", ValueType::kDecimal}, {"evictions", ValueType::kInt},     {"expirations", ValueType::kInt},
               {"invalidations", ValueType::kInt}, {"entries", ValueType::kInt},       {"bytes", ValueType::kInt},
               {"loads", ValueType::kInt},         {"mean_load_us", ValueType::kDecimal}, {"errors", ValueType::kInt}};
  auto row = [&](const char* name, const CacheLevelStats& l) {
    auto i = [](uint64_t v) { return Value{static_cast<int64_t>(v)}; };
    r.rows.push_back({std::string(name), i(l.hits), i(l.misses), Decimal::parse(fmt::format("{:.4f}", l.hit_ratio())),
                      i(l.evictions), i(l.expirations), i(l.invalidations), i(l.entries), i(l.bytes), i(l.loads),
                      Decimal::parse(fmt::format("{:.1f}", l.mean_load_us())), i(l.errors)});
  };
  row("l1_session", st.l1);
  row(fmt::format("l2_{}", st.policy).c_str(), st.l2);
  row(st.l3_url.empty() ? "l3_none" : "l3", st.l3);
  row("l4_query", st.l4);
  return r;
}

// Parses "k=v" assignments onto an entity; "k=" removes the value.
void apply_assignments(Entity& e, const std::vector<std::string>& assignments) {
  for (const auto& kv : assignments) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      throw Error(ErrorCode::kInvalidArgument, fmt::format("expected attribute=value, got '{}'", kv));
    std::string value = kv.substr(eq + 1);
    e.set(kv.substr(0, eq), value.empty() ? Value{} : Value{value});
  }
}

// The queries of an advise --workload file that ran, were skipped or failed.
struct WorkloadReplay {
  int64_t ran = 0, redacted = 0, failed = 0;
};

// Runs every query of an NDJSON workload once ({"sql": "...", "params": [...]}, the slow-query
// log's format), so the Database records its shapes. A line with a redacted parameter ("?") is
// skipped; a malformed line is Error(kInvalidArgument) naming the line; a failing query is
// reported on stderr and counted.
WorkloadReplay replay_workload(Database& db, const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(ErrorCode::kInvalidArgument, fmt::format("--workload: cannot open '{}'", path));
  WorkloadReplay r;
  std::string line;
  for (int64_t no = 1; std::getline(in, line); ++no) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    rapidjson::Document d;
    if (d.Parse(line.c_str()).HasParseError() || !d.IsObject() || !d.HasMember("sql") || !d["sql"].IsString())
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("--workload {} line {}: expected a JSON object with a string \"sql\"", path, no));
    std::vector<Value> params;
    bool redacted = false;
    if (d.HasMember("params")) {
      if (!d["params"].IsArray())
        throw Error(ErrorCode::kInvalidArgument, fmt::format("--workload {} line {}: \"params\" must be an array", path, no));
      for (const auto& v : d["params"].GetArray()) {
        if (v.IsNull()) params.emplace_back();
        else if (v.IsInt64()) params.emplace_back(v.GetInt64());
        else if (v.IsNumber()) params.emplace_back(Decimal::parse(fmt::format("{}", v.GetDouble())));
        else if (v.IsString()) {
          if (std::string_view(v.GetString(), v.GetStringLength()) == "?") redacted = true;
          params.emplace_back(std::string(v.GetString(), v.GetStringLength()));
        } else {
          throw Error(ErrorCode::kInvalidArgument,
                      fmt::format("--workload {} line {}: a parameter must be null, a number or a string", path, no));
        }
      }
    }
    if (redacted) {
      ++r.redacted;
      continue;
    }
    try {
      db.query(d["sql"].GetString(), params);
      ++r.ran;
    } catch (const Error& e) {
      ++r.failed;
      std::cerr << fmt::format("advise: {} line {}: {}\n", path, no, e.what());
    }
  }
  return r;
}

// Runs one `eavdb bulk` operation; returns the exit status.
int run_bulk(Database& db, const std::string& op, const std::string& type, const std::string& file,
             const std::string& input_format, const std::string& key, const std::string& where,
             const std::vector<std::string>& params, const std::string& rejects_path, int64_t chunk, int64_t tx,
             const std::string& on_error, bool quiet, io::OutputFormat out_format) {
  if (op == "load") {
    std::vector<int64_t> ids;
    auto source = open_id_source(file);
    while (auto id = source->next()) ids.push_back(*id);
    BatchProcessor bp(db, type);
    LoadResult r = bp.load(ids);
    for (int64_t id : r.missing) std::cerr << fmt::format("error: not_found: {} {} does not exist\n", type, id);
    io::write_result(std::cout, io::entity_result(db.require_type(type), r.entities), out_format);
    return r.missing.empty() ? 0 : kExitError;
  }
  BatchOptions bo;
  bo.chunk_size = chunk;
  bo.transaction_size = tx;
  bo.on_error = on_error == "abort" ? OnError::kAbort : OnError::kSkip;
  bo.key = key;
  cli::ProgressDisplay display("bulk " + op, quiet);
  bo.on_progress = [&](const BatchProgress& p) { display.update(p); };
  RejectsWriter rejects(rejects_path);
  int shown = 0;
  bo.on_reject = [&](const BatchError& e) {
    rejects.add(e);
    if (shown++ < 20)
      std::cerr << fmt::format("rejected: record {}{}{}: {}\n", e.index + 1, e.line ? fmt::format(" (line {})", e.line) : "",
                               e.field.empty() ? "" : fmt::format(", field '{}'", e.field), e.reason);
  };
  BatchProcessor bp(db, type, bo);
  BatchResult r;
  if (op == "delete") {
    if (!where.empty()) {
      r = bp.remove_where(where, std::vector<Value>(params.begin(), params.end()));
    } else {
      auto ids = open_id_source(file);
      r = bp.remove(*ids);
    }
  } else {
    const EntityTypeDef def = db.require_type(type);
    auto source = open_record_source(file, input_format, &def);
    if (op == "insert") r = bp.insert(*source);
    else if (op == "upsert") r = bp.upsert(*source);
    else r = bp.update(*source);
  }
  display.finish();
  std::cout << fmt::format(
      "bulk {}: {} processed, {} inserted, {} updated, {} deleted, {} rejected{}, {} values, {:.3f} s ({:.0f} records/s)\n",
      op, r.processed, r.inserted, r.updated, r.deleted, r.failed, r.aborted ? " (aborted)" : "", r.values_written,
      r.seconds, r.seconds > 0 ? static_cast<double>(r.processed) / r.seconds : 0.0);
  if (r.failed > 20) std::cerr << fmt::format("... {} rejections in all\n", r.failed);
  return r.failed ? kExitRejected : 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"eavdb: a fast entity-attribute-value store"};
  app.require_subcommand(1);
  std::string db_url = default_db_url();
  std::string format_name = "table";
  app.add_option("--db", db_url, "database URL (sqlite:///path or a path); default $EAVDB_URL or ./eavdb.db");
  Options db_options;
  if (const char* l3 = std::getenv("EAVDB_CACHE_L3")) db_options.cache.l3_url = l3;
  bool no_cache = false;
  int64_t entity_ttl_ms = db_options.cache.entity_ttl.count();
  app.add_flag("--no-cache", no_cache, "read everything from the database (no L2/L3/L4)");
  app.add_option("--cache-l3", db_options.cache.l3_url,
                 "shared cache: redis://host:port[/db] or file:///dir (default $EAVDB_CACHE_L3)");
  app.add_option("--cache-policy", db_options.cache.policy, "L2 policy")->check(CLI::IsMember({"wtinylfu", "lru"}));
  app.add_option("--cache-bytes", db_options.cache.l2_max_bytes, "L2 size bound in bytes")->check(CLI::PositiveNumber);
  app.add_option("--cache-ttl-ms", entity_ttl_ms, "entity TTL in ms (0: none)")->check(CLI::NonNegativeNumber);
  auto add_format = [&](CLI::App* sub) {
    sub->add_option("--format", format_name, "output format")
        ->check(CLI::IsMember({"table", "json", "ndjson", "csv"}));
  };

  auto* init = app.add_subcommand("init", "create (or migrate) the database file");

  auto* types = app.add_subcommand("types", "list entity types and their attributes");
  std::string types_name;
  types->add_option("type", types_name, "only this type");
  add_format(types);

  auto* import = app.add_subcommand("import", "import a JSON array, NDJSON or CSV file");
  std::string import_file_path, import_rejects, import_format;
  std::string import_type;
  int64_t import_chunk = 1000;
  import->add_option("file", import_file_path, "input file")->required()->check(CLI::ExistingFile);
  import->add_option("--type", import_type, "target entity type")->required();
  import->add_option("--format", import_format, "json|ndjson|csv (default: from the extension)")
      ->check(CLI::IsMember({"json", "ndjson", "csv"}));
  import->add_option("--rejects", import_rejects, "write rejected records here as NDJSON");
  std::string import_key;
  import->add_option("--key", import_key, "attribute that identifies entities (declared unique when created)");
  auto* check = app.add_subcommand("check", "verify the database's integrity");
  int64_t tx_size = 5000;
  std::string on_error = "skip";
  bool quiet = false;
  auto add_bulk_options = [&](CLI::App* sub) {
    sub->add_option("--chunk-size", import_chunk, "records per multi-row write / savepoint")->check(CLI::Range(1, 1000000));
    sub->add_option("--transaction-size", tx_size, "records per transaction")->check(CLI::Range(1, 100000000));
    sub->add_option("--on-error", on_error, "skip: reject bad records and go on; abort: stop at the first")
        ->check(CLI::IsMember({"skip", "abort"}));
    sub->add_flag("--quiet,-q", quiet, "no progress output");
  };
  add_bulk_options(import);

  // bulk insert|upsert|update|delete|load TYPE [FILE|-]
  auto* bulk = app.add_subcommand("bulk", "bulk insert, upsert, update, delete or load");
  bulk->require_subcommand(1);
  std::string bulk_type, bulk_file = "-", bulk_format, bulk_key, bulk_rejects, bulk_where;
  std::vector<std::string> bulk_params;
  std::map<std::string, CLI::App*> bulk_ops;
  for (const char* op : {"insert", "upsert", "update", "delete", "load"}) {
    CLI::App* sub = bulk->add_subcommand(op, fmt::format("bulk {} (input: {})", op,
                                                         std::string_view(op) == "delete" || std::string_view(op) == "load"
                                                             ? "ids, one per line" : "NDJSON, CSV or a JSON array"));
    sub->add_option("type", bulk_type)->required();
    sub->add_option("file", bulk_file, "input file, or - for standard input (default)");
    if (std::string_view(op) == "load") {
      add_format(sub);
    } else {
      add_bulk_options(sub);
      sub->add_option("--rejects", bulk_rejects, "write rejected records here as NDJSON");
    }
    if (std::string_view(op) != "delete" && std::string_view(op) != "load")
      sub->add_option("--input-format", bulk_format, "json|ndjson|csv (default: extension, ndjson for stdin)")
          ->check(CLI::IsMember({"json", "ndjson", "csv"}));
    if (std::string_view(op) == "upsert") sub->add_option("--key", bulk_key, "unique attribute that identifies entities")->required();
    if (std::string_view(op) == "update") sub->add_option("--key", bulk_key, "unique attribute that identifies entities (default: the id field)");
    if (std::string_view(op) == "delete") {
      sub->add_option("--where", bulk_where, "delete every entity matching this WHERE expression instead of reading ids");
      sub->add_option("--param,-p", bulk_params, "value for the next '?' in --where (repeatable)");
    }
    bulk_ops[op] = sub;
  }

  auto* gen = app.add_subcommand("gen", "generate synthetic data");
  gen->require_subcommand(1);
  auto* gen_catalog = gen->add_subcommand("catalog", "a reproducible synthetic product catalog as NDJSON on stdout");
  int64_t gen_entities = 1000;
  uint64_t gen_seed = 1;
  gen_catalog->add_option("--entities,-n", gen_entities, "number of entities")->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
  gen_catalog->add_option("--seed", gen_seed, "random seed");

  auto* get = app.add_subcommand("get", "print entities by id");
  std::string get_type;
  std::vector<int64_t> get_ids;
  get->add_option("type", get_type)->required();
  get->add_option("ids", get_ids)->required();
  add_format(get);

  auto* put = app.add_subcommand("put", "create an entity, or update one when ID is given");
  std::string put_type;
  std::vector<std::string> put_args;
  put->add_option("type", put_type)->required();
  put->add_option("args", put_args, "[ID] attribute=value ... (attribute= removes the value)");
  add_format(put);

  auto* del = app.add_subcommand("delete", "delete an entity");
  std::string del_type;
  int64_t del_id = 0;
  del->add_option("type", del_type)->required();
  del->add_option("id", del_id)->required();

  auto* query = app.add_subcommand("query", "run a query (SQL subset, see README)");
  std::string query_sql;
  std::vector<std::string> query_params;
  bool query_timing = false;
  query->add_option("sql", query_sql)->required();
  query->add_option("--param,-p", query_params, "value for the next '?' (repeatable)");
  query->add_flag("--timing", query_timing, "print the execution time to stderr");
  add_format(query);

  std::string query_plan = "auto";
  query->add_option("--plan", query_plan, "plan: auto (cost-based), eav (never the flat table), flat (only it)")
      ->check(CLI::IsMember({"auto", "eav", "flat"}));

  auto* explain = app.add_subcommand("explain", "print a query's plan (estimated rows, backend SQL)");
  std::string explain_sql, explain_format = "text", explain_plan = "auto";
  std::vector<std::string> explain_params;
  bool explain_analyze = false;
  explain->add_option("sql", explain_sql)->required();
  explain->add_option("--param,-p", explain_params, "value for the next '?' (repeatable)");
  explain->add_flag("--analyze", explain_analyze, "also run the query: actual rows and times");
  explain->add_option("--format", explain_format, "text or json")->check(CLI::IsMember({"text", "json"}));
  explain->add_option("--plan", explain_plan, "auto, eav or flat")->check(CLI::IsMember({"auto", "eav", "flat"}));

  auto* analyze = app.add_subcommand("analyze", "recompute planner statistics of one type or of all");
  std::string analyze_type;
  analyze->add_option("type", analyze_type, "entity type (default: every type)");
  add_format(analyze);

  auto* advise_cmd = app.add_subcommand("advise", "recommend indexes and flat tables for a query workload, with estimated gains");
  std::string advise_type, advise_workload;
  bool advise_apply = false, advise_as_json = false;
  advise_cmd->add_option("type", advise_type, "entity type (default: every type the workload queries)");
  advise_cmd->add_option("--workload", advise_workload,
                         "NDJSON queries {\"sql\", \"params\"?}, e.g. a --slow-log file (--slow-ms 0 --slow-log-params); each runs once")
      ->required();
  advise_cmd->add_flag("--apply", advise_apply, "create the recommended indexes / flat tables");
  advise_cmd->add_flag("--json", advise_as_json, "print the recommendations as JSON");

  auto* flat_cmd = app.add_subcommand("flat", "flat tables: enable, disable, rebuild, list");
  flat_cmd->require_subcommand(1);
  std::string flat_type;
  auto* flat_enable = flat_cmd->add_subcommand("enable", "create the type's flat table, kept in step on every commit");
  auto* flat_disable = flat_cmd->add_subcommand("disable", "drop the type's flat table");
  auto* flat_rebuild = flat_cmd->add_subcommand("rebuild", "rebuild the flat table (shadow table, then swap)");
  auto* flat_sync_cmd = flat_cmd->add_subcommand("sync", "catch a deferred flat table up with every committed change now");
  for (auto* sub : {flat_enable, flat_disable, flat_rebuild, flat_sync_cmd}) sub->add_option("type", flat_type)->required();
  std::string flat_sync_mode = "on-commit";
  flat_enable->add_option("--sync", flat_sync_mode,
                          "on-commit (maintained inside every commit) or deferred (by a background worker after commit)")
      ->check(CLI::IsMember({"on-commit", "deferred"}));
  auto* flat_list = flat_cmd->add_subcommand("list", "list flat tables and their columns");
  add_format(flat_list);

  auto* cache = app.add_subcommand("cache", "cache statistics, warming and clearing");
  cache->require_subcommand(1);
  auto* cache_stats = cache->add_subcommand("stats", "counters of every cache level of this process, L3 state");
  add_format(cache_stats);
  auto* cache_warm = cache->add_subcommand("warm", "load a type's entities (or a query's ids) into L2/L3");
  std::string warm_type, warm_query;
  cache_warm->add_option("type", warm_type)->required();
  cache_warm->add_option("--query", warm_query, "warm only the ids this query returns (first column id)");
  add_format(cache_warm);
  auto* cache_clear = cache->add_subcommand("clear", "drop every cached entity and result (also in L3)");
  int query_repeat = 1;
  query->add_option("--repeat", query_repeat, "run the query N times (with --timing: first and mean of the rest)")
      ->check(CLI::Range(1, 1000000));

  // serve: the HTTP API (src/server); token: its API tokens.
  auto* serve = app.add_subcommand("serve", "run the HTTP API server (stops gracefully on SIGTERM/SIGINT)");
  server::ServerOptions serve_opts;
  serve_opts.io_threads = static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 64u));  // a loop per core
  std::string serve_listen = "127.0.0.1:8080";
  int64_t header_timeout_ms = serve_opts.header_timeout.count(), body_timeout_ms = serve_opts.body_timeout.count();
  serve->add_option("--listen", serve_listen, "address:port to listen on (loopback; port 0 picks a free port)");
  serve->add_option("--threads", serve_opts.io_threads, "I/O threads")->check(CLI::Range(1, 256));
  serve->add_option("--workers", serve_opts.workers, "threads doing database work")->check(CLI::Range(1, 1024));
  serve->add_flag("--no-auth", serve_opts.no_auth, "no tokens: every request is tenant 'default' with admin rights (loopback only)");
  serve->add_flag("--allow-remote", serve_opts.allow_remote, "allow a non-loopback --listen address");
  serve->add_flag("--no-inline-reads", serve_opts.no_inline_reads,
                  "send every request to a worker (no cached entity reads on the I/O thread)");
  serve->add_option("--max-body-bytes", serve_opts.max_body_bytes, "larger request bodies get 413")->check(CLI::Range(1, 1 << 30));
  serve->add_option("--max-in-flight", serve_opts.max_in_flight, "requests processed at once; more get 503")->check(CLI::Range(1, 1000000));
  serve->add_option("--rate-limit", serve_opts.rate_limit, "requests per second per token (0: unlimited)")->check(CLI::NonNegativeNumber);
  serve->add_option("--rate-burst", serve_opts.rate_burst, "burst size per token")->check(CLI::Range(1.0, 1e9));
  serve->add_option("--header-timeout-ms", header_timeout_ms, "time to receive a request head (and keep-alive idle time)")->check(CLI::Range(1, 3600000));
  serve->add_option("--body-timeout-ms", body_timeout_ms, "time to receive a request body")->check(CLI::Range(1, 3600000));
  serve->add_option("--max-query-rows", serve_opts.max_query_rows, "queries returning more rows are refused")->check(CLI::Range(1, 100000000));
  serve->add_option("--max-line-bytes", serve_opts.max_ndjson_line_bytes, "longest NDJSON line of a bulk body")->check(CLI::Range(2, 1 << 30));
  int64_t query_timeout_ms = serve_opts.query_timeout.count();
  serve->add_option("--query-timeout-ms", query_timeout_ms,
                    "longest a query may run before it is interrupted (503 query_timeout; 0: no limit)")
      ->check(CLI::Range(int64_t{0}, int64_t{86400000}));

  // stats: the figures /metrics shows, for a database file without a server.
  auto* stats = app.add_subcommand("stats", "library figures of a database: file, cache config, entities per type, planner");
  bool stats_json = false;
  stats->add_flag("--json", stats_json, "one JSON object instead of text");

  // The slow-query log of `query` and `serve` (Options::slow_query_log).
  bool slow_log_params = false;
  for (CLI::App* sub : {query, serve}) {
    sub->add_option("--slow-log", db_options.slow_query_log, "append queries slower than --slow-ms to FILE (NDJSON)");
    sub->add_option("--slow-ms", db_options.slow_query_ms, "slow-query threshold in ms (default 100; 0 logs every query)")
        ->check(CLI::NonNegativeNumber);
    sub->add_flag("--slow-log-params", slow_log_params, "write parameter values to the slow-query log (default: \"?\")");
  }

  std::string serve_cpu_profile, serve_heap_profile;
  serve->add_option("--cpu-profile", serve_cpu_profile, "write a gperftools CPU profile here at shutdown (read with google-pprof)");
  serve->add_option("--heap-profile", serve_heap_profile, "write gperftools heap profiles PREFIX.NNNN.heap (a last one at shutdown)");

  // loadtest: the open-model load generator (src/loadtest).
  auto* loadtest_cmd = app.add_subcommand("loadtest", "constant-throughput HTTP load test of an eavdb server (wrk2-style, coordinated omission corrected)");
  loadtest::Options lt;
  std::string lt_mix = "get=100", lt_ids = "1-1000", lt_json;
  if (const char* t = std::getenv("EAVDB_TOKEN")) lt.token = t;
  loadtest_cmd->add_option("url", lt.url, "server base URL, e.g. http://127.0.0.1:8080")->required();
  loadtest_cmd->add_option("--rate,-R", lt.rate, "requests per second, all connections together")->check(CLI::Range(0.001, 1e7));
  loadtest_cmd->add_option("--connections,-c", lt.connections, "keep-alive connections")->check(CLI::Range(1, 100000));
  loadtest_cmd->add_option("--threads,-t", lt.threads, "client threads")->check(CLI::Range(1, 256));
  loadtest_cmd->add_option("--duration,-d", lt.duration_s, "measured seconds")->check(CLI::PositiveNumber);
  loadtest_cmd->add_option("--warmup", lt.warmup_s, "seconds of load before measuring")->check(CLI::NonNegativeNumber);
  loadtest_cmd->add_option("--timeout", lt.timeout_s, "seconds per request before it counts as a timeout")->check(CLI::PositiveNumber);
  loadtest_cmd->add_option("--max-duration", lt.max_duration_s, "refuse runs (warm-up + duration) longer than this, seconds")->check(CLI::PositiveNumber);
  loadtest_cmd->add_option("--max-requests", lt.max_requests, "never schedule more requests than this (warm-up included)")->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40));
  loadtest_cmd->add_option("--mix", lt_mix, "request mix, e.g. get=80,query=15,put=5");
  loadtest_cmd->add_option("--type", lt.type, "entity type of the requests");
  loadtest_cmd->add_option("--ids", lt_ids, "entity ids drawn uniformly from FIRST-LAST");
  loadtest_cmd->add_option("--token", lt.token, "Bearer token (default $EAVDB_TOKEN)");
  loadtest_cmd->add_option("--query", lt.query_sql, "SQL of the query requests; every ? gets a random id (default: SELECT * FROM <type> WHERE id >= ? ORDER BY id LIMIT 10)");
  loadtest_cmd->add_option("--put-body", lt.put_body, "JSON object sent by the put requests (PATCH)");
  loadtest_cmd->add_option("--seed", lt.seed, "random seed of ids and kinds");
  loadtest_cmd->add_flag("--allow-remote", lt.allow_remote, "allow a target that is not a loopback address");
  loadtest_cmd->add_option("--json", lt_json, "also write the report as JSON to this file");

  auto* token = app.add_subcommand("token", "API tokens of the HTTP server");
  token->require_subcommand(1);
  auto* token_create = token->add_subcommand("create", "create a token (printed once; only its hash is stored)");
  std::string token_tenant = "default", token_role = "read";
  token_create->add_option("--tenant", token_tenant, "tenant the token is confined to")->required();
  token_create->add_option("--role", token_role, "read, write or admin")->required()->check(CLI::IsMember({"read", "write", "admin"}));
  auto* token_list = token->add_subcommand("list", "list tokens (never their value)");
  add_format(token_list);
  auto* token_revoke = token->add_subcommand("revoke", "revoke a token by id");
  int64_t token_id = 0;
  token_revoke->add_option("id", token_id, "token id (see token list)")->required();

  CLI11_PARSE(app, argc, argv);
  db_options.cache.enabled = !no_cache;
  db_options.slow_query_redact = !slow_log_params;
  db_options.cache.entity_ttl = std::chrono::milliseconds(entity_ttl_ms);

  try {
    if (*gen_catalog) {  // needs no database
      std::ios::sync_with_stdio(false);
      batch::generate_catalog(std::cout, gen_entities, gen_seed);
      std::cout.flush();
      return 0;
    }
    if (*loadtest_cmd) {
      lt.mix = loadtest::Mix::parse(lt_mix);
      std::tie(lt.id_min, lt.id_max) = loadtest::parse_id_range(lt_ids);
      const loadtest::Report report = loadtest::run(lt);
      std::cout << report.text();
      std::cout.flush();
      if (!lt_json.empty()) {
        std::ofstream out(lt_json, std::ios::binary | std::ios::trunc);
        out << report.json();
        out.close();
        if (!out) throw Error(ErrorCode::kIo, fmt::format("--json: cannot write '{}'", lt_json));
      }
      return 0;
    }
    if (*serve) {
      const auto colon = serve_listen.rfind(':');
      if (colon == std::string::npos) throw Error(ErrorCode::kInvalidArgument, "--listen: expected address:port");
      serve_opts.host = serve_listen.substr(0, colon);
      if (serve_opts.host.size() > 2 && serve_opts.host.front() == '[' && serve_opts.host.back() == ']')
        serve_opts.host = serve_opts.host.substr(1, serve_opts.host.size() - 2);
      const auto port = io::parse_int_text(std::string_view(serve_listen).substr(colon + 1));
      if (!port || *port < 0 || *port > 65535)
        throw Error(ErrorCode::kInvalidArgument, fmt::format("--listen: '{}' is not a port", serve_listen.substr(colon + 1)));
      serve_opts.port = static_cast<uint16_t>(*port);
      serve_opts.db_url = db_url;
      serve_opts.db_options = db_options;
      serve_opts.header_timeout = std::chrono::milliseconds(header_timeout_ms);
      serve_opts.body_timeout = std::chrono::milliseconds(body_timeout_ms);
      serve_opts.query_timeout = std::chrono::milliseconds(query_timeout_ms);
      // Profilers run for the server's whole life and are flushed after its graceful stop.
      monitor::Profiler profiler(serve_cpu_profile, serve_heap_profile);
      const int rc = server::run(serve_opts, [&](unsigned short bound) {
        std::cerr << fmt::format("eavdb serve: listening on http://{}:{} ({} I/O threads, {} workers, database {})\n",
                                 serve_opts.host, bound, serve_opts.io_threads, serve_opts.workers, db_url);
        if (serve_opts.no_auth)
          std::cerr << "eavdb serve: WARNING: --no-auth: no tokens are checked; every request acts as an admin of "
                       "tenant 'default' (loopback only)\n";
      });
      profiler.stop();
      if (!serve_cpu_profile.empty()) std::cerr << fmt::format("eavdb serve: CPU profile written to {}\n", serve_cpu_profile);
      if (!serve_heap_profile.empty()) std::cerr << fmt::format("eavdb serve: heap profiles written to {}.*.heap\n", serve_heap_profile);
      return rc;
    }
    auto db = Database::open(db_url, db_options);
    const io::OutputFormat out_format = io::parse_output_format(format_name);
    std::ios::sync_with_stdio(false);

    if (*init) {
      std::cout << "initialised " << db_url << "\n";
    } else if (*stats) {
      cli::write_stats(std::cout, *db, db_url, db_options, stats_json);
    } else if (*check) {
      auto problems = db->integrity_check();
      for (const auto& p : problems) std::cout << p << "\n";
      if (!problems.empty()) return kExitError;
      std::cout << "ok\n";
    } else if (*types) {
      if (types_name.empty()) write_types(std::cout, db->types(), out_format, false);
      else write_types(std::cout, {db->require_type(types_name)}, out_format, true);
    } else if (*import) {
      ImportOptions opts;
      opts.type = import_type;
      opts.format = import_format;
      opts.rejects_path = import_rejects;
      opts.chunk_size = import_chunk;
      opts.key = import_key;
      opts.transaction_size = tx_size;
      opts.on_error = on_error == "abort" ? OnError::kAbort : OnError::kSkip;
      cli::ProgressDisplay display("import", quiet);
      opts.on_progress = [&](const BatchProgress& p) { display.update(p); };
      ImportReport r = import_file(*db, import_file_path, opts);
      display.finish();
      std::cout << fmt::format(
          "imported {} of {} records into '{}' (ids {}..{}), {} rejected, {} new attributes, {} values, "
          "{:.3f} s ({:.0f} records/s)\n",
          r.imported, r.records_read, import_type, r.first_id, r.last_id, r.rejected, r.new_attributes.size(),
          r.values_written, r.seconds, r.seconds > 0 ? r.records_read / r.seconds : 0.0);
      constexpr size_t kShown = 20;
      for (size_t i = 0; i < r.rejections.size() && i < kShown; ++i) {
        const auto& rj = r.rejections[i];
        std::cerr << fmt::format("rejected: {}: record {} (line {}){}: {}\n", import_file_path, rj.record, rj.line,
                                 rj.field.empty() ? "" : fmt::format(", field '{}'", rj.field), rj.reason);
      }
      if (r.rejected > static_cast<int64_t>(kShown))
        std::cerr << fmt::format("... and {} more rejections{}\n", r.rejected - static_cast<int64_t>(kShown),
                                 import_rejects.empty() ? " (use --rejects FILE to keep them all)" : "");
      return r.rejected > 0 ? kExitRejected : 0;
    } else if (*get) {
      EntityTypeDef type = db->require_type(get_type);
      auto records = db->load(get_type, get_ids);
      int missing = 0;
      for (size_t i = 0; i < records.size(); ++i)
        if (!records[i]) {
          std::cerr << fmt::format("error: not_found: {} {} does not exist\n", get_type, get_ids[i]);
          ++missing;
        }
      io::write_result(std::cout, io::entity_result(type, records), out_format);
      return missing ? kExitError : 0;
    } else if (*put) {
      Session s = db->session();
      Entity* e = nullptr;
      std::vector<std::string> assignments = put_args;
      if (!put_args.empty() && put_args[0].find('=') == std::string::npos) {
        int64_t id = 0;
        try {
          size_t used = 0;
          id = std::stoll(put_args[0], &used);
          if (used != put_args[0].size()) throw std::invalid_argument("trailing");
        } catch (const std::exception&) {
          throw Error(ErrorCode::kInvalidArgument, fmt::format("'{}' is neither an id nor attribute=value", put_args[0]));
        }
        e = s.find(put_type, id);
        if (!e) throw Error(ErrorCode::kNotFound, fmt::format("{} {} does not exist", put_type, id));
        assignments.erase(assignments.begin());
      } else {
        e = &s.create(put_type);
      }
      apply_assignments(*e, assignments);
      s.flush();
      EntityTypeDef type = db->require_type(put_type);
      io::write_result(std::cout, io::entity_result(type, db->load(put_type, {e->id()})), out_format);
    } else if (*del) {
      Session s = db->session();
      Entity* e = s.find(del_type, del_id);
      if (!e) throw Error(ErrorCode::kNotFound, fmt::format("{} {} does not exist", del_type, del_id));
      s.remove(*e);
      s.flush();
      std::cout << fmt::format("deleted {} {}\n", del_type, del_id);
    } else if (*bulk) {
      std::string op;
      for (auto& [name, sub] : bulk_ops)
        if (*sub) op = name;
      return run_bulk(*db, op, bulk_type, bulk_file, bulk_format, bulk_key, bulk_where, bulk_params, bulk_rejects,
                      import_chunk, tx_size, on_error, quiet, out_format);
    } else if (*query) {
      std::vector<Value> params(query_params.begin(), query_params.end());
      const QueryOptions qopts{plan_kind(query_plan)};
      auto start = std::chrono::steady_clock::now();
      QueryResult r = db->query(query_sql, params, qopts);
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      start = std::chrono::steady_clock::now();
      for (int i = 1; i < query_repeat; ++i) r = db->query(query_sql, params, qopts);
      const double rest_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      io::write_result(std::cout, r, out_format);
      if (query_timing) {
        std::cerr << fmt::format("time: {:.3f} ms, {} row{}\n", ms, r.rows.size(), r.rows.size() == 1 ? "" : "s");
        if (query_repeat > 1)
          std::cerr << fmt::format("repeated {} times: {:.3f} µs mean\n", query_repeat - 1, rest_ms * 1000.0 / (query_repeat - 1));
      }
    } else if (*explain) {
      std::vector<Value> params(explain_params.begin(), explain_params.end());
      ExplainResult e = db->explain(explain_sql, params, explain_analyze, QueryOptions{plan_kind(explain_plan)});
      std::cout << (explain_format == "json" ? explain_json(e) + "\n" : explain_text(e));
    } else if (*analyze) {
      QueryResult r;
      r.columns = {{"type", ValueType::kVarchar}, {"entities", ValueType::kInt}, {"attributes", ValueType::kInt},
                   {"seconds", ValueType::kDecimal}};
      for (const auto& a : db->analyze(analyze_type))
        r.rows.push_back({a.type, a.entities, a.attributes, Decimal::parse(fmt::format("{:.3f}", a.seconds))});
      io::write_result(std::cout, r, out_format);
    } else if (*advise_cmd) {
      const WorkloadReplay w = replay_workload(*db, advise_workload);
      std::cerr << fmt::format("advise: ran {} queries of {}; {} skipped (redacted parameters), {} failed\n", w.ran,
                               advise_workload, w.redacted, w.failed);
      const std::vector<IndexAdvice> advice = db->advise(advise_type);
      if (advise_as_json) {
        std::cout << advice_json(advice) << "\n";
      } else {
        QueryResult r;
        r.columns = {{"kind", ValueType::kVarchar},        {"type", ValueType::kVarchar},
                     {"attribute", ValueType::kVarchar},   {"queries", ValueType::kInt},
                     {"cost_before", ValueType::kDecimal}, {"cost_after", ValueType::kDecimal},
                     {"gain", ValueType::kDecimal},        {"saved_ms", ValueType::kDecimal},
                     {"action", ValueType::kText}};
        auto dec = [](double v) { return Value{Decimal::parse(fmt::format("{:.1f}", v))}; };
        for (const auto& a : advice)
          r.rows.push_back({a.kind, a.type, a.attribute, static_cast<int64_t>(a.queries), dec(a.cost_before),
                            dec(a.cost_after), dec(a.gain), dec(a.saved_ms), a.action});
        io::write_result(std::cout, r, io::OutputFormat::kTable);
      }
      if (advise_apply)
        for (const auto& a : advice) {
          db->apply_advice(a);
          std::cerr << fmt::format("applied: {} {}{}\n", a.kind, a.type, a.attribute.empty() ? "" : "." + a.attribute);
        }
    } else if (*flat_cmd) {
      if (*flat_disable) {
        std::cout << (db->flat_disable(flat_type) ? fmt::format("flat table of '{}' dropped\n", flat_type)
                                                  : fmt::format("'{}' had no flat table\n", flat_type));
      } else if (*flat_enable || *flat_rebuild) {
        const auto start = std::chrono::steady_clock::now();
        FlatTableInfo f = *flat_enable ? db->flat_enable(flat_type, flat_sync_mode == "deferred" ? FlatSync::kDeferred
                                                                                                  : FlatSync::kOnCommit)
                                       : db->flat_rebuild(flat_type);
        const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::cout << fmt::format("flat table {} of '{}': {} columns, built in {:.3f} s\n", f.table, f.type,
                                 f.columns.size(), sec);
      } else if (*flat_sync_cmd) {
        FlatTableInfo f = db->flat_sync(flat_type);
        std::cout << fmt::format("flat table {} of '{}': {}, lag {}\n", f.table, f.type,
                                 f.sync == FlatSync::kDeferred ? "deferred" : "on-commit", f.lag);
      } else if (*flat_list) {
        QueryResult r;
        r.columns = {{"type", ValueType::kVarchar},     {"table", ValueType::kVarchar},
                     {"sync", ValueType::kVarchar},     {"lag", ValueType::kInt},
                     {"synced_seq", ValueType::kInt},   {"synced_at", ValueType::kDatetime},
                     {"columns", ValueType::kText}};
        for (const auto& f : db->flat_tables()) {
          std::string cols;
          for (const auto& c : f.columns) cols += (cols.empty() ? "" : ",") + c;
          const bool deferred = f.sync == FlatSync::kDeferred;
          r.rows.push_back({f.type, f.table, std::string(deferred ? "deferred" : "on-commit"), f.lag,
                            deferred ? Value{f.synced_seq} : Value{}, deferred ? Value{DateTime{f.synced_at}} : Value{},
                            cols});
        }
        io::write_result(std::cout, r, out_format);
      }
    } else if (*cache_stats) {
      io::write_result(std::cout, cache_stats_rows(db->cache_stats()), out_format);
      const CacheStats st = db->cache_stats();
      if (!st.l3_url.empty())
        std::cerr << fmt::format("l3 {}: breaker {}, invalidation bus {}\n", st.l3_url, st.l3_breaker,
                                 st.bus_connected ? "connected" : "not connected");
    } else if (*cache_warm) {
      const auto start = std::chrono::steady_clock::now();
      const int64_t n = db->cache_warm(warm_type, warm_query);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::cerr << fmt::format("warmed {} {} entities in {:.3f} s\n", n, warm_type, s);
      io::write_result(std::cout, cache_stats_rows(db->cache_stats()), out_format);
    } else if (*token_create) {
      server::TokenStore store(storage::sqlite::path_from_url(db_url));
      auto [info, plain] = store.create(token_tenant, *server::parse_role(token_role));
      std::cout << plain << "\n";
      std::cerr << fmt::format("token {} created for tenant '{}' with role {}; it is shown only this once\n", info.id,
                               info.tenant, server::role_name(info.role));
    } else if (*token_list) {
      server::TokenStore store(storage::sqlite::path_from_url(db_url));
      QueryResult r;
      r.columns = {{"id", ValueType::kInt}, {"tenant", ValueType::kVarchar}, {"role", ValueType::kVarchar},
                   {"created_at", ValueType::kDatetime}, {"revoked_at", ValueType::kDatetime}};
      for (const auto& t : store.list())
        r.rows.push_back({t.id, t.tenant, std::string(server::role_name(t.role)), DateTime{t.created_at},
                          t.revoked_at ? Value{DateTime{*t.revoked_at}} : Value{}});
      io::write_result(std::cout, r, out_format);
    } else if (*token_revoke) {
      server::TokenStore store(storage::sqlite::path_from_url(db_url));
      if (!store.revoke(token_id))
        throw Error(ErrorCode::kNotFound, fmt::format("token {} does not exist or is already revoked", token_id));
      std::cout << fmt::format("revoked token {}\n", token_id);
    } else if (*cache_clear) {
      db->cache_clear();
      std::cout << "cache cleared\n";
    }
    std::cout.flush();
    return 0;
  } catch (const Error& e) {
    std::cout.flush();
    std::cerr << "error: " << error_code_name(e.code()) << ": " << e.what() << "\n";
    return kExitError;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return kExitError;
  }
}
