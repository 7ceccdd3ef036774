// Format names and file-extension detection.

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "eavdb/error.h"
#include "io/io.h"

namespace eavdb::io {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace

Format format_from_path(std::string_view path) {
  const size_t slash = path.find_last_of('/');
  const std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
  const size_t dot = name.find_last_of('.');
  const std::string ext = dot == std::string_view::npos ? "" : lower(name.substr(dot + 1));
  if (ext == "json") return Format::kJson;
  if (ext == "ndjson" || ext == "jsonl") return Format::kNdjson;
  if (ext == "csv") return Format::kCsv;
  throw Error(ErrorCode::kInvalidArgument,
              fmt::format("cannot tell the format of '{}' from its extension: use .json, .ndjson, .jsonl or .csv, "
                          "or name the format (json, ndjson, csv)", path));
}

Format parse_format(std::string_view name) {
  const std::string n = lower(name);
  if (n == "json") return Format::kJson;
  if (n == "ndjson" || n == "jsonl") return Format::kNdjson;
  if (n == "csv") return Format::kCsv;
  throw Error(ErrorCode::kInvalidArgument, fmt::format("unknown input format '{}': use json, ndjson or csv", name));
}

OutputFormat parse_output_format(std::string_view name) {
  const std::string n = lower(name);
  if (n == "table") return OutputFormat::kTable;
  if (n == "json") return OutputFormat::kJson;
  if (n == "ndjson" || n == "jsonl") return OutputFormat::kNdjson;
  if (n == "csv") return OutputFormat::kCsv;
  throw Error(ErrorCode::kInvalidArgument,
              fmt::format("unknown output format '{}': use table, json, ndjson or csv", name));
}

}  // namespace eavdb::io
