// eavdb::cli — `eavdb stats`: the library-level figures of a database file, without a server.
#pragma once

#include <ostream>
#include <string>

#include "eavdb/database.h"

namespace eavdb::cli {

/// Writes the figures of `db` (opened from `url` with `options`): file sizes, cache
/// configuration and this process's cache counters, entities per type, attributes, flat tables,
/// plan-cache counts and process RSS/CPU. `json`: one JSON object; otherwise "key: value" lines
/// grouped by section. Throws the Database's errors (counting a type runs a COUNT(*) query).
void write_stats(std::ostream& out, Database& db, const std::string& url, const Options& options, bool json);

}  // namespace eavdb::cli
