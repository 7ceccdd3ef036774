#include "query/binder.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <map>
#include <set>

#include "eavdb/error.h"
#include "query/parser.h"

namespace eavdb::query {

namespace {

using System = BoundColumn::System;

constexpr std::array<std::pair<std::string_view, System>, 4> kSystemColumns = {{
    {"id", System::kId},
    {"version", System::kVersion},
    {"created_at", System::kCreatedAt},
    {"updated_at", System::kUpdatedAt},
}};

std::string hint(const std::string& suggestion) {
  return suggestion.empty() ? "" : fmt::format(" (did you mean '{}'?)", suggestion);
}

// An operand converted for a column. For int columns a non-integer number is kept as its floor
// so comparisons can be rewritten exactly (x > 5.5 -> x >= 6); see int_operand.
struct Operand {
  SqlParam param;
  bool fraction = false;  ///< int column, non-integer value in (floor, floor + 1)
  int64_t floor = 0;
};

// Converts an exact decimal for comparison with an int column: an integer that fits int64 binds
// as INTEGER; a non-integer whose floor and ceiling fit is kept as `fraction`; anything larger
// than int64 binds as REAL (SQLite compares INTEGER with REAL exactly, and every int64 is then
// on one side of it).
Operand int_operand(const Decimal& d) {
  const std::string& s = d.str();
  bool neg = s[0] == '-';
  std::size_t dot = s.find('.');
  std::string_view whole = std::string_view(s).substr(neg, (dot == std::string::npos ? s.size() : dot) - neg);
  bool integer = d.is_integer();
  uint64_t mag = 0;
  auto [end, ec] = std::from_chars(whole.data(), whole.data() + whole.size(), mag);
  constexpr uint64_t kMaxPos = static_cast<uint64_t>(INT64_MAX);
  Operand out;
  if (ec == std::errc()) {
    if (!neg && mag <= kMaxPos) {
      if (integer) return {static_cast<int64_t>(mag), false, 0};
      if (mag < kMaxPos) return {std::monostate{}, true, static_cast<int64_t>(mag)};
    } else if (neg) {
      uint64_t floor_mag = mag + (integer ? 0 : 1);  // floor(-m.f) = -(m + 1)
      if (floor_mag >= mag && floor_mag <= kMaxPos + 1) {
        int64_t floor = floor_mag == kMaxPos + 1 ? INT64_MIN : -static_cast<int64_t>(floor_mag);
        if (integer) return {floor, false, 0};
        return {std::monostate{}, true, floor};
      }
    }
  }
  out.param = d.to_double();
  return out;
}

class Binder {
 public:
  Binder(const SelectStmt& stmt, const std::vector<Value>& params, const Catalog& catalog)
      : s_(stmt), params_(params), catalog_(catalog) {}

  BoundQuery run() {
    if (static_cast<std::size_t>(s_.param_count) != params_.size())
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("query has {} parameter{}, {} given", s_.param_count,
                              s_.param_count == 1 ? "" : "s", params_.size()));
    q_.type = catalog_.find_type(s_.from.name);
    if (!q_.type)
      throw Error(ErrorCode::kNotFound, fmt::format("unknown entity type '{}'{}", s_.from.name,
                                                    hint(nearest_name(s_.from.name, catalog_.type_codes()))));
    q_.star = s_.star;
    if (s_.star && !s_.group_by.empty())
      throw Error(ErrorCode::kInvalidArgument, "SELECT * cannot be combined with GROUP BY");
    for (const auto& g : s_.group_by) q_.group_by.push_back(resolve(g));
    bind_outputs();
    if (s_.where) {
      q_.where = bind_pred(*s_.where);
      if (std::size_t n = count_predicates(*q_.where); n > kMaxPredicates)
        throw Error(ErrorCode::kLimit,
                    fmt::format("WHERE has {} predicates; at most {} are supported (use IN lists for long "
                                "value lists)", n, kMaxPredicates));
      mark_inner_joins();
    }
    bind_order();
    if (s_.limit) q_.limit = bind_count(*s_.limit, "LIMIT");
    if (s_.offset) q_.offset = bind_count(*s_.offset, "OFFSET");
    return std::move(q_);
  }

