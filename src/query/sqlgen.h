// eavdb::query — SQL generation for the SQLite EAV schema (storage/sqlite/schema.sql.h).
//
// Shape: SELECT <outputs> FROM eav_entity e [JOIN|LEFT JOIN eav_value_<type> aN ON
// aN.entity_id = e.id AND aN.attribute_id = ?]... WHERE e.type_id = ? [AND (<where>)]
// [GROUP BY ...] ORDER BY <keys>, <tie-breakers> [LIMIT ? [OFFSET ?]].
// Predicates apply directly to aN.value so SQLite can use the (attribute_id, value) index.
// Ordering: explicit keys (ASC -> NULLS LAST, DESC -> NULLS FIRST unless given), then e.id ASC
// for entity rows, or every GROUP BY key ASC NULLS LAST for grouped rows, so the order is total.
// Pure function; thread-safe.
#pragma once

#include "query/binder.h"
#include "query/compiler.h"

namespace eavdb::query {

/// Most '?' parameters one generated statement may have (SQLite's default variable limit).
inline constexpr std::size_t kMaxSqlParams = 32766;

/// AND/OR chains up to this length are emitted flat; longer ones in runs of about sqrt(n).
inline constexpr std::size_t kFlatChain = 64;
/// Budget for the estimated SQLite parser-stack use of a WHERE expression (SQLite 3.40's parser
/// stack has 100 entries; deeply alternating AND/OR nesting beyond this cannot be parsed).
inline constexpr int kMaxSqlNesting = 90;

/// Generates the SQLite statement for `q`; may reorder AND/OR operands (they commute) so the
/// most deeply nested one comes first. Throws Error(kLimit) when it would need more than
/// kMaxSqlParams parameters or when the WHERE nesting exceeds kMaxSqlNesting.
CompiledQuery generate(BoundQuery q);

}  // namespace eavdb::query
