// eavdb — importing JSON arrays, NDJSON and CSV files into an entity type.
//
// Two streaming passes over the file: the first infers attribute types (rules in README.md,
// "Import"), the second converts the records and writes them with BatchProcessor::insert.
// Memory does not grow with the file's size. Bad records are rejected with their record number,
// line, field and reason; every other record is imported.
// Thread-safety: one import per call; several imports may run on one Database concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "eavdb/batch.h"
#include "eavdb/database.h"

namespace eavdb {

/// One rejected input record.
struct Rejection {
  int64_t record = 0;  ///< 1-based record number in the file
  int64_t line = 0;    ///< 1-based line where the record starts
  std::string field;   ///< source field name ("" when the whole record is bad)
  std::string reason;
};

/// How to import.
struct ImportOptions {
  std::string type;          ///< target entity type code (created when absent)
  std::string format;        ///< "json", "ndjson", "csv", or "" to use the file extension
  std::string rejects_path;  ///< when set, rejected records are written there as NDJSON
  /// When set, this attribute identifies entities: declared `unique` when the import creates it
  /// (Error(kInvalidArgument) when it exists and is not unique), so reruns can upsert on it.
  std::string key;
  int64_t chunk_size = 1000;        ///< records per multi-row write / savepoint group
  int64_t transaction_size = 5000;  ///< records per committed transaction
  OnError on_error = OnError::kSkip;
  /// Optional; called after each transaction of the writing pass (total = records in the file).
  std::function<void(const BatchProgress&)> on_progress;
};

/// What an import did.
struct ImportReport {
  int64_t records_read = 0;
  int64_t imported = 0;
  int64_t rejected = 0;
  bool aborted = false;                 ///< stopped at the first rejection (OnError::kAbort)
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