 private:
  const SelectStmt& s_;
  const std::vector<Value>& params_;
  const Catalog& catalog_;
  BoundQuery q_;
  std::map<const AttributeDef*, int> join_of_;

  BoundColumn resolve(const ColumnRef& ref) {
    for (const auto& [name, sys] : kSystemColumns) {
      if (ref.name == name) {
        bool dt = sys == System::kCreatedAt || sys == System::kUpdatedAt;
        return {sys, -1, dt ? ValueType::kDatetime : ValueType::kInt, std::string(name)};
      }
    }
    const AttributeDef* attr = q_.type->find(ref.name);
    if (!attr) {
      std::string suggestion = q_.type->suggest(ref.name);
      if (suggestion.empty())
        suggestion = nearest_name(ref.name, {"id", "version", "created_at", "updated_at"});
      throw Error(ErrorCode::kNotFound, fmt::format("unknown attribute '{}' of type '{}'{}", ref.name,
                                                    q_.type->code, hint(suggestion)));
    }
    auto [it, added] = join_of_.emplace(attr, static_cast<int>(q_.joins.size()));
    if (added) {
      if (q_.joins.size() == kMaxQueryAttributes)
        throw Error(ErrorCode::kLimit,
                    fmt::format("query references more than {} attributes", kMaxQueryAttributes));
      q_.joins.push_back({attr, false});
    }
    return {System::kNone, it->second, attr->type, attr->code};
  }

  static std::string describe_column(const BoundColumn& c) {
    return fmt::format("{} {} '{}'", value_type_name(c.type),
                       c.system == System::kNone ? "attribute" : "column", c.code);
  }

  [[noreturn]] static void mismatch(const BoundColumn& c, std::string_view what) {
    throw Error(ErrorCode::kTypeMismatch, fmt::format("cannot compare {} with {}", describe_column(c), what));
  }

  // ---- values ------------------------------------------------------------------------------

  Operand operand(const Literal& lit, const BoundColumn& c) {
    switch (lit.kind) {
      case Literal::Kind::kNull:
        throw Error(ErrorCode::kTypeMismatch,
                    fmt::format("cannot compare {} with NULL at line {}, column {}; use IS NULL or IS NOT NULL",
                                describe_column(c), lit.pos.line, lit.pos.column));
      case Literal::Kind::kParam:
        return param_operand(lit.param_index, c);
      case Literal::Kind::kInt:
        if (c.type == ValueType::kInt) return {lit.int_value};
        if (c.type == ValueType::kDecimal) return {Decimal::from_int(lit.int_value).str()};
        mismatch(c, fmt::format("a number ({})", lit.raw));
      case Literal::Kind::kNumber:
        if (c.type == ValueType::kInt) return int_operand(lit.number);
        if (c.type == ValueType::kDecimal) return {lit.number.str()};
        mismatch(c, fmt::format("a number ({})", lit.raw));
      case Literal::Kind::kString:
        if (c.type == ValueType::kVarchar || c.type == ValueType::kText) return {lit.text};
        if (c.type == ValueType::kDatetime) {
          auto dt = DateTime::try_parse(lit.text);
          if (!dt) mismatch(c, fmt::format("{}: not a valid datetime", lit.raw));
          return {dt->micros};
        }
        mismatch(c, fmt::format("a string ({})", lit.raw));
    }
    mismatch(c, "an unknown literal");
  }

  Operand param_operand(int index, const BoundColumn& c) {
    const Value& v = params_[index];
    if (is_null(v)) return {std::monostate{}};
    try {
      switch (c.type) {
        case ValueType::kInt:
          if (auto* d = std::get_if<Decimal>(&v)) return int_operand(*d);
          return {std::get<int64_t>(coerce(v, ValueType::kInt))};
        case ValueType::kDecimal: return {std::get<Decimal>(coerce(v, ValueType::kDecimal)).str()};
        case ValueType::kDatetime: return {std::get<DateTime>(coerce(v, ValueType::kDatetime)).micros};
        case ValueType::kVarchar:
        case ValueType::kText: return {std::get<std::string>(coerce(v, ValueType::kText))};
      }
    } catch (const Error& e) {
      throw Error(ErrorCode::kTypeMismatch,
                  fmt::format("parameter {} does not fit {}: {}", index + 1, describe_column(c), e.what()));
    }
    mismatch(c, "a parameter");
  }

