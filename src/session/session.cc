#include "eavdb/session.h"

#include <unordered_set>

#include <fmt/format.h>

#include <algorithm>

#include "cache/caches.h"
#include "eavdb/database.h"
#include "eavdb/error.h"
#include "query/compiler.h"

namespace eavdb {
namespace {

const Value kNull{};

const AttributeDef& require_attribute(const EntityTypeDef& type, std::string_view code) {
  if (const AttributeDef* a = type.find(code)) return *a;
  std::string hint = type.suggest(code);
  throw Error(ErrorCode::kNotFound,
              fmt::format("type '{}' has no attribute '{}'{}", type.code, code,
                          hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint)));
}

// Values compare equal only when they hold the same alternative and the same value; a decimal
// "19.9" -> "19.90" is a change of the stored text and counts as one.
bool same_value(const Value& a, const Value& b) {
  if (a.index() != b.index()) return false;
  if (auto* da = std::get_if<Decimal>(&a)) return da->str() == std::get<Decimal>(b).str();
  return a == b;
}

}  // namespace

const Value& Entity::get(std::string_view code) const {
  require_attribute(*type_, code);
  auto it = values_.find(code);
  return it == values_.end() ? kNull : it->second;
}

void Entity::set(std::string_view code, const Value& value) {
  if (removed_) throw Error(ErrorCode::kInvalidArgument, fmt::format("entity {} is removed", id_));
  const AttributeDef& attr = require_attribute(*type_, code);
  Value v;
  try {
    v = coerce(value, attr.type);
  } catch (const Error& e) {
    throw Error(e.code(), fmt::format("{} {}: attribute '{}': {}", type_->code,
                                      id_ ? std::to_string(id_) : "(new)", attr.code, e.what()));
  }
  auto it = values_.find(code);
  const Value& current = it == values_.end() ? kNull : it->second;
  if (same_value(current, v)) return;
  if (is_null(v)) values_.erase(it);
  else values_.insert_or_assign(attr.code, std::move(v));
  changed_.insert(attr.code);
}

Session::Session(Database& db) : db_(&db) {}

Session::~Session() {
  if (db_ && (l1_.hits || l1_.misses))
    if (auto* c = db_->caches()) c->add_l1(l1_);
}

Session::Session(Session&& o) noexcept
    : db_(o.db_), types_(std::move(o.types_)), identity_map_(std::move(o.identity_map_)),
      queries_(std::move(o.queries_)), l1_(o.l1_), new_entities_(std::move(o.new_entities_)) {
  o.db_ = nullptr;
  o.l1_ = {};
}

const EntityTypeDef& Session::type_def(std::string_view code) {
  auto it = types_.find(code);
  if (it == types_.end()) it = types_.emplace(std::string(code), db_->require_type(code)).first;
  return it->second;
}

Entity& Session::create(std::string_view type) {
  auto e = std::make_unique<Entity>();
  e->type_ = &type_def(type);
  e->is_new_ = true;
  for (const AttributeDef& a : e->type_->attributes)
    if (a.default_value && !is_null(*a.default_value)) e->values_.emplace(a.code, *a.default_value);
  new_entities_.push_back(std::move(e));
  return *new_entities_.back();
}

Entity* Session::find(std::string_view type, int64_t id) {
  const EntityTypeDef& def = type_def(type);
  auto it = identity_map_.find({def.id, id});
  if (it == identity_map_.end()) return find_many(type, {id})[0];
  ++l1_.hits;
  return it->second->removed_ ? nullptr : it->second.get();
}

