#include "query/planner.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>

#include "eavdb/error.h"

namespace eavdb::query {

namespace {

using K = BoundPred::Kind;
using Source = Layout::Source;

// Row estimates of one query's predicates under the statistics (or defaults without them).
class Estimator {
 public:
  // `ctx` tells which optional indexes exist (partial text-value indexes, flat-table column
  // indexes); `flat`: access paths are the flat table's column indexes, not the value tables'.
  Estimator(const BoundQuery& q, const TypeStats* stats, const PlanContext* ctx = nullptr, bool flat = false)
      : q_(q), stats_(stats), ctx_(ctx), flat_(flat) {
    n_ = stats && stats->entity_count > 0 ? static_cast<double>(stats->entity_count) : 1000.0;
  }

  double entities() const { return n_; }

  const AttributeStats* attr(const BoundColumn& c) const {
    if (!stats_ || c.system != BoundColumn::System::kNone) return nullptr;
    return stats_->find(q_.joins[static_cast<std::size_t>(c.join)].attribute->id);
  }

  // Entities holding a value of the column.
  double non_null(const BoundColumn& c) const {
    if (c.system != BoundColumn::System::kNone) return n_;
    const AttributeStats* s = attr(c);
    return s ? static_cast<double>(s->non_null) : 0.9 * n_;
  }

  double leaf_rows(const BoundPred& p) const {
    const AttributeStats* s = attr(p.column);
    const double nn = non_null(p.column);
    const ValueType t = p.column.type;
    const bool id = p.column.system == BoundColumn::System::kId;
    auto eq = [&](const SqlParam& v) -> double {
      auto k = stat_key(v, t);
      if (!k) return 0;
      if (id) return 1;
      return s ? estimate_eq(*s, *k) : 0.1 * nn;
    };
    auto range = [&](const SqlParam* lo, const SqlParam* hi) -> double {
      std::optional<StatKey> l, h;
      if (lo && !(l = stat_key(*lo, t))) return 0;
      if (hi && !(h = stat_key(*hi, t))) return 0;
      return s ? estimate_range(*s, l, h) : 0.3 * nn;
    };
    double rows = 0;
    switch (p.kind) {
      case K::kCompare:
        switch (p.op) {
          case CompareOp::kEq: rows = eq(p.values[0]); break;
          case CompareOp::kNe: rows = stat_key(p.values[0], t) ? nn - eq(p.values[0]) : 0; break;
          case CompareOp::kLt:
          case CompareOp::kLe: rows = range(nullptr, &p.values[0]); break;
          case CompareOp::kGt:
          case CompareOp::kGe: rows = range(&p.values[0], nullptr); break;
        }
        break;
      case K::kIn: {
        double sum = 0;
        for (const auto& v : p.values) sum += eq(v);
        sum = std::min(sum, nn);
        rows = p.negated ? nn - sum : sum;
        break;
      }
      case K::kBetween: {
        double r = range(&p.values[0], &p.values[1]);
        rows = p.negated ? nn - r : r;
        break;
      }
      case K::kLike: {
        std::string prefix = like_prefix(p);
        double r;
        if (prefix.empty()) r = 0.25 * nn;
        else if (prefix.size() == std::get<std::string>(p.values[0]).size()) r = eq(p.values[0]);
        else {
          SqlParam lo = prefix, hi = prefix + "\xff";
          r = range(&lo, &hi);
        }
        rows = p.negated ? nn - r : r;
        break;
      }
      case K::kIsNull: rows = p.negated ? nn : n_ - nn; break;
      case K::kConst: rows = p.truth ? nn : 0; break;
      case K::kAnd:
      case K::kOr: rows = pred_rows(p); break;
    }
    return std::clamp(rows, 0.0, n_);
  }

  // Rows satisfying an expression (independence between predicates).
  double pred_rows(const BoundPred& p) const {
    if (p.kind == K::kAnd) {
      double f = 1;
      for (const auto& c : p.children) f *= pred_rows(*c) / n_;
      return f * n_;
    }
    if (p.kind == K::kOr) {
      double miss = 1;
      for (const auto& c : p.children) miss *= 1 - pred_rows(*c) / n_;
      return (1 - miss) * n_;
    }
    return leaf_rows(p);
  }

  // The literal prefix of a LIKE pattern (up to the first % or _).
  static std::string like_prefix(const BoundPred& p) {
    const auto* s = std::get_if<std::string>(&p.values[0]);
    if (!s) return {};
    return s->substr(0, s->find_first_of("%_"));
  }

  // True when a leaf can be answered from an index: its attribute's (attribute_id, value) index
  // (text attributes only with a partial index, see PlanContext::text_indexes), or for a flat
  // access path the flat table's index on the column.
  bool indexable(const BoundPred& p) const {
    if (!p.children.empty() || p.column.system != BoundColumn::System::kNone) return false;
    const int64_t id = q_.joins[static_cast<std::size_t>(p.column.join)].attribute->id;
    if (flat_) {
      if (!ctx_ || !ctx_->flat || !ctx_->flat->indexed(id)) return false;
    } else if (p.column.type == ValueType::kText) {
      if (!ctx_ || !ctx_->text_indexes || !std::binary_search(ctx_->text_indexes->begin(), ctx_->text_indexes->end(), id))
        return false;  // text values are not indexed unless the advisor added a partial index
    }
    switch (p.kind) {
      case K::kCompare: return p.op != CompareOp::kNe && !std::holds_alternative<std::monostate>(p.values[0]);
      case K::kIn:
      case K::kBetween: return !p.negated;
      case K::kLike: return !p.negated && !like_prefix(p).empty();
      // A flat column's index holds its NULLs too (IS NULL is an equality lookup there); the
      // value tables have no rows for missing values.
      case K::kIsNull: return p.negated || flat_;
      default: return false;
    }
  }

 private:
  const BoundQuery& q_;
  const TypeStats* stats_;
  const PlanContext* ctx_;
  bool flat_;
  double n_;
};

// An index access path for a predicate: the leaves whose index lookups together return a
// superset of the rows satisfying it, and the rows they read.
struct Access {
  double rows = 0;
  std::vector<std::vector<int>> paths;
};

std::optional<Access> best_access(const Estimator& est, const BoundPred& p, std::vector<int>& path) {
  if (p.children.empty()) {
    if (!est.indexable(p)) return std::nullopt;
    return Access{est.leaf_rows(p), {path}};
  }
  std::optional<Access> out;
  if (p.kind == K::kAnd) {
    for (std::size_t k = 0; k < p.children.size(); ++k) {
      path.push_back(static_cast<int>(k));
      auto a = best_access(est, *p.children[k], path);
      path.pop_back();
      if (a && (!out || a->rows < out->rows)) out = std::move(a);
    }
    return out;
  }
  Access all;  // OR: every branch needs an access path
  for (std::size_t k = 0; k < p.children.size(); ++k) {
    path.push_back(static_cast<int>(k));
    auto a = best_access(est, *p.children[k], path);
    path.pop_back();
    if (!a) return std::nullopt;
    all.rows += a->rows;
    for (auto& leaf : a->paths) all.paths.push_back(std::move(leaf));
  }
  return all;
}

const BoundPred* resolve(const BoundPred* root, const std::vector<int>& path) {
  const BoundPred* p = root;
  for (int i : path) {
    if (!p || i < 0 || static_cast<std::size_t>(i) >= p->children.size()) return nullptr;
    p = p->children[static_cast<std::size_t>(i)].get();
  }
  return p;
}

// True when the leaves at `paths` (relative to `p`, with `prefix` the path of `p`) cover `p`:
// a leaf is covered when listed, an AND when one child is, an OR when every child is.
bool covered(const BoundPred& p, std::vector<int>& prefix, const std::vector<std::vector<int>>& paths) {
  if (p.children.empty()) return std::find(paths.begin(), paths.end(), prefix) != paths.end();
  bool any = false, all = true;
  for (std::size_t k = 0; k < p.children.size(); ++k) {
    prefix.push_back(static_cast<int>(k));
    bool c = covered(*p.children[k], prefix, paths);
    prefix.pop_back();
    any |= c;
    all &= c;
  }
  return p.kind == K::kAnd ? any : all;
}

// Top-level conjuncts of the WHERE.
std::vector<const BoundPred*> conjuncts(const BoundQuery& q) {
  std::vector<const BoundPred*> out;
  if (!q.where) return out;
  if (q.where->kind == K::kAnd)
    for (const auto& c : q.where->children) out.push_back(c.get());
  else
    out.push_back(q.where.get());
  return out;
}

// Fraction of entities each inner join keeps (product of its top-level conjuncts' selectivity).
std::vector<double> join_selectivity(const BoundQuery& q, const Estimator& est) {
  std::vector<double> sel(q.joins.size(), 1.0);
  for (const BoundPred* c : conjuncts(q))
    if (c->children.empty() && c->column.system == BoundColumn::System::kNone)
      sel[static_cast<std::size_t>(c->column.join)] *= est.leaf_rows(*c) / est.entities();
  for (std::size_t k = 0; k < q.joins.size(); ++k)
    if (q.joins[k].inner && sel[k] == 1.0) sel[k] = est.non_null({BoundColumn::System::kNone, static_cast<int>(k), q.joins[k].attribute->type, {}}) / est.entities();
  return sel;
}

std::vector<int> inner_joins_by_selectivity(const BoundQuery& q, const std::vector<double>& sel, int skip) {
  std::vector<int> order;
  for (std::size_t k = 0; k < q.joins.size(); ++k)
    if (q.joins[k].inner && static_cast<int>(k) != skip) order.push_back(static_cast<int>(k));
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return sel[static_cast<std::size_t>(a)] < sel[static_cast<std::size_t>(b)];
  });
  return order;
}