  int64_t bind_count(const Literal& lit, std::string_view clause) {
    if (lit.kind == Literal::Kind::kInt) return lit.int_value;
    const Value& v = params_[lit.param_index];
    std::optional<int64_t> n;
    try {
      if (!is_null(v)) n = std::get<int64_t>(coerce(v, ValueType::kInt));
    } catch (const Error&) {
    }
    if (!n || *n < 0 || *n > kMaxLimit)
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("{} must be an integer between 0 and 2^62, got parameter {} = '{}'", clause,
                              lit.param_index + 1, is_null(v) ? "NULL" : to_string(v)));
    return *n;
  }

  // ---- WHERE -------------------------------------------------------------------------------

  // Binds `e` (negated when `negate`) in negation normal form: NOT is pushed into the
  // predicates (NOT x = 1 -> x <> 1, NOT x IN -> x NOT IN, De Morgan for AND/OR; all exact in
  // SQL's three-valued logic) and nested AND/OR of the same kind are flattened.
  std::unique_ptr<BoundPred> bind_pred(const Expr& e, bool negate = false) {
    if (e.kind == Expr::Kind::kNot) return bind_pred(*e.children[0], !negate);
    auto p = std::make_unique<BoundPred>();
    if (e.kind == Expr::Kind::kAnd || e.kind == Expr::Kind::kOr) {
      p->kind = (e.kind == Expr::Kind::kAnd) != negate ? BoundPred::Kind::kAnd : BoundPred::Kind::kOr;
      for (const auto& c : e.children) {
        auto child = bind_pred(*c, negate);
        if (child->kind == p->kind) {
          for (auto& g : child->children) p->children.push_back(std::move(g));
        } else {
          p->children.push_back(std::move(child));
        }
      }
      merge_in_lists(*p);
      if (p->children.size() == 1) return std::move(p->children[0]);
      return p;
    }
    bind_predicate(e, *p);
    if (negate) {
      static constexpr CompareOp kNegated[] = {CompareOp::kNe, CompareOp::kEq, CompareOp::kGe,
                                               CompareOp::kGt, CompareOp::kLe, CompareOp::kLt};
      if (p->kind == BoundPred::Kind::kCompare) p->op = kNegated[static_cast<int>(p->op)];
      else if (p->kind == BoundPred::Kind::kConst) p->truth = !p->truth;
      else p->negated = !p->negated;  // IN, BETWEEN, LIKE, IS NULL
    }
    return p;
  }

  static std::size_t count_predicates(const BoundPred& p) {
    if (p.children.empty()) return 1;
    std::size_t n = 0;
    for (const auto& c : p.children) n += count_predicates(*c);
    return n;
  }

  // Merges equality tests of one column inside an OR into one IN list (x = 1 OR x IN (2, 3) ->
  // x IN (1, 2, 3)) and inequality tests inside an AND into one NOT IN; both are exact in
  // three-valued logic. SQLite analyses long OR chains in quadratic time; IN lists it does not.
  static void merge_in_lists(BoundPred& p) {
    bool is_or = p.kind == BoundPred::Kind::kOr;
    auto mergeable = [&](const BoundPred& c) {
      if (c.kind == BoundPred::Kind::kCompare) return c.op == (is_or ? CompareOp::kEq : CompareOp::kNe);
      return c.kind == BoundPred::Kind::kIn && c.negated != is_or;
    };
    std::map<std::pair<int, int>, BoundPred*> target;  // (system, join) -> the merged IN node
    std::vector<std::unique_ptr<BoundPred>> kept;
    for (auto& c : p.children) {
      if (!mergeable(*c)) {
        kept.push_back(std::move(c));
        continue;
      }
      auto key = std::make_pair(static_cast<int>(c->column.system), c->column.join);
      auto [it, added] = target.emplace(key, c.get());
      if (added) {
        c->kind = BoundPred::Kind::kIn;
        c->negated = !is_or;
        kept.push_back(std::move(c));
      } else {
        for (auto& v : c->values) it->second->values.push_back(std::move(v));
      }
    }
    p.children = std::move(kept);
  }

