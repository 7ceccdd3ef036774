// eavdb::query — lexer for the query language of DESIGN.md §2.
//
// Pure function of its input; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace eavdb::query {

/// A position in the query text: 1-based line and column (columns count UTF-8 code points).
struct Pos {
  int line = 1;
  int column = 1;
};

/// Token kinds. Keywords are plain identifiers; the parser recognises them by text.
enum class Tok {
  kIdent,        ///< [A-Za-z_][A-Za-z0-9_]*; `text` is lower-cased
  kQuotedIdent,  ///< "..." with "" escape; `text` is the unescaped name, case kept
  kString,       ///< '...' with '' escape; `text` is the unescaped value
  kNumber,       ///< [-]digits[.digits][e[+-]digits]; `text` as written
  kParam,        ///< ?
  kComma,
  kLParen,
  kRParen,
  kStar,
  kSemicolon,
  kOp,  ///< = != <> < <= > >=; `text` is the operator
  kEnd,
};

/// One token: its kind, its (normalised) text, the source slice and where it starts.
struct Token {
  Tok kind = Tok::kEnd;
  std::string text;
  std::string_view raw;  ///< the token as written (points into the query text)
  Pos pos;
};

/// Builds the kSyntax message "syntax error at line L, column C: <what>".
std::string syntax_message(Pos pos, std::string_view what);

/// Renders a token for "found ..." in error messages: 'FORM', string 'x', end of query.
std::string describe(const Token& token);

/// Splits `sql` into tokens, ending with one kEnd token. Throws Error(kSyntax) for an
/// unterminated string or quoted identifier, a malformed number or an unexpected character.
std::vector<Token> tokenize(std::string_view sql);

}  // namespace eavdb::query