// Cost of the join chain for `rows` entering it; updates rows to the rows leaving it.
double chain_cost(double& rows, const std::vector<int>& order, const std::vector<double>& sel) {
  double cost = 0;
  for (int j : order) {
    cost += rows * kLookup;
    rows *= sel[static_cast<std::size_t>(j)];
  }
  return cost;
}

bool needs_order(const BoundQuery& q) { return !(q.aggregate && q.group_by.empty()); }

double sort_cost(double rows) { return rows * std::log2(rows + 2) * kSortStep; }

// The join whose index yields rows in the first ORDER BY key's order, when a LIMIT can stop the
// scan early: a plain attribute key that the WHERE makes non-null (an inner join) and that has an
// index (not text), in either direction (descending, SQLite walks the (attribute_id, value) index
// backwards and sorts each key's ties by id: "USE TEMP B-TREE FOR RIGHT PART OF ORDER BY").
// -1 otherwise.
int top_n_join(const BoundQuery& q) {
  if (q.aggregate || !q.limit || q.order_by.empty()) return -1;
  const BoundOrder& o = q.order_by.front();
  if (o.value.agg != Agg::kNone || o.value.column.system != BoundColumn::System::kNone) return -1;
  const auto j = static_cast<std::size_t>(o.value.column.join);
  if (!q.joins[j].inner || q.joins[j].attribute->type == ValueType::kText) return -1;
  return static_cast<int>(j);
}

// Like top_n_join, for a key the WHERE does not make non-null, with a small LIMIT + OFFSET (the
// split runs up to that many rows twice): the entities holding the key in index order, and the
// entities without it, which sort last (NULLS LAST: they run only when fewer match) or first
// (NULLS FIRST, the default of DESC: they run first, gated by the store's exact counts so they
// cost nothing when every entity of the type holds the key; see PlanChoice::null_split).
int top_n_split_join(const BoundQuery& q) {
  if (q.aggregate || !q.limit || q.order_by.empty()) return -1;
  if (*q.limit + q.offset.value_or(0) > 100000) return -1;
  const BoundOrder& o = q.order_by.front();
  if (o.value.agg != Agg::kNone || o.value.column.system != BoundColumn::System::kNone) return -1;
  const auto j = static_cast<std::size_t>(o.value.column.join);
  if (q.joins[j].inner || q.joins[j].attribute->type == ValueType::kText) return -1;
  return static_cast<int>(j);
}

// Whether the null statement of a top-N split on join `j` is expected to run: first (NULLS
// FIRST) whenever the statistics say some entity lacks the key (fewer non-null values than
// entities); last when the entities holding it are expected to match fewer than LIMIT + OFFSET.
bool split_null_runs(const Estimator& est, const BoundQuery& q, int j, double out_rows) {
  const double key_rows = est.non_null({BoundColumn::System::kNone, j, q.joins[static_cast<std::size_t>(j)].attribute->type, {}});
  if (q.order_by.front().nulls_first) return key_rows < est.entities();
  const double n = std::max(est.entities(), 1.0);
  return out_rows * key_rows / n < static_cast<double>(*q.limit + q.offset.value_or(0));
}

// EXPLAIN's words for a descending walk that reads its index backwards, ties by descending id,
// and puts them in id order itself (query::CompiledQuery::WalkTies).
constexpr const char* kDescendingWalk = "descending (ties in index order, the page's last key re-read by id)";

// The join of an attribute the WHERE requires to be missing (a top-level conjunct, or the whole
// WHERE, `a IS NULL`), else -1.
int null_test_join(const BoundQuery& q) {
  if (!q.where) return -1;
  auto test = [](const BoundPred& p) {
    return p.kind == BoundPred::Kind::kIsNull && !p.negated && p.column.system == BoundColumn::System::kNone &&
                   p.column.join >= 0
               ? p.column.join
               : -1;
  };
  if (q.where->kind != BoundPred::Kind::kAnd) return test(*q.where);
  for (const auto& c : q.where->children)
    if (const int j = test(*c); j >= 0) return j;
  return -1;
}

// The join of the single ORDER BY key when a flat bounded walk applies to `q` (a filtered,
// non-aggregate top-N on one plain, non-text, non-decimal attribute), else -1.
int walk_join(const BoundQuery& q) {
  if (q.aggregate || !q.limit || !q.where || q.order_by.size() != 1) return -1;
  if (*q.limit + q.offset.value_or(0) > 100000) return -1;
  const BoundOrder& o = q.order_by.front();
  if (o.value.agg != Agg::kNone || o.value.column.system != BoundColumn::System::kNone || o.value.column.join < 0)
    return -1;
  const ValueType t = q.joins[static_cast<std::size_t>(o.value.column.join)].attribute->type;
  if (t == ValueType::kText || t == ValueType::kDecimal) return -1;
  return o.value.column.join;
}

// The late joins of a sorted page (Layout::late_joins): for a query with ORDER BY and LIMIT that
// is not an aggregate or SELECT *, the left joins only its output list reads (not the WHERE,
// not a sort key). Empty when there are none or the query does not qualify.
std::vector<bool> late_joins(const BoundQuery& q) {
  if (q.aggregate || q.star || !q.limit || q.order_by.empty()) return {};
  std::vector<bool> used(q.joins.size(), false);
  if (q.where) mark_joins(*q.where, used);
  for (const BoundOrder& o : q.order_by) {
    if (o.value.agg != Agg::kNone) return {};
    const BoundColumn& c = o.value.column;
    if (c.system == BoundColumn::System::kNone && c.join >= 0) used[static_cast<std::size_t>(c.join)] = true;
  }
  std::vector<bool> late(q.joins.size(), false);
  bool any = false;
  for (std::size_t k = 0; k < q.joins.size(); ++k)
    if (!q.joins[k].inner && !used[k]) late[k] = any = true;
  return any ? late : std::vector<bool>{};
}

