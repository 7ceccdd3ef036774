// eavdb — importing JSON arrays, NDJSON and CSV files into an entity type.
//
// Two streaming passes over the file: the first infers attribute types (rules in README.md,
// "Import"), the second converts and writes the records in chunks through Database::commit.
// Memory does not grow with the file's size. Bad records are rejected with their record number,
// line, field and reason; every other record is imported.
// Thread-safety: one import per call; several imports may run on one Database concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "eavdb/database.h"

namespace eavdb {

/// One rejected input record.
struct Rejection {
  int64_t record = 0;  ///< 1-based record number in the file
  int64_t line = 0;    ///< 1-based line where the record starts
  std::string field;   ///< source field name ("" when the whole record is bad)
  std::string reason;
};

/// Progress of a running import, reported after every committed chunk.
struct ImportProgress {
  int64_t records_done = 0;   ///< records read in the writing pass so far
  int64_t records_total = 0;  ///< records in the file (known after the inference pass)
};

/// How to import.
struct ImportOptions {
  std::string type;          ///< target entity type code (created when absent)
  std::string format;        ///< "json", "ndjson", "csv", or "" to use the file extension
  std::string rejects_path;  ///< when set, rejected records are written there as NDJSON
  int64_t chunk_size = 1000; ///< records per commit
  std::function<void(const ImportProgress&)> on_progress;  ///< optional
};

/// What an import did.
struct ImportReport {
  int64_t records_read = 0;
  int64_t imported = 0;
  int64_t rejected = 0;
  int64_t values_written = 0;           ///< attribute value rows written
  int64_t first_id = 0, last_id = 0;    ///< id range of the imported entities (0 when none)
  std::vector<std::string> new_attributes;  ///< codes of attributes the import created
  std::vector<Rejection> rejections;    ///< the first 1,000 rejections (all go to rejects_path)
  double seconds = 0;                   ///< wall time of both passes
};

/// Imports `path` into `options.type`. An existing type's declared attributes keep their types
/// (values that do not fit are rejections); columns it lacks are added with inferred types.
/// Entity ids ascend in input order. Throws Error(kIo) when the file cannot be read,
/// Error(kInvalidArgument) for an unknown format or invalid type code; record-level problems are
/// rejections, never exceptions.
ImportReport import_file(Database& db, const std::string& path, const ImportOptions& options);

}  // namespace eavdb
