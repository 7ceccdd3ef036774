#include "query/parser.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>

#include "eavdb/error.h"
#include "query/compiler.h"

namespace eavdb::query {

namespace {

// Words that can never be a bare (unquoted) column, type or alias name.
constexpr std::array<std::string_view, 22> kReserved = {
    "select", "from", "where", "group", "by",   "order", "limit", "offset", "and",  "or",    "not",
    "in",     "between", "like", "is",  "null", "true",  "false", "as",     "asc",  "desc",  "nulls"};

bool is_reserved(std::string_view word) {
  return std::find(kReserved.begin(), kReserved.end(), word) != kReserved.end();
}

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : t_(std::move(tokens)) {}

  SelectStmt parse_statement() {
    SelectStmt s;
    expect_kw("select", "SELECT");
    if (peek().kind == Tok::kStar) {
      next();
      s.star = true;
    } else {
      do s.items.push_back(parse_select_item());
      while (accept(Tok::kComma));
    }
    expect_kw("from", "FROM");
    s.from = parse_name("entity type");
    if (accept_kw("where")) s.where = parse_or(0);
    if (accept_kw("group")) {
      expect_kw("by", "BY");
      do s.group_by.push_back(parse_name("column"));
      while (accept(Tok::kComma));
    }
    if (accept_kw("order")) {
      expect_kw("by", "BY");
      do s.order_by.push_back(parse_order_item());
      while (accept(Tok::kComma));
    }
    if (accept_kw("limit")) s.limit = parse_count("LIMIT");
    if (accept_kw("offset")) s.offset = parse_count("OFFSET");
    if (accept(Tok::kSemicolon) && peek().kind != Tok::kEnd) fail_expected("end of query");
    if (peek().kind != Tok::kEnd) {
      // Name the clauses that could still follow, in grammar order.
      std::vector<std::string_view> could;
      if (!s.where && s.group_by.empty() && s.order_by.empty() && !s.limit && !s.offset) could.push_back("WHERE");
      if (s.group_by.empty() && s.order_by.empty() && !s.limit && !s.offset) could.push_back("GROUP BY");
      if (s.order_by.empty() && !s.limit && !s.offset) could.push_back("ORDER BY");
      if (!s.limit && !s.offset) could.push_back("LIMIT");
      if (!s.offset) could.push_back("OFFSET");
      could.push_back("end of query");
      std::string what;
      for (std::size_t k = 0; k < could.size(); ++k)
        what += fmt::format("{}{}", k == 0 ? "" : (k + 1 == could.size() ? " or " : ", "), could[k]);
      fail_expected(what);
    }
    s.param_count = params_;
    return s;
  }

 private:
  std::vector<Token> t_;
  std::size_t i_ = 0;
  int params_ = 0;

  const Token& peek(std::size_t k = 0) const { return t_[std::min(i_ + k, t_.size() - 1)]; }
  const Token& next() {
    const Token& t = peek();
    if (i_ + 1 < t_.size()) ++i_;
    return t;
  }
  static bool is_kw(const Token& t, std::string_view kw) { return t.kind == Tok::kIdent && t.text == kw; }
  bool accept(Tok kind) {
    if (peek().kind != kind) return false;
    next();
    return true;
  }
  bool accept_kw(std::string_view kw) {
    if (!is_kw(peek(), kw)) return false;
    next();
    return true;
  }
  void expect(Tok kind, std::string_view what) {
    if (!accept(kind)) fail_expected(what);
  }
  void expect_kw(std::string_view kw, std::string_view display) {
    if (!accept_kw(kw)) fail_expected(display);
  }
  [[noreturn]] void fail_expected(std::string_view what) const {
    throw Error(ErrorCode::kSyntax,
                syntax_message(peek().pos, fmt::format("expected {}, found {}", what, describe(peek()))));
  }
  [[noreturn]] static void fail_depth(Pos pos) {
    throw Error(ErrorCode::kLimit,
                fmt::format("expression nested deeper than {} levels at line {}, column {}",
                            kMaxExpressionDepth, pos.line, pos.column));
  }

  // A column, type or alias name: an unreserved identifier or a quoted identifier.
  ColumnRef parse_name(std::string_view what) {
    const Token& t = peek();
    if (t.kind == Tok::kQuotedIdent || (t.kind == Tok::kIdent && !is_reserved(t.text))) {
      next();
      return {t.text, t.pos};
    }
    fail_expected(what);
  }