  // Binds a leaf predicate (comparison, IN, BETWEEN, LIKE, IS NULL) into `p`.
  void bind_predicate(const Expr& e, BoundPred& p) {
    p.negated = e.negated;
    p.column = resolve(e.column);
    const BoundColumn& c = p.column;
    switch (e.kind) {
      case Expr::Kind::kIsNull:
        p.kind = BoundPred::Kind::kIsNull;
        break;
      case Expr::Kind::kCompare: {
        p.kind = BoundPred::Kind::kCompare;
        p.op = e.op;
        Operand o = operand(e.values[0], c);
        if (!o.fraction) {
          p.values.push_back(std::move(o.param));
        } else if (e.op == CompareOp::kEq || e.op == CompareOp::kNe) {
          p.kind = BoundPred::Kind::kConst;  // an integer never equals a non-integer
          p.truth = e.op == CompareOp::kNe;
        } else if (e.op == CompareOp::kLt || e.op == CompareOp::kLe) {
          p.op = CompareOp::kLe;  // x < 5.5  <=>  x <= 5
          p.values.emplace_back(std::in_place_type<int64_t>, o.floor);
        } else {
          p.op = CompareOp::kGe;  // x > 5.5  <=>  x >= 6
          p.values.emplace_back(std::in_place_type<int64_t>, o.floor + 1);
        }
        break;
      }
      case Expr::Kind::kIn:
        p.kind = BoundPred::Kind::kIn;
        for (const auto& lit : e.values) {
          Operand o = operand(lit, c);
          if (!o.fraction) p.values.push_back(std::move(o.param));  // a non-integer never matches
        }
        if (p.values.empty()) {
          p.kind = BoundPred::Kind::kConst;
          p.truth = e.negated;
        }
        break;
      case Expr::Kind::kBetween: {
        p.kind = BoundPred::Kind::kBetween;
        Operand lo = operand(e.values[0], c), hi = operand(e.values[1], c);
        p.values.push_back(lo.fraction ? SqlParam(lo.floor + 1) : std::move(lo.param));
        p.values.push_back(hi.fraction ? SqlParam(hi.floor) : std::move(hi.param));
        break;
      }
      case Expr::Kind::kLike: {
        p.kind = BoundPred::Kind::kLike;
        if (c.type != ValueType::kVarchar && c.type != ValueType::kText)
          throw Error(ErrorCode::kTypeMismatch,
                      fmt::format("LIKE needs a varchar or text column; {} is not", describe_column(c)));
        p.values.push_back(operand(e.values[0], c).param);
        break;
      }
      default:
        break;
    }
  }

  // Top-level conjuncts that reject NULL (everything but IS NULL) make their join inner.
  void mark_inner_joins() {
    auto mark = [&](const BoundPred& p) {
      bool null_rejecting = p.kind == BoundPred::Kind::kCompare || p.kind == BoundPred::Kind::kIn ||
                            p.kind == BoundPred::Kind::kBetween || p.kind == BoundPred::Kind::kLike ||
                            p.kind == BoundPred::Kind::kConst ||
                            (p.kind == BoundPred::Kind::kIsNull && p.negated);
      if (null_rejecting && p.column.join >= 0) q_.joins[p.column.join].inner = true;
    };
    if (q_.where->kind == BoundPred::Kind::kAnd) {
      for (const auto& c : q_.where->children) mark(*c);
    } else {
      mark(*q_.where);
    }
  }

  // ---- SELECT list / ORDER BY ----------------------------------------------------------------

  BoundValue bind_value(const ValueExpr& e) {
    BoundValue v;
    v.agg = e.agg;
    if (e.agg == Agg::kCountStar) return v;
    v.column = resolve(e.column);
    ValueType t = v.column.type;
    bool numeric = t == ValueType::kInt || t == ValueType::kDecimal;
    switch (e.agg) {
      case Agg::kNone:
      case Agg::kMin:
      case Agg::kMax: v.type = t; break;
      case Agg::kCount:
      case Agg::kCountStar: v.type = ValueType::kInt; break;
      case Agg::kSum:
      case Agg::kAvg:
        if (!numeric)
          throw Error(ErrorCode::kTypeMismatch,
                      fmt::format("{} needs an int or decimal column; {} is not",
                                  e.agg == Agg::kSum ? "SUM" : "AVG", describe_column(v.column)));
        v.type = e.agg == Agg::kSum ? t : ValueType::kDecimal;
        break;
    }
    return v;
  }

