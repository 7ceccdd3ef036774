#include "flat/flat.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

namespace eavdb::flat {

bool FlatTable::covers(int64_t attribute_id) const {
  return std::binary_search(attribute_ids.begin(), attribute_ids.end(), attribute_id);
}

bool FlatTable::indexed(int64_t attribute_id) const {
  return std::binary_search(indexed_ids.begin(), indexed_ids.end(), attribute_id);
}

std::string table_name(const EntityTypeDef& type) { return fmt::format("eav_flat_{}_{}", type.code, type.id); }

std::string column_name(const AttributeDef& a) { return fmt::format("\"{}\"", a.code); }

std::vector<const AttributeDef*> covered_attributes(const EntityTypeDef& type) {
  std::vector<const AttributeDef*> out;
  const bool all = type.attributes.size() <= kMaxColumns;
  for (const auto& a : type.attributes) {
    if (out.size() == kMaxColumns) break;
    if (all || a.filterable || a.sortable) out.push_back(&a);
  }
  return out;
}

namespace {

std::string_view column_type(ValueType t) {
  switch (t) {
    case ValueType::kInt:
    case ValueType::kDatetime: return "INTEGER";
    case ValueType::kDecimal: return "TEXT COLLATE eavdb_decimal";
    case ValueType::kVarchar:
    case ValueType::kText: return "TEXT";
  }
  return "TEXT";
}

std::string select_list(const std::vector<const AttributeDef*>& attrs) {
  std::string s = "e.id, e.version, e.created_at, e.updated_at";
  for (const AttributeDef* a : attrs)
    s += fmt::format(", (SELECT v.value FROM eav_value_{} v WHERE v.entity_id = e.id AND v.attribute_id = {})",
                     value_type_name(a->type), a->id);
  return s;
}

std::string column_list(const std::vector<const AttributeDef*>& attrs) {
  std::string s = "id, version, created_at, updated_at";
  for (const AttributeDef* a : attrs) s += ", " + column_name(*a);
  return s;
}

}  // namespace

std::string create_sql(std::string_view table, const std::vector<const AttributeDef*>& attrs) {
  std::string s = fmt::format(
      "CREATE TABLE {}(id INTEGER PRIMARY KEY, version INTEGER NOT NULL, created_at INTEGER NOT NULL, "
      "updated_at INTEGER NOT NULL",
      table);
  for (const AttributeDef* a : attrs) s += fmt::format(", {} {}", column_name(*a), column_type(a->type));
  return s + ")";
}

std::string index_name(std::string_view table, std::string_view code) { return fmt::format("{}_{}", table, code); }

std::string column_index_sql(std::string_view table, const AttributeDef& a) {
  return fmt::format("CREATE INDEX IF NOT EXISTS {} ON {}({}, id)", index_name(table, a.code), table, column_name(a));
}

std::string text_index_name(int64_t attribute_id) { return fmt::format("eav_value_text_attr_{}", attribute_id); }

std::string text_index_sql(int64_t attribute_id) {
  return fmt::format("CREATE INDEX IF NOT EXISTS {} ON eav_value_text(value, entity_id) WHERE attribute_id = {}",
                     text_index_name(attribute_id), attribute_id);
}

int64_t text_index_attribute(std::string_view name) {
  constexpr std::string_view kPrefix = "eav_value_text_attr_";
  if (name.substr(0, kPrefix.size()) != kPrefix) return 0;
  name.remove_prefix(kPrefix.size());
  int64_t v = 0;
  auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), v);
  return ec == std::errc() && end == name.data() + name.size() && v > 0 ? v : 0;
}

std::vector<std::string> index_sql(std::string_view table, const std::vector<const AttributeDef*>& attrs) {
  std::vector<std::string> out;
  for (const AttributeDef* a : attrs) {
    if (a->type == ValueType::kText || !(a->filterable || a->sortable)) continue;
    out.push_back(column_index_sql(table, *a));
  }
  return out;
}

std::string populate_sql(const EntityTypeDef& type, std::string_view table,
                         const std::vector<const AttributeDef*>& attrs) {
  return fmt::format("INSERT INTO {}({}) SELECT {} FROM eav_entity e WHERE e.type_id = {} ORDER BY e.id", table,
                     column_list(attrs), select_list(attrs), type.id);
}

std::vector<std::string> sync_sql(const EntityTypeDef& type, std::string_view table,
                                  const std::vector<const AttributeDef*>& attrs) {
  return {
      fmt::format("DELETE FROM {} WHERE id IN (SELECT value FROM json_each(?1))", table),
      fmt::format("INSERT INTO {}({}) SELECT {} FROM eav_entity e WHERE e.id IN (SELECT value FROM json_each(?1))"
                  " AND e.type_id = {}",
                  table, column_list(attrs), select_list(attrs), type.id),
  };
}

std::string encode_ids(const std::vector<int64_t>& ids) {
  std::string s;
  for (std::size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids[i]);
  return s;
}

std::vector<int64_t> decode_ids(std::string_view text) {
  std::vector<int64_t> out;
  while (!text.empty()) {
    std::size_t comma = text.find(',');
    std::string_view part = text.substr(0, comma);
    int64_t v = 0;
    if (std::from_chars(part.data(), part.data() + part.size(), v).ec == std::errc()) out.push_back(v);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace eavdb::flat
