#include "storage/sqlite/sqlite_backend.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <unordered_map>

#include "eavdb/error.h"
#include "storage/sqlite/schema.sql.h"

namespace eavdb::storage::sqlite {
namespace {

constexpr ValueType kAllTypes[] = {ValueType::kVarchar, ValueType::kInt, ValueType::kDecimal,
                                   ValueType::kDatetime, ValueType::kText};

std::string value_table(ValueType t) { return fmt::format("eav_value_{}", value_type_name(t)); }

int64_t now_micros() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

// A JSON array of ids, bound to `json_each(?)` so one statement serves any number of ids.
std::string id_array(const std::vector<int64_t>& ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(ids[i]);
  }
  s += ']';
  return s;
}

// Adds to each record in `found` its attribute values, read with one statement per value table
// for all the ids in `json` (a JSON array).
void load_values(Connection& c, const std::string& json, std::unordered_map<int64_t, EntityRecord>& found) {
  for (ValueType t : kAllTypes) {
    Statement st = c.prepare(fmt::format(
        "SELECT entity_id, attribute_id, value FROM {} WHERE entity_id IN (SELECT value FROM json_each(?))",
        value_table(t)));
    st.bind(1, std::string_view(json));
    while (st.step()) {
      auto it = found.find(st.column_int(0));
      if (it != found.end()) it->second.values.emplace_back(st.column_int(1), st.column_value(2, t));
    }
  }
}

// Runs `fn` inside BEGIN IMMEDIATE / COMMIT, rolling back on any exception.
template <typename Fn>
void in_transaction(Connection& c, Fn&& fn) {
  c.exec("BEGIN IMMEDIATE");
  try {
    fn();
    c.exec("COMMIT");
  } catch (...) {
    sqlite3_exec(c.raw(), "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

}  // namespace

// A reader connection borrowed from the pool; returned on destruction.
class SqliteBackend::ReaderLease {
 public:
  ReaderLease(SqliteBackend* owner, std::unique_ptr<Connection> c) : owner_(owner), c_(std::move(c)) {}
  ReaderLease(ReaderLease&& o) noexcept : owner_(o.owner_), c_(std::move(o.c_)) {}
  ~ReaderLease() {
    if (!c_) return;
    std::lock_guard lock(owner_->pool_mu_);
    owner_->idle_readers_.push_back(std::move(c_));
    owner_->pool_cv_.notify_one();
  }
  Connection* operator->() const { return c_.get(); }
  Connection& operator*() const { return *c_; }

 private:
  SqliteBackend* owner_;
  std::unique_ptr<Connection> c_;
};

SqliteBackend::SqliteBackend(const std::string& path, bool create, int readers, int busy_timeout_ms)
    : path_(path), busy_timeout_ms_(busy_timeout_ms), readers_max_(std::max(1, readers)) {
  writer_ = std::make_unique<Connection>(path, create, busy_timeout_ms);
  migrate(create);
}

SqliteBackend::~SqliteBackend() = default;

int SqliteBackend::current_schema_version() { return static_cast<int>(kMigrations.size()); }

void SqliteBackend::migrate(bool create) {
  std::lock_guard lock(write_mu_);
  Connection& c = *writer_;
  int version = 0;
  {
    Statement st = c.prepare("SELECT count(*) FROM sqlite_schema WHERE name = 'eav_meta'");
    st.step();
    if (st.column_int(0) > 0) {
      Statement v = c.prepare("SELECT value FROM eav_meta WHERE key = 'schema_version'");
      if (v.step()) version = std::stoi(v.column_text(0));
    } else {
      Statement any = c.prepare("SELECT count(*) FROM sqlite_schema");
      any.step();
      if (any.column_int(0) > 0)
        throw Error(ErrorCode::kStorage, fmt::format("'{}' is a SQLite file but not an eavdb database", path_));
      if (!create) throw Error(ErrorCode::kNotFound, fmt::format("'{}' holds no eavdb database", path_));
    }
  }
  const int target = current_schema_version();
  if (version > target)
    throw Error(ErrorCode::kVersion,
                fmt::format("'{}' has schema version {}, this eavdb supports up to {}: upgrade eavdb",
                            path_, version, target));
  if (version == target) return;
  in_transaction(c, [&] {
    for (int v = version; v < target; ++v) c.exec(kMigrations[v]);
    c.exec(fmt::format(
        "INSERT INTO eav_meta(key, value) VALUES('schema_version', '{}') "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        target));
  });
}

SqliteBackend::ReaderLease SqliteBackend::lease_reader() {
  std::unique_lock lock(pool_mu_);
  for (;;) {
    if (!idle_readers_.empty()) {
      auto c = std::move(idle_readers_.back());
      idle_readers_.pop_back();
      return ReaderLease(this, std::move(c));
    }
    if (readers_total_ < readers_max_) {
      ++readers_total_;
      lock.unlock();
      try {
        return ReaderLease(this, std::make_unique<Connection>(path_, false, busy_timeout_ms_));
      } catch (...) {
        std::lock_guard relock(pool_mu_);
        --readers_total_;
        throw;
      }
    }
    pool_cv_.wait(lock);
  }
}

int64_t SqliteBackend::ensure_tenant(std::string_view code) {
  std::lock_guard lock(write_mu_);
  Connection& c = *writer_;
  {
    Statement ins = c.prepare("INSERT INTO eav_tenant(code) VALUES(?) ON CONFLICT(code) DO NOTHING");
    ins.bind(1, code);
    ins.run();
  }
  Statement sel = c.prepare("SELECT id FROM eav_tenant WHERE code = ?");
  sel.bind(1, code);
  if (!sel.step()) throw Error(ErrorCode::kStorage, "tenant row vanished");
  return sel.column_int(0);
}

std::vector<EntityTypeDef> SqliteBackend::load_catalog(int64_t tenant_id) {
  auto reader = lease_reader();
  std::vector<EntityTypeDef> types;
  std::unordered_map<int64_t, size_t> index;
  {
    Statement st = reader->prepare("SELECT id, code, label FROM eav_entity_type WHERE tenant_id = ? ORDER BY code");
    st.bind(1, tenant_id);
    while (st.step()) {
      EntityTypeDef t;
      t.id = st.column_int(0);
      t.code = st.column_text(1);
      t.label = st.column_text(2);
      index[t.id] = types.size();
      types.push_back(std::move(t));
    }
  }
  Statement st = reader->prepare(
      "SELECT a.type_id, a.id, a.code, a.label, a.value_type, a.required, a.is_unique, a.filterable,"
      " a.sortable, a.default_value FROM eav_attribute a JOIN eav_entity_type t ON t.id = a.type_id"
      " WHERE t.tenant_id = ? ORDER BY a.id");
  st.bind(1, tenant_id);
  while (st.step()) {
    AttributeDef a;
    a.id = st.column_int(1);
    a.code = st.column_text(2);
    a.label = st.column_text(3);
    auto vt = parse_value_type(st.column_text(4));
    if (!vt) throw Error(ErrorCode::kStorage, "corrupt attribute type: " + st.column_text(4));
    a.type = *vt;
    a.required = st.column_int(5) != 0;
    a.unique = st.column_int(6) != 0;
    a.filterable = st.column_int(7) != 0;
    a.sortable = st.column_int(8) != 0;
    if (!st.is_null(9)) a.default_value = coerce(Value(st.column_text(9)), a.type);
    types[index.at(st.column_int(0))].attributes.push_back(std::move(a));
  }
  return types;
}

EntityTypeDef SqliteBackend::save_type(int64_t tenant_id, const EntityTypeDef& def) {
  {
    std::lock_guard lock(write_mu_);
    Connection& c = *writer_;
    in_transaction(c, [&] {
      {
        Statement ins = c.prepare(
            "INSERT INTO eav_entity_type(tenant_id, code, label) VALUES(?, ?, ?)"
            " ON CONFLICT(tenant_id, code) DO NOTHING");
        ins.bind(1, tenant_id);
        ins.bind(2, def.code);
        ins.bind(3, def.label.empty() ? std::string_view(def.code) : std::string_view(def.label));
        ins.run();
      }
      int64_t type_id;
      {
        Statement sel = c.prepare("SELECT id FROM eav_entity_type WHERE tenant_id = ? AND code = ?");
        sel.bind(1, tenant_id);
        sel.bind(2, def.code);
        sel.step();
        type_id = sel.column_int(0);
      }
      for (const AttributeDef& a : def.attributes) {
        Statement existing = c.prepare("SELECT value_type FROM eav_attribute WHERE type_id = ? AND code = ?");
        existing.bind(1, type_id);
        existing.bind(2, a.code);
        if (existing.step()) {
          std::string stored = existing.column_text(0);
          if (stored != value_type_name(a.type))
            throw Error(ErrorCode::kSchema,
                        fmt::format("attribute '{}.{}' is declared {}, cannot redeclare it as {}",
                                    def.code, a.code, stored, value_type_name(a.type)));
          continue;
        }
        Statement ins = c.prepare(
            "INSERT INTO eav_attribute(type_id, code, label, value_type, required, is_unique,"
            " filterable, sortable, default_value) VALUES(?,?,?,?,?,?,?,?,?)");
        ins.bind(1, type_id);
        ins.bind(2, a.code);
        ins.bind(3, a.label.empty() ? std::string_view(a.code) : std::string_view(a.label));
        ins.bind(4, value_type_name(a.type));
        ins.bind(5, int64_t{a.required});
        ins.bind(6, int64_t{a.unique});
        ins.bind(7, int64_t{a.filterable});
        ins.bind(8, int64_t{a.sortable});
        if (a.default_value && !is_null(*a.default_value)) ins.bind(9, to_string(*a.default_value));
        else ins.bind_null(9);
        ins.run();
      }
    });
  }
  for (auto& t : load_catalog(tenant_id))
    if (t.code == def.code) return t;
  throw Error(ErrorCode::kStorage, "type vanished after save: " + def.code);
}

void SqliteBackend::write_entity(Connection& c, const EntityWrite& w, int64_t tenant_id, int64_t now,
                                 CommitResult& out) {
  int64_t id = w.id;
  int64_t version = 0;
  if (w.kind == EntityWrite::Kind::kInsert) {
    Statement ins = c.prepare(
        "INSERT INTO eav_entity(type_id, tenant_id, version, created_at, updated_at) VALUES(?,?,1,?,?)");
    ins.bind(1, w.type_id);
    ins.bind(2, tenant_id);
    ins.bind(3, now);
    ins.bind(4, now);
    ins.run();
    id = c.last_insert_rowid();
    version = 1;
  } else {
    // Version check and bump (or delete) in one statement; zero rows changed means the entity
    // is missing or stale. Numbered parameters let both statements share one binding.
    {
      Statement st = c.prepare(
          w.kind == EntityWrite::Kind::kUpdate
              ? "UPDATE eav_entity SET version = version + 1, updated_at = ?1"
                " WHERE id = ?2 AND type_id = ?3 AND tenant_id = ?4 AND (?5 < 0 OR version = ?5)"
              : "DELETE FROM eav_entity"
                " WHERE id = ?2 AND type_id = ?3 AND tenant_id = ?4 AND (?5 < 0 OR version = ?5)");
      if (w.kind == EntityWrite::Kind::kUpdate) st.bind(1, now);
      st.bind(2, id);
      st.bind(3, w.type_id);
      st.bind(4, tenant_id);
      st.bind(5, w.expected_version);
      st.run();
    }
    const int64_t changed = c.changes();
    if (changed == 0) {
      Statement sel = c.prepare("SELECT version FROM eav_entity WHERE id = ? AND type_id = ? AND tenant_id = ?");
      sel.bind(1, id);
      sel.bind(2, w.type_id);
      sel.bind(3, tenant_id);
      if (!sel.step()) throw Error(ErrorCode::kNotFound, fmt::format("entity {} does not exist", id));
      throw Error(ErrorCode::kConflict,
                  fmt::format("entity {} was changed by another writer: expected version {}, stored {}",
                              id, w.expected_version, sel.column_int(0)));
    }
    if (w.kind == EntityWrite::Kind::kDelete) {
      for (ValueType t : kAllTypes) {
        Statement del = c.prepare(fmt::format("DELETE FROM {} WHERE entity_id = ?", value_table(t)));
        del.bind(1, id);
        del.run();
        out.value_rows_written += c.changes();
      }
      out.ids.push_back(id);
      out.versions.push_back(0);
      ++out.entities_written;
      return;
    }
    Statement sel = c.prepare("SELECT version FROM eav_entity WHERE id = ?");
    sel.bind(1, id);
    sel.step();
    version = sel.column_int(0);
  }
  for (const AttributeWrite& a : w.values) {
    const std::string table = value_table(a.type);
    if (is_null(a.value)) {
      if (w.kind == EntityWrite::Kind::kInsert) continue;
      Statement del = c.prepare(fmt::format("DELETE FROM {} WHERE entity_id = ? AND attribute_id = ?", table));
      del.bind(1, id);
      del.bind(2, a.attribute_id);
      del.run();
      out.value_rows_written += c.changes();
      continue;
    }
    Statement up = c.prepare(fmt::format(
        "INSERT INTO {}(entity_id, attribute_id, value) VALUES(?,?,?)"
        " ON CONFLICT(entity_id, attribute_id) DO UPDATE SET value = excluded.value",
        table));
    up.bind(1, id);
    up.bind(2, a.attribute_id);
    up.bind_value(3, a.value);
    up.run();
    out.value_rows_written += 1;
  }
  out.ids.push_back(id);
  out.versions.push_back(version);
  ++out.entities_written;
}

CommitResult SqliteBackend::commit(const ChangeSet& changes) {
  CommitResult out;
  if (changes.empty()) return out;
  std::lock_guard lock(write_mu_);
  Connection& c = *writer_;
  const int64_t now = now_micros();
  in_transaction(c, [&] {
    // Unique attributes of the touched types, checked after the writes inside the transaction.
    std::set<int64_t> unique_attrs;
    {
      Statement st = c.prepare("SELECT id FROM eav_attribute WHERE is_unique = 1");
      while (st.step()) unique_attrs.insert(st.column_int(0));
    }
    for (const EntityWrite& w : changes.writes) write_entity(c, w, changes.tenant_id, now, out);
    if (unique_attrs.empty()) return;
    for (size_t i = 0; i < changes.writes.size(); ++i) {
      for (const AttributeWrite& a : changes.writes[i].values) {
        if (is_null(a.value) || !unique_attrs.count(a.attribute_id)) continue;
        Statement st = c.prepare(fmt::format(
            "SELECT entity_id FROM {} WHERE attribute_id = ? AND value = ? AND entity_id != ? LIMIT 1",
            value_table(a.type)));
        st.bind(1, a.attribute_id);
        st.bind_value(2, a.value);
        st.bind(3, out.ids[i]);
        if (st.step())
          throw Error(ErrorCode::kConstraint,
                      fmt::format("unique attribute (id {}) value '{}' of entity {} is already held by entity {}",
                                  a.attribute_id, to_string(a.value), out.ids[i], st.column_int(0)));
      }
    }
  });
  return out;
}

std::vector<std::optional<EntityRecord>> SqliteBackend::load(int64_t tenant_id, int64_t type_id,
                                                             const std::vector<int64_t>& ids) {
  std::vector<std::optional<EntityRecord>> out(ids.size());
  if (ids.empty()) return out;
  const std::string json = id_array(ids);
  std::unordered_map<int64_t, EntityRecord> found;
  auto reader = lease_reader();
  // One read transaction so the entity rows and the value rows are one snapshot.
  reader->exec("BEGIN");
  try {
    {
      Statement st = reader->prepare(
          "SELECT id, version, created_at, updated_at FROM eav_entity"
          " WHERE id IN (SELECT value FROM json_each(?)) AND type_id = ? AND tenant_id = ?");
      st.bind(1, std::string_view(json));
      st.bind(2, type_id);
      st.bind(3, tenant_id);
      while (st.step()) {
        EntityRecord r;
        r.id = st.column_int(0);
        r.type_id = type_id;
        r.version = st.column_int(1);
        r.created_at = st.column_int(2);
        r.updated_at = st.column_int(3);
        found.emplace(r.id, std::move(r));
      }
    }
    load_values(*reader, json, found);
    reader->exec("COMMIT");
  } catch (...) {
    sqlite3_exec(reader->raw(), "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    auto it = found.find(ids[i]);
    if (it == found.end()) continue;
    auto& vals = it->second.values;
    std::sort(vals.begin(), vals.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    out[i] = it->second;
  }
  return out;
}

Rows SqliteBackend::execute(const query::CompiledQuery& q) {
  auto reader = lease_reader();
  Rows rows;
  // One read transaction: for SELECT * the id query and the value loads see one snapshot.
  reader->exec("BEGIN");
  try {
    {
      Statement st = reader->prepare_once(q.sql);
      for (size_t i = 0; i < q.params.size(); ++i) st.bind_param(static_cast<int>(i + 1), q.params[i]);
      while (st.step()) {
        std::vector<Value> row;
        if (q.select_star) {
          row.emplace_back(st.column_int(0));
        } else {
          row.reserve(q.columns.size());
          for (size_t j = 0; j < q.columns.size(); ++j)
            row.push_back(st.column_value(static_cast<int>(j), q.columns[j].type));
        }
        rows.push_back(std::move(row));
      }
    }
    if (q.select_star && !rows.empty()) fill_star_rows(*reader, q, rows);
    reader->exec("COMMIT");
  } catch (...) {
    sqlite3_exec(reader->raw(), "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
  return rows;
}

void SqliteBackend::fill_star_rows(Connection& c, const query::CompiledQuery& q, Rows& rows) {
  // rows hold [id]; widen each to [id, attribute values in q.type->attributes order].
  const auto& attrs = q.type->attributes;
  std::unordered_map<int64_t, size_t> column_of;
  for (size_t j = 0; j < attrs.size(); ++j) column_of[attrs[j].id] = j + 1;
  std::unordered_map<int64_t, EntityRecord> found;
  std::vector<int64_t> ids;
  ids.reserve(rows.size());
  for (auto& row : rows) {
    int64_t id = std::get<int64_t>(row[0]);
    ids.push_back(id);
    found[id].id = id;
    row.resize(attrs.size() + 1);
  }
  load_values(c, id_array(ids), found);
  for (auto& row : rows) {
    for (auto& [attr_id, value] : found[std::get<int64_t>(row[0])].values) {
      auto it = column_of.find(attr_id);
      if (it != column_of.end()) row[it->second] = std::move(value);
    }
  }
}

}  // namespace eavdb::storage::sqlite
