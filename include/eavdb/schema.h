// eavdb — schema catalog types: entity types and their attributes (DESIGN.md §1).
//
// Plain value types; thread-compatible. The catalog itself lives in Database (see database.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "eavdb/value.h"

namespace eavdb {

/// Derives an attribute code from a source name: lower-case ASCII, every run of characters
/// outside [a-z0-9] becomes one '_', leading and trailing '_' trimmed.
/// "US Gross" -> "us_gross", "Beak Length (mm)" -> "beak_length_mm", "Cost Total $" -> "cost_total".
/// Returns "" when nothing is left (callers reject such a name).
std::string normalize_code(std::string_view source_name);

/// True when `code` is a valid type or attribute code: [a-z][a-z0-9_]*, at most 63 bytes.
bool is_valid_code(std::string_view code) noexcept;

/// Reserved column names that no attribute may use: id, version, created_at, updated_at.
bool is_reserved_column(std::string_view code) noexcept;

/// One attribute of an entity type.
struct AttributeDef {
  int64_t id = 0;            ///< storage id (0 until stored)
  std::string code;          ///< snake_case, unique within the type
  std::string label;         ///< original name, e.g. the CSV header "US Gross"
  ValueType type = ValueType::kVarchar;
  bool required = false;     ///< an entity must have a non-NULL value
  bool unique = false;       ///< no two entities of the type share a value
  bool filterable = true;    ///< hint for planner/index advisor
  bool sortable = true;      ///< hint for planner/index advisor
  std::optional<Value> default_value;  ///< applied on create when the attribute is not given
};

/// An entity type: a code and its attributes, scoped to one tenant.
struct EntityTypeDef {
  int64_t id = 0;  ///< storage id (0 until stored)
  std::string code;
  std::string label;
  std::vector<AttributeDef> attributes;

  /// The attribute with this code, or nullptr.
  const AttributeDef* find(std::string_view attr_code) const noexcept;
  /// The attribute with this storage id, or nullptr.
  const AttributeDef* find_by_id(int64_t attr_id) const noexcept;
  /// The existing attribute code closest to `attr_code` (Levenshtein), or "" if none is close.
  std::string suggest(std::string_view attr_code) const;
};

/// The closest string to `needle` among `candidates` by edit distance (at most max(2, len/3)
/// edits), or "" when none is that close. Used for "did you mean" messages.
std::string nearest_name(std::string_view needle, const std::vector<std::string>& candidates);

}  // namespace eavdb
