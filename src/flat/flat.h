// eavdb::flat — flat tables: one wide table per entity type, `eav_flat_<code>_<type id>(id,
// version, created_at, updated_at, <one typed column per attribute>)`, kept exactly in step with
// the EAV tables by the commit funnel (on-commit sync, inside the same transaction), so a query
// the planner routes to it returns the same rows as the EAV plan.
//
// This module generates the SQL (schema, full population, per-commit sync) and describes which
// attributes a flat table covers; the SQLite backend runs it. Column types keep the value types'
// exact semantics: int and datetime INTEGER, decimal canonical TEXT under the eavdb_decimal
// collation, varchar and text TEXT; a missing attribute is NULL. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "eavdb/schema.h"

namespace eavdb::flat {

/// At most this many attribute columns per flat table (SQLite allows 2,000 columns, PostgreSQL
/// 1,600); a type with more attributes gets the first kMaxColumns filterable or sortable ones,
/// and the planner uses the table only for queries that touch covered attributes.
inline constexpr std::size_t kMaxColumns = 500;

/// A registered flat table.
struct FlatTable {
  int64_t type_id = 0;
  std::string table;                   ///< table name
  std::vector<int64_t> attribute_ids;  ///< covered attributes, ascending
  /// Covered attributes whose column has an index (index_name), ascending: the planner costs
  /// index access paths on these only. Filled by the Database from the store's index list.
  std::vector<int64_t> indexed_ids;
  /// Bytes of B-tree pages per row of the table (pages x page size / rows), measured by the
  /// backend when it builds the table and at each analyze of its type; 0 when unknown (the
  /// planner then estimates it from the column count). The planner's page-read model uses it.
  double row_bytes = 0;
  /// True when attribute `id` has a column.
  bool covers(int64_t attribute_id) const;
  /// True when attribute `id`'s column has an index.
  bool indexed(int64_t attribute_id) const;
};

/// The flat table name of a type: eav_flat_<code>_<type id> (codes repeat across tenants).
std::string table_name(const EntityTypeDef& type);

/// The (quoted) column of an attribute: "<code>"; codes are [a-z][a-z0-9_]* and never a system
/// column name, so they cannot collide with id, version, created_at, updated_at.
std::string column_name(const AttributeDef& a);

/// The attributes a flat table of `type` covers (all, or the first kMaxColumns filterable or
/// sortable ones when there are more).
std::vector<const AttributeDef*> covered_attributes(const EntityTypeDef& type);

/// DDL creating table `table` for `attrs` (CREATE TABLE only; see index_sql).
std::string create_sql(std::string_view table, const std::vector<const AttributeDef*>& attrs);

/// The name of the index on `table`'s column of attribute `code`: <table>_<code> (index_sql and
/// the index advisor use it; the Database recognises flat column indexes by it).
std::string index_name(std::string_view table, std::string_view code);

/// DDL creating the (column, id) index of one attribute column (named index_name).
std::string column_index_sql(std::string_view table, const AttributeDef& a);

/// The partial value index the advisor creates for a text attribute:
/// `eav_value_text_attr_<id>` on eav_value_text(value, entity_id) WHERE attribute_id = <id>.
std::string text_index_name(int64_t attribute_id);
std::string text_index_sql(int64_t attribute_id);
/// The attribute id of a text_index_name, or 0 when `name` is not one.
int64_t text_index_attribute(std::string_view name);

/// DDL for the indexes of table `table`: one (column, id) index per filterable or sortable
/// attribute that is not `text` (long values; filters on them scan, as in the EAV tables).
std::vector<std::string> index_sql(std::string_view table, const std::vector<const AttributeDef*>& attrs);

/// INSERT ... SELECT filling `table` with every entity of `type` (one correlated primary-key
/// lookup per covered attribute and entity).
std::string populate_sql(const EntityTypeDef& type, std::string_view table,
                         const std::vector<const AttributeDef*>& attrs);

/// The per-commit sync: two statements that take one parameter ?1, a JSON array of written entity
/// ids of the type; the first deletes their rows, the second re-inserts the ones that still exist
/// from the EAV tables. Run in the commit's transaction, they leave the flat table equal to a
/// full rebuild for those ids.
std::vector<std::string> sync_sql(const EntityTypeDef& type, std::string_view table,
                                  const std::vector<const AttributeDef*>& attrs);

/// Attribute ids as stored in the registry ("1,2,5") and back.
std::string encode_ids(const std::vector<int64_t>& ids);
std::vector<int64_t> decode_ids(std::string_view text);

}  // namespace eavdb::flat
