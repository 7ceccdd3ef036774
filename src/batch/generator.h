// eavdb::batch — a seeded synthetic product catalog (NDJSON) for benchmarks and scale tests.
//
// `eavdb gen catalog --entities N --seed S` writes N product entities drawn from a fixed schema of
// 42 attributes over all five value types. Presence and values are skewed the way real catalogs
// are (a few attributes on nearly every product, a long tail of rare ones; Zipf categories and
// brands; log-normal prices). Output depends only on (seed, entity ordinal): the same bytes on
// every run and platform, and the same however the range is split into chunks.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "eavdb/value.h"

namespace eavdb::batch {

/// One attribute of the synthetic catalog schema.
struct CatalogAttribute {
  std::string code;  ///< attribute code, also the JSON key ("sku", "price", ...)
  ValueType type;    ///< the type eavdb's import inference assigns to its values
  double presence;   ///< probability in [0, 1] that an entity has it (before the 5..25 clamp)
};

/// Fewest and most attributes any generated entity has (inclusive).
inline constexpr int kCatalogMinAttributes = 5;
inline constexpr int kCatalogMaxAttributes = 25;

/// The fixed schema the generator draws from, in output key order: "sku" and "name" first
/// (presence 1), then the optional attributes by decreasing presence. Thread-safe.
const std::vector<CatalogAttribute>& catalog_schema();

/// Writes `entities` NDJSON lines (one JSON object per entity, '\n'-terminated) to `out`,
/// deterministic for `seed` (same bytes on every run and platform). Entity k (1-based) has
/// "sku" = "SKU-" + k zero-padded to 8 digits. Memory use is constant in `entities`.
/// Throws Error(kInvalidArgument) for entities < 0; Error(kIo) when `out` fails.
/// Thread-safety: reentrant (no shared mutable state); one stream per call.
void generate_catalog(std::ostream& out, int64_t entities, uint64_t seed);

/// Writes the `count` entities with 0-based ordinals [first, first + count) of the catalog for
/// `seed`: concatenating consecutive ranges yields exactly generate_catalog's bytes, so chunks can
/// be generated independently (e.g. in parallel). Throws Error(kInvalidArgument) for first < 0 or
/// count < 0, Error(kIo) when `out` fails.
void generate_catalog_range(std::ostream& out, int64_t first, int64_t count, uint64_t seed);

}  // namespace eavdb::batch
