// Result writers: aligned table, JSON array, NDJSON and CSV. JSON goes through rapidjson's
// Writer (decimals as raw number tokens, so "19.90" prints as 19.90); CSV quoting is libcsv's.

#include <csv.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <ostream>
#include <type_traits>
#include <variant>

#include <fmt/format.h>

#include "io/io.h"

namespace eavdb::io {
namespace {

void write_json_value(rapidjson::Writer<rapidjson::StringBuffer>& w, const Value& v) {
  std::visit(
      [&w](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          w.Null();
        } else if constexpr (std::is_same_v<T, int64_t>) {
          w.Int64(x);
        } else if constexpr (std::is_same_v<T, Decimal>) {
          w.RawValue(x.str().data(), x.str().size(), rapidjson::kNumberType);
        } else if constexpr (std::is_same_v<T, DateTime>) {
          const std::string iso = x.to_iso();
          w.String(iso.data(), static_cast<rapidjson::SizeType>(iso.size()));
        } else {
          w.String(x.data(), static_cast<rapidjson::SizeType>(x.size()));
        }
      },
      v);
}

/// Writes each row as one JSON object: "[\n  {...},\n  {...}\n]\n" (kJson) or one object per
/// line (kNdjson). The buffer is flushed after every row.
void write_json(std::ostream& out, const QueryResult& r, bool array) {
  rapidjson::StringBuffer buf;
  if (array) out << (r.rows.empty() ? "[" : "[\n");
  for (size_t i = 0; i < r.rows.size(); ++i) {
    buf.Clear();
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    for (size_t j = 0; j < r.columns.size(); ++j) {
      const Value& v = r.rows[i][j];
      if (r.select_star && is_null(v)) continue;
      const std::string& name = r.columns[j].name;
      w.Key(name.data(), static_cast<rapidjson::SizeType>(name.size()));
      write_json_value(w, v);
    }
    w.EndObject();
    if (array) out << "  ";
    out.write(buf.GetString(), static_cast<std::streamsize>(buf.GetSize()));
    out << (array && i + 1 < r.rows.size() ? ",\n" : "\n");
  }
  if (array) out << "]\n";
}

void write_csv_field(std::ostream& out, std::string_view s, std::string& scratch) {
  if (s.find_first_of(",\"\r\n") == std::string_view::npos) {
    out << s;
    return;
  }
  scratch.resize(2 * s.size() + 2);
  const size_t n = csv_write(scratch.data(), scratch.size(), s.data(), s.size());
  out.write(scratch.data(), static_cast<std::streamsize>(n));
}

/// RFC 4180 with '\n' line ends; NULL is an empty field, an empty string is "".
void write_csv(std::ostream& out, const QueryResult& r) {
  std::string scratch;
  for (size_t j = 0; j < r.columns.size(); ++j) {
    if (j) out << ',';
    write_csv_field(out, r.columns[j].name, scratch);
  }
  out << '\n';
  for (const auto& row : r.rows) {
    for (size_t j = 0; j < r.columns.size(); ++j) {
      if (j) out << ',';
      if (is_null(row[j])) continue;
      const std::string s = to_string(row[j]);
      if (s.empty()) {
        out << "\"\"";
      } else {
        write_csv_field(out, s, scratch);
      }
    }
    out << '\n';
  }
}

constexpr size_t kMaxCellWidth = 60;

/// Display width: UTF-8 code points.
size_t width(std::string_view s) {
  return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

/// One table cell: control characters become spaces; longer than kMaxCellWidth code points is
/// cut to kMaxCellWidth - 1 code points plus "…".
std::string cell_text(std::string s) {
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = ' ';
  if (width(s) <= kMaxCellWidth) return s;
  size_t points = 0, i = 0;
  for (; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80 && points++ == kMaxCellWidth - 1) break;
  }
  s.resize(i);
  return s + "\u2026";
}

void write_table(std::ostream& out, const QueryResult& r) {
  const size_t ncol = r.columns.size();
  std::vector<std::vector<std::string>> cells;
  cells.reserve(r.rows.size() + 1);
  cells.emplace_back();
  for (const ResultColumn& c : r.columns) cells.back().push_back(cell_text(c.name));
  for (const auto& row : r.rows) {
    cells.emplace_back();
    for (size_t j = 0; j < ncol; ++j) cells.back().push_back(is_null(row[j]) ? "NULL" : cell_text(to_string(row[j])));
  }
  std::vector<size_t> widths(ncol, 0);
  std::vector<bool> right(ncol, false);
  for (size_t j = 0; j < ncol; ++j) {
    right[j] = r.columns[j].type == ValueType::kInt || r.columns[j].type == ValueType::kDecimal;
    for (const auto& line : cells) widths[j] = std::max(widths[j], width(line[j]));
  }
  auto emit = [&](const std::vector<std::string>& line) {
    std::string s;
    for (size_t j = 0; j < ncol; ++j) {
      if (j) s += " | ";
      const std::string pad(widths[j] - width(line[j]), ' ');
      if (right[j]) s += pad;
      s += line[j];
      if (!right[j] && j + 1 < ncol) s += pad;  // no trailing spaces at the end of a line
    }
    out << s << '\n';
  };
  emit(cells[0]);
  std::string sep;
  for (size_t j = 0; j < ncol; ++j) {
    if (j) sep += "-+-";
    sep.append(widths[j], '-');
  }
  out << sep << '\n';
  for (size_t i = 1; i < cells.size(); ++i) emit(cells[i]);
  out << fmt::format("({} {})\n", r.rows.size(), r.rows.size() == 1 ? "row" : "rows");
}

}  // namespace

void write_result(std::ostream& out, const QueryResult& result, OutputFormat format) {
  switch (format) {
    case OutputFormat::kTable: write_table(out, result); break;
    case OutputFormat::kJson: write_json(out, result, true); break;
    case OutputFormat::kNdjson: write_json(out, result, false); break;
    case OutputFormat::kCsv: write_csv(out, result); break;
  }
  out.flush();
}

}  // namespace eavdb::io
