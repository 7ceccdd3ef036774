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

#include <memory>
#include <string>
#include <utility>
#include <vector>

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

/// The physical shape the planner chose for one query (query/planner.h). Only the row source and
/// the join order change; the WHERE, grouping and ordering semantics are always the query's own.
struct Layout {
  enum class Source {
    kLegacy,      ///< plain joins in binder order; SQLite picks the order (no planner)
    kEntityScan,  ///< drive from eav_entity by type, then the inner joins in `inner_order`
    kValueIndex,  ///< drive from the (attribute_id, value) index of join `driver_join`
    kUnion,       ///< drive from the UNION of the index lookups of `union_leaves` (OR / IN)
    /// drive from the entity ids found by every index lookup of `union_leaves` (conjuncts of the
    /// WHERE's top-level AND), intersected in memory by the backend before the statement runs
    /// (CompiledQuery::id_scans) and read back through json_each: a covering index range costs
    /// ~27 ns a row against ~350 ns for a primary-key probe (flights-200k, Python sqlite3), so
    /// two wide ranges intersect far cheaper than one range probing the other's attribute.
    kIntersect,
    kFlat,        ///< read the flat table `flat_table` only
  };
  Source source = Source::kLegacy;
  int driver_join = -1;                       ///< kValueIndex
  std::vector<const BoundPred*> union_leaves;  ///< kUnion (kFlat): indexable leaves of the WHERE; kFlat with kIndex on a filter: that one leaf
  std::vector<int> inner_order;               ///< inner joins after the driver, in join order
  std::string flat_table;                     ///< kFlat
  /// kFlat: how SQLite must read the flat table (the planner's costed choice, pinned so SQLite's
  /// statistics-free guess cannot override it): kAny lets SQLite pick; kScan reads it in rowid
  /// order (NOT INDEXED); kIndex reads it through `flat_index` (INDEXED BY: a filter column's
  /// index, or the sort key's index for a top-N scan in key order).
  enum class FlatAccess { kAny, kScan, kIndex };
  FlatAccess flat_access = FlatAccess::kAny;
  std::string flat_index;  ///< kFlat with kIndex: the index name (flat::index_name)
  /// EAV sources with ORDER BY + LIMIT (late fetch, "top-N pushdown"): the joins flagged here are
  /// read by the output list only. The statement then finds the page of ids first, without
  /// them (`e.id IN (SELECT <driver id> ... ORDER BY ... LIMIT ? OFFSET ?)`), and fetches them
  /// for those rows alone (LIMIT rows instead of every match), re-sorting that page. Empty: off.
  std::vector<bool> late_joins;
  /// Internal to generate(): joins left out of the page statement of a late fetch.
  std::vector<bool> omit_joins;
  /// kValueIndex / kUnion: false leaves eav_entity out of the statement (no primary-key lookup
  /// per candidate row and no `e.type_id = ?` filter): the entity id is the driver's
  /// entity_id (or the union's id). Exact only when the query reads no system column but id
  /// (query::needs_entity_row) and every value row's attribute belongs to its entity's type,
  /// which the commit funnel guarantees (Database::commit rejects any other write); then a value
  /// row of one of the type's attributes can only belong to a live entity of that type and
  /// tenant. make_layout sets it; the default keeps the join.
  bool entity_join = true;
  /// Bounded top-N walk of the single ORDER BY key's index (kFlat: flat_access kIndex on its flat
  /// index; kValueIndex: driver_join is the key, whose join is inner): the walk reads about this
  /// many non-null keys of that index in the query's order (the planner's bound, for EXPLAIN),
  /// filters them and keeps the LIMIT page; exact when that page is full (and, for a nullable
  /// NULLS FIRST key of a flat table, no row without the key matches the WHERE). 0: off.
  int64_t walk_bound_keys = 0;
  /// The key where the walk stops (`key >= stop` descending, `key <= stop` ascending): the key
  /// walk_bound_keys values in, from the statistics' histogram (query::walk_stop_key). A key range
  /// lets SQLite walk the index with the query's own ORDER BY and LIMIT, stopping at the page
  /// (a row-count bound needs a `LIMIT bound` subquery, whose sorter reads the whole bound: 0.25
  /// vs 0.15 ms on flights-200k Q5). monostate: no stop, every non-null key may be walked.
  SqlParam walk_stop_at;
  /// With walk_bound_keys: the plan run instead when the walk is not exact (a filter-driven plan
  /// of the same family + sort), as a second statement in the same snapshot
  /// (CompiledQuery::walk_fallback).
  std::shared_ptr<const Layout> walk_fallback;
  /// Internal to generate(): a descending walk's ties (CompiledQuery::WalkTies). kRange renders
  /// the walk in the key index's own order (key DESC, id DESC: no sort) with the key as an extra
  /// last column; kOneKey renders the query's rows of one key (`key = ?`) in id order, `LIMIT ?`.
  enum class WalkTies { kNone, kRange, kOneKey } walk_ties = WalkTies::kNone;
  /// A one-row-or-empty table the FROM starts with (`(SELECT 1 ...) gate CROSS JOIN `: the outer
  /// loop), so the statement reads nothing when it is empty: a top-N split's null statement when
  /// every entity holds the key (missing_value_gate(), set by the caller), and an EAV statement
  /// whose WHERE has an `a IS NULL` conjunct when every entity holds a (set by make_layout). (A constant term in
  /// the WHERE is no gate: SQLite still runs the driver's index scan and tests it per row, 0.075
  /// ms on flights-200k Q5.) Empty string: none.
  std::string gate;
};

