// eavdb — ChangeSet: the unit handed to the single write funnel, Database::commit().
//
// A ChangeSet lists entity inserts, partial updates and deletes with attribute ids already
// resolved and values already coerced to their attribute's type. commit() applies all of it in
// one backend transaction or none of it. Plain value types; thread-compatible.
#pragma once

#include <cstdint>
#include <vector>

#include "eavdb/value.h"

namespace eavdb {

/// One attribute assignment inside a write. A NULL value removes the stored value row.
struct AttributeWrite {
  int64_t attribute_id = 0;
  ValueType type = ValueType::kVarchar;
  Value value;
};

/// One entity-level write.
struct EntityWrite {
  enum class Kind { kInsert, kUpdate, kDelete };
  Kind kind = Kind::kInsert;
  int64_t type_id = 0;
  int64_t id = 0;                 ///< kUpdate/kDelete: the entity; kInsert: 0 (assigned by commit)
  int64_t expected_version = -1;  ///< kUpdate/kDelete: stored version must equal it; -1 skips the check
  std::vector<AttributeWrite> values;  ///< kInsert/kUpdate: only the attributes that change
};

/// Everything one commit applies atomically, for one tenant.
struct ChangeSet {
  int64_t tenant_id = 0;
  std::vector<EntityWrite> writes;
  bool empty() const noexcept { return writes.empty(); }
};

/// What commit() did, index-aligned with ChangeSet::writes.
struct CommitResult {
  std::vector<int64_t> ids;       ///< the entity id of each write (new ids for inserts)
  std::vector<int64_t> versions;  ///< the version after the write (0 for deletes)
  int64_t value_rows_written = 0; ///< typed value rows inserted, replaced or deleted
  int64_t entities_written = 0;   ///< eav_entity rows inserted, updated or deleted
};

}  // namespace eavdb
