// eavdb::query — compiles the SQL subset of DESIGN.md §2 into backend SQL over the EAV tables.
//
// Pipeline: lexer -> parser (AST) -> binder (resolves the type and attribute codes against the
// catalog, checks and converts literal types) -> SQL generation for the SQLite EAV schema.
// Pure functions of their inputs; thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "eavdb/result.h"
#include "eavdb/schema.h"
#include "eavdb/value.h"

namespace eavdb::query {

/// A parameter bound into backend SQL: NULL, integer, double or text.
using SqlParam = std::variant<std::monostate, int64_t, double, std::string>;

/// Longest accepted query text, in bytes; longer is Error(kLimit).
inline constexpr std::size_t kMaxQueryBytes = 1 << 20;
/// Deepest accepted expression nesting; deeper is Error(kLimit).
inline constexpr int kMaxExpressionDepth = 200;

/// The schema the binder sees: entity types of the current tenant.
struct Catalog {
  /// The type with this code, or nullptr.
  std::function<const EntityTypeDef*(std::string_view code)> find_type;
  /// Every type code (for "did you mean" suggestions).
  std::function<std::vector<std::string>()> type_codes;
};

/// Backend SQL ready to run, and how to read its rows.
struct CompiledQuery {
  const EntityTypeDef* type = nullptr;  ///< the FROM type (points into the catalog)
  std::string sql;                      ///< backend SQL text; every value is a '?' parameter
  std::vector<SqlParam> params;         ///< in '?' order
  /// Output columns. The backend row has exactly these columns, in order, typed as follows:
  /// int -> INTEGER, decimal -> TEXT (canonical decimal), datetime -> INTEGER µs, varchar/text -> TEXT.
  /// For SELECT * the SQL returns only one INTEGER column, the entity id, in result order;
  /// `columns` then lists "id" followed by every attribute of the type, and the caller loads
  /// the attribute values of those ids.
  std::vector<ResultColumn> columns;
  bool select_star = false;
  /// With select_star: the SQL itself returns every column listed in `columns` (a flat-table
  /// plan), so no attribute values need loading.
  bool star_inline = false;
  /// A statement run beside the main one (same snapshot): its SQL and parameters.
  struct Part {
    std::string sql;
    std::vector<SqlParam> params;
  };
  /// A top-N split (query/planner.h PlanChoice::null_split): the statement over the entities
  /// without the sort key, run in the same snapshot. null_rows_first false (NULLS LAST): run it
  /// when this statement returns fewer than split_offset + split_limit rows and append its rows;
  /// true (NULLS FIRST): run it first and this statement only when it returned fewer. Then drop
  /// the first split_offset rows and keep at most split_limit.
  std::shared_ptr<const CompiledQuery> null_rows;
  bool null_rows_first = false;
  int64_t split_offset = 0;
  int64_t split_limit = 0;
  /// A bounded top-N walk (query/sqlgen.h Layout::walk_bound_keys): this statement is the walk,
  /// exact when it returns walk_page rows (its LIMIT) and `walk_guard`, if any, returns none (a
  /// flat table's NULLS FIRST key: a matching row without the key sorts before the walk's);
  /// otherwise the backend returns the rows of `walk_fallback` instead, run in the same snapshot.
  /// Two statements, not one: the walk, its exactness test and the gated fallback in one
  /// `WITH ... UNION ALL` statement cost 0.035 ms more on flights-200k Q5 (0.207 vs 0.172 ms).
  std::shared_ptr<const CompiledQuery> walk_fallback;
  std::optional<Part> walk_guard;
  int64_t walk_page = 0;
  /// A descending walk reads the key's index backwards, so each key's rows come in descending id
  /// order, while the query's order breaks ties by ascending id (SQLite would sort each key's
  /// rows: "USE TEMP B-TREE FOR RIGHT PART OF ORDER BY", 0.015 ms of flights-200k Q5's 0.15).
  /// The walk reads OFFSET + LIMIT rows (walk_page) and one more. When it fills its page, the
  /// backend reverses each run of equal keys (the key is the walk's extra last column,
  /// `key_column`, 0-based); when the extra row holds the page's last key, the page cut that
  /// key's run and may hold only its largest ids, so the backend replaces the run by `one_key`'s
  /// rows: the query's rows of that key in id order, with the key bound to parameter `key_param`
  /// and the run's length to `limit_param` (0-based indexes into one_key.params). It then drops
  /// the first `skip` rows (the OFFSET). A walk's fallback is unaffected.
  struct WalkTies {
    Part one_key;
    int key_param = -1;
    int limit_param = -1;
    int key_column = -1;
    int64_t skip = 0;
  };
  std::optional<WalkTies> walk_ties;
  /// An index intersection (query/sqlgen.h Layout::Source::kIntersect): the lookups, each a
  /// statement returning entity ids in one INTEGER column, whose ids the backend intersects in
  /// memory before running `sql` in the same snapshot; the intersection, ascending, is bound as a
  /// JSON array of ids to parameter `id_set_param` (0-based index into `params`). Empty: none.
  std::vector<Part> id_scans;
  int id_set_param = -1;
  /// Ids of the attributes whose values the query reads (filters, outputs, sort and group keys;
  /// every attribute for SELECT *): the query cache tags results with them.
  std::vector<int64_t> attributes_read;
  /// True when the query reads version, created_at or updated_at (they change on every update).
  bool reads_row_versions = false;
};

/// The cache signature of a query text: its tokens, normalised (keywords and identifiers
/// lower-cased, whitespace dropped), so spellings that differ only in layout share
/// one signature. Throws Error(kSyntax) like tokenize().
std::string normalized_text(std::string_view sql);

/// Parses, binds and compiles `sql` with positional `params` (for '?').
/// Throws Error with: kSyntax (message: "syntax error at line L, column C: expected X, found Y"),
/// kNotFound (unknown type/attribute, with "did you mean 'x'?" when one is close),
/// kTypeMismatch (e.g. "title > 5": varchar attribute compared with a number),
/// kInvalidArgument (wrong parameter count), kLimit (query too long or too deeply nested).
CompiledQuery compile(std::string_view sql, const std::vector<Value>& params, const Catalog& catalog);

}  // namespace eavdb::query
