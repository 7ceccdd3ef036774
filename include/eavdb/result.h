// eavdb — query results and stored entity records.
//
// Plain value types; thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "eavdb/value.h"

namespace eavdb {

/// One output column of a query: its name (alias or default name) and value type.
struct ResultColumn {
  std::string name;
  ValueType type = ValueType::kVarchar;
};

/// The rows of a query, in the query's one correct order (ties broken by id ascending).
struct QueryResult {
  std::vector<ResultColumn> columns;
  std::vector<std::vector<Value>> rows;  ///< rows[i][j] is column j; NULL as std::monostate
  /// True for SELECT *: renderers then omit NULL attributes (the entity does not have them).
  bool select_star = false;
};

/// An entity as stored: system columns plus the attribute values it has.
struct EntityRecord {
  int64_t id = 0;
  int64_t type_id = 0;
  int64_t version = 0;
  int64_t created_at = 0;  ///< µs since epoch, UTC
  int64_t updated_at = 0;  ///< µs since epoch, UTC
  std::vector<std::pair<int64_t, Value>> values;  ///< (attribute id, value), by attribute id
};

}  // namespace eavdb