bool reads_entity_column(const BoundColumn& c) {
  return c.system != BoundColumn::System::kNone && c.system != BoundColumn::System::kId;
}

bool pred_reads_entity_column(const BoundPred& p) {
  if (reads_entity_column(p.column)) return true;
  for (const auto& c : p.children)
    if (pred_reads_entity_column(*c)) return true;
  return false;
}

// The join of the single GROUP BY key when it is an attribute whose flat column index can
// deliver the groups in order (not text: text columns have no flat index), else -1.
int group_order_join(const BoundQuery& q) {
  if (!q.aggregate || q.group_by.size() != 1) return -1;
  const BoundColumn& g = q.group_by.front();
  if (g.system != BoundColumn::System::kNone || g.join < 0) return -1;
  if (q.joins[static_cast<std::size_t>(g.join)].attribute->type == ValueType::kText) return -1;
  return g.join;
}

// Adds `key IS [NOT] NULL` as a top-level conjunct.
void add_null_test(BoundQuery& q, int join, bool not_null) {
  auto t = std::make_unique<BoundPred>();
  t->kind = K::kIsNull;
  t->negated = not_null;
  t->column = {BoundColumn::System::kNone, join, q.joins[static_cast<std::size_t>(join)].attribute->type,
               q.joins[static_cast<std::size_t>(join)].attribute->code};
  if (!q.where) {
    q.where = std::move(t);
  } else if (q.where->kind == K::kAnd) {
    q.where->children.push_back(std::move(t));
  } else {
    auto a = std::make_unique<BoundPred>();
    a->kind = K::kAnd;
    a->children.push_back(std::move(q.where));
    a->children.push_back(std::move(t));
    q.where = std::move(a);
  }
}

std::string source_table(const BoundQuery& q, int join) {
  return fmt::format("eav_value_{}", value_type_name(q.joins[static_cast<std::size_t>(join)].attribute->type));
}

}  // namespace

bool flat_covers(const BoundQuery& q, const flat::FlatTable& flat) {
  if (q.star) {
    for (const AttributeDef& a : q.type->attributes)
      if (!flat.covers(a.id)) return false;
  }
  for (const BoundJoin& j : q.joins)
    if (!flat.covers(j.attribute->id)) return false;
  return flat.type_id == q.type->id;
}

