// eavdb::query — the index advisor: from the recorded query shapes (query/shape_stats.h) and the
// planner statistics, recommends physical design changes for one entity type, each with the
// planner's cost estimate before and after:
//  - a partial value index on a text attribute that queries filter on (text values have no
//    (attribute_id, value) index; eav_value_text(value, entity_id) WHERE attribute_id = <id>
//    makes those predicates indexable for the EAV plans);
//  - an index on a flat-table column that queries filter on but that has none (text columns,
//    attributes declared neither filterable nor sortable);
//  - enabling the type's flat table.
// Each candidate is evaluated by re-planning every recorded shape of the type (its sample query)
// with choose_plan under the current design and under the design with the candidate: cost
// before/after are summed over the shapes' recorded runs; the cost of maintaining the candidate
// on the writes seen is subtracted. Only candidates with a positive net gain are returned,
// largest first. Pure function of its inputs; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "eavdb/explain.h"
#include "flat/flat.h"
#include "query/binder.h"
#include "query/statistics.h"

namespace eavdb::query {

/// One recorded shape of the type: its sample query, bound, and how often / long it ran.
struct WorkloadQuery {
  const BoundQuery* query = nullptr;
  std::string shape;
  double runs = 0;
  double total_ms = 0;
};

/// The advisor's inputs for one type.
struct AdvisorInput {
  const EntityTypeDef* type = nullptr;
  const TypeStats* stats = nullptr;
  const flat::FlatTable* flat = nullptr;   ///< the current flat table, if any
  std::vector<int64_t> text_indexes;       ///< text attributes with a partial value index, ascending
  std::vector<WorkloadQuery> queries;
  double writes = 0;                       ///< entity writes of the type in the same period
};

/// Maintenance cost of an index per written entity holding the attribute (one B-tree update).
inline constexpr double kIndexWrite = 2.0;
/// Maintenance cost of a flat table per written entity: delete + insert of the row, plus one
/// value lookup per column.
inline constexpr double kFlatRowWrite = 4.0;

/// The recommendations for one type (see the file comment), largest net gain first.
std::vector<IndexAdvice> advise(const AdvisorInput& in);

/// The hypothetical flat table flat_enable would build for `type` (columns and indexes).
flat::FlatTable planned_flat(const EntityTypeDef& type);

}  // namespace eavdb::query
