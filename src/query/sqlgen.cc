#include "query/sqlgen.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <utility>

#include "eavdb/error.h"

namespace eavdb::query {

namespace {

// Accumulates SQL text and its parameters together so their order always agrees.
class SqlBuilder {
 public:
  /// Column SQL of attribute joins (default aN.value) and the alias of the system columns.
  std::vector<std::string> join_columns;
  std::string system_alias = "e";
  /// When set, the id column renders as this (a statement without eav_entity: the driver's id).
  std::string id_column;
  std::vector<bool> inner_joins;  // per join: the WHERE makes its value non-null
  /// When set, every attribute column renders as this (a UNION branch reads one value table).
  std::string forced_column;
  /// Leaves rendered as `unlikely(leaf)`: SQLite's planner then takes them as selective (the
  /// branches of an OR it should serve by MULTI-INDEX OR; it has no histogram of its own).
  const std::vector<const BoundPred*>* unlikely = nullptr;
  /// ORDER BY keys render as `+key` (a no-op that keeps the collation): SQLite may not satisfy
  /// the order by walking an index, so it keeps the access path the WHERE chose and sorts.
  bool sort_keys_unindexed = false;

  void text(std::string_view s) { sql_ += s; }
  std::size_t param_count() const { return params_.size(); }
  /// Columns render as the flat table's (alias f, one column per attribute code).
  void flat_columns(const BoundQuery& q) {
    system_alias = "f";
    for (const BoundJoin& j : q.joins) join_columns.push_back(fmt::format("f.\"{}\"", j.attribute->code));
  }
  /// ` AND (<where>)`.
  void and_where(const BoundPred& w) {
    text(" AND (");
    if (w.children.empty()) pred(w);
    else chain(w);
    text(")");
  }
  void param(SqlParam p) {
    sql_ += '?';
    params_.push_back(std::move(p));
  }
  /// Appends a whole generated statement (a subquery) with its parameters.
  void statement(const CompiledQuery& c) {
    sql_ += c.sql;
    params_.insert(params_.end(), c.params.begin(), c.params.end());
  }