namespace {

// True when SQLite can serve leaf `p` from its column's (column, id) index, so the flat plan
// may pin that index with INDEXED BY (SQLite fails the statement otherwise): comparisons other
// than <>, IN, BETWEEN and IS NULL. LIKE and IS NOT NULL stay with SQLite's own choice.
bool flat_index_pinnable(const BoundPred& p) {
  switch (p.kind) {
    case K::kCompare: return p.op != CompareOp::kNe && !std::holds_alternative<std::monostate>(p.values[0]);
    case K::kIn:
    case K::kBetween: return !p.negated;
    case K::kIsNull: return !p.negated;  // an equality lookup of NULL in the (column, id) index
    default: return false;
  }
}

// True when the index lookup of leaf `p` returns its rows in entity id order: an equality (or, in
// a flat column index, IS NULL) matches one key of a (key, id) index, so its entries are sorted
// by id. Ranges, IN lists and unions interleave keys.
bool id_ordered_leaf(const BoundPred& p) {
  if (p.negated) return false;
  if (p.kind == K::kCompare) return p.op == CompareOp::kEq;
  return p.kind == K::kIsNull;
}

// True when the rows of access `a` arrive in entity id order (one id-ordered leaf).
bool id_ordered_access(const BoundQuery& q, const Access& a) {
  if (a.paths.size() != 1) return false;
  const BoundPred* leaf = resolve(q.where.get(), a.paths[0]);
  return leaf && id_ordered_leaf(*leaf);
}

// True when the query's output order is entity id alone (no ORDER BY: ties by id; or ORDER BY
// id ASC) and it is not an aggregate: a source delivering rows in id order needs no sorter
// (SQLite sees the (key, id) index or the rowid order and skips it).
bool orders_by_id_only(const BoundQuery& q) {
  if (q.aggregate) return false;
  if (q.order_by.empty()) return true;
  if (q.order_by.size() != 1) return false;
  const BoundOrder& o = q.order_by.front();
  return o.value.agg == Agg::kNone && !o.desc && o.value.column.system == BoundColumn::System::kId;
}

// Cardenas' estimate of the distinct pages of a P-page table that k random row fetches touch:
// P·(1 − e^(−k/P)) (A. F. Cardenas, "Analysis and performance of inverted data base structures",
// CACM 18(5), 1975; Yao 1977 gives the exact form without replacement).
double pages_touched(double k, double pages) {
  if (pages <= 0 || k <= 0) return 0;
  return pages * (1 - std::exp(-k / pages));
}

// Sorting (or grouping) `rows` rows by the query's first key: decimal keys compare through the
// eavdb_decimal collation (a callback per comparison), kDecimalSort times dearer.
double order_cost(const BoundQuery& q, double rows) {
  if (!needs_order(q)) return 0;
  bool decimal = false;
  if (!q.order_by.empty()) decimal = q.order_by.front().value.type == ValueType::kDecimal;
  else if (!q.group_by.empty()) decimal = q.group_by.front().type == ValueType::kDecimal;
  return sort_cost(rows) * (decimal ? kDecimalSort : 1.0);
}

// The size of a flat table as the planner sees it: bytes per row (measured at build / analyze
// time, FlatTable::row_bytes, else estimated from the column count), pages, and whether the whole
// table fits the page cache.
struct FlatIo {
  double row_bytes = 0;
  double bytes = 0;
  double pages = 0;
  bool resident = false;
};

FlatIo flat_io(const flat::FlatTable& f, double n, double page_cache_bytes) {
  FlatIo io;
  io.row_bytes = f.row_bytes > 0 ? f.row_bytes : flat_row_bytes(f.attribute_ids.size());
  io.bytes = n * io.row_bytes;
  io.pages = io.bytes / kPageBytes;
  io.resident = io.bytes <= page_cache_bytes;
  return io;
}

// Fetching k rows of a flat table by rowid after an index lookup (the index steps excluded): a
// B-tree descent each, kFlatRowFetchResident per unit of row weight when the whole table is
// cache-resident and kFlatRowFetch otherwise (a descent through a large table's cached pages),
// plus kFlatPageRead per page read from the OS. The rows touch pages_touched(k, P) distinct
// pages; when those fit the page cache they stay there between runs (no reads), otherwise each
// run reads them again: once each when the rowids arrive ascending, and about k·(1 − cache/table)
// times in a random order.
double flat_fetch_cost(double k, bool id_order, double weight, const FlatIo& io, double page_cache_bytes) {
  if (io.resident) return k * kFlatRowFetchResident * weight;
  const double cost = k * kFlatRowFetch * weight;
  const double touched = pages_touched(k, io.pages);
  if (touched * kPageBytes <= page_cache_bytes) return cost;
  const double reads = id_order ? touched : std::max(touched, k * (1 - page_cache_bytes / io.bytes));
  return cost + reads * kFlatPageRead;
}

// The bounded walk's bound for `q`'s literals: kWalkFactor times LIMIT + OFFSET over the
// WHERE's estimated share, at least kWalkMin.
double walk_bound(const BoundQuery& q, const Estimator& est) {
  const double n = std::max(est.entities(), 1.0);
  const double needed = static_cast<double>(q.limit.value_or(0) + q.offset.value_or(0));
  const double share = std::max((q.where ? est.pred_rows(*q.where) : n) / n, 1e-9);
  return std::min(1e12, std::max(kWalkMin, std::ceil(kWalkFactor * needed / share)));
}

// Where the bounded walk of join `j`'s key stops after about `bound` keys (Layout::walk_stop_at),
// from the key's histogram; monostate without one (the walk may then read every non-null key).
SqlParam walk_stop(const BoundQuery& q, int j, const TypeStats* stats, double bound) {
  const AttributeStats* a = stats ? stats->find(q.joins[static_cast<std::size_t>(j)].attribute->id) : nullptr;
  if (!a) return {};
  const std::optional<StatKey> k = walk_stop_key(*a, bound, q.order_by.front().desc);
  if (!k) return {};
  return std::visit([](const auto& v) -> SqlParam { return v; }, *k);
}

// The cheapest flat-table plan of `q` (the flat table covers it).
PlanChoice best_flat_plan(const BoundQuery& q, const PlanContext& ctx, const Estimator& est) {
  const double n = est.entities();
  const double out_rows = q.where ? est.pred_rows(*q.where) : n;
  const double sort = order_cost(q, out_rows);
  // Sources that deliver rows in id order (rowid scan, one equality's (key, id) index) need no
  // sorter when the output is ordered by id alone.
  const double id_sort = orders_by_id_only(q) ? 0 : sort;
  const std::size_t columns = ctx.flat->attribute_ids.size();
  const double weight = flat_row_weight(columns);
  const FlatIo io = flat_io(*ctx.flat, n, ctx.page_cache_bytes);
  // Top-N scans in key order keep the non-resident fetch cost: their row count is a guess under
  // independence (kTopNRisk) and a filter correlated with the key reads far more rows; with the
  // resident cost zipcodes Q5 (state = 'CA' ORDER BY latitude) walked the latitude index from
  // the south (2.9 ms) instead of sorting CA's 2,666 rows (0.4 ms).
  const double topn_fetch = kFlatRowFetch * weight;
  // A full scan in rowid order (NOT INDEXED): sequential pages, every row; a table larger than
  // the page cache is read from the OS on every run (a cyclic scan defeats LRU).
  PlanChoice best;
  best.source = Source::kFlat;
  best.flat_considered = true;
  best.estimated_cost = n * kFlatScanRow * weight + (io.resident ? 0 : io.pages * kFlatPageRead) + id_sort;
  // One filter column's index (INDEXED BY), or a union of index lookups over an OR's branches:
  // index steps plus a row fetch each, and the page reads of the rows' pages (flat_fetch_cost).
  if (q.where) {
    Estimator flat_est(q, ctx.stats, &ctx, true);
    std::vector<int> path;
    if (auto a = best_access(flat_est, *q.where, path)) {
      const bool id_order = id_ordered_access(q, *a);
      PlanChoice c = best;
      c.leaf_paths = a->paths;
      c.estimated_cost = a->rows + flat_fetch_cost(a->rows, id_order, weight, io, ctx.page_cache_bytes) +
                         (a->paths.size() > 1 ? a->rows * kUnionDedup : 0) + (id_order ? id_sort : sort);
      if (c.estimated_cost < best.estimated_cost) best = std::move(c);
    }
  }
  const PlanChoice filter_best = best;  // the bounded walk's fallback
  // Top-N: the sort key's index in key order, stopping after LIMIT + OFFSET matches (a nullable
  // key through the null split, as for the EAV plan).
  int j = top_n_join(q);
  bool split = false;
  if (j < 0 && ctx.allow_null_split && (j = top_n_split_join(q)) >= 0) split = true;
  if (j >= 0 && ctx.flat->indexed(q.joins[static_cast<std::size_t>(j)].attribute->id)) {
    const double needed = static_cast<double>(*q.limit + q.offset.value_or(0));
    const double share = std::max(out_rows / n, 1e-9);
    const double key_rows = est.non_null({BoundColumn::System::kNone, j, q.joins[static_cast<std::size_t>(j)].attribute->type, {}});
    const double rows = std::min(key_rows, kTopNRisk * needed / share);
    PlanChoice c;
    c.source = Source::kFlat;
    c.flat_considered = true;
    c.driver_join = j;
    c.null_split = split;
    c.estimated_cost = rows * (1 + topn_fetch);
    if (split && split_null_runs(est, q, j, out_rows)) c.estimated_cost += best.estimated_cost;  // the null statement runs
    if (c.estimated_cost < best.estimated_cost) best = std::move(c);
  }
  // Bounded walk of the sort key's index, falling back to the best filter plan above + sort.
  if (int w = walk_join(q); w >= 0 && ctx.flat->indexed(q.joins[static_cast<std::size_t>(w)].attribute->id)) {
    const double needed = static_cast<double>(*q.limit + q.offset.value_or(0));
    const double expected = needed / std::max(out_rows / n, 1e-9);
    const double bound = walk_bound(q, est);
    const double per_row = 1 + flat_fetch_cost(1, false, weight, io, ctx.page_cache_bytes);
    if (bound < n) {
      PlanChoice c;
      c.source = Source::kFlat;
      c.flat_considered = true;
      c.driver_join = w;
      c.bounded_walk = true;
      c.fallback = std::make_shared<const PlanChoice>(filter_best);
      c.estimated_cost = std::min(expected, bound) * per_row +
                         kWalkFallbackRisk * (std::max(0.0, bound - expected) * per_row + filter_best.estimated_cost);
      if (c.estimated_cost < best.estimated_cost) best = std::move(c);
    }
  }
  // GROUP BY one indexed column: walk its whole index in key order (INDEXED BY) so groups arrive
  // sorted and SQLite needs no GROUP BY sorter; a row fetch per entity (cheap when resident).
  if (int g = group_order_join(q); g >= 0 && ctx.flat->indexed(q.joins[static_cast<std::size_t>(g)].attribute->id)) {
    PlanChoice c;
    c.source = Source::kFlat;
    c.flat_considered = true;
    c.driver_join = g;
    c.estimated_cost = n * kFlatIndexWalkStep + flat_fetch_cost(n, false, weight, io, ctx.page_cache_bytes);
    if (c.estimated_cost < best.estimated_cost) best = std::move(c);
  }
  return best;
}

// The cheapest EAV plan of `q`: the type's entity list, one value index, a union of value
// indexes, or an index-order top-N scan.
PlanChoice best_eav_plan(const BoundQuery& q, const PlanContext& ctx, const Estimator& est) {
  const double n = est.entities();
  const double out_rows = q.where ? est.pred_rows(*q.where) : n;
  const std::vector<double> sel = join_selectivity(q, est);
  // Every EAV plan fetches the columns of the left joins (outputs, sort keys) by primary key for
  // each row it returns: the same for all EAV plans, but part of what a flat table saves.
  double left_joins = 0;
  for (const BoundJoin& j : q.joins) left_joins += j.inner ? 0 : 1;
  const double fetch_per_row = left_joins * kLookup;
  // A sorted page fetches its late joins (output-only columns) for the page's rows alone.
  double late = 0;
  for (bool l : late_joins(q)) late += l ? 1 : 0;
  const double page = q.limit ? std::min(out_rows, static_cast<double>(*q.limit + q.offset.value_or(0))) : out_rows;
  const double order = order_cost(q, out_rows);
  // Sources that deliver entities in id order (the entity list, one equality's (attribute, value,
  // entity) index entries) need no sorter when the output is ordered by id alone.
  const double fetches = out_rows * (left_joins - late) * kLookup + page * late * kLookup;
  const double sort = order + fetches;
  const double sort_id_ordered = (orders_by_id_only(q) ? 0 : order) + fetches;
  // Drivers below are still charged kLookup per candidate for the eav_entity lookup that value-index
  // and union plans leave out when no system column but id is read (Layout::entity_join): the
  // flat constants were fitted against EAV plans that made it (what dropping it moved, and
  // why it stays: planner.h).

  // The type's entity list, then every inner join, most selective first.
  PlanChoice best;
  best.source = Source::kEntityScan;
  best.inner_order = inner_joins_by_selectivity(q, sel, -1);
  {
    double rows = n;
    best.estimated_cost = n + chain_cost(rows, best.inner_order, sel) + sort_id_ordered;
  }
  // An index access path of the WHERE: one conjunct's index, or a union over an OR's branches.
  if (q.where) {
    std::vector<int> path;
    if (auto a = best_access(est, *q.where, path)) {
      PlanChoice c;
      c.leaf_paths = a->paths;
      const bool id_order = id_ordered_access(q, *a);
      double rows = a->rows;
      double cost = a->rows * (1 + kLookup);
      int skip = -1;
      if (a->paths.size() == 1) {
        const BoundPred* leaf = resolve(q.where.get(), a->paths[0]);
        c.source = Source::kValueIndex;
        c.driver_join = leaf->column.join;
        skip = c.driver_join;
        // The driver join's other conjuncts filter right away.
        const double own = std::max(est.leaf_rows(*leaf) / n, 1e-12);
        rows *= std::min(1.0, sel[static_cast<std::size_t>(skip)] / own);
      } else {
        c.source = Source::kUnion;
        cost += a->rows * kUnionDedup;
      }
      c.inner_order = inner_joins_by_selectivity(q, sel, skip);
      cost += chain_cost(rows, c.inner_order, sel) + (id_order ? sort_id_ordered : sort);
      c.estimated_cost = cost;
      if (cost < best.estimated_cost) best = std::move(c);
    }
  }
  const PlanChoice filter_best = best;  // the bounded walk's fallback: the best single-lookup or union plan
  // An in-memory intersection of two or more conjuncts' index lookups: the smallest lookup, then
  // (greedy, smallest first, one per attribute) each further lookup whose ids cost less to read
  // than the primary-key probes of its attribute that it saves the candidates. The statement
  // probes only the joins that something besides those conjuncts reads.
  if (q.where && q.where->kind == K::kAnd) {
    struct Leg {
      double rows;
      int child;
      int join;
    };
    std::vector<Leg> legs;
    for (std::size_t k = 0; k < q.where->children.size(); ++k) {
      const BoundPred& p = *q.where->children[k];
      if (p.children.empty() && est.indexable(p)) legs.push_back({est.leaf_rows(p), static_cast<int>(k), p.column.join});
    }
    std::stable_sort(legs.begin(), legs.end(), [](const Leg& a, const Leg& b) { return a.rows < b.rows; });
    std::vector<Leg> chosen;
    double cand = 0, cost = 0;
    for (const Leg& l : legs) {
      if (std::any_of(chosen.begin(), chosen.end(), [&](const Leg& c) { return c.join == l.join; })) continue;
      if (!chosen.empty() && l.rows * kIdScanStep >= cand * kLookup) continue;
      cand = chosen.empty() ? l.rows : cand * std::min(1.0, l.rows / std::max(n, 1.0));
      cost += l.rows * kIdScanStep;
      chosen.push_back(l);
    }
    if (chosen.size() >= 2) {
      PlanChoice c;
      c.source = Source::kIntersect;
      for (const Leg& l : chosen) c.leaf_paths.push_back({l.child});
      c.inner_order = inner_joins_by_selectivity(q, sel, -1);
      cost += cand * (1 + kLookup);  // a json_each row + the charged eav_entity lookup, as for every driver
      // Joins read only by the lookups' conjuncts are left out (joins_after_intersection); the
      // others are probed, and the candidates already hold the lookups' selectivity.
      std::vector<const BoundPred*> leaves;
      for (const Leg& l : chosen) leaves.push_back(q.where->children[static_cast<std::size_t>(l.child)].get());
      const std::vector<bool> joined = joins_after_intersection(q, leaves);
      double rows = cand;
      for (int j : c.inner_order) {
        if (!joined[static_cast<std::size_t>(j)]) continue;
        cost += rows * kLookup;
        if (std::none_of(chosen.begin(), chosen.end(), [&](const Leg& l) { return l.join == j; }))
          rows *= sel[static_cast<std::size_t>(j)];
      }
      c.estimated_cost = cost + sort;
      if (c.estimated_cost < best.estimated_cost) best = std::move(c);
    }
  }
  // Top-N: scan the sort key's index in order and stop after LIMIT + OFFSET matches.
  if (int j = top_n_join(q); j >= 0) {
    const double needed = static_cast<double>(*q.limit + q.offset.value_or(0));
    const double share = std::max(out_rows / n, 1e-9);
    const double key_rows = est.non_null({BoundColumn::System::kNone, j, q.joins[static_cast<std::size_t>(j)].attribute->type, {}});
    double rows = std::min(key_rows, kTopNRisk * needed / share);
    PlanChoice c;
    c.source = Source::kValueIndex;
    c.driver_join = j;
    c.inner_order = inner_joins_by_selectivity(q, sel, j);
    double cost = rows * (1 + kLookup);
    cost += chain_cost(rows, c.inner_order, sel);
    cost += std::min(needed, out_rows) * fetch_per_row;
    c.estimated_cost = cost;
    if (cost < best.estimated_cost) best = std::move(c);
  }
  // Top-N on a nullable key: the key's index in order for the entities holding it, and the
  // entities without it: after (NULLS LAST, only when fewer match than needed) or before (NULLS
  // FIRST, only when the exact counts say some entity lacks the key).
  if (int j = ctx.allow_null_split ? top_n_split_join(q) : -1; j >= 0) {
    const double needed = static_cast<double>(*q.limit + q.offset.value_or(0));
    const double key_rows = est.non_null({BoundColumn::System::kNone, j, q.joins[static_cast<std::size_t>(j)].attribute->type, {}});
    const double share = std::max(out_rows / n, 1e-9);
    double rows = std::min(key_rows, kTopNRisk * needed / share);
    PlanChoice c;
    c.source = Source::kValueIndex;
    c.driver_join = j;
    c.null_split = true;
    c.inner_order = inner_joins_by_selectivity(q, sel, j);
    double cost = rows * (1 + kLookup);
    cost += chain_cost(rows, c.inner_order, sel);
    cost += std::min(needed, out_rows) * fetch_per_row;
    if (split_null_runs(est, q, j, out_rows)) cost += best.estimated_cost;  // the null statement runs
    c.estimated_cost = cost;
    if (cost < best.estimated_cost) best = std::move(c);
  }
  // Bounded walk of the sort key's (attribute_id, value) index over its non-null keys (a nullable
  // key through the null split), falling back (a second statement, same snapshot) to the best
  // filter plan + sort when the walk does not fill the page: the worst case is bounded, so it is costed like
  // the flat walk instead of the kTopNRisk hedge (flights-200k Q5, forced EAV: 0.16 ms against
  // 1.0 ms for the distance-index + sort plan, raw SQL in Python's sqlite3).
  if (int w = walk_join(q); w >= 0) {
    const bool split = !q.joins[static_cast<std::size_t>(w)].inner;
    if (!split || (ctx.allow_null_split && top_n_split_join(q) == w)) {
      const double needed = static_cast<double>(*q.limit + q.offset.value_or(0));
      const double expected = needed / std::max(out_rows / n, 1e-9);
      const double bound = walk_bound(q, est);
      PlanChoice c;
      c.source = Source::kValueIndex;
      c.driver_join = w;
      c.bounded_walk = true;
      c.null_split = split;
      c.inner_order = inner_joins_by_selectivity(q, sel, w);
      c.fallback = std::make_shared<const PlanChoice>(filter_best);
      // Per walked key: the index step, the (charged) entity lookup and the inner joins' probes.
      double one = 1;
      const double per_row = 1 + kLookup + chain_cost(one, c.inner_order, sel);
      double cost = std::min(expected, bound) * per_row +
                    kWalkFallbackRisk * (std::max(0.0, bound - expected) * per_row + filter_best.estimated_cost);
      cost += std::min(needed, out_rows) * fetch_per_row;
      if (split && split_null_runs(est, q, w, out_rows)) cost += filter_best.estimated_cost;
      c.estimated_cost = cost;
      if (bound < n && cost < best.estimated_cost) best = std::move(c);
    }
  }
  return best;
}

}  // namespace

