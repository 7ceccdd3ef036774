#include "eavdb/database.h"

#include <fmt/format.h>

#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <shared_mutex>

#include "cache/caches.h"
#include "eavdb/session.h"
#include "query/compiler.h"
#include "storage/sqlite/sqlite_backend.h"

namespace eavdb {
namespace {

using CatalogMap = std::map<std::string, EntityTypeDef, std::less<>>;

std::string sqlite_path(std::string_view url) { return storage::sqlite::path_from_url(url); }

}  // namespace

struct Database::Impl {
  std::unique_ptr<storage::Backend> backend;
  int64_t tenant_id = 0;
  Options options;
  std::unique_ptr<cache::Caches> caches;  ///< null when caching is disabled
  // What this process knows of other processes' commits (the SQLite invalidation log).
  std::mutex sync_mu;
  int64_t seen_data_version = 0;
  int64_t seen_change_seq = 0;
  std::deque<std::pair<int64_t, int64_t>> own_changes;  ///< log ranges this process wrote
  mutable std::shared_mutex catalog_mu;
  // Immutable snapshot, replaced whole on change: readers keep theirs alive while they use it.
  mutable std::shared_ptr<const CatalogMap> catalog;

  void reload_catalog() const {
    auto fresh = std::make_shared<CatalogMap>();
    for (auto& t : backend->load_catalog(tenant_id)) {
      std::string code = t.code;
      fresh->emplace(std::move(code), std::move(t));
    }
    std::unique_lock lock(catalog_mu);
    catalog = std::move(fresh);
  }

  std::shared_ptr<const CatalogMap> snapshot() const {
    std::shared_lock lock(catalog_mu);
    return catalog;
  }

  // Before serving from a cache: applies the commits other processes made since the last check.
  // PRAGMA data_version tells cheaply whether anything changed; only then is the log read.
  void sync_foreign() {
    if (!caches) return;
    const int64_t dv = backend->data_version();
    std::lock_guard lock(sync_mu);
    if (dv == seen_data_version) return;
    constexpr int64_t kMaxRows = 10000;
    std::vector<storage::Backend::Change> rows = backend->changes_since(seen_change_seq, kMaxRows + 1);
    if (!rows.empty() && (rows.front().seq != seen_change_seq + 1 || static_cast<int64_t>(rows.size()) > kMaxRows)) {
      // The log was pruned past us, or too much happened: start over from empty caches.
      caches->flush_all();
      seen_change_seq = std::max(rows.back().seq, backend->last_change_seq());
      own_changes.clear();
    } else if (!rows.empty()) {
      cache::Invalidation inv, unannounced;
      std::set<int64_t> unannounced_types;
      for (const auto& r : rows) {
        if (r.tenant_id != tenant_id) continue;
        bool own = false;
        for (const auto& [first, last] : own_changes)
          if (r.seq >= first && r.seq <= last) own = true;
        if (own) continue;
        inv.entities.push_back({r.type_id, r.entity_id, r.version});
        if (!r.announced) {
          unannounced.entities.push_back({r.type_id, r.entity_id, r.version});
          unannounced_types.insert(r.type_id);
        }
      }
      if (!inv.entities.empty()) caches->apply_foreign(inv);
      if (!unannounced.entities.empty()) {
        // Every query of a type reads its type tag: bumping it covers the attribute tags the
        // committer could not bump.
        for (int64_t type : unannounced_types) unannounced.tags.push_back(cache::type_tag(type));
        caches->catch_up(std::move(unannounced));
      }
      seen_change_seq = rows.back().seq;
    }
    while (!own_changes.empty() && own_changes.front().second <= seen_change_seq) own_changes.pop_front();
    seen_data_version = dv;
  }

  std::chrono::milliseconds ttl_of(std::string_view type_code) const {
    auto it = options.cache.type_ttl.find(type_code);
    return it == options.cache.type_ttl.end() ? options.cache.entity_ttl : it->second;
  }

