#include "query/sqlgen.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "eavdb/error.h"

namespace eavdb::query {

namespace {

// Accumulates SQL text and its parameters together so their order always agrees.
class SqlBuilder {
 public:

  void text(std::string_view s) { sql_ += s; }
  void param(SqlParam p) {
    sql_ += '?';
    params_.push_back(std::move(p));
  }

  void column(const BoundColumn& c) {
    switch (c.system) {
      case BoundColumn::System::kId: return text("e.id");
      case BoundColumn::System::kVersion: return text("e.version");
      case BoundColumn::System::kCreatedAt: return text("e.created_at");
      case BoundColumn::System::kUpdatedAt: return text("e.updated_at");
      case BoundColumn::System::kNone: return text(fmt::format("a{}.value", c.join + 1));
    }
  }

  void value(const BoundValue& v) {
    auto call = [&](std::string_view fn) {
      text(fn);
      text("(");
      column(v.column);
      text(")");
    };
    bool decimal = v.column.type == ValueType::kDecimal;
    switch (v.agg) {
      case Agg::kNone: return column(v.column);
      case Agg::kCountStar: return text("count(*)");
      case Agg::kCount: return call("count");
      case Agg::kSum: return call(decimal ? "eavdb_decimal_sum" : "sum");
      case Agg::kAvg: return call("eavdb_decimal_avg");
      case Agg::kMin: return call("min");
      case Agg::kMax: return call("max");
    }
  }

  // A leaf predicate, or a parenthesised AND/OR chain.
  void pred(const BoundPred& p) {
    using K = BoundPred::Kind;
    switch (p.kind) {
      case K::kAnd:
      case K::kOr:
        text("(");
        chain(p);
        return text(")");
      case K::kIsNull:
        column(p.column);
        return text(p.negated ? " IS NOT NULL" : " IS NULL");
      case K::kConst:  // NULL for a NULL column, else the constant
        text("(");
        column(p.column);
        return text(p.truth ? " IS NOT NULL OR NULL)" : " IS NULL AND NULL)");
      case K::kCompare: {
        static constexpr std::string_view kOps[] = {" = ", " <> ", " < ", " <= ", " > ", " >= "};
        column(p.column);
        text(kOps[static_cast<int>(p.op)]);
        return param(p.values[0]);
      }
      case K::kIn:
        column(p.column);
        text(p.negated ? " NOT IN (" : " IN (");
        for (std::size_t k = 0; k < p.values.size(); ++k) {
          if (k) text(", ");
          param(p.values[k]);
        }
        return text(")");
      case K::kBetween:
        column(p.column);
        text(p.negated ? " NOT BETWEEN " : " BETWEEN ");
        param(p.values[0]);
        text(" AND ");
        return param(p.values[1]);
      case K::kLike:
        column(p.column);
        text(p.negated ? " NOT LIKE " : " LIKE ");
        return param(p.values[0]);
    }
  }

  // The children of an AND/OR node joined by its operator. Up to kFlatChain children are
  // emitted flat (SQLite's parser reduces a flat chain in constant stack); longer chains are
  // split into about sqrt(n) parenthesised runs of about sqrt(n), which keeps the expression
  // tree depth near 2 sqrt(n), far below SQLite's limit of 1000.
  void chain(const BoundPred& p) {
    std::string_view op = p.kind == BoundPred::Kind::kAnd ? " AND " : " OR ";
    const auto& c = p.children;
    std::size_t run = c.size() <= kFlatChain ? c.size() : static_cast<std::size_t>(std::ceil(std::sqrt(c.size())));
    for (std::size_t start = 0; start < c.size(); start += run) {
      std::size_t end = std::min(c.size(), start + run);
      if (start) text(op);
      if (run < c.size()) text("(");
      for (std::size_t k = start; k < end; ++k) {
        if (k > start) text(op);
        pred(*c[k]);
      }
      if (run < c.size()) text(")");
    }
  }

  void order_key(const BoundValue& v, bool desc, bool nulls_first) {
    value(v);
    // Aggregates lose the column collation; decimal TEXT must still order numerically.
    if (v.type == ValueType::kDecimal && v.agg != Agg::kNone) text(" COLLATE eavdb_decimal");
    text(desc ? " DESC" : " ASC");
    text(nulls_first ? " NULLS FIRST" : " NULLS LAST");
  }