std::vector<Entity*> Session::find_many(std::string_view type, const std::vector<int64_t>& ids) {
  const EntityTypeDef& def = type_def(type);
  std::vector<Entity*> out(ids.size(), nullptr);
  // The ids not in the identity map, each once (a repeated id is loaded once and shared).
  std::vector<int64_t> to_load;
  std::unordered_set<int64_t> asked;
  for (size_t i = 0; i < ids.size(); ++i) {
    auto it = identity_map_.find({def.id, ids[i]});
    if (it == identity_map_.end()) {
      if (asked.insert(ids[i]).second) to_load.push_back(ids[i]);
      ++l1_.misses;
    } else {
      ++l1_.hits;
      if (!it->second->removed_) out[i] = it->second.get();
    }
  }
  if (to_load.empty()) return out;
  auto records = db_->load(type, to_load);
  // Attribute codes by id, looked up once per value by binary search (the type's attributes are
  // not necessarily in id order).
  std::vector<std::pair<int64_t, const AttributeDef*>> by_id;
  by_id.reserve(def.attributes.size());
  for (const AttributeDef& a : def.attributes) by_id.emplace_back(a.id, &a);
  std::sort(by_id.begin(), by_id.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  identity_map_.reserve(identity_map_.size() + records.size());
  for (auto& rec : records) {
    if (!rec) continue;
    auto e = std::make_unique<Entity>();
    e->type_ = &def;
    e->id_ = rec->id;
    e->version_ = rec->version;
    for (auto& [attr_id, value] : rec->values) {
      auto a = std::lower_bound(by_id.begin(), by_id.end(), attr_id, [](const auto& p, int64_t id) { return p.first < id; });
      if (a != by_id.end() && a->first == attr_id) e->values_.emplace(a->second->code, std::move(value));
    }
    identity_map_.emplace(std::make_pair(def.id, rec->id), std::move(e));  // to_load holds no mapped id
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    if (out[i]) continue;
    auto it = identity_map_.find({def.id, ids[i]});
    if (it != identity_map_.end() && !it->second->removed_) out[i] = it->second.get();
  }
  return out;
}

void Session::remove(Entity& entity) { entity.removed_ = true; }

FlushResult Session::flush() {
  ChangeSet cs;
  std::vector<Entity*> written;
  FlushResult result;
  auto add_values = [](const Entity& e, EntityWrite& w, bool only_changed) {
    for (const AttributeDef& a : e.type_->attributes) {
      if (only_changed && !e.changed_.count(a.code)) continue;
      auto it = e.values_.find(a.code);
      if (it == e.values_.end() && !only_changed) continue;
      w.values.push_back({a.id, a.type, it == e.values_.end() ? Value{} : it->second});
    }
  };
  auto check_required = [](const Entity& e) {
    for (const AttributeDef& a : e.type_->attributes)
      if (a.required && !e.values_.count(a.code))
        throw Error(ErrorCode::kConstraint,
                    fmt::format("{} {}: required attribute '{}' has no value", e.type_->code,
                                e.id_ ? std::to_string(e.id_) : "(new)", a.code));
  };
  for (auto& e : new_entities_) {
    if (e->removed_) continue;  // created and removed in the same session: nothing to write
    check_required(*e);
    EntityWrite w;
    w.kind = EntityWrite::Kind::kInsert;
    w.type_id = e->type_->id;
    add_values(*e, w, false);
    cs.writes.push_back(std::move(w));
    written.push_back(e.get());
  }
  // Ordered by (type, id): the same session state always writes in the same order.
  std::vector<Entity*> dirty;
  for (auto& [key, e] : identity_map_)
    if (e->dirty()) dirty.push_back(e.get());
  std::sort(dirty.begin(), dirty.end(), [](const Entity* a, const Entity* b) {
    return std::make_pair(a->type_->id, a->id_) < std::make_pair(b->type_->id, b->id_);
  });
  for (Entity* e : dirty) {
    EntityWrite w;
    w.type_id = e->type_->id;
    w.id = e->id_;
    w.expected_version = e->version_;
    if (e->removed_) {
      w.kind = EntityWrite::Kind::kDelete;
    } else {
      check_required(*e);
      w.kind = EntityWrite::Kind::kUpdate;
      add_values(*e, w, true);
    }
    cs.writes.push_back(std::move(w));
    written.push_back(e);
  }
  if (cs.empty()) return result;
  CommitResult cr = db_->commit(std::move(cs));  // throws before any state below changes
  for (size_t i = 0; i < written.size(); ++i) {
    Entity* e = written[i];
    e->changed_.clear();
    e->version_ = cr.versions[i];
    if (e->is_new_) {
      ++result.inserted;
      e->is_new_ = false;
      e->id_ = cr.ids[i];
    } else if (e->removed_) {
      ++result.removed;
      e->deleted_ = true;
    } else {
      ++result.updated;
    }
  }
  result.value_rows_written = cr.value_rows_written;
  // New entities now have ids: move them into the identity map; drop removed ones.
  for (auto& e : new_entities_) {
    if (e->removed_) continue;
    auto key = std::make_pair(e->type_->id, e->id_);
    identity_map_.emplace(key, std::move(e));
  }
  // Moved-from slots are gone; created-then-removed entities stay owned until the session ends.
  std::erase_if(new_entities_, [](const auto& e) { return !e; });
  return result;
}

void Session::clear() {
  identity_map_.clear();
  new_entities_.clear();
  queries_.clear();
}

QueryResult Session::query(std::string_view sql, const std::vector<Value>& params) {
  if (!db_->caches()) return db_->query(sql, params);
  std::string sig = cache::Caches::signature(db_->tenant_id(), query::normalized_text(sql), params);
  auto it = queries_.find(sig);
  if (it != queries_.end() && it->second->valid()) {
    ++l1_.hits;
    return it->second->result;
  }
  ++l1_.misses;
  auto entry = db_->query_cached(sql, params);
  queries_.insert_or_assign(std::move(sig), entry);
  return entry->result;
}

}  // namespace eavdb