  // The snapshot holding `code`, reloading once from storage when another process may have
  // defined it since.
  std::shared_ptr<const CatalogMap> snapshot_with(std::string_view code) const {
    auto snap = snapshot();
    if (snap->find(code) == snap->end()) {
      reload_catalog();
      snap = snapshot();
    }
    return snap;
  }
};

Database::Database(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Database::~Database() = default;

std::unique_ptr<Database> Database::open(std::string_view url, const Options& options) {
  auto impl = std::make_unique<Impl>();
  impl->backend = std::make_unique<storage::sqlite::SqliteBackend>(
      sqlite_path(url), options.create_if_missing, options.reader_connections, options.busy_timeout_ms,
      options.page_cache_kib);
  if (!is_valid_code(options.tenant))
    throw Error(ErrorCode::kInvalidArgument, fmt::format("invalid tenant code '{}'", options.tenant));
  impl->tenant_id = impl->backend->ensure_tenant(options.tenant);
  impl->options = options;
  impl->reload_catalog();
  if (options.cache.enabled) {
    impl->seen_data_version = impl->backend->data_version();
    impl->seen_change_seq = impl->backend->last_change_seq();
    impl->caches = std::make_unique<cache::Caches>(
        options.cache, fmt::format("{}:{}", impl->backend->store_id(), impl->tenant_id));
  }
  return std::unique_ptr<Database>(new Database(std::move(impl)));
}

EntityTypeDef Database::define_type(const EntityTypeDef& def) {
  if (!is_valid_code(def.code))
    throw Error(ErrorCode::kSchema, fmt::format("invalid type code '{}': use [a-z][a-z0-9_]*", def.code));
  for (const auto& a : def.attributes) {
    if (!is_valid_code(a.code))
      throw Error(ErrorCode::kSchema, fmt::format("invalid attribute code '{}' in type '{}'", a.code, def.code));
    if (is_reserved_column(a.code))
      throw Error(ErrorCode::kSchema,
                  fmt::format("attribute code '{}' in type '{}' is reserved (id, version, created_at, updated_at)",
                              a.code, def.code));
    if (a.default_value) coerce(*a.default_value, a.type);  // throws kTypeMismatch when it does not fit
  }
  EntityTypeDef stored = impl_->backend->save_type(impl_->tenant_id, def);
  impl_->reload_catalog();
  if (impl_->caches) impl_->caches->flush_all();  // SELECT * results gain the new columns
  return stored;
}

std::optional<EntityTypeDef> Database::find_type(std::string_view code) const {
  auto snap = impl_->snapshot_with(code);
  auto it = snap->find(code);
  if (it == snap->end()) return std::nullopt;
  return it->second;
}

EntityTypeDef Database::require_type(std::string_view code) const {
  if (auto t = find_type(code)) return *t;
  std::vector<std::string> codes;
  for (auto& [c, t] : *impl_->snapshot()) codes.push_back(c);
  std::string hint = nearest_name(code, codes);
  throw Error(ErrorCode::kNotFound, fmt::format("unknown entity type '{}'{}", code,
                                                hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint)));
}

std::vector<EntityTypeDef> Database::types() const {
  impl_->reload_catalog();
  std::vector<EntityTypeDef> out;
  for (auto& [code, t] : *impl_->snapshot()) out.push_back(t);
  return out;
}

CommitResult Database::commit(ChangeSet changes) {
  changes.tenant_id = impl_->tenant_id;
  if (!impl_->caches) return impl_->backend->commit(changes);
  cache::Invalidation inv;
  CommitResult result = impl_->backend->commit(changes, [&](const CommitResult& r) {
    inv = cache::make_invalidation(impl_->caches->ns(), changes, r);
    return impl_->caches->before_commit(inv);
  });
  if (result.change_seq_last != 0) {
    std::lock_guard lock(impl_->sync_mu);
    impl_->own_changes.emplace_back(result.change_seq_first, result.change_seq_last);
  }
  impl_->caches->after_commit(inv);
  return result;
}

std::vector<std::optional<EntityRecord>> Database::load(std::string_view type_code,
                                                        const std::vector<int64_t>& ids) const {
  auto snap = impl_->snapshot_with(type_code);
  auto it = snap->find(type_code);
  if (it == snap->end()) require_type(type_code);  // throws kNotFound with a suggestion
  const EntityTypeDef& t = it->second;
  if (!impl_->caches) return impl_->backend->load(impl_->tenant_id, t.id, ids);
  impl_->sync_foreign();
  return impl_->caches->get_entities(t.id, impl_->ttl_of(type_code), ids, [&](const std::vector<int64_t>& missing) {
    return impl_->backend->load(impl_->tenant_id, t.id, missing);
  });
}

QueryResult Database::query(std::string_view sql, const std::vector<Value>& params) const {
  if (!impl_->caches) return run_query(sql, params, nullptr);
  return query_cached(sql, params)->result;
}

std::shared_ptr<const cache::CachedResult> Database::query_cached(std::string_view sql,
                                                                  const std::vector<Value>& params) const {
  impl_->sync_foreign();
  std::string sig = cache::Caches::signature(impl_->tenant_id, query::normalized_text(sql), params);
  return impl_->caches->query(sig, [&](const cache::Caches::BeforeExecute& before) {
    return run_query(sql, params, &before);
  });
}

QueryResult Database::run_query(std::string_view sql, const std::vector<Value>& params,
                                const std::function<std::optional<QueryResult>(const std::vector<std::string>&)>*
                                    before_execute) const {
  // Compile against one catalog snapshot; when the query names a type this process has not seen
  // yet, reload once and compile again.
  auto snap = impl_->snapshot();
  std::shared_ptr<const CatalogMap> previous;  // keeps pointers handed out before a reload valid
  bool reloaded = false;
  query::Catalog catalog{
      [&](std::string_view code) -> const EntityTypeDef* {
        auto it = snap->find(code);
        if (it == snap->end() && !reloaded) {
          reloaded = true;
          previous = snap;
          impl_->reload_catalog();
          snap = impl_->snapshot();
          it = snap->find(code);
        }
        return it == snap->end() ? nullptr : &it->second;
      },
      [&] {
        std::vector<std::string> codes;
        for (auto& [c, t] : *snap) codes.push_back(c);
        return codes;
      }};
  query::CompiledQuery q = query::compile(sql, params, catalog);
  if (before_execute) {
    if (auto cached = (*before_execute)(cache::query_tags(q.type->id, q.attributes_read, q.reads_row_versions)))
      return std::move(*cached);
  }
  QueryResult result;
  result.columns = q.columns;
  result.select_star = q.select_star;
  result.rows = impl_->backend->execute(q);
  return result;
}

cache::Caches* Database::caches() const noexcept { return impl_->caches.get(); }

CacheStats Database::cache_stats() const {
  if (!impl_->caches) return {};
  return impl_->caches->stats();
}

void Database::cache_clear() {
  if (impl_->caches) impl_->caches->clear();
}

int64_t Database::cache_warm(std::string_view type_code, std::string_view sql) {
  EntityTypeDef t = require_type(type_code);
  std::vector<int64_t> ids;
  QueryResult r = query(sql.empty() ? fmt::format("SELECT id FROM \"{}\" ORDER BY id", t.code) : std::string(sql));
  if (r.columns.empty() || r.columns[0].name != "id" || r.columns[0].type != ValueType::kInt)
    throw Error(ErrorCode::kInvalidArgument, "cache warm: the query's first column must be id");
  for (const auto& row : r.rows)
    if (auto* id = std::get_if<int64_t>(&row[0])) ids.push_back(*id);
  constexpr size_t kBatch = 1000;
  int64_t warmed = 0;
  for (size_t i = 0; i < ids.size(); i += kBatch) {
    std::vector<int64_t> batch(ids.begin() + static_cast<std::ptrdiff_t>(i),
                               ids.begin() + static_cast<std::ptrdiff_t>(std::min(ids.size(), i + kBatch)));
    for (const auto& rec : load(t.code, batch)) warmed += rec ? 1 : 0;
  }
  return warmed;
}

std::vector<std::string> Database::integrity_check() const { return impl_->backend->integrity_check(); }

Session Database::session() { return Session(*this); }

int64_t Database::tenant_id() const noexcept { return impl_->tenant_id; }

storage::Backend& Database::backend() noexcept { return *impl_->backend; }

}  // namespace eavdb
