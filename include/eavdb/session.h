// eavdb — Session: a unit of work with an identity map and dirty tracking (Fowler, PoEAA).
//
// Within one session, find() of the same (type, id) returns the same Entity object (identity
// map). Entity::set records only real changes; flush() turns new, changed and removed entities
// into one ChangeSet and commits it through Database::commit: an unchanged entity writes nothing,
// a changed one writes only its changed attribute rows. Updates carry the version read, so a flush
// against a newer stored version throws Error(kConflict) and writes nothing (optimistic
// concurrency). Not thread-safe: one session per thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "eavdb/cache.h"
#include "eavdb/changeset.h"
#include "eavdb/result.h"
#include "eavdb/schema.h"
#include "eavdb/value.h"

namespace eavdb {

class Database;
namespace cache { struct CachedResult; }
class Session;

/// An entity tracked by a Session. Owned by the session; references stay valid until it ends.
class Entity {
 public:
  int64_t id() const noexcept { return id_; }            ///< 0 until the first flush of a new entity
  int64_t version() const noexcept { return version_; }  ///< 0 until flushed
  const std::string& type() const noexcept { return type_->code; }
  /// The value of an attribute (NULL when the entity has none). Throws Error(kNotFound) for an
  /// attribute the type does not have.
  const Value& get(std::string_view code) const;
  /// Sets an attribute, coercing to its declared type; setting the current value is not a change.
  /// Throws Error(kNotFound) for an unknown attribute, Error(kTypeMismatch) for a value that does
  /// not fit (e.g. a varchar over 255 bytes). Setting NULL removes the value.
  void set(std::string_view code, const Value& value);
  /// Current attribute values, by attribute code (only the ones the entity has).
  const std::map<std::string, Value, std::less<>>& values() const noexcept { return values_; }
  /// True when the entity has changes that the next flush will write.
  bool dirty() const noexcept { return !deleted_ && (is_new_ || removed_ || !changed_.empty()); }

 private:
  friend class Session;
  const EntityTypeDef* type_ = nullptr;
  int64_t id_ = 0;
  int64_t version_ = 0;
  bool is_new_ = false;
  bool removed_ = false;   ///< remove() was called
  bool deleted_ = false;   ///< the removal has been flushed
  std::map<std::string, Value, std::less<>> values_;
  std::set<std::string, std::less<>> changed_;  ///< attribute codes changed since load/flush
};

/// Summary of one flush.
struct FlushResult {
  int64_t inserted = 0;
  int64_t updated = 0;
  int64_t removed = 0;
  int64_t value_rows_written = 0;
};

/// A unit of work. Create with Database::session().
class Session {
 public:
  explicit Session(Database& db);
  ~Session();
  Session(Session&&) noexcept;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  /// A new entity of `type` (Error(kNotFound) for an unknown type), inserted on flush. Attribute
  /// defaults are applied.
  Entity& create(std::string_view type);
  /// The entity with this id, loaded once and then served from the identity map; nullptr when no
  /// such entity of this type exists (or it was removed in this session).
  Entity* find(std::string_view type, int64_t id);
  /// Many entities at once: those not yet in the identity map are loaded with one bulk load (a
  /// fixed number of statements for any count). Index-aligned with `ids`; nullptr where missing.
  std::vector<Entity*> find_many(std::string_view type, const std::vector<int64_t>& ids);
  /// Marks an entity for deletion on flush.
  void remove(Entity& entity);
  /// Writes all pending changes in one commit. Required attributes are checked here
  /// (Error(kConstraint) naming entity and attribute). On error nothing is written and the
  /// session keeps its pending changes.
  FlushResult flush();
  /// Forgets every tracked entity and cached result (pending changes are discarded).
  void clear();

  /// Runs a query (Database::query) through the session's query cache (L1): a repeated query
  /// is answered from the session while no commit has touched what it reads (its L4 tags).
  /// Results reflect committed data, not this session's unflushed changes.
  QueryResult query(std::string_view sql, const std::vector<Value>& params = {});
  /// This session's L1 counters (identity-map finds and query-cache lookups).
  const CacheLevelStats& cache_stats() const noexcept { return l1_; }

 private:
  struct PairHash {
    size_t operator()(const std::pair<int64_t, int64_t>& k) const noexcept {
      return std::hash<int64_t>{}(k.first * 0x9E3779B97F4A7C15ll ^ k.second);
    }
  };
  Database* db_;
  std::map<std::string, EntityTypeDef, std::less<>> types_;  ///< types seen by this session
  /// (type id, entity id) -> entity: the identity map.
  std::unordered_map<std::pair<int64_t, int64_t>, std::unique_ptr<Entity>, PairHash> identity_map_;
  std::unordered_map<std::string, std::shared_ptr<const cache::CachedResult>> queries_;  ///< L1 results
  CacheLevelStats l1_;
  std::vector<std::unique_ptr<Entity>> new_entities_;
  const EntityTypeDef& type_def(std::string_view code);
};

}  // namespace eavdb