  // column | COUNT(*) | COUNT|SUM|AVG|MIN|MAX(column)
  ValueExpr parse_value_expr() {
    ValueExpr e;
    const Token& t = peek();
    e.pos = t.pos;
    static constexpr std::array<std::pair<std::string_view, Agg>, 5> kAggs = {
        {{"count", Agg::kCount}, {"sum", Agg::kSum}, {"avg", Agg::kAvg}, {"min", Agg::kMin}, {"max", Agg::kMax}}};
    if (t.kind == Tok::kIdent && peek(1).kind == Tok::kLParen) {
      auto it = std::find_if(kAggs.begin(), kAggs.end(), [&](const auto& a) { return a.first == t.text; });
      if (it == kAggs.end())
        throw Error(ErrorCode::kSyntax,
                    syntax_message(t.pos, fmt::format("unknown function '{}' (expected COUNT, SUM, AVG, MIN or MAX)", t.raw)));
      next();
      next();
      e.agg = it->second;
      if (e.agg == Agg::kCount && accept(Tok::kStar)) {
        e.agg = Agg::kCountStar;
      } else {
        e.column = parse_name(e.agg == Agg::kCount ? "column or *" : "column");
      }
      expect(Tok::kRParen, "')'");
      return e;
    }
    e.column = parse_name("column");
    return e;
  }

  SelectItem parse_select_item() {
    SelectItem item{parse_value_expr(), std::nullopt};
    if (accept_kw("as")) {
      item.alias = parse_name("alias").name;
    } else if (peek().kind == Tok::kQuotedIdent ||
               (peek().kind == Tok::kIdent && !is_reserved(peek().text))) {
      // A bare alias must end the item; otherwise the word is more likely a misspelt keyword.
      if (peek(1).kind != Tok::kComma && !is_kw(peek(1), "from")) fail_expected("FROM");
      item.alias = next().text;
    }
    return item;
  }

  OrderItem parse_order_item() {
    OrderItem o;
    o.expr = parse_value_expr();
    if (accept_kw("desc")) o.desc = true;
    else accept_kw("asc");
    if (accept_kw("nulls")) {
      if (accept_kw("first")) o.nulls_first = true;
      else if (accept_kw("last")) o.nulls_first = false;
      else fail_expected("FIRST or LAST");
    }
    return o;
  }

  // LIMIT / OFFSET operand: a non-negative integer up to kMaxLimit, or '?'.
  Literal parse_count(std::string_view clause) {
    const Token& t = peek();
    Literal lit;
    lit.pos = t.pos;
    lit.raw = std::string(t.raw);
    if (t.kind == Tok::kParam) {
      next();
      lit.kind = Literal::Kind::kParam;
      lit.param_index = params_++;
      return lit;
    }
    bool integer = t.kind == Tok::kNumber && t.text.find_first_of(".eE") == std::string::npos;
    if (!integer) fail_expected("integer or ?");
    next();
    int64_t v = 0;
    auto [end, ec] = std::from_chars(t.text.data(), t.text.data() + t.text.size(), v);
    if (ec != std::errc() || v < 0 || v > kMaxLimit)
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("{} must be between 0 and 2^62, got {} (line {}, column {})", clause, t.raw,
                              t.pos.line, t.pos.column));
    lit.kind = Literal::Kind::kInt;
    lit.int_value = v;
    return lit;
  }

  Literal parse_literal() {
    const Token& t = peek();
    Literal lit;
    lit.pos = t.pos;
    lit.raw = std::string(t.raw);
    switch (t.kind) {
      case Tok::kString:
        lit.kind = Literal::Kind::kString;
        lit.text = t.text;
        break;
      case Tok::kParam:
        lit.kind = Literal::Kind::kParam;
        lit.param_index = params_++;
        break;
      case Tok::kNumber: {
        int64_t v = 0;
        auto [end, ec] = std::from_chars(t.text.data(), t.text.data() + t.text.size(), v);
        if (ec == std::errc() && end == t.text.data() + t.text.size()) {
          lit.kind = Literal::Kind::kInt;
          lit.int_value = v;
          break;
        }
        auto d = Decimal::try_parse(t.text);
        if (!d)
          throw Error(ErrorCode::kInvalidArgument,
                      fmt::format("invalid number {} at line {}, column {}", t.raw, t.pos.line, t.pos.column));
        lit.kind = Literal::Kind::kNumber;
        lit.number = std::move(*d);
        break;
      }
      case Tok::kIdent:
        if (t.text == "true" || t.text == "false") {
          lit.kind = Literal::Kind::kInt;
          lit.int_value = t.text == "true";
          break;
        }
        if (t.text == "null") {
          lit.kind = Literal::Kind::kNull;
          break;
        }
        [[fallthrough]];
      default:
        fail_expected("literal");
    }
    next();
    return lit;
  }

