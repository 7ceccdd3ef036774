#include "cli/stats.h"

#include <fmt/format.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include <filesystem>
#include <system_error>

#include "monitor/metrics.h"
#include "storage/sqlite/sqlite_backend.h"

namespace eavdb::cli {
namespace {

uint64_t file_size_or_zero(const std::string& path) {
  std::error_code ec;
  const auto n = std::filesystem::file_size(path, ec);
  return ec ? 0 : static_cast<uint64_t>(n);
}

struct TypeFigures {
  std::string code;
  int64_t entities = 0;
  size_t attributes = 0;
  std::string flat_table;  // empty: none
  size_t flat_columns = 0;
};

}  // namespace

void write_stats(std::ostream& out, Database& db, const std::string& url, const Options& options, bool json) {
  const std::string path = storage::sqlite::path_from_url(url);
  const uint64_t main_bytes = file_size_or_zero(path);
  const uint64_t wal_bytes = file_size_or_zero(path + "-wal");
  std::vector<TypeFigures> types;
  const auto flats = db.flat_tables();
  for (const EntityTypeDef& t : db.types()) {
    TypeFigures f;
    f.code = t.code;
    f.attributes = t.attributes.size();
    QueryOptions qo;
    qo.plan = PlanKind::kEav;  // bypasses the L4 cache: a fresh count
    const QueryResult r = db.query(fmt::format("SELECT COUNT(*) FROM \"{}\"", t.code), {}, qo);
    if (!r.rows.empty() && !r.rows[0].empty())
      if (const auto* n = std::get_if<int64_t>(&r.rows[0][0])) f.entities = *n;
    for (const auto& ft : flats)
      if (ft.type == t.code) f.flat_table = ft.table, f.flat_columns = ft.columns.size();
    types.push_back(std::move(f));
  }
  const auto [plan_hits, plan_misses] = db.plan_cache_counts();
  const CacheStats cs = db.cache_stats();
  const CacheOptions& co = options.cache;
  const uint64_t rss = monitor::process_rss_bytes();
  const double cpu = monitor::process_cpu_seconds();
  const std::pair<const char*, const CacheLevelStats*> levels[] = {{"l1", &cs.l1}, {"l2", &cs.l2}, {"l3", &cs.l3}, {"l4", &cs.l4}};

  if (json) {
    rapidjson::StringBuffer buf;
    rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buf);
    w.SetIndent(' ', 2);
    w.StartObject();
    w.Key("database");
    w.StartObject();
    w.Key("url");
    w.String(url.c_str());
    w.Key("path");
    w.String(path.c_str());
    w.Key("tenant");
    w.String(options.tenant.c_str());
    w.Key("file_bytes");
    w.Uint64(main_bytes);
    w.Key("wal_bytes");
    w.Uint64(wal_bytes);
    w.EndObject();
    w.Key("cache_config");
    w.StartObject();
    w.Key("enabled");
    w.Bool(co.enabled);
    w.Key("policy");
    w.String(co.policy.c_str());
    w.Key("l2_max_bytes");
    w.Uint64(co.l2_max_bytes);
    w.Key("l2_max_entries");
    w.Uint64(co.l2_max_entries);
    w.Key("entity_ttl_ms");
    w.Int64(co.entity_ttl.count());
    w.Key("l3_url");
    w.String(co.l3_url.c_str());
    w.Key("l4_max_bytes");
    w.Uint64(co.l4_max_bytes);
    w.Key("l4_max_entries");
    w.Uint64(co.l4_max_entries);
    w.Key("query_ttl_ms");
    w.Int64(co.query_ttl.count());
    w.EndObject();
    w.Key("cache");
    w.StartObject();
    for (const auto& [name, l] : levels) {
      w.Key(name);
      w.StartObject();
      w.Key("hits");
      w.Uint64(l->hits);
      w.Key("misses");
      w.Uint64(l->misses);
      w.Key("evictions");
      w.Uint64(l->evictions);
      w.Key("entries");
      w.Uint64(l->entries);
      w.Key("bytes");
      w.Uint64(l->bytes);
      w.EndObject();
    }
    w.Key("l3_breaker");
    w.String(cs.l3_breaker.c_str());
    w.EndObject();
    w.Key("types");
    w.StartArray();
    int64_t total = 0;
    for (const auto& t : types) {
      total += t.entities;
      w.StartObject();
      w.Key("type");
      w.String(t.code.c_str());
      w.Key("entities");
      w.Int64(t.entities);
      w.Key("attributes");
      w.Uint64(t.attributes);
      w.Key("flat_table");
      if (t.flat_table.empty()) w.Null();
      else w.String(t.flat_table.c_str());
      w.Key("flat_columns");
      w.Uint64(t.flat_columns);
      w.EndObject();
    }
    w.EndArray();
    w.Key("entities_total");
    w.Int64(total);
    w.Key("planner");
    w.StartObject();
    w.Key("plan_cache_hits");
    w.Int64(plan_hits);
    w.Key("plan_cache_misses");
    w.Int64(plan_misses);
    w.Key("flat_tables");
    w.Uint64(flats.size());
    w.EndObject();
    w.Key("process");
    w.StartObject();
    w.Key("rss_bytes");
    w.Uint64(rss);
    w.Key("cpu_seconds");
    w.Double(cpu);
    w.EndObject();
    w.EndObject();
    out << buf.GetString() << "\n";
    return;
  }
  out << fmt::format("database\n  url: {}\n  tenant: {}\n  file: {} bytes\n  wal: {} bytes\n", url, options.tenant,
                     main_bytes, wal_bytes);
  out << fmt::format(
      "cache config\n  enabled: {}\n  policy: {}\n  l2: {} bytes, {} entries, entity ttl {} ms\n  l3: {}\n"
      "  l4: {} bytes, {} entries, query ttl {} ms\n",
      co.enabled, co.policy, co.l2_max_bytes, co.l2_max_entries, co.entity_ttl.count(),
      co.l3_url.empty() ? "none" : co.l3_url, co.l4_max_bytes, co.l4_max_entries, co.query_ttl.count());
  out << "cache counters (this process)\n";
  for (const auto& [name, l] : levels)
    out << fmt::format("  {}: {} hits, {} misses, {} evictions, {} entries, {} bytes\n", name, l->hits, l->misses,
                       l->evictions, l->entries, l->bytes);
  out << "types\n";
  int64_t total = 0;
  for (const auto& t : types) {
    total += t.entities;
    out << fmt::format("  {}: {} entities, {} attributes, flat table {}\n", t.code, t.entities, t.attributes,
                       t.flat_table.empty() ? "none" : fmt::format("{} ({} columns)", t.flat_table, t.flat_columns));
  }
  out << fmt::format("  total: {} entities in {} types\n", total, types.size());
  out << fmt::format("planner\n  plan cache: {} hits, {} misses\n  flat tables: {}\n", plan_hits, plan_misses,
                     flats.size());
  out << fmt::format("process\n  rss: {} bytes\n  cpu: {:.3f} s\n", rss, cpu);
}

}  // namespace eavdb::cli
