// eavdb::io — streaming record readers (JSON array, NDJSON, CSV), type inference, value
// conversion and result writers (table, JSON, NDJSON, CSV).
//
// Readers hold at most one record (plus a bounded read buffer) in memory, whatever the file size.
// Not thread-safe per object; independent objects may be used from different threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "eavdb/result.h"
#include "eavdb/schema.h"
#include "eavdb/value.h"

namespace eavdb::io {

/// Input file formats.
enum class Format { kJson, kNdjson, kCsv };

/// Format from a file name: .json -> kJson, .ndjson/.jsonl -> kNdjson, .csv -> kCsv.
/// Throws Error(kInvalidArgument) for another extension.
Format format_from_path(std::string_view path);
/// Format from a name ("json", "ndjson", "csv"); Error(kInvalidArgument) otherwise.
Format parse_format(std::string_view name);

/// One field of a source record, as written in the source.
struct RawField {
  enum class Kind {
    kNull,    ///< JSON null, or an empty CSV field: stores nothing
    kNumber,  ///< a JSON number; `text` is its exact source text ("6.1", "-5", "1e3")
    kBool,    ///< a JSON boolean; `text` is "true"/"false"
    kString,  ///< a JSON string (unescaped) or any non-empty CSV field
    kJson,    ///< a JSON object or array; `text` is its minified JSON
  };
  Kind kind = Kind::kNull;
  std::string text;
};

/// One source record.
struct Record {
  int64_t index = 0;  ///< 0-based position among the file's records
  int64_t line = 0;   ///< 1-based line where the record starts
  std::vector<std::pair<std::string, RawField>> fields;  ///< (source name, value), in source order
  /// Set when the record is malformed (bad JSON, wrong CSV field count): "line N: <reason>";
  /// `fields` is then empty. The reader has resynchronised and continues with the next record
  /// (a JSON file that is not an array, or ends inside an element, ends the reading).
  std::optional<std::string> error;
};

/// Streaming reader over one file.
class RecordReader {
 public:
  virtual ~RecordReader() = default;
  /// Reads the next record into `out`; false at end of input. Throws Error(kIo) when the file
  /// cannot be read, never for a malformed record (see Record::error).
  virtual bool next(Record& out) = 0;
};

/// Opens `path` in `format`. Throws Error(kIo) when the file cannot be opened.
std::unique_ptr<RecordReader> open_reader(const std::string& path, Format format);

/// The per-format readers open_reader dispatches to; same contract as open_reader.
/// Errors of malformed records read "line N: <reason>".
std::unique_ptr<RecordReader> open_json_array_reader(const std::string& path);
std::unique_ptr<RecordReader> open_ndjson_reader(const std::string& path);
std::unique_ptr<RecordReader> open_csv_reader(const std::string& path);

/// Longest record (NDJSON line, JSON array element) a reader accepts: 64 MiB. A longer one is
/// reported as a malformed record and skipped without being held in memory.
inline constexpr std::size_t kMaxRecordBytes = std::size_t{64} << 20;

/// An NDJSON reader over `data` held in memory (an HTTP request body), with the same record
/// contract as open_ndjson_reader; lines longer than `max_line_bytes` are malformed records
/// ("line N: record is longer than M bytes"). Never throws for content.
std::unique_ptr<RecordReader> open_ndjson_memory_reader(std::string data, std::size_t max_line_bytes = kMaxRecordBytes);

/// Parses one JSON object (e.g. an HTTP request body) into `out.fields` with the readers' rules
/// (exact number tokens, objects/arrays as minified JSON). Returns std::nullopt on success, else
/// the reason ("line 1: ..."), also left in out.error. Thread-compatible.
std::optional<std::string> parse_json_object(std::string text, Record& out);

/// Parses a JSON array of values into `out` (one RawField per element, same rules as object
/// fields). Returns std::nullopt on success, else the reason ("not a JSON array", a simdjson
/// message); `out` is then empty.
std::optional<std::string> parse_json_array(std::string text, std::vector<RawField>& out);

/// Integer syntax of text sources (CSV fields, JSON strings): optional '+'/'-', then digits with
/// no leading zero ("0" and "-0" allowed, "00501" not), within int64. The value, or nullopt.
std::optional<int64_t> parse_int_text(std::string_view text) noexcept;
/// Integer syntax of a JSON number token: no '.', 'e' or 'E', within int64. Value or nullopt.
std::optional<int64_t> parse_int_token(std::string_view token) noexcept;
/// Plain decimal syntax of text sources: optional '+'/'-', integer digits without a leading
/// zero (a lone "0" allowed), optionally '.' and at least one digit; no exponent. "12.50" yes;
/// "00.5", ".5", "5.", "1e3" no.
bool is_plain_decimal_text(std::string_view text) noexcept;

/// A column found by inference.
struct InferredColumn {
  std::string label;  ///< the source name as written
  std::string code;   ///< normalize_code(label)
  ValueType type = ValueType::kVarchar;
  int64_t non_null = 0;  ///< number of non-null values seen
};

/// Infers attribute types over all non-null values of each column (rules in README.md
/// "Import"): int (JSON integer tokens, booleans, parse_int_text strings), decimal (all numbers:
/// JSON number tokens, is_plain_decimal_text strings), datetime (all strings DateTime accepts),
/// else varchar (≤255 bytes) or text. A column with only nulls is varchar. Columns are reported
/// in first-seen order; two source names with the same code are one column (first label kept);
/// names whose code is "" are skipped. Memory is O(columns), not O(values).
class TypeInferrer {
 public:
  TypeInferrer();
  ~TypeInferrer();
  /// Accounts for one (non-malformed) record.
  void observe(const Record& record);
  /// The columns seen so far with their inferred types.
  std::vector<InferredColumn> columns() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

/// Converts a source field to a value of `type` under the import rules (JSON booleans -> int
/// 0/1, decimal 0/1, strings "true"/"false"; numbers and JSON kept as written for string types;
/// strings parsed for numeric/datetime types: int needs parse_int_text syntax, decimal anything
/// Decimal::try_parse accepts; only strings become datetimes). kNull -> NULL. Throws
/// Error(kTypeMismatch) with the reason ("'abc' is not an integer", "value is 300 bytes, varchar
/// allows at most 255").
Value convert(const RawField& field, ValueType type);

/// Output formats of data-printing commands.
enum class OutputFormat { kTable, kJson, kNdjson, kCsv };
/// "table", "json", "ndjson", "csv"; Error(kInvalidArgument) otherwise.
OutputFormat parse_output_format(std::string_view name);

/// Writes `result`:
///  - kJson: one JSON array of row objects keyed by column name, one row per line
///    ("[\n  {...},\n  {...}\n]\n"; "[]\n" when empty);
///  - kNdjson: one row object per line;
///  - kCsv: header line + rows, '\n' line ends, RFC 4180 quoting where needed (libcsv); NULL is
///    an empty field, an empty string is "";
///  - kTable: "a | b" lines: header, dashes, rows, then "(N rows)" ("(1 row)"); cells wider than
///    60 code points are cut with "…", int/decimal columns are right-aligned, NULL is "NULL".
/// Decimals are JSON numbers in exact decimal form, datetimes "YYYY-MM-DDTHH:MM:SS[.ffffff]Z"
/// strings, NULL is null. When result.select_star is set, JSON/NDJSON rows omit NULL attributes.
/// JSON output is flushed row by row. Stream errors are left in `out`'s state.
void write_result(std::ostream& out, const QueryResult& result, OutputFormat format);

/// Entities as a result (SELECT * shape, so renderers omit attributes an entity lacks): columns
/// id, version, created_at, updated_at, then every attribute of `type`; one row per present
/// record (std::nullopt entries are skipped), in order.
QueryResult entity_result(const EntityTypeDef& type, const std::vector<std::optional<EntityRecord>>& records);

/// Writes type definitions as compact JSON plus '\n': one object ({"code","label","attributes":
/// [{"code","label","type","required","unique","filterable","sortable"}...]}) when `single`,
/// else an array of them.
void write_types_json(std::ostream& out, const std::vector<EntityTypeDef>& types, bool single);

}  // namespace eavdb::io