PlanChoice choose_plan(const BoundQuery& q, const PlanContext& ctx) {
  const bool flat_ok = ctx.flat && flat_covers(q, *ctx.flat);
  if (ctx.mode == PlanMode::kForceFlat && !flat_ok)
    throw Error(ErrorCode::kInvalidArgument,
                ctx.flat ? fmt::format("the flat table of '{}' does not cover every column of the query "
                                       "(run eavdb flat rebuild {})", q.type->code, q.type->code)
                         : fmt::format("type '{}' has no flat table (run eavdb flat enable {})", q.type->code,
                                       q.type->code));
  Estimator est(q, ctx.stats, &ctx);
  // Both families are costed whenever both are possible, so EXPLAIN can show the rejected one.
  PlanChoice eav = best_eav_plan(q, ctx, est);
  eav.flat_considered = flat_ok;
  if (!flat_ok) return eav;
  PlanChoice flat = best_flat_plan(q, ctx, est);
  const bool take_flat = ctx.mode == PlanMode::kForceFlat ||
                         (ctx.mode == PlanMode::kAuto && flat.estimated_cost <= eav.estimated_cost);
  PlanChoice& chosen = take_flat ? flat : eav;
  const PlanChoice& other = take_flat ? eav : flat;
  chosen.rejected_plan = take_flat ? "eav" : "flat";
  chosen.rejected_cost = other.estimated_cost;
  return std::move(chosen);
}


