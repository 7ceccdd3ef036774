#include "query/compiler.h"

#include <fmt/format.h>

#include "eavdb/error.h"
#include "query/binder.h"
#include "query/lexer.h"
#include "query/parser.h"
#include "query/planner.h"
#include "query/sqlgen.h"

namespace eavdb::query {

std::string normalized_text(std::string_view sql) {
  if (sql.size() > kMaxQueryBytes)
    throw Error(ErrorCode::kLimit,
                fmt::format("query is {} bytes; at most {} are accepted", sql.size(), kMaxQueryBytes));
  std::string out;
  out.reserve(sql.size());
  for (const Token& t : tokenize(sql)) {
    if (t.kind == Tok::kEnd) break;
    // Kind tag and length prefix: 'x' and x, or one string and two tokens, never collide.
    out.push_back(static_cast<char>('A' + static_cast<int>(t.kind)));
    out.append(std::to_string(t.text.size()));
    out.push_back(':');
    out.append(t.text);
  }
  return out;
}

CompiledQuery compile(std::string_view sql, const std::vector<Value>& params, const Catalog& catalog) {
  if (sql.size() > kMaxQueryBytes)
    throw Error(ErrorCode::kLimit,
                fmt::format("query is {} bytes; at most {} are accepted", sql.size(), kMaxQueryBytes));
  return compile_bound(query::bind(parse(sql), params, catalog), Layout{});
}

CompiledQuery compile_bound(BoundQuery bound, const Layout& layout) {
  std::vector<int64_t> read;
  if (bound.star)
    for (const AttributeDef& a : bound.type->attributes) read.push_back(a.id);
  else
    for (const BoundJoin& j : bound.joins) read.push_back(j.attribute->id);
  const bool row_versions = needs_entity_row(bound);  // the L4 tag of row versions, too
  CompiledQuery q = generate(std::move(bound), layout);
  q.attributes_read = std::move(read);
  q.reads_row_versions = row_versions;
  return q;
}

}  // namespace eavdb::query