  std::unique_ptr<Expr> parse_or(int depth) { return parse_chain(depth, "or", Expr::Kind::kOr); }

  std::unique_ptr<Expr> parse_chain(int depth, std::string_view kw, Expr::Kind kind) {
    Pos pos = peek().pos;
    auto first = kind == Expr::Kind::kOr ? parse_chain(depth, "and", Expr::Kind::kAnd) : parse_not(depth);
    if (!is_kw(peek(), kw)) return first;
    auto node = std::make_unique<Expr>();
    node->kind = kind;
    node->pos = pos;
    node->children.push_back(std::move(first));
    while (accept_kw(kw))
      node->children.push_back(kind == Expr::Kind::kOr ? parse_chain(depth, "and", Expr::Kind::kAnd)
                                                       : parse_not(depth));
    return node;
  }

  std::unique_ptr<Expr> parse_not(int depth) {
    std::vector<Pos> nots;
    while (is_kw(peek(), "not")) {
      if (depth + static_cast<int>(nots.size()) + 1 > kMaxExpressionDepth) fail_depth(peek().pos);
      nots.push_back(next().pos);
    }
    auto e = parse_primary(depth + static_cast<int>(nots.size()));
    for (auto it = nots.rbegin(); it != nots.rend(); ++it) {
      auto n = std::make_unique<Expr>();
      n->kind = Expr::Kind::kNot;
      n->pos = *it;
      n->children.push_back(std::move(e));
      e = std::move(n);
    }
    return e;
  }

  std::unique_ptr<Expr> parse_primary(int depth) {
    if (peek().kind == Tok::kLParen) {
      if (depth + 1 > kMaxExpressionDepth) fail_depth(peek().pos);
      next();
      auto e = parse_or(depth + 1);
      expect(Tok::kRParen, "')'");
      return e;
    }
    auto e = std::make_unique<Expr>();
    e->pos = peek().pos;
    e->column = parse_name("column or '('");
    if (peek().kind == Tok::kOp) {
      static constexpr std::array<std::pair<std::string_view, CompareOp>, 7> kOps = {
          {{"=", CompareOp::kEq}, {"!=", CompareOp::kNe}, {"<>", CompareOp::kNe}, {"<", CompareOp::kLt},
           {"<=", CompareOp::kLe}, {">", CompareOp::kGt}, {">=", CompareOp::kGe}}};
      const std::string& op = next().text;
      e->op = std::find_if(kOps.begin(), kOps.end(), [&](const auto& o) { return o.first == op; })->second;
      e->kind = Expr::Kind::kCompare;
      e->values.push_back(parse_literal());
      return e;
    }
    if (accept_kw("is")) {
      e->kind = Expr::Kind::kIsNull;
      e->negated = accept_kw("not");
      expect_kw("null", "NULL");
      return e;
    }
    e->negated = accept_kw("not");
    if (accept_kw("in")) {
      e->kind = Expr::Kind::kIn;
      expect(Tok::kLParen, "'('");
      do {
        if (e->values.size() == kMaxInListItems)
          throw Error(ErrorCode::kLimit, fmt::format("IN list at line {}, column {} has more than {} items",
                                                     e->pos.line, e->pos.column, kMaxInListItems));
        e->values.push_back(parse_literal());
      } while (accept(Tok::kComma));
      expect(Tok::kRParen, "',' or ')'");
    } else if (accept_kw("between")) {
      e->kind = Expr::Kind::kBetween;
      e->values.push_back(parse_literal());
      expect_kw("and", "AND");
      e->values.push_back(parse_literal());
    } else if (accept_kw("like")) {
      e->kind = Expr::Kind::kLike;
      e->values.push_back(parse_literal());
    } else {
      fail_expected(e->negated ? "IN, BETWEEN or LIKE" : "comparison operator, IN, BETWEEN, LIKE or IS");
    }
    return e;
  }
};

}  // namespace

SelectStmt parse(std::string_view sql) { return Parser(tokenize(sql)).parse_statement(); }

}  // namespace eavdb::query
