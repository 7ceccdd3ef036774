// eavdb::query — binder: resolves a parsed SELECT against the catalog.
//
// Resolves the FROM type and every column (attribute codes and the system columns id, version,
// created_at, updated_at), checks literal and parameter types against column types and converts
// them to backend parameters, checks GROUP BY / aggregate rules, and assigns one join per
// referenced attribute. Pure function of its inputs; thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "query/ast.h"
#include "query/compiler.h"

namespace eavdb::query {

/// Most distinct attributes one query may reference (each is one join).
inline constexpr std::size_t kMaxQueryAttributes = 60;

/// Most leaf predicates a WHERE may hold after merging equality chains into IN lists (SQLite's
/// WHERE analysis is quadratic in the number of terms; value lists belong in IN).
inline constexpr std::size_t kMaxPredicates = 1000;

/// A resolved column: a system column of eav_entity or the value of joined attribute `join`.
struct BoundColumn {
  enum class System { kNone, kId, kVersion, kCreatedAt, kUpdatedAt };
  System system = System::kNone;
  int join = -1;  ///< index into BoundQuery::joins when system == kNone
  ValueType type = ValueType::kInt;
  std::string code;
  friend bool operator==(const BoundColumn& a, const BoundColumn& b) {
    return a.system == b.system && a.join == b.join;
  }
};

/// A column or an aggregate over one, with its result type.
struct BoundValue {
  Agg agg = Agg::kNone;
  BoundColumn column;  ///< unused for kCountStar
  ValueType type = ValueType::kInt;
};

/// A typed WHERE expression in negation normal form (no NOT node: negation is pushed into the
/// predicates) with nested AND/OR of one kind flattened; literal values are backend parameters.
struct BoundPred {
  enum class Kind {
    kCompare, kIn, kBetween, kLike, kIsNull,
    kConst,  ///< NULL when the column is NULL, else `truth` (e.g. int column = 5.5 -> false)
    kAnd, kOr,
  };
  Kind kind = Kind::kCompare;
  CompareOp op = CompareOp::kEq;
  bool negated = false;
  bool truth = false;
  BoundColumn column;
  std::vector<SqlParam> values;
  std::vector<std::unique_ptr<BoundPred>> children;  ///< kAnd/kOr: 2 or more, none of the same kind
};

/// One attribute join.
struct BoundJoin {
  const AttributeDef* attribute = nullptr;
  bool inner = false;  ///< a top-level conjunct rejects NULL: an inner join is equivalent
};

struct BoundOrder {
  BoundValue value;
  bool desc = false;
  bool nulls_first = false;
};

/// A fully resolved query, ready for SQL generation.
struct BoundQuery {
  const EntityTypeDef* type = nullptr;
  bool star = false;
  bool aggregate = false;  ///< has GROUP BY or an aggregate: rows are groups
  std::vector<BoundJoin> joins;
  std::vector<BoundValue> outputs;     ///< empty for SELECT *
  std::vector<ResultColumn> columns;   ///< CompiledQuery::columns
  std::unique_ptr<BoundPred> where;
  std::vector<BoundColumn> group_by;
  std::vector<BoundOrder> order_by;
  std::optional<int64_t> limit;
  std::optional<int64_t> offset;
};

/// Binds `stmt` with positional `params`. Throws Error(kNotFound) for an unknown type or column
/// (with a "did you mean" hint), Error(kTypeMismatch) for a literal or parameter that does not fit
/// its column, Error(kInvalidArgument) for a wrong parameter count, a non-grouped column in a
/// grouped query or a bad LIMIT/OFFSET parameter, Error(kLimit) for too many attributes or
/// predicates.
BoundQuery bind(const SelectStmt& stmt, const std::vector<Value>& params, const Catalog& catalog);

/// A deep copy of `p` (children included). BoundPred owns its children through unique_ptr, so
/// it has no copy constructor; planning and SQL generation copy predicates to rewrite them.
std::unique_ptr<BoundPred> clone(const BoundPred& p);

/// A deep copy of `q` (its WHERE tree cloned; attribute and type pointers shared, as they point
/// into the catalog).
BoundQuery clone(const BoundQuery& q);

}  // namespace eavdb::query
