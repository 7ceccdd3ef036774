#include "eavdb/database.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <thread>
#include <map>
#include <mutex>
#include <set>
#include <shared_mutex>

#include "cache/caches.h"
#include "eavdb/session.h"
#include "flat/flat.h"
#include "query/advisor.h"
#include "query/binder.h"
#include "query/compiler.h"
#include "query/parser.h"
#include "query/plan_cache.h"
#include "query/planner.h"
#include "query/shape_stats.h"
#include "storage/deadline.h"
#include "storage/sqlite/sqlite_backend.h"

namespace eavdb {
namespace {

using CatalogMap = std::map<std::string, EntityTypeDef, std::less<>>;

std::string sqlite_path(std::string_view url) { return storage::sqlite::path_from_url(url); }

// The plan the current thread's latest run_query executed (nullptr: it was served from L4).
thread_local const char* t_plan = nullptr;

const char* plan_name(query::Layout::Source s) {
  switch (s) {
    case query::Layout::Source::kFlat: return "flat";
    case query::Layout::Source::kValueIndex: return "eav-index";
    case query::Layout::Source::kUnion: return "eav-union";
    case query::Layout::Source::kIntersect: return "eav-intersect";
    case query::Layout::Source::kEntityScan: return "eav-scan";
    case query::Layout::Source::kLegacy: return "eav";
  }
  return "eav";
}

double ms_between(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// Why `changes` may not be committed against `catalog` (this tenant's types), or "" when it may:
// every write names a type of the tenant, and every value an attribute of that very type with
// its declared value type. The planner relies on it: a value row of one of a type's attributes
// belongs to an entity of that type and tenant, so EAV plans driven by a value index need no
// eav_entity lookup to check the entity's type (query::Layout::entity_join). Attribute ids are
// global (eav_attribute.id), so without this check a ChangeSet built by hand could store a value
// of type A's attribute on an entity of type B. A binary search over the type's attribute ids
// per value, so bulk commits do not notice it.
std::string invalid_write(const ChangeSet& changes, const CatalogMap& catalog) {
  struct Attrs {
    const EntityTypeDef* type = nullptr;
    std::vector<std::pair<int64_t, size_t>> ids;  // (attribute id, index into type->attributes), sorted
  };
  std::map<int64_t, Attrs> by_type;  // the types the writes name, built on first use
  const Attrs* cur = nullptr;
  for (size_t i = 0; i < changes.writes.size(); ++i) {
    const EntityWrite& w = changes.writes[i];
    if (!cur || cur->type->id != w.type_id) {
      auto it = by_type.find(w.type_id);
      if (it == by_type.end()) {
        auto t = std::find_if(catalog.begin(), catalog.end(), [&](const auto& kv) { return kv.second.id == w.type_id; });
        if (t == catalog.end())
          return fmt::format("write {} (entity {}): type id {} is not an entity type of this tenant", i, w.id,
                             w.type_id);
        Attrs a;
        a.type = &t->second;
        for (size_t k = 0; k < a.type->attributes.size(); ++k) a.ids.emplace_back(a.type->attributes[k].id, k);
        std::sort(a.ids.begin(), a.ids.end());
        it = by_type.emplace(w.type_id, std::move(a)).first;
      }
      cur = &it->second;
    }
    for (const AttributeWrite& v : w.values) {
      auto k = std::lower_bound(cur->ids.begin(), cur->ids.end(), std::pair<int64_t, size_t>{v.attribute_id, 0});
      if (k == cur->ids.end() || k->first != v.attribute_id)
        return fmt::format("write {} (entity {}): attribute id {} is not an attribute of type '{}'", i, w.id,
                           v.attribute_id, cur->type->code);
      const AttributeDef& a = cur->type->attributes[k->second];
      if (a.type != v.type)
        return fmt::format("write {} (entity {}): attribute '{}.{}' is {}, the write stores {}", i, w.id,
                           cur->type->code, a.code, value_type_name(a.type), value_type_name(v.type));
    }
  }
  return {};
}

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

  // ---- planner state ----------------------------------------------------------------------
  // Statistics and flat-table registrations are read from the store and kept here; a process
  // counts its own writes per type (the store's counter, bumped by every commit of any process,
  // is re-read at least every kReload) to decide when a type needs a new analyze.
  static constexpr std::chrono::seconds kReload{30};
  std::mutex planner_mu;
  std::map<int64_t, std::shared_ptr<const query::TypeStats>> stats;
  std::map<int64_t, std::chrono::steady_clock::time_point> stats_loaded;
  std::map<int64_t, int64_t> own_writes;
  std::map<int64_t, std::shared_ptr<const flat::FlatTable>> flats;
  std::chrono::steady_clock::time_point flats_loaded;
  // Text attributes with an advisor-made partial value index (ascending), reloaded with flats.
  std::shared_ptr<const std::vector<int64_t>> text_indexes = std::make_shared<const std::vector<int64_t>>();
  std::map<int64_t, int64_t> writes_since_open;  ///< per type: entity writes this process committed
  // Deferred flat tables: sync state per type, valid while the store's data_version is unchanged.
  std::map<int64_t, std::pair<int64_t, storage::Backend::FlatSyncState>> flat_states;
  std::set<int64_t> deferred_types;  ///< types whose flat table is deferred, as last seen
  // The deferred flat-sync worker: woken after own commits of deferred types, else polls.
  std::mutex flat_worker_mu;
  std::condition_variable flat_worker_cv;
  bool flat_worker_stop = false;
  bool flat_worker_pending = false;
  std::thread flat_worker;

  // The sync state of `type_id`'s flat table (one store read when anything was committed since
  // the last look; otherwise the remembered state).
  storage::Backend::FlatSyncState flat_state(int64_t type_id) {
    const int64_t dv = backend->data_version();
    {
      std::lock_guard lock(planner_mu);
      auto it = flat_states.find(type_id);
      if (it != flat_states.end() && it->second.first == dv) return it->second.second;
    }
    auto st = backend->flat_sync_state(type_id);
    std::lock_guard lock(planner_mu);
    flat_states[type_id] = {dv, st};
    if (st.deferred) deferred_types.insert(type_id);
    else deferred_types.erase(type_id);
    return st;
  }
  std::mutex analyze_mu;  // one analyze at a time
  query::PlanCache plan_cache;
  std::unique_ptr<query::ShapeStatsLog> shapes;
  // Automatic advisor (Options::auto_advise): a worker woken every auto_advise_every queries.
  std::mutex advisor_mu;
  std::condition_variable advisor_cv;
  bool advisor_stop = false;
  std::atomic<uint64_t> queries_since_advice{0};
  AutoAdviseStatus advisor_status;  ///< guarded by advisor_mu
  std::thread advisor;
  std::unique_ptr<query::SlowQueryLog> slow_log;  ///< null without Options::slow_query_log

  // Records one successful query in the shape statistics and, when slow, in the slow-query log.
  void record_query(std::string_view sql, const std::vector<Value>& params, const char* plan, double ms,
                    uint64_t rows) {
    std::string shape;
    try {
      shape = query::display_shape(sql);
    } catch (const Error&) {
      return;  // cannot happen for a query that ran; never fail a query over its statistics
    }
    const std::string_view plan_text = plan ? plan : "l4-cache";
    shapes->record(shape, plan_text, ms, rows, sql, params);
    if (options.auto_advise && ++queries_since_advice >= static_cast<uint64_t>(options.auto_advise_every)) {
      { std::lock_guard lock(advisor_mu); }  // the worker is waiting or will see the count
      advisor_cv.notify_one();
    }
    if (slow_log && slow_log->wants(ms)) slow_log->write(sql, params, plan_text, rows, ms);
  }

  void start_flat_worker(Database* self) {
    std::lock_guard lock(flat_worker_mu);
    if (options.flat_sync_worker && !flat_worker.joinable() && !flat_worker_stop) flat_worker = std::thread([self] { self->flat_worker_loop(); });
  }

  // Reloads the flat-table registry and the optional indexes the planner may use: each flat
  // table's column indexes (by flat::index_name) and the partial text-value indexes.
  void reload_flats() {
    std::set<std::string> index_names;
    auto text = std::make_shared<std::vector<int64_t>>();
    for (const auto& ix : backend->list_indexes()) {
      if (int64_t a = flat::text_index_attribute(ix.name)) text->push_back(a);
      index_names.insert(ix.name);
    }
    std::sort(text->begin(), text->end());
    auto snap = snapshot();
    std::map<int64_t, std::shared_ptr<const flat::FlatTable>> fresh;
    for (auto& f : backend->flat_tables()) {
      for (const auto& [code, t] : *snap) {
        if (t.id != f.type_id) continue;
        for (const auto& a : t.attributes)
          if (f.covers(a.id) && index_names.count(flat::index_name(f.table, a.code))) f.indexed_ids.push_back(a.id);
      }
      std::sort(f.indexed_ids.begin(), f.indexed_ids.end());
      const int64_t id = f.type_id;
      fresh.emplace(id, std::make_shared<const flat::FlatTable>(std::move(f)));
    }
    std::set<int64_t> deferred;
    for (const auto& [id, f] : fresh)
      if (backend->flat_sync_state(id).deferred) deferred.insert(id);
    std::lock_guard lock(planner_mu);
    flats = std::move(fresh);
    text_indexes = std::move(text);
    deferred_types = std::move(deferred);
    flat_states.clear();
    flats_loaded = std::chrono::steady_clock::now();
  }

  std::shared_ptr<const std::vector<int64_t>> text_indexes_now() {
    std::lock_guard lock(planner_mu);
    return text_indexes;
  }

  std::shared_ptr<const flat::FlatTable> flat_for(int64_t type_id) {
    bool refresh;
    {
      std::lock_guard lock(planner_mu);
      refresh = std::chrono::steady_clock::now() - flats_loaded > kReload;
    }
    if (refresh) reload_flats();  // another process may have enabled or dropped one
    std::lock_guard lock(planner_mu);
    auto it = flats.find(type_id);
    return it == flats.end() ? nullptr : it->second;
  }

  void note_writes(const ChangeSet& changes, const CommitResult& result) {
    std::map<int64_t, int64_t> per_type;
    for (size_t i = 0; i < changes.writes.size() && i < result.ids.size(); ++i)
      if (result.ids[i] != 0) ++per_type[changes.writes[i].type_id];
    std::lock_guard lock(planner_mu);
    for (auto [type, n] : per_type) {
      own_writes[type] += n;
      writes_since_open[type] += n;
    }
  }

  // Stores freshly loaded or computed statistics.
  std::shared_ptr<const query::TypeStats> keep_stats(query::TypeStats s) {
    auto ptr = std::make_shared<const query::TypeStats>(std::move(s));
    std::lock_guard lock(planner_mu);
    stats[ptr->type_id] = ptr;
    stats_loaded[ptr->type_id] = std::chrono::steady_clock::now();
    own_writes[ptr->type_id] = 0;
    return ptr;
  }

  // The statistics the planner uses for `type`: analyzed on first use and again when more than
  // max(500, 20%) of its entities were written since the last analyze.
  std::shared_ptr<const query::TypeStats> stats_for(const EntityTypeDef& type) {
    {
      std::lock_guard lock(planner_mu);
      auto it = stats.find(type.id);
      if (it != stats.end()) {
        query::TypeStats probe;
        probe.entity_count = it->second->entity_count;
        probe.modifications = it->second->modifications + own_writes[type.id];
        const bool fresh = std::chrono::steady_clock::now() - stats_loaded[type.id] < kReload;
        if (fresh && !probe.stale()) return it->second;
      }
    }
    std::lock_guard analyzing(analyze_mu);
    auto loaded = backend->load_statistics(type.id);
    if (loaded && !loaded->stale()) return keep_stats(std::move(*loaded));
    auto fresh = keep_stats(backend->analyze(type));
    plan_cache.clear();
    return fresh;
  }

  // A query parsed, bound, planned (through the plan cache) and compiled, with the catalog
  // snapshot its pointers refer to.
  struct Prepared {
    std::shared_ptr<const CatalogMap> snap, previous;
    std::shared_ptr<const std::vector<int64_t>> text_indexes;
    query::CompiledQuery compiled;
    query::PlanChoice choice;
    bool cache_hit = false;
    std::optional<query::PlanNodeInfo> tree;
    std::pair<std::string, std::vector<query::SqlParam>> driver;
  };

  // With `deadline`, planning is bounded by it: its store reads (statistics, flat-table
  // registry and sync state, catalog) are interrupted and Error(kTimeout) is thrown once it
  // passes, as the executor does; a forced flat catch-up (a write) only starts before it.
  Prepared prepare(std::string_view sql, const std::vector<Value>& params, PlanKind kind, bool explain,
                   int64_t max_flat_lag = 0, std::optional<std::chrono::steady_clock::time_point> deadline = {}) {
    if (sql.size() > query::kMaxQueryBytes)
      throw Error(ErrorCode::kLimit, fmt::format("query is {} bytes; at most {} are accepted", sql.size(),
                                                 query::kMaxQueryBytes));
    storage::DeadlineScope deadline_scope(deadline);
    deadline_scope.check("planning");
    Prepared p;
    p.snap = snapshot();
    bool reloaded = false;
    // When the query names a type this process has not seen yet, reload once.
    query::Catalog catalog{
        [&](std::string_view code) -> const EntityTypeDef* {
          auto it = p.snap->find(code);
          if (it == p.snap->end() && !reloaded) {
            reloaded = true;
            p.previous = p.snap;  // keeps pointers handed out before the reload valid
            reload_catalog();
            p.snap = snapshot();
            it = p.snap->find(code);
          }
          return it == p.snap->end() ? nullptr : &it->second;
        },
        [&] {
          std::vector<std::string> codes;
          for (auto& [c, t] : *p.snap) codes.push_back(c);
          return codes;
        }};
    query::BoundQuery bound = query::bind(query::parse(sql), params, catalog);
    auto type_stats = stats_for(*bound.type);
    auto flat = flat_for(bound.type->id);
    if (flat) {
      // A deferred flat table serves the query only when fresh enough for it.
      auto st = flat_state(bound.type->id);
      if (st.deferred && st.lag > std::max<int64_t>(0, max_flat_lag)) {
        if (kind == PlanKind::kFlat) {  // forced: catch up first
          deadline_scope.check("planning");
          backend->flat_catch_up(*bound.type);
        }
        else flat = nullptr;
      }
    }
    const query::PlanMode mode = kind == PlanKind::kEav    ? query::PlanMode::kForceEav
                                 : kind == PlanKind::kFlat ? query::PlanMode::kForceFlat
                                                           : query::PlanMode::kAuto;
    query::PlanContext ctx{type_stats.get(), flat.get(), mode};
    ctx.page_cache_bytes = 1024.0 * options.page_cache_kib;
    p.text_indexes = text_indexes_now();
    ctx.text_indexes = p.text_indexes.get();
    std::string key = query::shape_key(sql, params);
    key.push_back(static_cast<char>('0' + static_cast<int>(mode)));
    auto cached = plan_cache.get(key);
    if (cached && query::choice_fits(bound, *cached, ctx)) {
      p.choice = std::move(*cached);
      p.cache_hit = true;
    } else {
      p.choice = query::choose_plan(bound, ctx);
      plan_cache.put(key, p.choice);
    }
    if (explain) p.tree = query::describe_plan(bound, p.choice, ctx);
    std::optional<query::BoundQuery> tail;
    const int64_t offset = bound.offset.value_or(0), limit = bound.limit.value_or(0);
    if (p.choice.null_split) tail = query::split_null_rows(bound, p.choice.driver_join, p.choice.source == query::Layout::Source::kFlat);
    query::Layout layout = query::make_layout(bound, p.choice, ctx);
    if (explain) p.driver = query::driver_sql(bound, layout);
    p.compiled = query::compile_bound(std::move(bound), layout);
    if (tail) {
      query::PlanContext eav{type_stats.get(), nullptr, query::PlanMode::kForceEav, false, p.text_indexes.get()};
      query::PlanChoice second = query::choose_plan(*tail, eav);
      query::Layout tail_layout = query::make_layout(*tail, second, eav);
      // Empty without a read when every entity of the type holds the key (exact counts).
      tail_layout.gate = query::missing_value_gate(*tail, p.choice.driver_join);
      p.compiled.null_rows_first = tail->order_by.front().nulls_first;
      p.compiled.null_rows =
          std::make_shared<const query::CompiledQuery>(query::compile_bound(std::move(*tail), tail_layout));
      p.compiled.split_offset = offset;
      p.compiled.split_limit = limit;
    }
    deadline_scope.check("planning");
    return p;
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
Database::~Database() {
  if (!impl_) return;
  {
    std::lock_guard lock(impl_->flat_worker_mu);
    impl_->flat_worker_stop = true;
  }
  impl_->flat_worker_cv.notify_all();
  if (impl_->flat_worker.joinable()) impl_->flat_worker.join();
  if (impl_->advisor.joinable()) {
    {
      std::lock_guard lock(impl_->advisor_mu);
      impl_->advisor_stop = true;
    }
    impl_->advisor_cv.notify_all();
    impl_->advisor.join();
  }
}

std::unique_ptr<Database> Database::open(std::string_view url, const Options& options) {
  auto impl = std::make_unique<Impl>();
  impl->backend = std::make_unique<storage::sqlite::SqliteBackend>(
      sqlite_path(url), options.create_if_missing, options.reader_connections, options.busy_timeout_ms,
      options.page_cache_kib);
  if (!is_valid_code(options.tenant))
    throw Error(ErrorCode::kInvalidArgument, fmt::format("invalid tenant code '{}'", options.tenant));
  impl->tenant_id = impl->backend->ensure_tenant(options.tenant);
  impl->options = options;
  impl->shapes = std::make_unique<query::ShapeStatsLog>(options.query_shape_capacity);
  if (!options.slow_query_log.empty())
    impl->slow_log = std::make_unique<query::SlowQueryLog>(options.slow_query_log, options.slow_query_ms,
                                                           options.slow_query_redact);
  impl->reload_catalog();
  impl->reload_flats();
  if (options.cache.enabled) {
    impl->seen_data_version = impl->backend->data_version();
    impl->seen_change_seq = impl->backend->last_change_seq();
    impl->caches = std::make_unique<cache::Caches>(
        options.cache, fmt::format("{}:{}", impl->backend->store_id(), impl->tenant_id));
  }
  std::unique_ptr<Database> db(new Database(std::move(impl)));
  bool any_deferred;
  {
    std::lock_guard lock(db->impl_->planner_mu);
    any_deferred = !db->impl_->deferred_types.empty();
  }
  if (any_deferred) db->impl_->start_flat_worker(db.get());
  if (options.auto_advise) {
    if (options.auto_advise_every < 1)
      throw Error(ErrorCode::kInvalidArgument, "Options::auto_advise_every must be at least 1");
    Database* self = db.get();
    db->impl_->advisor = std::thread([self] { self->advisor_loop(); });
  }
  return db;
}

void Database::advisor_loop() {
  Impl& im = *impl_;
  std::unique_lock lock(im.advisor_mu);
  for (;;) {
    im.advisor_cv.wait(lock, [&] {
      return im.advisor_stop ||
             im.queries_since_advice.load() >= static_cast<uint64_t>(im.options.auto_advise_every);
    });
    if (im.advisor_stop) return;
    im.queries_since_advice = 0;
    const size_t budget = im.options.auto_advise_max > im.advisor_status.applied.size()
                              ? im.options.auto_advise_max - im.advisor_status.applied.size()
                              : 0;
    lock.unlock();
    std::vector<IndexAdvice> done;
    std::string error;
    try {
      for (const IndexAdvice& a : advise()) {
        if (done.size() >= budget) break;
        if (a.kind == "flat_table" && !im.options.auto_flat) continue;
        apply_advice(a);
        done.push_back(a);
      }
    } catch (const std::exception& e) {
      error = e.what();  // e.g. the store is locked by a long writer: next round retries
    }
    lock.lock();
    ++im.advisor_status.runs;
    for (auto& a : done) im.advisor_status.applied.push_back(std::move(a));
    if (!error.empty()) im.advisor_status.last_error = error;
    im.advisor_cv.notify_all();
  }
}

AutoAdviseStatus Database::auto_advise_status() const {
  std::lock_guard lock(impl_->advisor_mu);
  return impl_->advisor_status;
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
  impl_->plan_cache.clear();  // flat coverage and join sets may change
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

void Database::wake_flat_worker(const ChangeSet& changes) {
  bool deferred = false;
  {
    std::lock_guard lock(impl_->planner_mu);
    if (impl_->deferred_types.empty()) return;
    for (const auto& w : changes.writes) deferred |= impl_->deferred_types.count(w.type_id) > 0;
  }
  if (!deferred) return;
  impl_->start_flat_worker(this);
  {
    std::lock_guard lock(impl_->flat_worker_mu);
    impl_->flat_worker_pending = true;
  }
  impl_->flat_worker_cv.notify_one();
}

void Database::flat_worker_loop() {
  Impl& im = *impl_;
  std::unique_lock lock(im.flat_worker_mu);
  for (;;) {
    im.flat_worker_cv.wait_for(lock, std::chrono::milliseconds(std::max(1, im.options.flat_sync_interval_ms)),
                               [&] { return im.flat_worker_stop || im.flat_worker_pending; });
    if (im.flat_worker_stop) return;
    im.flat_worker_pending = false;
    lock.unlock();
    std::set<int64_t> deferred;
    {
      std::lock_guard pl(im.planner_mu);
      deferred = im.deferred_types;
    }
    for (int64_t type_id : deferred) {
      try {
        if (im.backend->flat_sync_state(type_id).lag == 0) continue;
        auto snap = im.snapshot();
        for (const auto& [code, t] : *snap)
          if (t.id == type_id) im.backend->flat_catch_up(t);
      } catch (const std::exception&) {
        // Busy store or a table dropped meanwhile: the next round retries; queries stay exact
        // because a lagging deferred table is not read.
      }
    }
    lock.lock();
  }
}

CommitResult Database::commit(ChangeSet changes) {
  changes.tenant_id = impl_->tenant_id;
  // Every value must belong to an attribute of its entity's type (see invalid_write); a type or
  // attribute another process defined since the last catalog load is found after one reload.
  if (std::string why = invalid_write(changes, *impl_->snapshot()); !why.empty()) {
    impl_->reload_catalog();
    why = invalid_write(changes, *impl_->snapshot());
    if (!why.empty()) throw Error(ErrorCode::kInvalidArgument, "commit rejected: " + why);
  }
  if (!impl_->caches) {
    CommitResult result = impl_->backend->commit(changes);
    impl_->note_writes(changes, result);
    wake_flat_worker(changes);
    return result;
  }
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
  impl_->note_writes(changes, result);
  wake_flat_worker(changes);
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

std::optional<Database::CachedLoad> Database::load_cached(std::string_view type_code, int64_t id) const noexcept {
  if (!impl_->caches) return std::nullopt;
  try {
    auto snap = impl_->snapshot();
    auto it = snap->find(type_code);
    if (it == snap->end()) return std::nullopt;  // load() would reload the catalog
    // The coherence check of sync_foreign(), without its log read: only when everything any
    // process committed up to now has been applied to the caches already.
    const int64_t dv = impl_->backend->data_version();
    {
      std::unique_lock lock(impl_->sync_mu, std::try_to_lock);
      if (!lock.owns_lock() || dv != impl_->seen_data_version) return std::nullopt;
    }
    auto rec = impl_->caches->get_cached_entity(it->second.id, id);
    if (!rec) return std::nullopt;
    return CachedLoad{std::shared_ptr<const EntityTypeDef>(snap, &it->second), std::move(*rec)};
  } catch (...) {
    return std::nullopt;  // load() reports it
  }
}

int64_t Database::data_version() const { return impl_->backend->data_version(); }

QueryResult Database::query(std::string_view sql, const std::vector<Value>& params) const {
  if (impl_->caches) return query_cached(sql, params)->result;
  const auto start = std::chrono::steady_clock::now();
  QueryResult r = run_query(sql, params, nullptr);
  impl_->record_query(sql, params, t_plan, ms_between(start, std::chrono::steady_clock::now()), r.rows.size());
  return r;
}

QueryResult Database::query(std::string_view sql, const std::vector<Value>& params, const QueryOptions& options) const {
  if (options.plan == PlanKind::kAuto && options.max_flat_lag <= 0 && impl_->caches) {
    if (options.plan_used) *options.plan_used = "cached";  // overwritten when the query runs
    return query_cached(sql, params, options)->result;
  }
  const auto start = std::chrono::steady_clock::now();
  QueryResult r = run_query(sql, params, nullptr, options);  // forced plans bypass L4: the plan must run
  impl_->record_query(sql, params, t_plan, ms_between(start, std::chrono::steady_clock::now()), r.rows.size());
  return r;
}

std::shared_ptr<const cache::CachedResult> Database::query_cached(std::string_view sql,
                                                                  const std::vector<Value>& params,
                                                                  const QueryOptions& options) const {
  const auto start = std::chrono::steady_clock::now();
  t_plan = nullptr;
  impl_->sync_foreign();
  std::string sig = cache::Caches::signature(impl_->tenant_id, query::normalized_text(sql), params);
  auto entry = impl_->caches->query(
      sig, [&](const cache::Caches::BeforeExecute& before) { return run_query(sql, params, &before, options); },
      options.deadline);
  impl_->record_query(sql, params, t_plan, ms_between(start, std::chrono::steady_clock::now()),
                      entry->result.rows.size());
  return entry;
}

std::vector<QueryShapeStats> Database::query_shapes(size_t limit) const { return impl_->shapes->top(limit); }

std::vector<IndexAdvice> Database::advise(std::string_view type_code) const {
  std::optional<int64_t> only;
  if (!type_code.empty()) only = require_type(type_code).id;
  auto snap = impl_->snapshot();
  query::Catalog catalog{[&](std::string_view code) -> const EntityTypeDef* {
                           auto it = snap->find(code);
                           return it == snap->end() ? nullptr : &it->second;
                         },
                         [&] {
                           std::vector<std::string> codes;
                           for (auto& [c, t] : *snap) codes.push_back(c);
                           return codes;
                         }};
  // Every recorded shape's sample, bound against the current catalog, grouped by type.
  std::vector<std::unique_ptr<query::BoundQuery>> bound;
  std::map<int64_t, std::vector<query::WorkloadQuery>> by_type;
  for (auto& sample : impl_->shapes->samples()) {
    std::unique_ptr<query::BoundQuery> q;
    try {
      q = std::make_unique<query::BoundQuery>(query::bind(query::parse(sample.sql), sample.params, catalog));
    } catch (const Error&) {
      continue;  // the schema changed since it ran
    }
    if (only && q->type->id != *only) continue;
    by_type[q->type->id].push_back({q.get(), sample.stats.shape, static_cast<double>(sample.stats.count),
                                    sample.stats.total_ms});
    bound.push_back(std::move(q));
  }
  impl_->reload_flats();
  auto text = impl_->text_indexes_now();
  std::vector<IndexAdvice> out;
  for (auto& [type_id, queries] : by_type) {
    const EntityTypeDef* t = queries.front().query->type;
    auto stats = impl_->stats_for(*t);
    auto flat = impl_->flat_for(type_id);
    query::AdvisorInput in;
    in.type = t;
    in.stats = stats.get();
    in.flat = flat.get();
    in.text_indexes = *text;
    in.queries = std::move(queries);
    {
      std::lock_guard lock(impl_->planner_mu);
      in.writes = static_cast<double>(impl_->writes_since_open[type_id]);
    }
    for (auto& a : query::advise(in)) out.push_back(std::move(a));
  }
  std::sort(out.begin(), out.end(), [](const IndexAdvice& a, const IndexAdvice& b) { return a.gain > b.gain; });
  return out;
}

void Database::apply_advice(const IndexAdvice& advice) {
  const EntityTypeDef t = require_type(advice.type);
  if (advice.kind == "flat_table") {
    if (!impl_->flat_for(t.id)) flat_enable(t.code);
    return;
  }
  const AttributeDef* a = nullptr;
  for (const auto& x : t.attributes)
    if (x.code == advice.attribute) a = &x;
  if (!a)
    throw Error(ErrorCode::kNotFound, fmt::format("advice: type '{}' has no attribute '{}'", t.code, advice.attribute));
  // The DDL is generated here from the catalog, never taken from `advice.action`.
  if (advice.kind == "text_index") {
    if (a->type != ValueType::kText)
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("advice: attribute '{}' of '{}' is not text; text_index needs a text attribute", a->code, t.code));
    impl_->backend->create_index(flat::text_index_sql(a->id), "eav_value_text");
  } else if (advice.kind == "flat_index") {
    impl_->reload_flats();
    auto f = impl_->flat_for(t.id);
    if (!f || !f->covers(a->id))
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("advice: the flat table of '{}' has no column '{}' (flat enable/rebuild it first)", t.code, a->code));
    impl_->backend->create_index(flat::column_index_sql(f->table, *a), f->table);
  } else {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("advice: unknown kind '{}' (text_index, flat_index or flat_table)", advice.kind));
  }
  impl_->reload_flats();
  impl_->plan_cache.clear();
}

QueryResult Database::run_query(std::string_view sql, const std::vector<Value>& params,
                                const std::function<std::optional<QueryResult>(const std::vector<std::string>&)>*
                                    before_execute,
                                const QueryOptions& options) const {
  Impl::Prepared p = impl_->prepare(sql, params, options.plan, false, options.max_flat_lag, options.deadline);
  const query::CompiledQuery& q = p.compiled;
  t_plan = nullptr;
  if (before_execute) {
    if (auto cached = (*before_execute)(cache::query_tags(q.type->id, q.attributes_read, q.reads_row_versions))) {
      if (options.plan_used) *options.plan_used = "cached";
      return std::move(*cached);
    }
  }
  t_plan = plan_name(p.choice.source);
  if (options.plan_used) *options.plan_used = p.choice.source == query::Layout::Source::kFlat ? "flat" : "eav";
  QueryResult result;
  result.columns = q.columns;
  result.select_star = q.select_star;
  try {
    result.rows = impl_->backend->execute(q, options.deadline);
  } catch (const Error& e) {
    // Another process may have dropped the flat table: forget it and answer from the EAV tables.
    if (e.code() != ErrorCode::kStorage || p.choice.source != query::Layout::Source::kFlat ||
        options.plan == PlanKind::kFlat)
      throw;
    impl_->reload_flats();
    impl_->plan_cache.clear();
    Impl::Prepared eav = impl_->prepare(sql, params, PlanKind::kEav, false, 0, options.deadline);
    result.rows = impl_->backend->execute(eav.compiled, options.deadline);
    t_plan = plan_name(eav.choice.source);
    if (options.plan_used) *options.plan_used = "eav";
  }
  return result;
}

namespace {

PlanNode to_public(const query::PlanNodeInfo& n) {
  PlanNode out;
  out.op = n.op;
  out.detail = n.detail;
  out.estimated_rows = n.estimated_rows;
  for (const auto& c : n.children) out.children.push_back(to_public(c));
  return out;
}

// The node that reads the driver's candidates (pre-order: a union before its branches).
PlanNode* driver_node(PlanNode& n) {
  if (n.op == "FlatLookup") return &n.children[0];  // its union of index lookups
  if (n.op == "FlatScan" || n.op == "TypeScan" || n.op == "IndexScan" || n.op == "IndexUnion" ||
      n.op == "IndexIntersection")
    return &n;
  for (auto& c : n.children)
    if (PlanNode* d = driver_node(c)) return d;
  return nullptr;
}

PlanNode* find_node(PlanNode& n, std::string_view op) {
  if (n.op == op) return &n;
  for (auto& c : n.children)
    if (PlanNode* f = find_node(c, op)) return f;
  return nullptr;
}

// EXPLAIN ANALYZE: what the backend ran besides the main statement, on its nodes (a bounded
// walk's rows, time and outcome; an intersection's lookups). True when the intersection was
// counted (the driver needs no count of its own).
bool apply_trace(PlanNode& root, const storage::Backend::ExecutionTrace& t) {
  if (PlanNode* w = find_node(root, "BoundedIndexWalk")) {
    if (t.walk_rows >= 0) {
      w->actual_rows = t.walk_rows;
      w->actual_ms = t.walk_ms;
    }
    w->detail += t.walk_guard_matched ? "; ran: a matching row lacks the key, the fallback answered"
                 : t.walk_fallback    ? "; ran: the page was not full, the fallback answered"
                 : t.walk_key_reread  ? "; ran: exact, the page's last key re-read by id"
                 : t.walk_ms >= 0     ? "; ran: exact"
                                      : "; ran: not needed (the rows without the key filled the page)";
  }
  PlanNode* x = find_node(root, "IndexIntersection");
  if (!x || t.id_set_rows < 0) return false;
  x->actual_rows = t.id_set_rows;
  x->actual_ms = t.id_scan_ms;
  for (std::size_t k = 0; k < t.id_scan_rows.size() && k < x->children.size(); ++k)
    x->children[k].actual_rows = t.id_scan_rows[k];
  return true;
}

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

ExplainResult Database::explain(std::string_view sql, const std::vector<Value>& params, bool analyze,
                                const QueryOptions& options) const {
  Impl::Prepared p = impl_->prepare(sql, params, options.plan, true, options.max_flat_lag, options.deadline);
  // The deadline bounds all of EXPLAIN: SQLite's plan, the run and the driver's row count.
  storage::DeadlineScope deadline_scope(options.deadline);
  ExplainResult r;
  r.plan = p.choice.source == query::Layout::Source::kFlat ? "flat" : "eav";
  r.estimated_cost = p.choice.estimated_cost;
  r.rejected_plan = p.choice.rejected_plan;
  r.rejected_cost = p.choice.rejected_cost;
  r.plan_cache_hit = p.cache_hit;
  r.root = to_public(*p.tree);
  r.sql = p.compiled.sql;
  r.backend_plan = impl_->backend->backend_plan(p.compiled);
  if (!analyze) return r;
  r.analyzed = true;
  auto start = std::chrono::steady_clock::now();
  storage::Backend::ExecutionTrace trace;
  storage::Rows rows = impl_->backend->execute(p.compiled, options.deadline, &trace);
  r.execution_ms = ms_since(start);
  r.rows = static_cast<int64_t>(rows.size());
  r.root.actual_rows = r.rows;
  r.root.actual_ms = r.execution_ms;
  const bool traced = apply_trace(r.root, trace);
  // The driver's candidates, counted by running its SQL alone (an index-order scan has none: it
  // stops at the LIMIT inside the query).
  const bool index_order = p.choice.source == query::Layout::Source::kValueIndex && p.choice.leaf_paths.empty();
  if (PlanNode* d = driver_node(r.root); d && !traced && !index_order && d != &r.root) {
    deadline_scope.check("EXPLAIN ANALYZE's row count");
    start = std::chrono::steady_clock::now();
    d->actual_rows = impl_->backend->count_rows(p.driver.first, p.driver.second);
    d->actual_ms = ms_since(start);
  }
  return r;
}

std::vector<AnalyzeReport> Database::analyze(std::string_view type_code) {
  std::vector<EntityTypeDef> targets;
  if (type_code.empty()) targets = types();
  else targets.push_back(require_type(type_code));
  std::vector<AnalyzeReport> out;
  for (const auto& t : targets) {
    const auto start = std::chrono::steady_clock::now();
    std::shared_ptr<const query::TypeStats> s;
    {
      std::lock_guard analyzing(impl_->analyze_mu);
      s = impl_->keep_stats(impl_->backend->analyze(t));
    }
    out.push_back({t.code, s->entity_count, static_cast<int64_t>(s->attributes.size()), ms_since(start) / 1000.0});
  }
  impl_->plan_cache.clear();
  return out;
}

namespace {

FlatTableInfo flat_info(const EntityTypeDef& t, const flat::FlatTable& f, const storage::Backend::FlatSyncState& st) {
  FlatTableInfo info{t.code, f.table, {}};
  for (const auto& a : t.attributes)
    if (f.covers(a.id)) info.columns.push_back(a.code);
  info.sync = st.deferred ? FlatSync::kDeferred : FlatSync::kOnCommit;
  info.synced_seq = st.synced_seq;
  info.synced_at = st.synced_at;
  info.lag = st.lag;
  return info;
}

}  // namespace

FlatTableInfo Database::flat_enable(std::string_view type_code, FlatSync sync) {
  EntityTypeDef t = require_type(type_code);
  impl_->reload_flats();
  const auto old = impl_->flat_for(t.id);
  flat::FlatTable f = impl_->backend->flat_build(t);
  // A rebuild keeps the column indexes the advisor added (the default ones are rebuilt anyway).
  if (old)
    for (const auto& a : t.attributes)
      if (old->indexed(a.id) && f.covers(a.id)) impl_->backend->create_index(flat::column_index_sql(f.table, a), f.table);
  impl_->backend->flat_set_deferred(t, sync == FlatSync::kDeferred);
  impl_->reload_flats();
  impl_->plan_cache.clear();
  if (sync == FlatSync::kDeferred) impl_->start_flat_worker(this);
  auto fresh = impl_->flat_for(t.id);
  return flat_info(t, fresh ? *fresh : f, impl_->backend->flat_sync_state(t.id));
}

FlatTableInfo Database::flat_sync(std::string_view type_code) {
  EntityTypeDef t = require_type(type_code);
  impl_->reload_flats();
  auto f = impl_->flat_for(t.id);
  if (!f)
    throw Error(ErrorCode::kNotFound,
                fmt::format("type '{}' has no flat table (enable it with eavdb flat enable {})", t.code, t.code));
  return flat_info(t, *f, impl_->backend->flat_catch_up(t));
}

FlatTableInfo Database::flat_rebuild(std::string_view type_code) {
  EntityTypeDef t = require_type(type_code);
  impl_->reload_flats();
  if (!impl_->flat_for(t.id))
    throw Error(ErrorCode::kNotFound,
                fmt::format("type '{}' has no flat table (enable it with eavdb flat enable {})", t.code, t.code));
  return flat_enable(type_code, impl_->backend->flat_sync_state(t.id).deferred ? FlatSync::kDeferred : FlatSync::kOnCommit);
}

bool Database::flat_disable(std::string_view type_code) {
  EntityTypeDef t = require_type(type_code);
  const bool dropped = impl_->backend->flat_drop(t.id);
  impl_->reload_flats();
  impl_->plan_cache.clear();
  return dropped;
}

std::vector<FlatTableInfo> Database::flat_tables() const {
  impl_->reload_flats();
  std::vector<FlatTableInfo> out;
  for (const auto& t : types()) {
    if (auto f = impl_->flat_for(t.id)) out.push_back(flat_info(t, *f, impl_->backend->flat_sync_state(t.id)));
  }
  return out;
}

std::pair<int64_t, int64_t> Database::plan_cache_counts() const {
  return {impl_->plan_cache.hits(), impl_->plan_cache.misses()};
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