  static std::string default_name(const BoundValue& v) {
    switch (v.agg) {
      case Agg::kNone: return v.column.code;
      case Agg::kCountStar: return "count";
      case Agg::kCount: return "count_" + v.column.code;
      case Agg::kSum: return "sum_" + v.column.code;
      case Agg::kAvg: return "avg_" + v.column.code;
      case Agg::kMin: return "min_" + v.column.code;
      case Agg::kMax: return "max_" + v.column.code;
    }
    return v.column.code;
  }

  bool grouped(const BoundColumn& c) const {
    return std::find(q_.group_by.begin(), q_.group_by.end(), c) != q_.group_by.end();
  }

  void require_grouped(const BoundValue& v) const {
    if (q_.aggregate && v.agg == Agg::kNone && !grouped(v.column))
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("column '{}' must appear in GROUP BY or be used in an aggregate", v.column.code));
  }

  void bind_outputs() {
    if (s_.star) {
      q_.columns.push_back({"id", ValueType::kInt});
      for (const auto& a : q_.type->attributes) q_.columns.push_back({a.code, a.type});
      return;
    }
    q_.aggregate = !s_.group_by.empty();
    std::set<std::string> used;
    for (const auto& item : s_.items) {
      BoundValue v = bind_value(item.expr);
      q_.aggregate |= v.agg != Agg::kNone;
      std::string base = item.alias ? *item.alias : default_name(v);
      std::string name = base;
      for (int n = 2; used.count(name); ++n) name = fmt::format("{}_{}", base, n);
      used.insert(name);
      q_.columns.push_back({name, v.type});
      q_.outputs.push_back(std::move(v));
    }
    for (const auto& v : q_.outputs) require_grouped(v);
  }

  void bind_order() {
    for (const auto& o : s_.order_by) {
      BoundOrder b;
      b.desc = o.desc;
      b.nulls_first = o.nulls_first.value_or(o.desc);
      bool found = false;
      if (o.expr.agg == Agg::kNone && !q_.star) {  // an output name wins over a column
        for (std::size_t k = 0; k < q_.columns.size() && !found; ++k) {
          if (q_.columns[k].name == o.expr.column.name) {
            b.value = q_.outputs[k];
            found = true;
          }
        }
      }
      if (!found) b.value = bind_value(o.expr);
      if (!q_.aggregate && b.value.agg != Agg::kNone)
        throw Error(ErrorCode::kInvalidArgument,
                    "an aggregate in ORDER BY needs GROUP BY or an aggregate in the select list");
      require_grouped(b.value);
      q_.order_by.push_back(std::move(b));
    }
  }
};

}  // namespace

BoundQuery bind(const SelectStmt& stmt, const std::vector<Value>& params, const Catalog& catalog) {
  return Binder(stmt, params, catalog).run();
}

std::unique_ptr<BoundPred> clone(const BoundPred& p) {
  auto c = std::make_unique<BoundPred>();
  c->kind = p.kind;
  c->op = p.op;
  c->negated = p.negated;
  c->truth = p.truth;
  c->column = p.column;
  c->values = p.values;
  for (const auto& child : p.children) c->children.push_back(clone(*child));
  return c;
}

BoundQuery clone(const BoundQuery& q) {
  BoundQuery c;
  c.type = q.type;
  c.star = q.star;
  c.aggregate = q.aggregate;
  c.joins = q.joins;
  c.outputs = q.outputs;
  c.columns = q.columns;
  if (q.where) c.where = clone(*q.where);
  c.group_by = q.group_by;
  c.order_by = q.order_by;
  c.limit = q.limit;
  c.offset = q.offset;
  return c;
}

}  // namespace eavdb::query