/// True when `q` (no aggregate, no GROUP BY) filters by exactly the OR of `leaves` (pointers into
/// q.where): a kFlat union of those leaves is then read by SQLite's MULTI-INDEX OR (the leaves
/// marked unlikely(), sort keys as +key) instead of `id IN (SELECT id ... UNION ALL ...)`.
bool or_of_leaves(const BoundQuery& q, const std::vector<const BoundPred*>& leaves);

/// The gate (Layout::gate) of a top-N split's statement over the entities of `q`'s type that lack
/// join `key_join`'s attribute: one row exactly when the store's counts (eav_count, kept exact by
/// the commit funnel in the same transaction as the data: storage/sqlite/schema.sql.h) say some
/// live entity of the type holds no value of it, so the statement costs two primary-key reads
/// when every entity holds the key. Type and attribute ids are inlined (integers of the catalog).
std::string missing_value_gate(const BoundQuery& q, int key_join);

/// Marks in `used` (one flag per join of the query) every join that predicate `p` reads.
void mark_joins(const BoundPred& p, std::vector<bool>& used);

/// For a kIntersect layout of `q` (leaves: conjuncts of its top-level AND): which joins the
/// statement still reads once the leaves are left to the intersection (each id it binds satisfies
/// every leaf, in the same snapshot): those of the outputs, sort and group keys and the other
/// conjuncts. A join read only by leaves is not joined at all.
std::vector<bool> joins_after_intersection(const BoundQuery& q, const std::vector<const BoundPred*>& leaves);

/// Generates the SQLite statement for `q`; may reorder AND/OR operands (they commute) so the
/// most deeply nested one comes first. Throws Error(kLimit) when it would need more than
/// kMaxSqlParams parameters or when the WHERE nesting exceeds kMaxSqlNesting.
CompiledQuery generate(BoundQuery q);

/// Generates the statement for `q` in physical layout `layout`: the driver comes first and the
/// other joins follow in the chosen order, fixed with CROSS JOIN (SQLite never reorders the
/// operands of a CROSS JOIN); kFlat reads `layout.flat_table`, whose columns are the attribute
/// codes, and returns SELECT * rows whole (CompiledQuery::star_inline). Errors as generate().
CompiledQuery generate(BoundQuery q, const Layout& layout);

/// The SQL (and its parameters) of the driver's candidate ids alone, `SELECT <id> FROM ...`,
/// for EXPLAIN ANALYZE's actual row count of the driver node.
std::pair<std::string, std::vector<SqlParam>> driver_sql(const BoundQuery& q, const Layout& layout);

/// Renders a predicate for EXPLAIN (`state = 'NY'`, `(a < 3 OR b IS NULL)`), with attribute codes
/// and literal values.
std::string describe(const BoundPred& p);

/// Renders a literal for EXPLAIN: NULL, a number, or a quoted string ('' for a quote).
std::string describe(const SqlParam& p);

}  // namespace eavdb::query
