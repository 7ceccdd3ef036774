// eavdb — ChangeSet: the unit handed to the single write funnel, Database::commit().
//
// A ChangeSet lists entity inserts, partial updates and deletes with attribute ids already
// resolved and values already coerced to their attribute's type. commit() applies all of it in
// one backend transaction or none of it. Plain value types; thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "eavdb/error.h"
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

/// Everything one commit applies in one transaction, for one tenant.
///
/// Writes are applied in chunks of `chunk_size` with set-based, multi-row statements. Without
/// `isolate`, any failing write fails the whole commit and nothing is written. With `isolate`, a
/// chunk that fails is rolled back to its savepoint and replayed write by write, each under its
/// own savepoint: the failing writes are reported in CommitResult::failures and all others commit.
struct ChangeSet {
  int64_t tenant_id = 0;
  std::vector<EntityWrite> writes;
  int64_t chunk_size = 1000;  ///< writes per multi-row group / savepoint (≥1)
  bool isolate = false;       ///< reject failing writes one by one instead of failing the commit
  bool empty() const noexcept { return writes.empty(); }
};

/// A write that an isolating commit rejected.
struct WriteFailure {
  std::size_t index = 0;  ///< position in ChangeSet::writes
  ErrorCode code = ErrorCode::kConstraint;
  std::string reason;
};

/// What commit() did, index-aligned with ChangeSet::writes.
struct CommitResult {
  std::vector<int64_t> ids;       ///< the entity id of each write (new ids for inserts; 0 if failed)
  std::vector<int64_t> versions;  ///< the version after the write (0 for deletes and failures)
  int64_t value_rows_written = 0; ///< typed value rows inserted, replaced or deleted
  int64_t entities_written = 0;   ///< eav_entity rows inserted, updated or deleted
  std::vector<WriteFailure> failures;  ///< only with ChangeSet::isolate, in write order
  /// The store's invalidation-log rows this commit wrote, [first, last]; 0 when none (cache
  /// coherence bookkeeping: a process skips its own rows when it reads the log).
  int64_t change_seq_first = 0;
  int64_t change_seq_last = 0;
};

}  // namespace eavdb