  void column(const BoundColumn& c) {
    switch (c.system) {
      case BoundColumn::System::kId: return text(id_column.empty() ? system_alias + ".id" : id_column);
      case BoundColumn::System::kVersion: return text(system_alias + ".version");
      case BoundColumn::System::kCreatedAt: return text(system_alias + ".created_at");
      case BoundColumn::System::kUpdatedAt: return text(system_alias + ".updated_at");
      case BoundColumn::System::kNone:
        if (!forced_column.empty()) return text(forced_column);
        if (static_cast<std::size_t>(c.join) < join_columns.size()) return text(join_columns[static_cast<std::size_t>(c.join)]);
        return text(fmt::format("a{}.value", c.join + 1));
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
    if (unlikely && std::find(unlikely->begin(), unlikely->end(), &p) != unlikely->end()) {
      const auto* leaves = std::exchange(unlikely, nullptr);
      text("unlikely(");
      pred(p);
      text(")");
      unlikely = leaves;
      return;
    }
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
    if (sort_keys_unindexed) text("+");
    value(v);
    // Aggregates lose the column collation; decimal TEXT must still order numerically.
    if (v.type == ValueType::kDecimal && v.agg != Agg::kNone) text(" COLLATE eavdb_decimal");
    text(desc ? " DESC" : " ASC");
    // A key the WHERE makes non-null (an inner join) has no NULLs to place: SQLite's default
    // order then lets a (key, id) index deliver the rows in order (NULLS LAST on an ASC key
    // would force a sort).
    const bool non_null = v.agg == Agg::kNone && v.column.system == BoundColumn::System::kNone &&
                          v.column.join >= 0 && static_cast<std::size_t>(v.column.join) < inner_joins.size() &&
                          inner_joins[static_cast<std::size_t>(v.column.join)];
    if (!non_null) text(nulls_first ? " NULLS FIRST" : " NULLS LAST");
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

namespace {

// The attribute id of a value-table access. Text attributes get the id as a literal (a catalog
// integer, never user input) so SQLite can use a partial index `eav_value_text(value) WHERE
// attribute_id = <id>` that the index advisor may have created; other types bind it.
void attribute_ref(SqlBuilder& b, const AttributeDef& a) {
  if (a.type == ValueType::kText) b.text(std::to_string(a.id));
  else b.param(a.id);
}

// `id`: the entity id the value rows join on (e.id, or the driver's id without eav_entity).
std::string join_sql(const BoundJoin& j, std::size_t k, std::string_view how, std::string_view id = "e.id") {
  return fmt::format(" {} eav_value_{} a{} ON a{}.entity_id = {} AND a{}.attribute_id = ", how,
                     value_type_name(j.attribute->type), k + 1, k + 1, id, k + 1);
}

// One UNION branch: the ids whose value satisfies leaf `p` (read from its index).
void union_branch(SqlBuilder& b, const BoundQuery& q, const BoundPred& p) {
  const BoundJoin& j = q.joins[static_cast<std::size_t>(p.column.join)];
  b.text(fmt::format("SELECT entity_id AS id FROM eav_value_{} WHERE attribute_id = ", value_type_name(j.attribute->type)));
  attribute_ref(b, *j.attribute);
  b.text(" AND ");
  b.forced_column = "value";
  b.pred(p);
  b.forced_column.clear();
}

// The UNION of flat-table index lookups, one branch per leaf (columns render as f."code");
// `all`: UNION ALL (for an IN list, which de-duplicates anyway).
void flat_union(SqlBuilder& b, const Layout& layout, bool all = false) {
  for (std::size_t k = 0; k < layout.union_leaves.size(); ++k) {
    if (k) b.text(all ? " UNION ALL " : " UNION ");
    b.text("SELECT f.id AS id FROM ");
    b.text(layout.flat_table);
    b.text(" f WHERE ");
    b.pred(*layout.union_leaves[k]);
  }
}

}  // namespace

bool or_of_leaves(const BoundQuery& q, const std::vector<const BoundPred*>& leaves) {
  if (q.aggregate || !q.group_by.empty() || !q.where || q.where->kind != BoundPred::Kind::kOr) return false;
  const auto& c = q.where->children;
  if (c.size() != leaves.size()) return false;
  return std::all_of(c.begin(), c.end(), [&](const auto& child) {
    return std::find(leaves.begin(), leaves.end(), child.get()) != leaves.end();
  });
}

CompiledQuery generate(BoundQuery q) { return generate(std::move(q), Layout{}); }

void mark_joins(const BoundPred& p, std::vector<bool>& used) {
  if (p.column.system == BoundColumn::System::kNone && p.column.join >= 0 &&
      static_cast<std::size_t>(p.column.join) < used.size())
    used[static_cast<std::size_t>(p.column.join)] = true;
  for (const auto& c : p.children) mark_joins(*c, used);
}

std::vector<bool> joins_after_intersection(const BoundQuery& q, const std::vector<const BoundPred*>& leaves) {
  std::vector<bool> used(q.joins.size(), false);
  auto mark = [&](const BoundColumn& c) {
    if (c.system == BoundColumn::System::kNone && c.join >= 0) used[static_cast<std::size_t>(c.join)] = true;
  };
  if (q.star) used.assign(q.joins.size(), true);
  for (const BoundValue& v : q.outputs) mark(v.column);
  for (const BoundOrder& o : q.order_by) mark(o.value.column);
  for (const BoundColumn& g : q.group_by) mark(g);
  if (q.where) {
    if (q.where->kind == BoundPred::Kind::kAnd) {
      for (const auto& c : q.where->children)
        if (std::find(leaves.begin(), leaves.end(), c.get()) == leaves.end()) mark_joins(*c, used);
    } else if (std::find(leaves.begin(), leaves.end(), q.where.get()) == leaves.end()) {
      mark_joins(*q.where, used);
    }
  }
  return used;
}

namespace {

// `layout` with the joins that only `enforced` (conjuncts or the whole WHERE, guaranteed by the
// lookups that drive the statement) read marked in omit_joins.
Layout without_unread_joins(const Layout& layout, const BoundQuery& q, const std::vector<const BoundPred*>& enforced) {
  const std::vector<bool> used = joins_after_intersection(q, enforced);
  Layout out = layout;
  out.omit_joins.assign(q.joins.size(), false);
  for (std::size_t k = 0; k < q.joins.size(); ++k) out.omit_joins[k] = !used[k];
  return out;
}

}  // namespace

std::string missing_value_gate(const BoundQuery& q, int key_join) {
  const int64_t type = q.type->id, attribute = q.joins[static_cast<std::size_t>(key_join)].attribute->id;
  return fmt::format(
      "(SELECT 1 WHERE (SELECT n FROM eav_count WHERE type_id = {0} AND attribute_id = 0) >"
      " COALESCE((SELECT n FROM eav_count WHERE type_id = {0} AND attribute_id = {1}), 0)) gate CROSS JOIN ",
      type, attribute);
}

CompiledQuery generate(BoundQuery q, const Layout& layout) {
  using Source = Layout::Source;
  // Index intersection: the lookups' statements, then the query without the conjuncts they
  // enforce (and without the joins only those read), driven by the ids the backend binds.
  if (layout.source == Source::kIntersect && !layout.union_leaves.empty()) {
    std::vector<CompiledQuery::Part> scans;
    for (const BoundPred* leaf : layout.union_leaves) {
      SqlBuilder lb;
      union_branch(lb, q, *leaf);
      CompiledQuery l = lb.finish();
      scans.push_back({std::move(l.sql), std::move(l.params)});
    }
    Layout xl = without_unread_joins(layout, q, layout.union_leaves);
    xl.union_leaves.clear();
    auto& c = q.where->children;  // the planner's leaves are children of a top-level AND
    c.erase(std::remove_if(c.begin(), c.end(),
                           [&](const auto& p) {
                             return std::find(layout.union_leaves.begin(), layout.union_leaves.end(), p.get()) !=
                                    layout.union_leaves.end();
                           }),
            c.end());
    if (c.empty()) q.where.reset();
    else if (c.size() == 1) q.where = std::move(c.front());
    // LIMIT 0 reads nothing: the lookups need not run.
    if (q.limit && *q.limit == 0) scans.clear();
    CompiledQuery out = generate(std::move(q), xl);
    out.id_scans = std::move(scans);
    if (out.id_scans.empty()) out.id_set_param = -1;
    return out;
  }
  // A union whose WHERE is exactly the OR of its lookups: every id it yields matches (same
  // snapshot), so the statement applies no WHERE and leaves out the joins only the WHERE read
  // (catalog Q4, brand OR publisher: one primary-key probe per row instead of three). The WHERE
  // stays alive (`kept`): the union's leaves point into it.
  if (layout.source == Source::kUnion && q.where && layout.omit_joins.empty() && or_of_leaves(q, layout.union_leaves)) {
    const Layout xl = without_unread_joins(layout, q, {q.where.get()});
    const std::unique_ptr<BoundPred> kept = std::move(q.where);
    return generate(std::move(q), xl);
  }
  // Bounded top-N walk (Layout::walk_bound_keys): the walk's statement, with the fallback plan's
  // statement (and, for a flat NULLS FIRST key, the guard) that the backend runs when the walk is
  // not exact (CompiledQuery::walk_fallback).
  if ((layout.source == Source::kFlat || layout.source == Source::kValueIndex) && layout.walk_bound_keys > 0 &&
      layout.walk_fallback) {
    const BoundOrder key = q.order_by.front();
    Layout wl = layout;
    wl.walk_fallback.reset();
    // Descending: the index's own order and the one-key re-read (CompiledQuery::WalkTies). (A
    // walk has no late fetch, whose outer statement would re-sort the page: make_layout gives
    // late joins to sorting plans only.)
    const bool ties = key.desc;
    CompiledQuery walk;
    if (ties) {
      const int64_t page = q.limit.value_or(0) + q.offset.value_or(0);
      BoundQuery wq = clone(q);
      wq.limit = page;
      wq.offset.reset();
      wl.walk_ties = Layout::WalkTies::kOneKey;
      CompiledQuery one = generate(clone(wq), wl);
      wl.walk_ties = Layout::WalkTies::kRange;
      wq.limit = page + 1;  // the row after the page: does the page cut its last key's run?
      walk = generate(std::move(wq), wl);
      walk.walk_page = page;
      walk.walk_ties = std::move(one.walk_ties);
      walk.walk_ties->one_key = CompiledQuery::Part{std::move(one.sql), std::move(one.params)};
      // The key follows the select list: the id and every attribute of a flat SELECT *, the id
      // alone of an EAV one (its values are loaded after), else the outputs.
      walk.walk_ties->key_column = static_cast<int>(
          !q.star ? q.outputs.size() : layout.source == Source::kFlat ? 1 + q.type->attributes.size() : 1);
      walk.walk_ties->skip = q.offset.value_or(0);
    } else {
      walk = generate(clone(q), wl);
      walk.walk_page = q.limit.value_or(0);
    }
    if (layout.source == Source::kFlat && key.nulls_first) {
      // Rows without the key sort first: the walk (non-null keys only) is exact only when none
      // of them matches. (An EAV walk's key is non-null by the WHERE or by the null split,
      // whose other statement reads the rows without it.)
      SqlBuilder b;
      for (const BoundJoin& j : q.joins) b.inner_joins.push_back(j.inner);
      b.flat_columns(q);
      if (q.where) arrange(*q.where);
      b.text("SELECT 1 FROM ");
      b.text(layout.flat_table);
      b.text(" f INDEXED BY ");
      b.text(layout.flat_index);
      b.text(" WHERE ");
      b.value(key.value);
      b.text(" IS NULL");
      if (q.where) b.and_where(*q.where);
      b.text(" LIMIT 1");
      CompiledQuery g = b.finish();
      walk.walk_guard = CompiledQuery::Part{std::move(g.sql), std::move(g.params)};
    }
    walk.walk_fallback = std::make_shared<const CompiledQuery>(generate(std::move(q), *layout.walk_fallback));
    return walk;
  }
  // Late fetch: the ids of the page first (every join but the late ones, the query's WHERE,
  // ORDER BY, LIMIT and OFFSET), then the whole rows for those ids, re-sorted.
  std::optional<CompiledQuery> page;
  if (!layout.late_joins.empty() && layout.source != Source::kFlat && layout.source != Source::kLegacy &&
      layout.source != Source::kIntersect) {
    BoundQuery inner;
    inner.type = q.type;
    inner.joins = q.joins;
    inner.where = std::move(q.where);
    inner.order_by = q.order_by;
    inner.limit = q.limit;
    inner.offset = q.offset;
    inner.outputs.push_back({Agg::kNone, {BoundColumn::System::kId, -1, ValueType::kInt, "id"}, ValueType::kInt});
    Layout il = layout;
    il.late_joins.clear();
    il.omit_joins = layout.late_joins;
    for (std::size_t k = 0; k < layout.omit_joins.size() && k < il.omit_joins.size(); ++k)
      il.omit_joins[k] = il.omit_joins[k] || layout.omit_joins[k];
    il.gate.clear();  // the outer statement's gate holds for the page too
    page = generate(std::move(inner), il);
    q.limit.reset();
    q.offset.reset();
  }
  SqlBuilder b;
  const bool flat = layout.source == Source::kFlat;
  for (const BoundJoin& j : q.joins) b.inner_joins.push_back(j.inner);
  if (flat) b.flat_columns(q);
  if (q.where) {
    if (int cost = arrange(*q.where); cost > kMaxSqlNesting)
      throw Error(ErrorCode::kLimit,
                  fmt::format("WHERE expression alternates AND/OR too deeply for the SQLite backend "
                              "(nesting cost {}, at most {})", cost, kMaxSqlNesting));
  }
  // Without eav_entity (Layout::entity_join): the id comes from the driver. Not for the outer
  // statement of a late fetch, which looks its page's ids up by primary key anyway.
  const bool no_entity = !layout.entity_join && !page &&
                         (layout.source == Source::kValueIndex || layout.source == Source::kUnion ||
                          layout.source == Source::kIntersect);
  std::string entity_id = "e.id";
  if (no_entity) {
    entity_id = layout.source == Source::kUnion       ? "d.id"
                : layout.source == Source::kIntersect ? "d.value"
                                                      : fmt::format("a{}.entity_id", layout.driver_join + 1);
    b.id_column = entity_id;
  }
  int id_set_param = -1;
  b.text("SELECT ");
  if (q.star) {
    b.text(flat ? "f.id" : entity_id);
    if (flat)
      for (const AttributeDef& a : q.type->attributes) b.text(fmt::format(", f.\"{}\"", a.code));
  } else {
    for (std::size_t k = 0; k < q.outputs.size(); ++k) {
      if (k) b.text(", ");
      b.value(q.outputs[k]);
    }
  }
  const Layout::WalkTies ties = layout.walk_ties;
  if (ties == Layout::WalkTies::kRange) {
    b.text(", ");
    b.value(q.order_by.front().value);
  }
  int key_param = -1;  // kOneKey: the key's and the LIMIT's parameters
  int limit_param = -1;
  std::string tie_break = "e.id";
  switch (layout.source) {
    case Source::kLegacy:
      b.text(" FROM eav_entity e");
      // Inner joins first: SQLite may then drive the query from a value index.
      for (bool inner : {true, false}) {
        for (std::size_t k = 0; k < q.joins.size(); ++k) {
          if (q.joins[k].inner != inner) continue;
          b.text(join_sql(q.joins[k], k, inner ? "JOIN" : "LEFT JOIN"));
          attribute_ref(b, *q.joins[k].attribute);
        }
      }
      b.text(" WHERE e.type_id = ");
      b.param(q.type->id);
      break;
    case Source::kFlat:
      b.text(" FROM ");
      b.text(layout.gate);
      b.text(layout.flat_table);
      if (layout.flat_access == Layout::FlatAccess::kScan) {
        b.text(" f NOT INDEXED WHERE 1");
      } else if (layout.flat_access == Layout::FlatAccess::kIndex && layout.walk_bound_keys > 0) {
        // The bounded walk: the non-null keys from the first in the query's order to the stop
        // key, in the index's order (ties by id, as the reference, sorted per key by SQLite).
        const BoundOrder& o = q.order_by.front();
        b.text(" f INDEXED BY ");
        b.text(layout.flat_index);
        b.text(" WHERE ");
        b.value(o.value);
        if (ties == Layout::WalkTies::kOneKey) {
          b.text(" = ");
          key_param = static_cast<int>(b.param_count());
          b.param(layout.walk_stop_at);
        } else {
          b.text(" IS NOT NULL");
        }
        if (ties != Layout::WalkTies::kOneKey && !std::holds_alternative<std::monostate>(layout.walk_stop_at)) {
          b.text(" AND ");
          b.value(o.value);
          b.text(o.desc ? " >= " : " <= ");
          b.param(layout.walk_stop_at);
        }
      } else if (layout.flat_access == Layout::FlatAccess::kIndex) {
        // union_leaves then holds the one leaf the index serves (for driver_sql).
        b.text(" f INDEXED BY ");
        b.text(layout.flat_index);
        b.text(" WHERE 1");
      } else if (!layout.union_leaves.empty() && or_of_leaves(q, layout.union_leaves)) {
        // The WHERE is the OR of the union's leaves: SQLite's MULTI-INDEX OR reads each leaf's
        // index with the row fetch in one loop and de-duplicates in a RowSet, then sorts
        // (flights-200k Q4, 160 rows: 0.11 vs 0.16 ms for `id IN (UNION ALL ...)`, interleaved).
        // unlikely() makes SQLite's own estimate agree with the planner's choice.
        b.text(" f WHERE 1");
        b.unlikely = &layout.union_leaves;
        b.sort_keys_unindexed = true;
      } else if (!layout.union_leaves.empty()) {
        // `id IN (lookups)`: SQLite probes the primary key from the IN list's sorted ephemeral
        // index, so rows come out in id order (no sort for the default order, no second
        // de-duplicating B-tree for the UNION).
        b.text(" f WHERE f.id IN (");
        flat_union(b, layout, true);
        b.text(")");
      } else {
        b.text(" f WHERE 1");
      }
      tie_break = "f.id";
      break;
    case Source::kEntityScan:
    case Source::kValueIndex:
    case Source::kUnion:
    case Source::kIntersect: {
      std::vector<bool> placed(q.joins.size(), false);
      for (std::size_t k = 0; k < layout.omit_joins.size() && k < placed.size(); ++k)
        placed[k] = placed[k] || layout.omit_joins[k];  // late joins: fetched by the outer statement
      if (page) {
        // The outer statement of a late fetch: the page's ids by primary key, every join as a
        // primary-key lookup (the page holds at most LIMIT ids).
        b.text(" FROM ");
        b.text(layout.gate);
        b.text("eav_entity e");
        std::vector<bool> read(q.joins.size(), false);  // joins the outputs or sort keys read
        auto mark = [&](const BoundValue& v) {
          if (v.column.system == BoundColumn::System::kNone && v.column.join >= 0)
            read[static_cast<std::size_t>(v.column.join)] = true;
        };
        for (const BoundValue& v : q.outputs) mark(v);
        for (const BoundOrder& o : q.order_by) mark(o.value);
        for (std::size_t k = 0; k < q.joins.size(); ++k) {
          if (!read[k]) continue;
          b.text(join_sql(q.joins[k], k, "LEFT JOIN"));
          attribute_ref(b, *q.joins[k].attribute);
        }
        b.text(" WHERE e.id IN (");
        b.statement(*page);
        b.text(")");
        break;
      }
      b.text(" FROM ");
      b.text(layout.gate);
      if (layout.source == Source::kEntityScan) {
        b.text("eav_entity e");
      } else if (layout.source == Source::kValueIndex) {
        const auto d = static_cast<std::size_t>(layout.driver_join);
        b.text(fmt::format("eav_value_{} a{}", value_type_name(q.joins[d].attribute->type), d + 1));
        if (!no_entity) b.text(fmt::format(" CROSS JOIN eav_entity e ON e.id = a{}.entity_id", d + 1));
        placed[d] = true;
        tie_break = fmt::format("a{}.entity_id", d + 1);
      } else if (layout.source == Source::kIntersect) {
        // The backend binds the intersection of the lookups' ids (CompiledQuery::id_scans).
        b.text("json_each(");
        id_set_param = static_cast<int>(b.param_count());
        b.param(std::string("[]"));
        b.text(no_entity ? ") d" : ") d CROSS JOIN eav_entity e ON e.id = d.value");
        if (no_entity) tie_break = "d.value";
      } else {
        b.text("(");
        for (std::size_t k = 0; k < layout.union_leaves.size(); ++k) {
          if (k) b.text(" UNION ");
          union_branch(b, q, *layout.union_leaves[k]);
        }
        b.text(no_entity ? ") d" : ") d CROSS JOIN eav_entity e ON e.id = d.id");
        if (no_entity) tie_break = "d.id";
      }
      // The joins the WHERE reads first (the inner ones in the planner's order, then the left
      // joins of IS NULL tests), then those read only for the output, so a row the WHERE rejects
      // costs no output probe: zipcodes Q8 (state = 'NY' AND county IS NULL) probed zip_code for
      // all 2,232 NY rows first; after an intersection the joins of the conjuncts its lookups
      // enforce are output-only (flights-200k Q3: time >= 20 passes 179 of 592 ids, delay was
      // probed for all 592).
      std::vector<bool> filters(q.joins.size(), false);
      if (q.where) mark_joins(*q.where, filters);
      std::vector<std::size_t> order(layout.inner_order.begin(), layout.inner_order.end());
      for (std::size_t k = 0; k < q.joins.size(); ++k) order.push_back(k);  // the rest, in query order
      for (bool filter : {true, false})
        for (std::size_t k : order) {
          if (placed[k] || filters[k] != filter) continue;
          placed[k] = true;
          b.text(join_sql(q.joins[k], k, q.joins[k].inner ? "CROSS JOIN" : "LEFT JOIN", entity_id));
          attribute_ref(b, *q.joins[k].attribute);
        }
      b.text(" WHERE ");
      if (layout.source == Source::kValueIndex) {
        b.text(fmt::format("a{}.attribute_id = ", layout.driver_join + 1));
        attribute_ref(b, *q.joins[static_cast<std::size_t>(layout.driver_join)].attribute);
        if (ties == Layout::WalkTies::kOneKey) {
          b.text(fmt::format(" AND a{}.value = ", layout.driver_join + 1));
          key_param = static_cast<int>(b.param_count());
          b.param(layout.walk_stop_at);
        } else if (layout.walk_bound_keys > 0 && !std::holds_alternative<std::monostate>(layout.walk_stop_at)) {
          // A bounded walk (Layout::walk_bound_keys): the key range from the first key in the
          // query's order to the stop key, read in the index's order.
          b.text(fmt::format(" AND a{}.value {} ", layout.driver_join + 1, q.order_by.front().desc ? ">=" : "<="));
          b.param(layout.walk_stop_at);
        }
        if (!no_entity) b.text(" AND ");
      }
      if (!no_entity) {
        b.text("e.type_id = ");
        b.param(q.type->id);
      } else if (layout.source == Source::kUnion || layout.source == Source::kIntersect) {
        b.text("1");
      }
      break;
    }
  }
  if (q.where) b.and_where(*q.where);
  if (!q.group_by.empty()) {
    b.text(" GROUP BY ");
    for (std::size_t k = 0; k < q.group_by.size(); ++k) {
      if (k) b.text(", ");
      b.column(q.group_by[k]);
    }
  }
  // One row per aggregate query without GROUP BY: nothing to order.
  bool single_row = q.aggregate && q.group_by.empty();
  // The bounded walk reads non-null keys only: its ORDER BY leaves out NULLS FIRST/LAST, which
  // would keep SQLite from walking the index in order (it would sort every match).
  // A descending walk's statements read the index's own order (Layout::WalkTies).
  const bool walk = flat && layout.walk_bound_keys > 0 && layout.flat_access == Layout::FlatAccess::kIndex;
  if (ties == Layout::WalkTies::kOneKey) {
    b.text(" ORDER BY ");
    b.text(tie_break);
    b.text(" ASC");
  } else if (ties == Layout::WalkTies::kRange) {
    b.text(" ORDER BY ");
    b.value(q.order_by.front().value);
    b.text(" DESC, ");
    b.text(tie_break);
    b.text(" DESC");
  } else if (walk) {
    const BoundOrder& o = q.order_by.front();
    b.text(" ORDER BY ");
    b.value(o.value);
    b.text(o.desc ? " DESC, " : " ASC, ");
    b.text(tie_break);
    b.text(" ASC");
  } else if (!single_row) {
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
      if (b.sort_keys_unindexed) b.text("+");
      b.text(tie_break);
      b.text(" ASC");
    }
  }
  if (q.limit || q.offset) {
    b.text(" LIMIT ");
    limit_param = static_cast<int>(b.param_count());
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
  out.star_inline = q.star && flat;
  out.id_set_param = id_set_param;
  if (ties == Layout::WalkTies::kOneKey) out.walk_ties = CompiledQuery::WalkTies{{}, key_param, limit_param};
  return out;
}

std::pair<std::string, std::vector<SqlParam>> driver_sql(const BoundQuery& q, const Layout& layout) {
  using Source = Layout::Source;
  SqlBuilder b;
  switch (layout.source) {
    case Source::kFlat:
      b.flat_columns(q);
      if (layout.union_leaves.empty()) {
        b.text("SELECT id FROM ");
        b.text(layout.flat_table);
      } else {
        flat_union(b, layout);
      }
      break;
    case Source::kValueIndex: {
      const BoundJoin& j = q.joins[static_cast<std::size_t>(layout.driver_join)];
      b.text(fmt::format("SELECT entity_id FROM eav_value_{} WHERE attribute_id = ", value_type_name(j.attribute->type)));
      attribute_ref(b, *j.attribute);
      // The driver's own conjuncts narrow its index range.
      if (q.where) {
        std::vector<const BoundPred*> own;
        if (q.where->kind == BoundPred::Kind::kAnd) {
          for (const auto& c : q.where->children)
            if (c->children.empty() && c->column.system == BoundColumn::System::kNone &&
                c->column.join == layout.driver_join)
              own.push_back(c.get());
        } else if (q.where->children.empty() && q.where->column.join == layout.driver_join &&
                   q.where->column.system == BoundColumn::System::kNone) {
          own.push_back(q.where.get());
        }
        b.forced_column = "value";
        for (const BoundPred* p : own) {
          b.text(" AND ");
          b.pred(*p);
        }
      }
      break;
    }
    case Source::kUnion:
    case Source::kIntersect:
      for (std::size_t k = 0; k < layout.union_leaves.size(); ++k) {
        if (k) b.text(layout.source == Source::kUnion ? " UNION " : " INTERSECT ");
        union_branch(b, q, *layout.union_leaves[k]);
      }
      break;
    case Source::kLegacy:
    case Source::kEntityScan:
      b.text("SELECT id FROM eav_entity WHERE type_id = ");
      b.param(q.type->id);
      break;
  }
  CompiledQuery c = b.finish();
  return {std::move(c.sql), std::move(c.params)};
}

std::string describe(const SqlParam& p) {
  if (std::holds_alternative<std::monostate>(p)) return "NULL";
  if (auto* i = std::get_if<int64_t>(&p)) return std::to_string(*i);
  if (auto* d = std::get_if<double>(&p)) return fmt::format("{}", *d);
  std::string out = "'";
  for (char c : std::get<std::string>(p)) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

namespace {

std::string column_text(const BoundColumn& c) { return c.code; }

}  // namespace

std::string describe(const BoundPred& p) {
  using K = BoundPred::Kind;
  static constexpr std::string_view kOps[] = {" = ", " <> ", " < ", " <= ", " > ", " >= "};
  switch (p.kind) {
    case K::kAnd:
    case K::kOr: {
      std::string s = "(";
      for (std::size_t k = 0; k < p.children.size(); ++k) {
        if (k) s += p.kind == K::kAnd ? " AND " : " OR ";
        s += describe(*p.children[k]);
      }
      return s + ")";
    }
    case K::kIsNull: return column_text(p.column) + (p.negated ? " IS NOT NULL" : " IS NULL");
    case K::kConst: return fmt::format("{} IS NOT NULL AND {}", column_text(p.column), p.truth ? "TRUE" : "FALSE");
    case K::kCompare:
      return column_text(p.column) + std::string(kOps[static_cast<int>(p.op)]) + describe(p.values[0]);
    case K::kIn: {
      std::string s = column_text(p.column) + (p.negated ? " NOT IN (" : " IN (");
      for (std::size_t k = 0; k < p.values.size(); ++k) s += (k ? ", " : "") + describe(p.values[k]);
      return s + ")";
    }
    case K::kBetween:
      return fmt::format("{}{}{} AND {}", column_text(p.column), p.negated ? " NOT BETWEEN " : " BETWEEN ",
                         describe(p.values[0]), describe(p.values[1]));
    case K::kLike:
      return column_text(p.column) + (p.negated ? " NOT LIKE " : " LIKE ") + describe(p.values[0]);
  }
  return "?";
}

}  // namespace eavdb::query