BoundQuery split_null_rows(BoundQuery& q, int key_join, bool flat) {
  BoundQuery tail = clone(q);
  tail.offset.reset();
  const int64_t wanted = q.limit.value_or(0) + q.offset.value_or(0);
  tail.limit = wanted;
  add_null_test(tail, key_join, false);
  q.limit = wanted;
  q.offset.reset();
  // An inner join is the "has the key" test of an EAV statement; a flat row needs it spelled
  // out. Left out of EAV statements, the WHERE keeps its shape, so leaf paths into it (a walk's
  // fallback plan) still resolve.
  if (flat) add_null_test(q, key_join, true);
  q.joins[static_cast<std::size_t>(key_join)].inner = true;
  return tail;
}

bool choice_fits(const BoundQuery& q, const PlanChoice& c, const PlanContext& ctx) {
  const bool flat_ok = ctx.flat && flat_covers(q, *ctx.flat);
  const Estimator eav_est(q, ctx.stats, &ctx), flat_est(q, ctx.stats, &ctx, true);
  if (c.source == Source::kFlat) {
    if (!flat_ok || ctx.mode == PlanMode::kForceEav) return false;
    if (c.leaf_paths.empty()) {
      if (c.bounded_walk) {
        if (c.null_split || walk_join(q) != c.driver_join || c.driver_join < 0 ||
            !ctx.flat->indexed(q.joins[static_cast<std::size_t>(c.driver_join)].attribute->id))
          return false;
        return c.fallback && c.fallback->source == Source::kFlat && !c.fallback->bounded_walk &&
               choice_fits(q, *c.fallback, ctx);
      }
      if (c.driver_join < 0) return !c.null_split;  // full scan
      if (static_cast<std::size_t>(c.driver_join) >= q.joins.size() ||
          !ctx.flat->indexed(q.joins[static_cast<std::size_t>(c.driver_join)].attribute->id))
        return false;
      return c.null_split ? ctx.allow_null_split && top_n_split_join(q) == c.driver_join
                          : top_n_join(q) == c.driver_join || group_order_join(q) == c.driver_join;
    }
    if (!q.where) return false;
    for (const auto& p : c.leaf_paths) {
      const BoundPred* leaf = resolve(q.where.get(), p);
      if (!leaf || !flat_est.indexable(*leaf)) return false;
    }
    std::vector<int> prefix;
    return covered(*q.where, prefix, c.leaf_paths);
  }
  if (ctx.mode == PlanMode::kForceFlat || (ctx.mode == PlanMode::kAuto && c.flat_considered != flat_ok)) return false;
  if (c.source == Source::kLegacy) return false;
  // The join order must be exactly q's inner joins without the driver.
  std::vector<int> expected;
  for (std::size_t k = 0; k < q.joins.size(); ++k)
    if (q.joins[k].inner && static_cast<int>(k) != c.driver_join) expected.push_back(static_cast<int>(k));
  std::vector<int> got = c.inner_order;
  std::sort(got.begin(), got.end());
  if (got != expected) return false;
  if (c.source == Source::kEntityScan) return true;
  if (c.source == Source::kValueIndex) {
    if (c.driver_join < 0 || static_cast<std::size_t>(c.driver_join) >= q.joins.size()) return false;
    if (c.bounded_walk)
      return walk_join(q) == c.driver_join && c.leaf_paths.empty() &&
             (c.null_split ? ctx.allow_null_split && top_n_split_join(q) == c.driver_join
                           : q.joins[static_cast<std::size_t>(c.driver_join)].inner) &&
             c.fallback && c.fallback->source != Source::kFlat && !c.fallback->bounded_walk &&
             !c.fallback->null_split && choice_fits(q, *c.fallback, ctx);
    if (c.null_split) return ctx.allow_null_split && c.leaf_paths.empty() && top_n_split_join(q) == c.driver_join;
    if (!q.joins[static_cast<std::size_t>(c.driver_join)].inner) return false;
    if (c.leaf_paths.empty()) return top_n_join(q) == c.driver_join;
    if (c.leaf_paths.size() != 1 || !q.where) return false;
    const BoundPred* leaf = resolve(q.where.get(), c.leaf_paths[0]);
    std::vector<int> prefix;
    return leaf && eav_est.indexable(*leaf) && leaf->column.join == c.driver_join &&
           covered(*q.where, prefix, c.leaf_paths);
  }
  if (c.source == Source::kIntersect) {
    if (!q.where || q.where->kind != K::kAnd || c.leaf_paths.size() < 2) return false;
    for (const auto& p : c.leaf_paths) {
      const BoundPred* leaf = p.size() == 1 ? resolve(q.where.get(), p) : nullptr;
      if (!leaf || !eav_est.indexable(*leaf)) return false;
    }
    return true;  // each leaf is a conjunct: the intersection holds every match
  }
  // kUnion
  if (!q.where || c.leaf_paths.empty()) return false;
  for (const auto& p : c.leaf_paths) {
    const BoundPred* leaf = resolve(q.where.get(), p);
    if (!leaf || !eav_est.indexable(*leaf)) return false;
  }
  std::vector<int> prefix;
  return covered(*q.where, prefix, c.leaf_paths);
}

bool needs_entity_row(const BoundQuery& q) {
  for (const BoundValue& v : q.outputs)
    if (v.agg != Agg::kCountStar && reads_entity_column(v.column)) return true;
  for (const BoundColumn& g : q.group_by)
    if (reads_entity_column(g)) return true;
  for (const BoundOrder& o : q.order_by)
    if (o.value.agg != Agg::kCountStar && reads_entity_column(o.value.column)) return true;
  return q.where && pred_reads_entity_column(*q.where);
}

namespace {

// The bounded walk's bound, stop key and fallback layout (Layout::walk_bound_keys).
void set_walk(Layout& l, const BoundQuery& q, const PlanChoice& c, const PlanContext& ctx) {
  l.walk_bound_keys = static_cast<int64_t>(walk_bound(q, Estimator(q, ctx.stats, &ctx)));
  l.walk_stop_at = walk_stop(q, c.driver_join, ctx.stats, static_cast<double>(l.walk_bound_keys));
  l.walk_fallback = std::make_shared<const Layout>(make_layout(q, *c.fallback, ctx));
}

}  // namespace

