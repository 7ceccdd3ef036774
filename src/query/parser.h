// eavdb::query — parser: tokens -> SelectStmt (DESIGN.md §2 grammar).
//
// Pure function of its input; thread-safe.
#pragma once

#include <string_view>

#include "query/ast.h"

namespace eavdb::query {

/// Parses one SELECT statement (an optional trailing ';' allowed). Throws Error(kSyntax)
/// ("syntax error at line L, column C: expected X, found Y"), Error(kLimit) when expression
/// nesting (parentheses and NOT chains) exceeds kMaxExpressionDepth or an IN list exceeds
/// kMaxInListItems, Error(kInvalidArgument) for a malformed number or a LIMIT/OFFSET out of range.
/// Recursion depth is bounded by kMaxExpressionDepth, so hostile input cannot overflow the stack.
SelectStmt parse(std::string_view sql);

/// Longest accepted IN list.
inline constexpr std::size_t kMaxInListItems = 10000;
/// Largest accepted LIMIT / OFFSET value (2^62).
inline constexpr int64_t kMaxLimit = int64_t{1} << 62;

}  // namespace eavdb::query
