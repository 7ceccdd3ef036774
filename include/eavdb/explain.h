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
  kAuto,  ///< the cost-based choice: the flat table when it covers the query, else the best EAV plan
  kEav,   ///< always an EAV plan (typed value tables), even when a flat table exists
  kFlat,  ///< always the flat table; Error(kInvalidArgument) when the type has none or it lacks a column
};

/// Per-query options of Database::query / Database::explain.
struct QueryOptions {
  /// Forcing a plan (anything but kAuto) bypasses the L4 query-result cache, so the forced plan
  /// really runs (tests and benchmarks compare plans this way).
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
};

/// One node of a plan tree. Rows are entity rows (or groups above an Aggregate node).
struct PlanNode {
  std::string op;             ///< FlatScan, FlatLookup, TypeScan, IndexScan, IndexUnion, IndexOrderScan, Join, Filter, Fetch, Aggregate, Sort, TopN, Limit
  std::string detail;         ///< what the node reads or computes, with attribute codes and values
  double estimated_rows = 0;  ///< the planner's estimate
  std::optional<int64_t> actual_rows;  ///< EXPLAIN ANALYZE: rows the node produced (root and driver)
  std::optional<double> actual_ms;     ///< EXPLAIN ANALYZE: wall time of the node's SQL, in ms
  std::vector<PlanNode> children;
};

/// The result of Database::explain.
struct ExplainResult {
  std::string plan;           ///< "flat", "eav" (value-index, union or type-scan driven)
  double estimated_cost = 0;  ///< the cost model's units (one index step = 1)
  bool plan_cache_hit = false;  ///< the choice came from the plan cache
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
/// Renders a plan as one JSON object: {"plan", "estimated_cost", "plan_cache_hit", "sql",
/// "backend_plan": [...], "analyzed", "rows", "execution_ms", "root": {"op", "detail",
/// "estimated_rows", "actual_rows"?, "actual_ms"?, "children": [...]}}.
std::string explain_json(const ExplainResult& e);

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
};

}  // namespace eavdb
