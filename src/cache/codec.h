// eavdb::cache — compact binary encoding (MessagePack) of what the shared cache stores and sends:
// entity records, query results and invalidation messages.
//
// Layouts (msgpack arrays; the first element is the format version, currently 1):
//   entity        [1, id, type_id, version, created_at, updated_at, [attr, value, attr, value, ...]]
//   result        [1, select_star, [name, type, name, type, ...], [[value, ...], ...]]
//   invalidation  [1, ns, [type_id, id, version, ...], [tag, ...], origin, sent_at_us]
// A value keeps its exact type through the msgpack type of its encoding:
//   NULL → nil, int64 → int, string → str, Decimal → ext 1 (canonical text),
//   DateTime → ext 2 (µs since epoch, 8 bytes big-endian).
// varchar and text are both strings; the attribute or column type says which. A column type is
// the integer value of eavdb::ValueType.
//
// Decoding validates everything (types, counts, ranges, canonical decimals, no trailing bytes)
// and bounds every allocation by the input size, so truncated, corrupt or hostile bytes make it
// throw Error(kStorage, "corrupt cache record: ...") and never crash or allocate without bound.
//
// Thread-safety: free functions without shared state.
#pragma once

#include <string>
#include <string_view>

#include "cache/remote.h"
#include "eavdb/result.h"

namespace eavdb::cache {

/// Encodes an entity record (values in the order given).
std::string encode_entity(const EntityRecord& record);
/// Decodes encode_entity's output. Throws Error(kStorage) for anything else.
EntityRecord decode_entity(std::string_view bytes);

/// Encodes a query result.
std::string encode_result(const QueryResult& result);
/// Decodes encode_result's output (every row must have one value per column). Throws
/// Error(kStorage) for anything else.
QueryResult decode_result(std::string_view bytes);

/// Encodes an invalidation message.
std::string encode_invalidation(const Invalidation& inv);
/// Decodes encode_invalidation's output. Throws Error(kStorage) for anything else.
Invalidation decode_invalidation(std::string_view bytes);

}  // namespace eavdb::cache