Layout make_layout(const BoundQuery& q, const PlanChoice& c, const PlanContext& ctx) {
  Layout l;
  l.source = c.source;
  l.entity_join =
      !(c.source == Source::kValueIndex || c.source == Source::kUnion || c.source == Source::kIntersect) ||
      needs_entity_row(q);
  l.driver_join = c.driver_join;
  l.inner_order = c.inner_order;
  if (c.source == Source::kValueIndex && c.bounded_walk) set_walk(l, q, c, ctx);
  // A sorted page of an EAV plan that sorts (not an index-order top-N scan, which stops at LIMIT
  // by itself) fetches its output-only columns for the page's rows alone.
  const bool sorts = c.source == Source::kEntityScan || c.source == Source::kUnion ||
                     (c.source == Source::kValueIndex && !c.leaf_paths.empty());
  if (sorts && !c.null_split) l.late_joins = late_joins(q);
  // `a IS NULL` among the WHERE's conjuncts holds for no entity when every entity of the type
  // holds a: the store's exact counts gate the statement, which then reads two primary keys
  // instead of testing every candidate (zipcodes Q8, county held by all 42,049 entities).
  if (c.source != Source::kFlat && c.source != Source::kLegacy)
    if (const int j = null_test_join(q); j >= 0) l.gate = missing_value_gate(q, j);
  if (c.source == Source::kUnion || c.source == Source::kFlat || c.source == Source::kIntersect)
    for (const auto& p : c.leaf_paths) l.union_leaves.push_back(resolve(q.where.get(), p));
  if (c.source == Source::kFlat && ctx.flat) {
    l.flat_table = ctx.flat->table;
    l.driver_join = -1;
    const BoundPred* leaf = c.leaf_paths.size() == 1 ? l.union_leaves[0] : nullptr;
    if (c.leaf_paths.empty() && c.driver_join < 0) {
      l.flat_access = Layout::FlatAccess::kScan;
    } else if (c.leaf_paths.empty()) {  // top-N in the key index's order
      l.flat_access = Layout::FlatAccess::kIndex;
      l.flat_index = flat::index_name(ctx.flat->table, q.joins[static_cast<std::size_t>(c.driver_join)].attribute->code);
      if (c.bounded_walk) set_walk(l, q, c, ctx);
    } else if (leaf && flat_index_pinnable(*leaf)) {
      l.flat_access = Layout::FlatAccess::kIndex;
      l.flat_index = flat::index_name(ctx.flat->table, q.joins[static_cast<std::size_t>(leaf->column.join)].attribute->code);
    }
  }
  return l;
}

double estimate_where_rows(const BoundQuery& q, const TypeStats* stats) {
  Estimator est(q, stats);
  return q.where ? est.pred_rows(*q.where) : est.entities();
}

