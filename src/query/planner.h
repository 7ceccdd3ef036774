// eavdb::query — the cost-based planner: picks, for one bound query, the row source (flat table,
// one value index, a union or an intersection of value indexes, an index walk in sort-key order,
// or the type's entity list) and the order of the
// remaining attribute joins, from the statistics of query/statistics.h, and renders the plan tree
// that EXPLAIN prints.
//
// Correctness never depends on the choice: every source yields a superset of the matching
// entities (an index lookup of a conjunct, of every branch of an OR, or the ids every one of
// several conjuncts' lookups returns) and the rest of the WHERE is always applied on top, so any
// plan returns exactly the reference answer.
//
// Cost model (units: one sequential index step = 1): a driver reading r rows costs r (index) +
// r·kLookup (eav_entity by primary key; value-index and union plans leave that lookup out when
// the query reads no system column but id, see Layout::entity_join, but are still charged for
// it: the flat constants below were fitted against EAV plans that made it. Charging r alone
// moved zipcodes Q7, catalog Q2/Q3/Q5 (200,000) and catalog Q3/Q5 (1,000,000) to EAV plans:
// catalog Q5 at 1M got faster (EAV 1.0-1.1 ms of thread CPU, flat 3.6 ms), catalog Q3 slower
// (200,000: EAV 0.052 ms against flat 0.038; 1M: `eavdb query --repeat 100` wall 1.44 ms
// against 0.9-1.06 ms), and two crafted-statistics plan tests fitted with the lookup flipped
// (PlanChoice.WideNonResidentFlatTableLosesLargeFetchesToTheEavPlan, price BETWEEN at 200,000;
// PlannerDb.AnotherProcessDroppingTheFlatTableFallsBackToEav): re-fitting kLookup and the flat
// constants together is left to a calibration run);
// each further inner join costs kLookup per row reaching
// it and keeps the rows its conjuncts select (estimated); sorting R rows costs R·log2(R)·kSortStep;
// a scan of the sort key's index in key order under LIMIT n stops after about n / selectivity
// rows (costed kTopNRisk times higher: correlation between filter and key is not modelled).
// A filtered top-N on one non-text, non-decimal key (either direction; on EAV plans a nullable
// key through the null split, PlanChoice::null_split) may instead walk the key's index (flat
// column index or (attribute_id, value)) over at most walk_bound() keys (kWalkFactor times the
// independence estimate) and fall back, in a second statement of the same snapshot, to the best
// filter plan + sort when that walk does not fill the LIMIT page (or a row without the key
// matches and NULLs sort first): its worst case is bounded, so it is costed expected walk +
// kWalkFallbackRisk x (rest of the bound + fallback) instead of the kTopNRisk hedge (issue 5, flights Q5 at 200,000: the
// distance-index + sort plan took 1.1 ms against 0.14 ms for the wide table's index walk; forced
// EAV, 1.0 ms against 0.19 ms for the EAV walk). An index intersection (conjuncts of the top-level
// AND, greedy from the smallest lookup while a lookup's ids, kIdScanStep each, cost less than
// the kLookup probes it saves) costs its lookups plus the probes of the remaining joins for the
// estimated shared ids (flights Q3 forced EAV: 5.0 ms for the distance-index plan with two
// probes per row, 1.55 ms intersected).
//
// Sources that deliver entities in id order (the type's entity list; one equality's index
// entries, sorted by entity id within the key; a flat table's rowid scan) need no sorter when the
// output is ordered by id alone (either family). Their primary-key lookups are cheaper than
// random ones (catalog, 200,000 entities, sqlite3 CPU: the 47,016 'Electronics' ids joined to
// eav_entity, sku and voltage took 0.04-0.06 s in id order, 0.24-0.27 s shuffled), but kLookup
// was fitted on equality-driven plans already: a separate cheaper constant (0.5) sent catalog
// Q1 and Q3 to EAV plans measured slower than their flat plans, so it was not kept.
//
// Flat plans are costed in the same units and compete with the EAV plans (the cheaper wins in
// automatic mode): a full scan costs kFlatScanRow per row (NOT INDEXED: rowid order) plus, when
// the table is larger than the page cache, kFlatPageRead per page; one filter column's index
// (INDEXED BY) or a union of them costs an index step plus a row fetch per matching row
// (kFlatRowFetch per unit of row weight) plus kFlatPageRead per page read from the OS:
// the rows touch pages_touched(k, P) = P·(1 − e^(−k/P)) distinct pages (Cardenas 1975) of the
// table's P pages (measured bytes per row, FlatTable::row_bytes); none are read again when they
// fit the page cache, each once per run when they do not and the rowids arrive ascending, and
// about k·(1 − cache/table) when they arrive in random order; a top-N scan of the sort key's flat index in key order is costed like the EAV
// one (kTopNRisk); a GROUP BY on one indexed column may walk that column's index in key order
// (no GROUP BY sorter), costed with the cache-residency model (kFlatRowFetchResident). A sorted
// page of an EAV plan finds its ids first and fetches output-only columns for those rows alone
// (Layout::late_joins). The chosen flat access is pinned in the SQL: without sqlite_stat1 SQLite's own
// guess walked whole column indexes with a random row fetch each (GROUP BY category: a scan of
// the category index, 200k random fetches of wide rows, 5.6 s against 0.4 s for a scan + sort).
//
// Calibration (CALIBRATION below): constants are relative to one EAV index step and were fitted
// on EXPLAIN ANALYZE medians of the planner benchmark's queries (bench/planner.sh) on the
// 50,000-entity catalog (42 attributes, flat rows ~730 bytes) and on zipcodes, warm page cache;
// kFlatPageRead on the 200,000-entity catalog (issue 5: Q8 picked the flat table at 115 ms
// against 49-56 ms for the EAV plan), checked on the 20,000-entity catalog, zipcodes and the
// other 200,000-entity queries (every generated SQL unchanged there; only catalog Q8 moves).
//
// Pure functions over their inputs; thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "flat/flat.h"
#include "query/binder.h"
#include "query/sqlgen.h"
#include "query/statistics.h"

