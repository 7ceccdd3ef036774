// eavdb::query — abstract syntax tree of one SELECT statement (DESIGN.md §2).
//
// Plain value types produced by the parser and consumed by the binder; thread-compatible.
// AND/OR are n-ary so long chains stay flat; nesting depth is bounded by the parser.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "eavdb/value.h"
#include "query/lexer.h"

namespace eavdb::query {

/// A literal or '?' placeholder.
struct Literal {
  enum class Kind { kNull, kInt, kNumber, kString, kParam };
  Kind kind = Kind::kNull;
  int64_t int_value = 0;  ///< kInt (TRUE/FALSE are 1/0)
  Decimal number;         ///< kNumber: any numeric literal that is not a plain int64
  std::string text;       ///< kString: the unescaped value
  int param_index = -1;   ///< kParam: 0-based position among the query's '?'
  std::string raw;        ///< as written, for messages
  Pos pos;
};

/// A column name as written (unquoted names lower-cased).
struct ColumnRef {
  std::string name;
  Pos pos;
};

/// Aggregate applied to a select item or ORDER BY key.
enum class Agg { kNone, kCountStar, kCount, kSum, kAvg, kMin, kMax };

/// A column or an aggregate over a column (kCountStar has no column).
struct ValueExpr {
  Agg agg = Agg::kNone;
  ColumnRef column;
  Pos pos;
};

struct SelectItem {
  ValueExpr expr;
  std::optional<std::string> alias;
};

struct OrderItem {
  ValueExpr expr;
  bool desc = false;
  std::optional<bool> nulls_first;  ///< unset: ASC -> NULLS LAST, DESC -> NULLS FIRST
};

enum class CompareOp { kEq, kNe, kLt, kLe, kGt, kGe };

/// A WHERE expression node.
struct Expr {
  enum class Kind { kCompare, kIn, kBetween, kLike, kIsNull, kNot, kAnd, kOr };
  Kind kind = Kind::kCompare;
  Pos pos;
  CompareOp op = CompareOp::kEq;  ///< kCompare
  bool negated = false;           ///< NOT IN, NOT BETWEEN, NOT LIKE, IS NOT NULL
  ColumnRef column;               ///< predicates
  std::vector<Literal> values;    ///< kCompare/kLike: 1, kBetween: 2, kIn: the list
  std::vector<std::unique_ptr<Expr>> children;  ///< kNot: 1, kAnd/kOr: 2 or more
};

/// One parsed SELECT.
struct SelectStmt {
  bool star = false;
  std::vector<SelectItem> items;  ///< empty for SELECT *
  ColumnRef from;
  std::unique_ptr<Expr> where;
  std::vector<ColumnRef> group_by;
  std::vector<OrderItem> order_by;
  std::optional<Literal> limit;
  std::optional<Literal> offset;
  int param_count = 0;
};

}  // namespace eavdb::query
