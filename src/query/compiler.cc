#include "query/compiler.h"

#include <fmt/format.h>

#include "eavdb/error.h"
#include "query/binder.h"
#include "query/parser.h"
#include "query/sqlgen.h"

namespace eavdb::query {

CompiledQuery compile(std::string_view sql, const std::vector<Value>& params, const Catalog& catalog) {
  if (sql.size() > kMaxQueryBytes)
    throw Error(ErrorCode::kLimit,
                fmt::format("query is {} bytes; at most {} are accepted", sql.size(), kMaxQueryBytes));
  return generate(query::bind(parse(sql), params, catalog));
}

}  // namespace eavdb::query