namespace eavdb::query {

/// Which plans the caller allows.
enum class PlanMode { kAuto, kForceEav, kForceFlat };

/// Cost constants (see the file comment).
inline constexpr double kLookup = 1.5;
inline constexpr double kSortStep = 0.05;
/// An index-order top-N scan is costed as reading kTopNRisk times the rows that independence
/// predicts before LIMIT matches are found: a filter correlated with the sort key (zip codes in
/// California sorted by latitude) can make the real scan far longer, while sorting is bounded.
inline constexpr double kTopNRisk = 10;
/// A bounded top-N walk (PlanChoice::bounded_walk) reads at most kWalkFactor times the keys that
/// independence of filter and key predicts (LIMIT + OFFSET over the filter's share), at least
/// kWalkMin; it is costed at the expected walk plus kWalkFallbackRisk times (the rest of the
/// bound + the fallback plan): the share of queries whose filter is correlated with the key
/// enough to exhaust the bound (a guess, not fitted).
inline constexpr double kWalkFactor = 4;
inline constexpr double kWalkMin = 256;
inline constexpr double kWalkFallbackRisk = 0.1;
// CALIBRATION. Units: one EAV index step = 1 (kLookup, kSortStep, kTopNRisk predate this).
// The flat constants were fitted so that a unit costs about the same wall time in both families:
// EXPLAIN ANALYZE (min of 3, `eavdb explain --analyze --plan eav|flat`) of catalog Q2/Q4/Q5/Q6/Q8
// on a 50,000-entity catalog (`eavdb gen catalog -n 50000`, analyzed, flat enabled: 42 columns,
// ~730 bytes per flat row). With the former constants (scan 0.5, fetch 1.0 per row, no width)
// an EAV unit took 0.6-1.5 us and a flat unit 1.7-5 us: a flat scan row was ~2.6x and an
// index step + flat row fetch ~2.9x (Q8) to 3.3x (Q5) too cheap. Zipcodes (7 columns, narrow
// rows) showed no such gap in the warm benchmark (flat Q2 0.67 ms vs EAV 1.05 ms for about equal
// old costs), so the penalty follows the row width. Those EXPLAIN ANALYZE runs start with a cold
// SQLite page cache (one process per run) and asked for weight 1 + columns/16 (catalog 3.6); the
// warm medians of `bench/planner.sh --small` (20,000-entity catalog) asked for less: with /16
// catalog Q2 (price BETWEEN, 110 rows) went to EAV at 0.18 ms against 0.10 ms for the flat
// index. The benchmark's regime wins: weight 1 + columns/32 gives 1.2 for zipcodes and 2.3 for
// the catalog, i.e. scan 0.42 / 0.81 and index + fetch 2.3 / 3.5 per row, which keeps Q2/Q5/Q8
// on the flat table at 20,000 entities while EAV plans win where they read far fewer rows.
/// Flat-table costs grow with the row width, estimated from the column count: a row of a table
/// with c attribute columns weighs flat_row_weight(c) = 1 + c / kFlatColumnsPerWeight.
inline constexpr double kFlatColumnsPerWeight = 32;
/// A flat-table row read by a full scan in rowid order, per unit of row weight (pages are
/// sequential; every row is decoded).
inline constexpr double kFlatScanRow = 0.35;
/// Fetching a flat-table row by rowid after one of its column indexes matched it (a random
/// access into the widest table of the type), per unit of row weight; its index step costs 1.
inline constexpr double kFlatRowFetch = 1.1;
/// The row weight of a flat table with `columns` attribute columns (see kFlatColumnsPerWeight).
inline double flat_row_weight(std::size_t columns) {
  return 1 + static_cast<double>(columns) / kFlatColumnsPerWeight;
}
/// Cache residency. A flat table whose estimated size (rows x flat_row_bytes) fits in the SQLite
/// page cache (PlanContext::page_cache_bytes) is read from memory after the first touch, so a
/// random row fetch is a B-tree descent in cache, not a page read: kFlatRowFetchResident per
/// unit of row weight instead of kFlatRowFetch. Measured with thread CPU time, warm, zipcodes
/// (42,049 rows, ~75 bytes, resident): GROUP BY state, COUNT(*), AVG(latitude) walking the
/// (state, id) index with a row fetch each took 8.2 ms against 13.9 ms for the rowid-order scan
/// + GROUP BY sorter (the former model costed the walk 2x the scan: 98k vs 50k units, and sent
/// zipcodes Q6 to 2.7-4x the wide table, which walks its index). Not resident (the catalog at
/// 200,000 entities, ~146 MB against the default 32 MiB cache), the walk stays costed as random
/// page reads: the scan + sort wins there (5.6 s against 0.4 s measured for GROUP BY category).
inline constexpr double kFlatRowFetchResident = 0.15;
/// One step of an in-order walk over a whole flat column index (sequential leaf pages; cheaper
/// than the index lookup a filter starts with), fitted with kFlatRowFetchResident to the 8.2 vs
/// 13.9 ms above (model: 0.68 vs 1.19 units per row on zipcodes).
inline constexpr double kFlatIndexWalkStep = 0.5;
/// Estimated bytes of one flat row with `columns` attribute columns (id, version, timestamps
/// ~16 bytes; ~17 bytes per attribute column: the 42-column catalog rows average ~730 bytes),
/// used when the table's measured width (FlatTable::row_bytes: 746 for that catalog, 76 for
/// zipcodes) is unknown.
inline double flat_row_bytes(std::size_t columns) { return 16 + 17 * static_cast<double>(columns); }
/// SQLite's page size (eavdb keeps the default, PRAGMA page_size = 4096).
inline constexpr double kPageBytes = 4096;
/// Reading one flat-table page that is not in the SQLite page cache (a pread from the OS page
/// cache, page initialisation, decoding its cells), in units; charged only when a query's pages
/// do not fit the cache, so every run reads them again (see flat_fetch_cost in planner.cc; pages
/// from FlatTable::row_bytes). Fitted on the 200,000-entity catalog (36,414 pages of 4 KiB,
/// ~745 bytes per row: the table is 4.4x the 32 MiB cache), at ~0.5 µs per unit: a NOT INDEXED
/// scan took 190 ms (raw sqlite3; 162k units of kFlatScanRow, the rest 218k units over 36,414
/// pages: 6.0) and catalog Q8's category-index fetch of 47,016 rows in rowid order, which
/// touches ~26,000 pages (Cardenas), 128 ms (`eavdb query --plan flat --repeat 5`; 112k units
/// of index steps + kFlatRowFetch, the rest 144k units over 25,600 pages: 5.6). Before, such
/// fetches were costed kFlatRowFetch per row whatever the rows' pages, so Q8 went to the flat
/// table at 115-128 ms against 49-56 ms for the EAV plan. Queries whose pages fit the cache
/// (catalog Q2, Q4, Q5 at 200,000) keep the former cost and plan: the category-index + sort
/// plan of Q5 costed at kFlatRowFetchResident (a first version of this model) took 3.8 ms of
/// CPU per query against 2.0 ms for the price-index top-N (300 runs, /usr/bin/time).
inline constexpr double kFlatPageRead = 6;
/// The default SQLite page cache per connection (Options::page_cache_kib = 32768).
inline constexpr double kDefaultPageCacheBytes = 32.0 * 1024 * 1024;
/// De-duplicating one row of a union of index lookups.
inline constexpr double kUnionDedup = 0.5;
/// One entity id of an index intersection (Layout::Source::kIntersect): a row of a covering
/// (attribute_id, value) index range read by its own statement, then a bit set and tested in
/// memory. Measured on flights-200k (Python sqlite3, warm): a range scan of 9,409 ids took
/// 0.25 ms (27 ns a row) and 9,409 primary-key probes 3.3 ms (350 ns each); kLookup (1.5) stands
/// for a probe, so a scanned id is ~0.12 units, doubled for the in-memory work and fetch.
inline constexpr double kIdScanStep = 0.25;
/// Sorting or grouping by a decimal key costs this many times a plain sort: decimals are
/// canonical TEXT compared through the eavdb_decimal collation callback.
inline constexpr double kDecimalSort = 3;

/// One node of the plan tree, as EXPLAIN prints it.
struct PlanNodeInfo {
  std::string op;      ///< e.g. "IndexScan", "Join", "Sort", "Limit"
  std::string detail;  ///< e.g. "state = 'NY' via eav_value_varchar(attribute_id, value)"
  double estimated_rows = 0;
  std::vector<PlanNodeInfo> children;
};

/// What the planner decided, independent of literal values: the part a plan cache keeps.
struct PlanChoice {
  Layout::Source source = Layout::Source::kEntityScan;
  int driver_join = -1;                       ///< kValueIndex
  std::vector<std::vector<int>> leaf_paths;  ///< kUnion / kValueIndex from a predicate: child indexes from the WHERE root
  std::vector<int> inner_order;              ///< inner joins after the driver
  /// Top-N over a nullable sort key (kValueIndex or kFlat without leaf): run the query for the
  /// entities holding the key in key-index order (LIMIT + OFFSET rows) and, as a second
  /// statement, for the entities without it (see split_null_rows()). NULLS LAST (ASC's default):
  /// they sort last and run only when the first statement found fewer rows. NULLS FIRST (DESC's
  /// default): they sort first and run first, gated by the exact per-type and per-attribute
  /// counts the commit funnel keeps (query::missing_value_gate): an empty read when every entity
  /// of the type holds the key (flights-200k Q5, `distance >= 2500 ORDER BY delay DESC LIMIT
  /// 20`, forced EAV: an anti-join over the 2,492 filter matches otherwise).
  bool null_split = false;
  /// driver_join = the single ORDER BY key, no leaf: a bounded walk of its index (kFlat: the
  /// flat column index; kValueIndex: the (attribute_id, value) index, the key non-null by the
  /// WHERE or by a null_split) over at most walk_bound() keys (Layout::walk_bound_keys) that falls
  /// back to `fallback` (the best filter plan of the same family + sort; a second statement in
  /// the same snapshot, CompiledQuery::walk_fallback) when it does not fill the page.
  bool bounded_walk = false;
  std::shared_ptr<const PlanChoice> fallback;
  double estimated_cost = 0;
  /// True when the flat table was eligible (existed, fresh, covering) when this choice was made:
  /// a cached EAV choice is re-planned once that changes.
  bool flat_considered = false;
  /// The best plan of the other family that was costed and rejected ("eav" or "flat"; empty when
  /// only one family was possible) and its estimated cost, for EXPLAIN.
  std::string rejected_plan;
  double rejected_cost = 0;
};

/// Inputs the planner needs besides the query.
struct PlanContext {
  const TypeStats* stats = nullptr;          ///< nullptr: defaults (10% equality, 30% range)
  const flat::FlatTable* flat = nullptr;     ///< the type's flat table, if any
  PlanMode mode = PlanMode::kAuto;
  bool allow_null_split = true;  ///< false for the second statement of a split (its key IS NULL)
  /// Text attributes with a partial value index `eav_value_text(value) WHERE attribute_id = id`
  /// (created by the index advisor), ascending; predicates on them become indexable. nullptr: none.
  const std::vector<int64_t>* text_indexes = nullptr;
  /// The backend's page cache per connection, in bytes: flat tables estimated to fit are costed
  /// as cache-resident (kFlatRowFetchResident).
  double page_cache_bytes = kDefaultPageCacheBytes;
};

/// True when the flat table covers every attribute `q` touches (all of them for SELECT *).
bool flat_covers(const BoundQuery& q, const flat::FlatTable& flat);

/// True when `q` reads a system column of eav_entity other than id (version, created_at,
/// updated_at) anywhere: output, WHERE, GROUP BY or ORDER BY. EAV plans driven by a value index
/// or a union of them leave eav_entity out otherwise (Layout::entity_join), and the compiled query
/// reads row versions (CompiledQuery::reads_row_versions, an L4 tag) exactly then.
bool needs_entity_row(const BoundQuery& q);

/// Chooses the plan for `q`. Throws Error(kInvalidArgument) for kForceFlat when the type has no
/// flat table or it does not cover the query's columns.
PlanChoice choose_plan(const BoundQuery& q, const PlanContext& ctx);

/// True when `choice` (e.g. from the plan cache, made for another query of the same shape) is
/// valid for `q`: its paths lead to indexable leaves whose union covers the WHERE, its join order
/// is a permutation of q's inner joins, and a flat choice is still allowed and covering.
bool choice_fits(const BoundQuery& q, const PlanChoice& choice, const PlanContext& ctx);

/// The generator layout of `choice` for `q` (pointers into q.where).
Layout make_layout(const BoundQuery& q, const PlanChoice& choice, const PlanContext& ctx);

/// The plan tree of `choice` for `q`, with estimated rows per node.
PlanNodeInfo describe_plan(const BoundQuery& q, const PlanChoice& choice, const PlanContext& ctx);

/// For a null_split choice: rewrites `q` into the statement over the entities holding the key
/// (key IS NOT NULL, so its join is inner; LIMIT = limit + offset, no OFFSET) and returns the one
/// over the entities without it (key IS NULL, same LIMIT, no OFFSET). The caller runs them in
/// the key's NULLS order, concatenates their rows and applies the OFFSET and LIMIT
/// (CompiledQuery::null_rows). Exact: rows without the key sort after (NULLS LAST) or before
/// (NULLS FIRST) every row with it, and each statement is ordered like the query. `flat`: the
/// plan reads the flat table, where "holds the key" needs a `key IS NOT NULL` test (EAV plans
/// get it from the inner join, and their WHERE keeps its shape).
BoundQuery split_null_rows(BoundQuery& q, int key_join, bool flat);

/// Finishes compilation of a bound query in `layout`: the read set for the query cache
/// (CompiledQuery::attributes_read, reads_row_versions) and the SQL (query::generate).
/// Errors as generate().
CompiledQuery compile_bound(BoundQuery bound, const Layout& layout);

/// Estimated rows of the whole WHERE (the planner's cardinality estimate), for tests and EXPLAIN.
double estimate_where_rows(const BoundQuery& q, const TypeStats* stats);

}  // namespace eavdb::query