PlanNodeInfo describe_plan(const BoundQuery& q, const PlanChoice& c, const PlanContext& ctx) {
  Estimator est(q, ctx.stats, &ctx);
  const double n = est.entities();
  const std::vector<double> sel = join_selectivity(q, est);
  PlanNodeInfo node;
  double rows = n;
  switch (c.source) {
    case Source::kFlat:
      node = {"FlatScan", ctx.flat ? ctx.flat->table + " (rowid order, NOT INDEXED)" : "", n, {}};
      if (c.leaf_paths.empty() && c.driver_join >= 0 && q.aggregate) {
        const std::string& code = q.joins[static_cast<std::size_t>(c.driver_join)].attribute->code;
        node = {"IndexOrderScan", fmt::format("{} ascending via {} (INDEXED BY): groups arrive in key order", code,
                                              flat::index_name(ctx.flat ? ctx.flat->table : "", code)), n, {}};
      } else if (c.leaf_paths.empty() && c.driver_join >= 0 && c.bounded_walk) {
        const std::string& code = q.joins[static_cast<std::size_t>(c.driver_join)].attribute->code;
        const bool desc = q.order_by.front().desc;
        const SqlParam stop = walk_stop(q, c.driver_join, ctx.stats, walk_bound(q, est));
        const std::string until = std::holds_alternative<std::monostate>(stop)
                                      ? std::string("every key")
                                      : fmt::format("{} {} {}", code, desc ? ">=" : "<=", describe(stop));
        node = {"BoundedIndexWalk",
                fmt::format("{} {} via {} (INDEXED BY) while {} (about {} keys); not exact: the {} plan + sort", code,
                            desc ? kDescendingWalk : "ascending", flat::index_name(ctx.flat ? ctx.flat->table : "", code),
                            until, walk_bound(q, est), c.fallback && !c.fallback->leaf_paths.empty() ? "filter-index" : "full-scan"),
                std::min(walk_bound(q, est), n), {}};
      } else if (c.leaf_paths.empty() && c.driver_join >= 0) {
        const double needed = static_cast<double>(q.limit.value_or(0) + q.offset.value_or(0));
        const double share = std::max((q.where ? est.pred_rows(*q.where) : n) / n, 1e-9);
        const std::string& code = q.joins[static_cast<std::size_t>(c.driver_join)].attribute->code;
        node = {"IndexOrderScan", fmt::format("{} ascending via {} (INDEXED BY), stops at LIMIT", code,
                                              flat::index_name(ctx.flat ? ctx.flat->table : "", code)),
                std::min(est.non_null(q.order_by.front().value.column), needed / share), {}};
      } else if (c.leaf_paths.size() == 1) {
        const BoundPred* leaf = resolve(q.where.get(), c.leaf_paths[0]);
        const double r = est.leaf_rows(*leaf);
        const std::string& code = q.joins[static_cast<std::size_t>(leaf->column.join)].attribute->code;
        PlanNodeInfo i{"IndexScan", fmt::format("{} via {}{}", describe(*leaf), flat::index_name(ctx.flat ? ctx.flat->table : "", code),
                                                flat_index_pinnable(*leaf) ? " (INDEXED BY)" : ""), r, {}};
        node = {"FlatLookup", fmt::format("{} by id", ctx.flat ? ctx.flat->table : ""), r, {std::move(i)}};
      } else if (!c.leaf_paths.empty()) {
        std::vector<const BoundPred*> leaves;
        for (const auto& p : c.leaf_paths) leaves.push_back(resolve(q.where.get(), p));
        PlanNodeInfo u{"IndexUnion",
                       or_of_leaves(q, leaves)
                           ? "MULTI-INDEX OR: each branch's index lookups, rows fetched in the same loop, de-duplicated"
                           : "UNION of flat-table index lookups (OR branches)",
                       0, {}};
        for (const BoundPred* leaf : leaves) {
          double r = est.leaf_rows(*leaf);
          u.estimated_rows += r;
          u.children.push_back({"IndexScan", fmt::format("{} via the flat table's index", describe(*leaf)), r, {}});
        }
        u.estimated_rows = std::min(u.estimated_rows, n);
        node = {"FlatLookup", fmt::format("{} by id", ctx.flat ? ctx.flat->table : ""), u.estimated_rows, {std::move(u)}};
      }
      if (q.where) {
        rows = est.pred_rows(*q.where);
        node = {"Filter", describe(*q.where), rows, {std::move(node)}};
      }
      break;
    case Source::kEntityScan:
      node = {"TypeScan", fmt::format("eav_entity(type_id, id) for type '{}'", q.type->code), n, {}};
      break;
    case Source::kValueIndex: {
      const BoundPred* leaf = c.leaf_paths.empty() ? nullptr : resolve(q.where.get(), c.leaf_paths[0]);
      const std::string& code = q.joins[static_cast<std::size_t>(c.driver_join)].attribute->code;
      if (leaf) {
        rows = est.leaf_rows(*leaf);
        node = {"IndexScan", fmt::format("{} via {}(attribute_id, value)", describe(*leaf), source_table(q, c.driver_join)), rows, {}};
        const double own = std::max(rows / n, 1e-12);
        rows *= std::min(1.0, sel[static_cast<std::size_t>(c.driver_join)] / own);
      } else {
        const double needed = static_cast<double>(q.limit.value_or(0) + q.offset.value_or(0));
        const double share = std::max((q.where ? est.pred_rows(*q.where) : n) / n, 1e-9);
        rows = std::min(est.non_null(q.order_by.front().value.column), needed / share);
        const bool desc = q.order_by.front().desc;
        node = {"IndexOrderScan", fmt::format("{} {} via {}(attribute_id, value), stops at LIMIT", code,
                                              desc ? "descending" : "ascending", source_table(q, c.driver_join)), rows, {}};
        if (c.bounded_walk) {
          const double bound = walk_bound(q, est);
          const SqlParam stop = walk_stop(q, c.driver_join, ctx.stats, bound);
          const std::string until = std::holds_alternative<std::monostate>(stop)
                                        ? std::string("every key")
                                        : fmt::format("{} {} {}", code, desc ? ">=" : "<=", describe(stop));
          node = {"BoundedIndexWalk",
                  fmt::format("{} {} via {}(attribute_id, value) while {} (about {} keys); not exact: the {} plan + sort",
                              code, desc ? kDescendingWalk : "ascending", source_table(q, c.driver_join), until, bound,
                              c.fallback && !c.fallback->leaf_paths.empty() ? "filter-index" : "type-scan"),
                  std::min(bound, rows * kWalkFactor), {}};
        }
        rows *= sel[static_cast<std::size_t>(c.driver_join)];
      }
      if (needs_entity_row(q)) node = {"Join", "eav_entity by id", rows, {std::move(node)}};
      break;
    }
    case Source::kUnion: {
      PlanNodeInfo u{"IndexUnion", "UNION of index lookups (OR / IN branches)", 0, {}};
      for (const auto& p : c.leaf_paths) {
        const BoundPred* leaf = resolve(q.where.get(), p);
        double r = est.leaf_rows(*leaf);
        u.estimated_rows += r;
        u.children.push_back({"IndexScan", fmt::format("{} via {}(attribute_id, value)", describe(*leaf),
                                                       source_table(q, leaf->column.join)), r, {}});
      }
      rows = std::min(u.estimated_rows, n);
      u.estimated_rows = rows;
      node = needs_entity_row(q) ? PlanNodeInfo{"Join", "eav_entity by id", rows, {std::move(u)}} : std::move(u);
      break;
    }
    case Source::kIntersect: {
      PlanNodeInfo x{"IndexIntersection", "entity ids found by every index lookup, intersected in memory", 0, {}};
      double cand = n;
      for (const auto& p : c.leaf_paths) {
        const BoundPred* leaf = resolve(q.where.get(), p);
        const double r = est.leaf_rows(*leaf);
        cand *= std::min(1.0, r / std::max(n, 1.0));
        x.children.push_back({"IndexScan", fmt::format("{} via {}(attribute_id, value)", describe(*leaf),
                                                       source_table(q, leaf->column.join)), r, {}});
      }
      rows = cand;
      x.estimated_rows = rows;
      node = needs_entity_row(q) ? PlanNodeInfo{"Join", "eav_entity by id", rows, {std::move(x)}} : std::move(x);
      break;
    }
    case Source::kLegacy: node = {"Legacy", "SQLite-ordered joins", n, {}}; break;
  }
  if (c.source != Source::kFlat) {
    std::vector<bool> joined(q.joins.size(), true);
    std::vector<const BoundPred*> leaves;
    if (c.source == Source::kIntersect) {
      for (const auto& p : c.leaf_paths) leaves.push_back(resolve(q.where.get(), p));
      joined = joins_after_intersection(q, leaves);
    }
    for (int j : c.inner_order) {
      // An intersection's ids already satisfy its lookups: a join only they read is left out,
      // and the candidates already hold their selectivity.
      const bool intersected = std::any_of(leaves.begin(), leaves.end(), [&](const BoundPred* l) { return l->column.join == j; });
      if (!joined[static_cast<std::size_t>(j)]) continue;
      if (!intersected) rows *= sel[static_cast<std::size_t>(j)];
      const BoundJoin& bj = q.joins[static_cast<std::size_t>(j)];
      node = {"Join", fmt::format("{} via eav_value_{}(entity_id, attribute_id)", bj.attribute->code,
                                  value_type_name(bj.attribute->type)), rows, {std::move(node)}};
    }
    std::string fetched;
    for (std::size_t k = 0; k < q.joins.size(); ++k)
      if (!q.joins[k].inner) fetched += (fetched.empty() ? "" : ", ") + q.joins[k].attribute->code;
    if (q.where) {
      rows = std::min(rows, est.pred_rows(*q.where));
      node = {"Filter", describe(*q.where), rows, {std::move(node)}};
    }
    // Late fetch (make_layout): the output-only columns are read for the LIMIT page alone.
    const bool sorts = c.source == Source::kEntityScan || c.source == Source::kUnion ||
                       (c.source == Source::kValueIndex && !c.leaf_paths.empty());
    std::string late;
    if (sorts && !c.null_split) {
      const std::vector<bool> lj = late_joins(q);
      for (std::size_t k = 0; k < lj.size(); ++k)
        if (lj[k]) late += (late.empty() ? "" : ", ") + q.joins[k].attribute->code;
    }
    if (!fetched.empty())
      node = {"Fetch", fetched + " (left joins by primary key" +
                           (late.empty() ? std::string(")") : "; " + late + " only for the rows of the LIMIT page)"),
              rows, {std::move(node)}};
  }
  if (q.aggregate) {
    std::string keys;
    for (const auto& g : q.group_by) keys += (keys.empty() ? "" : ", ") + g.code;
    double groups = 1;
    if (!q.group_by.empty()) {
      groups = 1;
      for (const auto& g : q.group_by) {
        const AttributeStats* s = est.attr(g);
        groups *= s ? std::max(1.0, s->distinct) + 1 : 10.0;
      }
      groups = std::min(groups, rows);
    }
    rows = groups;
    node = {"Aggregate", keys.empty() ? "one row" : "GROUP BY " + keys, rows, {std::move(node)}};
  }
  if (needs_order(q)) {
    std::string keys;
    for (const auto& o : q.order_by)
      keys += (keys.empty() ? "" : ", ") + (o.value.agg == Agg::kNone ? o.value.column.code : std::string("aggregate")) +
              (o.desc ? " DESC" : " ASC");
    // Ties break as the generator orders them: by the group keys for an aggregate, else by id.
    if (q.aggregate)
      for (const auto& g : q.group_by) keys += (keys.empty() ? "" : ", ") + g.code + " ASC";
    else
      keys += keys.empty() ? "id ASC" : ", id ASC";
    const bool index_order = (c.source == Source::kValueIndex || (c.source == Source::kFlat && c.driver_join >= 0)) &&
                             c.leaf_paths.empty() && !q.aggregate;
    std::string how = index_order ? " (index order)" : "";
    if (c.null_split)
      how = fmt::format(" (index order over entities with {}; those without it {})",
                        q.joins[static_cast<std::size_t>(c.driver_join)].attribute->code,
                        q.order_by.front().nulls_first
                            ? "come first, read only when the store's exact counts say some entity lacks it"
                            : "follow only when fewer match");
    node = {index_order ? "TopN" : "Sort", keys + how, rows, {std::move(node)}};
  }
  if (q.limit || q.offset) {
    const double off = static_cast<double>(q.offset.value_or(0));
    rows = std::max(0.0, rows - off);
    if (q.limit) rows = std::min(rows, static_cast<double>(*q.limit));
    node = {"Limit", fmt::format("{}{}", q.limit ? std::to_string(*q.limit) : "ALL",
                                 q.offset ? fmt::format(" OFFSET {}", *q.offset) : ""), rows, {std::move(node)}};
  }
  return node;
}

}  // namespace eavdb::query
