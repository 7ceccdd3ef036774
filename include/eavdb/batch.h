// eavdb — bulk operations on one entity type: insert, upsert, update, delete and load.
//
// Input is a pull stream (RecordSource / IdSource), never a materialised vector: memory is bounded
// by the chunk size, not the input. Records are grouped into chunks (default 1,000) that are
// written with multi-row statements, and chunks into transactions (default 5,000 records), each
// committed through Database::commit, the one write funnel. A record that fails validation or a
// constraint is rejected with its index, field and reason; with OnError::kSkip the rest of its
// chunk still commits (the chunk is retried record by record under savepoints), with kAbort the
// batch stops and only whole, already committed transactions remain.
// Thread-safety: a BatchProcessor is used by one thread; several may share one Database.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "eavdb/database.h"

namespace eavdb {

/// What to do when a record is rejected.
enum class OnError { kSkip, kAbort };

/// Progress of a running batch, reported after each committed transaction and at the end.
struct BatchProgress {
  int64_t done = 0;               ///< records processed (committed or rejected)
  int64_t total = -1;             ///< records expected, -1 when unknown
  int64_t failed = 0;             ///< records rejected so far
  double records_per_second = 0;  ///< average since the start
  double eta_seconds = -1;        ///< remaining time at that rate, -1 when total is unknown
};

/// Options of a BatchProcessor.
struct BatchOptions {
  int64_t chunk_size = 1000;        ///< records per multi-row write / savepoint group (≥1)
  int64_t transaction_size = 5000;  ///< records per committed transaction (≥ chunk_size)
  OnError on_error = OnError::kSkip;
  /// upsert and update: the `unique` attribute that identifies the entity; "" = by id.
  std::string key;
  std::function<void(const BatchProgress&)> on_progress;  ///< optional
  /// Optional; called for every rejected record, in input order per transaction (BatchResult
  /// keeps only the first 1,000).
  std::function<void(const struct BatchError&)> on_reject;
};

/// One input record: an optional id and attribute values by code (strings are coerced to the
/// attribute's type; NULL removes a value on update).
struct BatchRecord {
  int64_t id = 0;
  std::vector<std::pair<std::string, Value>> values;
  int64_t line = 0;                  ///< source line, for error messages (0 when unknown)
  std::optional<std::string> error;  ///< set by a source for a malformed record: rejected as is
  std::string error_field;           ///< the field `error` concerns, "" for the whole record
  /// Set by a source that already converted every value naming an attribute to that
  /// attribute's type (as open_record_source with a type does): the processor then moves the
  /// values instead of coercing copies.
  bool typed = false;
};

/// A pull stream of records.
class RecordSource {
 public:
  virtual ~RecordSource() = default;
  /// Fills `out` with the next record; false at the end.
  virtual bool next(BatchRecord& out) = 0;
  /// The number of records, or -1 when unknown (used for progress).
  virtual int64_t size_hint() const { return -1; }
};

/// A pull stream of entity ids.
class IdSource {
 public:
  virtual ~IdSource() = default;
  /// The next id; std::nullopt at the end.
  virtual std::optional<int64_t> next() = 0;
  virtual int64_t size_hint() const { return -1; }
};

/// Records from a JSON array, NDJSON or CSV file ("-" or "/dev/stdin" for standard input;
/// NDJSON/CSV only). Format "" means from the extension. A field named "id" becomes
/// BatchRecord::id; JSON numbers become int (no '.'/exponent) or decimal, booleans int 0/1,
/// objects/arrays JSON text, CSV fields strings (coerced to each attribute's type later).
/// Malformed records arrive with BatchRecord::error set. When `type` is given, fields naming one
/// of its attributes (by code, or by a source name that normalises to it) are converted with the
/// import rules of that attribute's type (numbers kept as written for strings, booleans "true"/
/// "false"); a value that does not fit sets `error` and `error_field`.
/// Throws Error(kIo) / Error(kInvalidArgument).
std::unique_ptr<RecordSource> open_record_source(const std::string& path, const std::string& format = "",
                                                 const EntityTypeDef* type = nullptr);

/// Records from NDJSON held in memory (e.g. an HTTP request body), converted as
/// open_record_source does with `type`. A line longer than `max_line_bytes` is a malformed record
/// (BatchRecord::error set), not held in memory twice. Never throws for content.
std::unique_ptr<RecordSource> open_ndjson_record_source(std::string data, const EntityTypeDef* type,
                                                        std::size_t max_line_bytes);

/// Ids, one per line (blank lines skipped), from `path` ("-" for standard input). A line that is
/// not an integer throws Error(kInvalidArgument) naming the line.
std::unique_ptr<IdSource> open_id_source(const std::string& path);

/// One rejected record.
struct BatchError {
  int64_t index = 0;   ///< 0-based position in the input
  int64_t line = 0;    ///< source line when known
  std::string field;   ///< attribute or source field, "" for the whole record
  std::string reason;
};

/// Writes rejected records to a file as NDJSON, one object per line:
/// {"record": N (1-based), "line": L, "field": "...", "reason": "..."}. Not thread-safe.
/// One rejection as a single-line JSON object {"record": 1-based index, "line", "field",
/// "reason"} without a trailing newline: the format of `--rejects` files and of the HTTP bulk
/// response's per-record lines.
std::string rejection_json(const BatchError& e);

class RejectsWriter {
 public:
  /// Truncates/creates `path`; an empty path makes a writer that discards everything.
  /// Throws Error(kIo) when the file cannot be written.
  explicit RejectsWriter(const std::string& path);
  ~RejectsWriter();
  /// Appends one rejection.
  void add(const BatchError& e);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// What a batch did.
struct BatchResult {
  int64_t processed = 0;  ///< records read from the input
  int64_t inserted = 0, updated = 0, deleted = 0;
  int64_t failed = 0;
  int64_t values_written = 0;         ///< typed value rows inserted, replaced or deleted
  int64_t first_id = 0, last_id = 0;  ///< id range of inserted entities (0 when none)
  bool aborted = false;               ///< stopped by OnError::kAbort
  std::vector<BatchError> errors;     ///< the first 1,000 rejections, in input order
  double seconds = 0;
};

/// Result of a bulk load: entities in request order.
struct LoadResult {
  std::vector<std::optional<EntityRecord>> entities;  ///< index-aligned with the request
  std::vector<int64_t> missing;                       ///< requested ids that do not exist
};

/// Bulk operations on one entity type. Throws Error(kNotFound) from the constructor for an
/// unknown type, Error(kInvalidArgument) for a `key` that is not a unique attribute.
class BatchProcessor {
 public:
  BatchProcessor(Database& db, std::string type, BatchOptions options = {});

