#include "eavdb/database.h"

#include <fmt/format.h>

#include <map>
#include <mutex>
#include <shared_mutex>

#include "eavdb/session.h"
#include "query/compiler.h"
#include "storage/sqlite/sqlite_backend.h"

namespace eavdb {
namespace {

using CatalogMap = std::map<std::string, EntityTypeDef, std::less<>>;

// "sqlite:///abs/path" -> "/abs/path", "sqlite://rel" -> "rel", "path" -> "path".
std::string sqlite_path(std::string_view url) {
  constexpr std::string_view kScheme = "sqlite://";
  if (url.starts_with(kScheme)) url.remove_prefix(kScheme.size());
  else if (url.find("://") != std::string_view::npos)
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("unsupported database URL '{}': use sqlite:///path or a file path", url));
  if (url.empty()) throw Error(ErrorCode::kInvalidArgument, "empty database path");
  return std::string(url);
}

}  // namespace

struct Database::Impl {
  std::unique_ptr<storage::Backend> backend;
  int64_t tenant_id = 0;
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
  impl->reload_catalog();
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
  return impl_->backend->commit(changes);
}

std::vector<std::optional<EntityRecord>> Database::load(std::string_view type_code,
                                                        const std::vector<int64_t>& ids) const {
  EntityTypeDef t = require_type(type_code);
  return impl_->backend->load(impl_->tenant_id, t.id, ids);
}

QueryResult Database::query(std::string_view sql, const std::vector<Value>& params) const {
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
  QueryResult result;
  result.columns = q.columns;
  result.select_star = q.select_star;
  result.rows = impl_->backend->execute(q);
  return result;
}

std::vector<std::string> Database::integrity_check() const { return impl_->backend->integrity_check(); }

Session Database::session() { return Session(*this); }

int64_t Database::tenant_id() const noexcept { return impl_->tenant_id; }

storage::Backend& Database::backend() noexcept { return *impl_->backend; }

}  // namespace eavdb
