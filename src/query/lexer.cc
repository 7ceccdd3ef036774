#include "query/lexer.h"

#include <fmt/format.h>

#include "eavdb/error.h"

namespace eavdb::query {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_ident_char(char c) { return is_ident_start(c) || is_digit(c); }
// True when a number literal starts at sql[i]: a digit, ".5", "-5" or "-.5".
bool starts_number(std::string_view sql, std::size_t i) {
  auto digit_at = [&](std::size_t k) { return k < sql.size() && is_digit(sql[k]); };
  if (sql[i] == '-') ++i;
  return digit_at(i) || (i < sql.size() && sql[i] == '.' && digit_at(i + 1));
}
char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

[[noreturn]] void fail(Pos pos, std::string_view what) {
  throw Error(ErrorCode::kSyntax, syntax_message(pos, what));
}

// Reads a quoted run starting at sql[i] == quote; doubled quotes escape. Returns the content and
// moves i past the closing quote, or throws naming `what` at `pos`.
std::string read_quoted(std::string_view sql, std::size_t& i, char quote, Pos pos, std::string_view what) {
  std::string out;
  for (++i; i < sql.size(); ++i) {
    if (sql[i] != quote) {
      out += sql[i];
    } else if (i + 1 < sql.size() && sql[i + 1] == quote) {
      out += quote;
      ++i;
    } else {
      ++i;
      return out;
    }
  }
  fail(pos, fmt::format("unterminated {}", what));
}

}  // namespace

std::string syntax_message(Pos pos, std::string_view what) {
  return fmt::format("syntax error at line {}, column {}: {}", pos.line, pos.column, what);
}

std::string describe(const Token& token) {
  constexpr std::size_t kMax = 40;
  std::string_view raw = token.raw.substr(0, kMax);
  std::string_view more = token.raw.size() > kMax ? "..." : "";
  switch (token.kind) {
    case Tok::kEnd: return "end of query";
    case Tok::kString: return fmt::format("string {}{}", raw, more);
    case Tok::kQuotedIdent: return fmt::format("{}{}", raw, more);
    default: return fmt::format("'{}{}'", raw, more);
  }
}

std::vector<Token> tokenize(std::string_view sql) {
  std::vector<Token> out;
  Pos pos;
  std::size_t i = 0;
  // Advances `pos` over sql[from, to).
  auto advance = [&](std::size_t from, std::size_t to) {
    for (std::size_t k = from; k < to; ++k) {
      if (sql[k] == '\n') {
        ++pos.line;
        pos.column = 1;
      } else if ((static_cast<unsigned char>(sql[k]) & 0xC0) != 0x80) {
        ++pos.column;
      }
    }
  };
  while (true) {
    std::size_t ws = i;
    while (i < sql.size() && (sql[i] == ' ' || sql[i] == '\t' || sql[i] == '\n' || sql[i] == '\r'))
      ++i;
    advance(ws, i);
    Token t;
    t.pos = pos;
    std::size_t start = i;
    if (i == sql.size()) {
      t.kind = Tok::kEnd;
      t.raw = sql.substr(i);
      out.push_back(std::move(t));
      return out;
    }
    char c = sql[i];
    if (is_ident_start(c)) {
      while (i < sql.size() && is_ident_char(sql[i])) t.text += lower(sql[i++]);
      t.kind = Tok::kIdent;
    } else if (c == '"') {
      t.text = read_quoted(sql, i, '"', pos, "quoted identifier");
      if (t.text.empty()) fail(pos, "empty quoted identifier");
      t.kind = Tok::kQuotedIdent;
    } else if (c == '\'') {
      t.text = read_quoted(sql, i, '\'', pos, "string literal");
      t.kind = Tok::kString;
    } else if (starts_number(sql, i)) {
      if (c == '-') ++i;
      bool digits = false;
      while (i < sql.size() && is_digit(sql[i])) ++i, digits = true;
      if (i < sql.size() && sql[i] == '.') {
        ++i;
        while (i < sql.size() && is_digit(sql[i])) ++i, digits = true;
      }
      if (!digits) fail(pos, "malformed number");
      if (i < sql.size() && (sql[i] == 'e' || sql[i] == 'E')) {
        ++i;
        if (i < sql.size() && (sql[i] == '+' || sql[i] == '-')) ++i;
        if (i == sql.size() || !is_digit(sql[i])) fail(pos, fmt::format("malformed number '{}'", sql.substr(start, i - start)));
        while (i < sql.size() && is_digit(sql[i])) ++i;
      }
      if (i < sql.size() && (is_ident_char(sql[i]) || sql[i] == '.'))
        fail(pos, fmt::format("malformed number '{}'", sql.substr(start, i + 1 - start)));
      t.kind = Tok::kNumber;
      t.text = std::string(sql.substr(start, i - start));
    } else {
      ++i;
      switch (c) {
        case '?': t.kind = Tok::kParam; break;
        case ',': t.kind = Tok::kComma; break;
        case '(': t.kind = Tok::kLParen; break;
        case ')': t.kind = Tok::kRParen; break;
        case '*': t.kind = Tok::kStar; break;
        case ';': t.kind = Tok::kSemicolon; break;
        case '=': t.kind = Tok::kOp; break;
        case '!':
          if (i == sql.size() || sql[i] != '=') fail(pos, "unexpected character '!'");
          ++i;
          t.kind = Tok::kOp;
          break;
        case '<':
          if (i < sql.size() && (sql[i] == '=' || sql[i] == '>')) ++i;
          t.kind = Tok::kOp;
          break;
        case '>':
          if (i < sql.size() && sql[i] == '=') ++i;
          t.kind = Tok::kOp;
          break;
        default: {
          // Show the whole UTF-8 sequence of a non-ASCII character.
          std::size_t end = i;
          while (end < sql.size() && (static_cast<unsigned char>(sql[end]) & 0xC0) == 0x80) ++end;
          unsigned char uc = static_cast<unsigned char>(c);
          if (uc < 0x20 || uc == 0x7F)
            fail(pos, fmt::format("unexpected character 0x{:02x}", static_cast<unsigned>(uc)));
          fail(pos, fmt::format("unexpected character '{}'", sql.substr(start, end - start)));
        }
      }
      if (t.kind == Tok::kOp) t.text = std::string(sql.substr(start, i - start));
    }
    t.raw = sql.substr(start, i - start);
    advance(start, i);
    out.push_back(std::move(t));
  }
}

}  // namespace eavdb::query