  /// Inserts every record (ids ignored). Ids ascend in input order.
  BatchResult insert(RecordSource& records);
  /// Inserts records whose `key` value is new and updates (partially) those whose key exists.
  BatchResult upsert(RecordSource& records);
  /// Partial update of existing entities found by id or by `key`; an unknown one is rejected.
  /// By id, records are applied in id order within windows of 8 transactions (so each
  /// transaction touches few pages; memory is bounded by the window), two records of one id in
  /// input order; committed transactions then hold id ranges of a window, not input prefixes.
  BatchResult update(RecordSource& records);
  /// Deletes entities by id; unknown ids are rejected. Applied in id order within windows of 8
  /// transactions, as update() by id.
  BatchResult remove(IdSource& ids);
  /// Deletes every entity matching a WHERE clause of the query language (DESIGN.md §2).
  BatchResult remove_where(const std::string& where, const std::vector<Value>& params = {});
  /// Loads many entities of this type, bypassing the caches: the distinct ids are sorted and read
  /// in chunks of chunk_size consecutive ids, each chunk one read snapshot with a fixed number of
  /// statements (at most 10; a flat table kept in step on commit that covers every attribute is
  /// read alone). Results are index-aligned with `ids` (a repeated id gets a copy of its record,
  /// values ordered by attribute id); ids that do not exist, were deleted or belong to another
  /// type or tenant are std::nullopt there and listed in `missing` in request order (once per
  /// occurrence). Throws Error(kStorage) when the store cannot be read.
  LoadResult load(const std::vector<int64_t>& ids);

 private:
  struct Impl;
  Database* db_;
  EntityTypeDef type_;
  BatchOptions options_;
};

}  // namespace eavdb