  CompiledQuery finish() {
    if (params_.size() > kMaxSqlParams)
      throw Error(ErrorCode::kLimit, fmt::format("query needs {} parameters; at most {} are supported",
                                                 params_.size(), kMaxSqlParams));
    CompiledQuery out;
    out.sql = std::move(sql_);
    out.params = std::move(params_);
    return out;
  }

 private:
  std::string sql_;
  std::vector<SqlParam> params_;
};

// Moves the child whose SQL nests deepest to the front of every AND/OR (AND and OR commute in
// SQL's three-valued logic) and returns the estimated SQLite parser-stack use of `p`'s SQL:
// a leaf holds a few entries while it is parsed (e.g. `expr BETWEEN expr AND expr`), a chain
// one entry ('(') while its first operand is parsed and three ('(' expr op) for later ones.
int arrange(BoundPred& p) {
  using K = BoundPred::Kind;
  switch (p.kind) {
    case K::kCompare:
    case K::kLike: return 3;
    case K::kIsNull: return 4;
    case K::kBetween: return 5;
    case K::kIn:
    case K::kConst: return 6;
    case K::kAnd:
    case K::kOr: break;
  }
  std::vector<int> costs;
  for (auto& c : p.children) costs.push_back(arrange(*c));
  auto best = static_cast<std::size_t>(std::max_element(costs.begin(), costs.end()) - costs.begin());
  std::rotate(p.children.begin(), p.children.begin() + best, p.children.begin() + best + 1);
  std::rotate(costs.begin(), costs.begin() + best, costs.begin() + best + 1);
  int cost = 1 + costs[0];
  for (std::size_t k = 1; k < costs.size(); ++k) cost = std::max(cost, 3 + costs[k]);
  return p.children.size() > kFlatChain ? cost + 3 : cost;
}

}  // namespace

CompiledQuery generate(BoundQuery q) {
  SqlBuilder b;
  b.text("SELECT ");
  if (q.star) {
    b.text("e.id");
  } else {
    for (std::size_t k = 0; k < q.outputs.size(); ++k) {
      if (k) b.text(", ");
      b.value(q.outputs[k]);
    }
  }
  b.text(" FROM eav_entity e");
  // Inner joins first: SQLite may then drive the query from a value index.
  for (bool inner : {true, false}) {
    for (std::size_t k = 0; k < q.joins.size(); ++k) {
      const BoundJoin& j = q.joins[k];
      if (j.inner != inner) continue;
      b.text(fmt::format(" {}JOIN eav_value_{} a{} ON a{}.entity_id = e.id AND a{}.attribute_id = ", inner ? "" : "LEFT ",
                         value_type_name(j.attribute->type), k + 1, k + 1, k + 1));
      b.param(j.attribute->id);
    }
  }
  b.text(" WHERE e.type_id = ");
  b.param(q.type->id);
  if (q.where) {
    if (int cost = arrange(*q.where); cost > kMaxSqlNesting)
      throw Error(ErrorCode::kLimit,
                  fmt::format("WHERE expression alternates AND/OR too deeply for the SQLite backend "
                              "(nesting cost {}, at most {})", cost, kMaxSqlNesting));
    b.text(" AND (");
    if (q.where->children.empty()) b.pred(*q.where);
    else b.chain(*q.where);
    b.text(")");
  }
  if (!q.group_by.empty()) {
    b.text(" GROUP BY ");
    for (std::size_t k = 0; k < q.group_by.size(); ++k) {
      if (k) b.text(", ");
      b.column(q.group_by[k]);
    }
  }
  // One row per aggregate query without GROUP BY: nothing to order.
  bool single_row = q.aggregate && q.group_by.empty();
  if (!single_row) {
    b.text(" ORDER BY ");
    for (const auto& o : q.order_by) {
      b.order_key(o.value, o.desc, o.nulls_first);
      b.text(", ");
    }
    if (q.aggregate) {
      for (std::size_t k = 0; k < q.group_by.size(); ++k) {
        if (k) b.text(", ");
        b.order_key({Agg::kNone, q.group_by[k], q.group_by[k].type}, false, false);
      }
    } else {
      b.text("e.id ASC");
    }
  }
  if (q.limit || q.offset) {
    b.text(" LIMIT ");
    if (q.limit) b.param(*q.limit);
    else b.param(int64_t{-1});
    if (q.offset) {
      b.text(" OFFSET ");
      b.param(*q.offset);
    }
  }
  CompiledQuery out = b.finish();
  out.type = q.type;
  out.columns = std::move(q.columns);
  out.select_star = q.star;
  return out;
}

}  // namespace eavdb::query
