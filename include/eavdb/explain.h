// eavdb — query plans: options that steer the planner, EXPLAIN results, statistics and flat-table
// reports (see README "Query planner").
//
// Plain value types (thread-compatible) and pure rendering functions (thread-safe).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace eavdb {

/// Which plan a query may use.
enum class PlanKind {
  kAuto,  ///< the cost-based choice: the cheaper of the best flat-table plan (when the table covers the query) and the best EAV plan
  kEav,   ///< always an EAV plan (typed value tables), even when a flat table exists
  kFlat,  ///< always the flat table; Error(kInvalidArgument) when the type has none or it lacks a column
};

/// Per-query options of Database::query / Database::explain.
struct QueryOptions {
  /// Forcing a plan (anything but kAuto) bypasses the L4 query-result cache, so the forced plan
  /// really runs (tests and benchmarks compare plans this way). Forcing kFlat on a deferred flat
  /// table that is behind (beyond max_flat_lag) first catches it up, synchronously.
  PlanKind plan = PlanKind::kAuto;
  /// When set, the backend statements of the query are interrupted once this instant passes
  /// (SQLite: a progress handler on the connection running them) and the call throws
  /// Error(kTimeout); the connection goes back to the pool unharmed. An interrupted query fills
  /// no cache entry. Unset (the default): no time limit.
  std::optional<std::chrono::steady_clock::time_point> deadline = std::nullopt;
  /// When set, receives how the query was answered: "flat" or "eav" (the plan that ran), or
  /// "cached" when the L4 query cache answered (metrics label queries by it). Not thread-shared:
  /// one string per call.
  std::string* plan_used = nullptr;
  /// Bounded staleness: a deferred flat table (FlatSync::kDeferred) is used only when at most
  /// this many logged changes of its type are not reflected yet; 0 (default): only when fresh,
  /// so the answer is exact. Above 0 the answer may miss up to that many recent changes; such
  /// queries bypass the L4 cache.
  int64_t max_flat_lag = 0;
};

/// How a flat table is kept in step with the EAV tables.
enum class FlatSync {
  kOnCommit,  ///< inside every commit's transaction: never stale
  kDeferred,  ///< after commit, by a background worker: commits stay cheap; the table may lag
};

/// One node of a plan tree. Rows are entity rows (or groups above an Aggregate node).
struct PlanNode {
  std::string op;             ///< FlatScan, FlatLookup, TypeScan, IndexScan, IndexUnion, IndexOrderScan, Join, Filter, Fetch, Aggregate, Sort, TopN, Limit
  std::string detail;         ///< what the node reads or computes, with attribute codes and values
  double estimated_rows = 0;  ///< the planner's estimate
  /// EXPLAIN ANALYZE: rows the node produced (the root; the driver; a bounded walk's statement,
  /// whose detail then also says how it ran; an index intersection and each of its lookups).
  std::optional<int64_t> actual_rows;
  std::optional<double> actual_ms;     ///< EXPLAIN ANALYZE: wall time of the node's SQL, in ms
  std::vector<PlanNode> children;
};

/// The result of Database::explain.
struct ExplainResult {
  std::string plan;           ///< "flat", "eav" (value-index, union or type-scan driven)
  double estimated_cost = 0;  ///< the cost model's units (one index step = 1)
  bool plan_cache_hit = false;  ///< the choice came from the plan cache
  /// The best plan of the other family the planner costed and rejected ("flat" or "eav"), and its
  /// estimated cost in the same units; empty / 0 when only one family was possible.
  std::string rejected_plan;
  double rejected_cost = 0;
  PlanNode root;
  std::string sql;            ///< the backend SQL; every literal is a '?' parameter
  std::vector<std::string> backend_plan;  ///< SQLite's EXPLAIN QUERY PLAN, indented by depth
  bool analyzed = false;      ///< EXPLAIN ANALYZE: the query ran
  int64_t rows = 0;           ///< with analyzed: rows returned
  double execution_ms = 0;    ///< with analyzed: execution time in ms
};

/// Renders a plan as an indented tree, one node per line
/// (`Limit 20  (est. 20 rows; actual 20 rows, 0.41 ms)`), then the SQL and SQLite's plan.
std::string explain_text(const ExplainResult& e);
/// Renders a plan as one JSON object: {"plan", "estimated_cost", "rejected_plan"?,
/// "rejected_cost"? (only when a plan was rejected), "plan_cache_hit", "sql",
/// "backend_plan": [...], "analyzed", "rows", "execution_ms", "root": {"op", "detail",
/// "estimated_rows", "actual_rows"?, "actual_ms"?, "children": [...]}}.
std::string explain_json(const ExplainResult& e);

/// Statistics of one query shape (Database::query_shapes): the query text with every literal and
/// '?' replaced by '?', identifiers lower-cased. Latencies are wall-clock ms of Database::query
/// (including L4 cache hits); p99 comes from a log-bucket histogram (at most 19% above the true
/// 99th percentile, never above max_ms).
struct QueryShapeStats {
  std::string shape;
  std::string plan;  ///< plan of the latest run: flat, eav-index, eav-union, eav-intersect, eav-scan, eav or l4-cache
  uint64_t count;    ///< runs recorded
  double total_ms;
  double p99_ms;
  double max_ms;
  uint64_t rows;     ///< rows returned, summed over the runs
};

/// One recommendation of the index advisor (Database::advise). Costs are the planner's units
/// (one index step = 1), summed over the recorded runs of the query shapes the change speeds up.
struct IndexAdvice {
  std::string kind;       ///< "text_index" (partial value index), "flat_index" or "flat_table"
  std::string type;       ///< entity type code
  std::string attribute;  ///< attribute code; empty for flat_table
  std::string action;     ///< the DDL apply_advice runs, or "eavdb flat enable <type>"
  uint64_t queries = 0;   ///< recorded runs of the shapes that get cheaper
  double cost_before = 0;
  double cost_after = 0;
  double maintenance = 0;  ///< cost of keeping it in step with the writes seen in the same period
  double gain = 0;         ///< cost_before - cost_after - maintenance; always > 0
  double saved_ms = 0;     ///< recorded time of those shapes scaled by (1 - after / before)
  std::vector<std::string> shapes;  ///< the shapes that get cheaper
};

/// What the automatic advisor did (Database::auto_advise_status).
struct AutoAdviseStatus {
  uint64_t runs = 0;                 ///< advisor rounds completed
  std::vector<IndexAdvice> applied;  ///< changes applied, in order
  std::string last_error;            ///< the latest round's error, if any
};

/// Renders recommendations as one JSON array of objects with the IndexAdvice field names.
std::string advice_json(const std::vector<IndexAdvice>& advice);

/// What Database::analyze computed for one type.
struct AnalyzeReport {
  std::string type;
  int64_t entities = 0;
  int64_t attributes = 0;
  double seconds = 0;
};

/// A type's flat table.
struct FlatTableInfo {
  std::string type;
  std::string table;
  std::vector<std::string> columns;  ///< covered attribute codes (besides id, version, created_at, updated_at)
  FlatSync sync = FlatSync::kOnCommit;
  int64_t synced_seq = 0;  ///< kDeferred: the last change-log seq the table reflects
  int64_t synced_at = 0;   ///< kDeferred: µs since epoch of the last catch-up
  int64_t lag = 0;         ///< kDeferred: logged changes of the type not reflected yet (0: fresh)
};

}  // namespace eavdb
