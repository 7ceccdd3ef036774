// eavdb::storage::sqlite — versioned migrations of the SQLite schema (DESIGN.md §1).
//
// Migration i (1-based) moves a file from schema version i-1 to i. The current version is stored
// in eav_meta('schema_version'). Append new migrations; never edit a released one.
#pragma once

#include <array>
#include <string_view>
#include <utility>

namespace eavdb::storage::sqlite {

// Value tables are WITHOUT ROWID, keyed (entity_id, attribute_id), with an (attribute_id, value)
// index for filters and sorts — except text: its values are long (any length), so an index
// would copy them whole and double the write cost; text filters scan. Decimals are canonical decimal TEXT under the eavdb_decimal
// collation (numeric comparison, registered on every connection); datetimes are INTEGER µs.
inline constexpr std::array<std::string_view, 6> kMigrations = {
    R"sql(
CREATE TABLE eav_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE eav_tenant(id INTEGER PRIMARY KEY, code TEXT NOT NULL UNIQUE);
CREATE TABLE eav_entity_type(
  id INTEGER PRIMARY KEY,
  tenant_id INTEGER NOT NULL REFERENCES eav_tenant(id),
  code TEXT NOT NULL,
  label TEXT NOT NULL,
  UNIQUE(tenant_id, code));
CREATE TABLE eav_attribute(
  id INTEGER PRIMARY KEY,
  type_id INTEGER NOT NULL REFERENCES eav_entity_type(id),
  code TEXT NOT NULL,
  label TEXT NOT NULL,
  value_type TEXT NOT NULL CHECK (value_type IN ('varchar','int','decimal','datetime','text')),
  required INTEGER NOT NULL DEFAULT 0,
  is_unique INTEGER NOT NULL DEFAULT 0,
  filterable INTEGER NOT NULL DEFAULT 1,
  sortable INTEGER NOT NULL DEFAULT 1,
  default_value TEXT,
  UNIQUE(type_id, code));
CREATE TABLE eav_entity(
  id INTEGER PRIMARY KEY,
  type_id INTEGER NOT NULL REFERENCES eav_entity_type(id),
  tenant_id INTEGER NOT NULL REFERENCES eav_tenant(id),
  version INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL);
CREATE INDEX eav_entity_type_idx ON eav_entity(type_id, id);
CREATE TABLE eav_value_varchar(entity_id INTEGER NOT NULL, attribute_id INTEGER NOT NULL,
  value TEXT NOT NULL, PRIMARY KEY(entity_id, attribute_id)) WITHOUT ROWID;
CREATE INDEX eav_value_varchar_av ON eav_value_varchar(attribute_id, value);
CREATE TABLE eav_value_int(entity_id INTEGER NOT NULL, attribute_id INTEGER NOT NULL,
  value INTEGER NOT NULL, PRIMARY KEY(entity_id, attribute_id)) WITHOUT ROWID;
CREATE INDEX eav_value_int_av ON eav_value_int(attribute_id, value);
CREATE TABLE eav_value_decimal(entity_id INTEGER NOT NULL, attribute_id INTEGER NOT NULL,
  value TEXT NOT NULL COLLATE eavdb_decimal, PRIMARY KEY(entity_id, attribute_id)) WITHOUT ROWID;
CREATE INDEX eav_value_decimal_av ON eav_value_decimal(attribute_id, value);
CREATE TABLE eav_value_datetime(entity_id INTEGER NOT NULL, attribute_id INTEGER NOT NULL,
  value INTEGER NOT NULL, PRIMARY KEY(entity_id, attribute_id)) WITHOUT ROWID;
CREATE INDEX eav_value_datetime_av ON eav_value_datetime(attribute_id, value);
CREATE TABLE eav_value_text(entity_id INTEGER NOT NULL, attribute_id INTEGER NOT NULL,
  value TEXT NOT NULL, PRIMARY KEY(entity_id, attribute_id)) WITHOUT ROWID;
)sql",
    // 2: the invalidation log other processes read to drop stale cache entries (one row per
    // written entity, or one per type with entity_id NULL for large commits), and the entity id
    // high-water mark: ids are never reused, so a cache tombstone for a deleted id stays true.
    R"sql(
CREATE TABLE eav_invalidation(seq INTEGER PRIMARY KEY, tenant_id INTEGER NOT NULL,
  type_id INTEGER NOT NULL, entity_id INTEGER);
INSERT INTO eav_meta(key, value) SELECT 'entity_id_hwm', COALESCE(max(id), 0) FROM eav_entity;
)sql",
    // 3: each invalidation-log row carries the entity's new version (0: deleted, or a per-type
    // row) and whether the committer reached the shared cache (L3) before COMMIT. A reader that
    // finds an unannounced row moves L3's version pointers forward itself, so a committer whose
    // Redis call failed can never leave older records servable to other processes.
    R"sql(
ALTER TABLE eav_invalidation ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE eav_invalidation ADD COLUMN announced INTEGER NOT NULL DEFAULT 1;
)sql",
    // 4: API tokens of the HTTP server (server/tokens.h): only the SHA-256 of a token is stored,
    // with its tenant code and role; revoked tokens keep their row (revoked_at set) for audit.
    R"sql(
CREATE TABLE eav_api_token(
  id INTEGER PRIMARY KEY,
  token_hash TEXT NOT NULL UNIQUE,
  tenant TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('read','write','admin')),
  created_at INTEGER NOT NULL,
  revoked_at INTEGER);
)sql",
    // 5: planner statistics and flat tables. eav_type_stats holds per type the entity count at
    // the last analyze and the number of entity writes committed since (bumped by the commit
    // funnel; a large share triggers a re-analyze). eav_attribute_stats / eav_attribute_histogram
    // hold per attribute the non-null count, a HyperLogLog distinct estimate, min/max and the
    // equi-depth histogram bounds (SQLite's dynamic typing keeps ints, reals and text natively).
    // eav_flat_table registers each type's flat table, the attribute ids it covers and the two
    // statements the commit funnel runs to sync it (flat/flat.h).
    R"sql(
CREATE TABLE eav_type_stats(type_id INTEGER PRIMARY KEY, entity_count INTEGER NOT NULL DEFAULT 0,
  modifications INTEGER NOT NULL DEFAULT 0, analyzed_at INTEGER);
CREATE TABLE eav_attribute_stats(attribute_id INTEGER PRIMARY KEY, type_id INTEGER NOT NULL,
  non_null INTEGER NOT NULL, distinct_estimate REAL NOT NULL, min_value, max_value);
CREATE TABLE eav_attribute_histogram(attribute_id INTEGER NOT NULL, bucket INTEGER NOT NULL, bound,
  PRIMARY KEY(attribute_id, bucket)) WITHOUT ROWID;
CREATE TABLE eav_flat_table(type_id INTEGER PRIMARY KEY, table_name TEXT NOT NULL UNIQUE,
  attribute_ids TEXT NOT NULL, sync_delete TEXT NOT NULL, sync_insert TEXT NOT NULL,
  created_at INTEGER NOT NULL);
)sql",
    // 6: exact counts, kept by the commit funnel in the same transaction as every write: row
    // (T, 0) holds the live entities of type T, row (T, A) the entities of type T holding a
    // (non-null) value of attribute A; an absent row means 0. The planner reads them to know
    // whether every entity of a type holds an attribute (an index walk of its values is then a
    // complete order). Filled here from the existing rows: each attribute counted in its own
    // value table only (the commit funnel keeps every value row within its entity's type; rows
    // written around it are integrity_check's to report). A file below version 6 holds no
    // eav_count unless one was put there by hand: it is rebuilt.
    R"sql(
DROP TABLE IF EXISTS eav_count;
CREATE TABLE eav_count(type_id INTEGER NOT NULL, attribute_id INTEGER NOT NULL, n INTEGER NOT NULL,
  PRIMARY KEY(type_id, attribute_id)) WITHOUT ROWID;
INSERT INTO eav_count(type_id, attribute_id, n) SELECT type_id, 0, count(*) FROM eav_entity GROUP BY type_id;
INSERT INTO eav_count(type_id, attribute_id, n) SELECT a.type_id, v.attribute_id, count(*) FROM eav_value_varchar v
  JOIN eav_attribute a ON a.id = v.attribute_id WHERE a.value_type = 'varchar' GROUP BY v.attribute_id;
INSERT INTO eav_count(type_id, attribute_id, n) SELECT a.type_id, v.attribute_id, count(*) FROM eav_value_int v
  JOIN eav_attribute a ON a.id = v.attribute_id WHERE a.value_type = 'int' GROUP BY v.attribute_id;
INSERT INTO eav_count(type_id, attribute_id, n) SELECT a.type_id, v.attribute_id, count(*) FROM eav_value_decimal v
  JOIN eav_attribute a ON a.id = v.attribute_id WHERE a.value_type = 'decimal' GROUP BY v.attribute_id;
INSERT INTO eav_count(type_id, attribute_id, n) SELECT a.type_id, v.attribute_id, count(*) FROM eav_value_datetime v
  JOIN eav_attribute a ON a.id = v.attribute_id WHERE a.value_type = 'datetime' GROUP BY v.attribute_id;
INSERT INTO eav_count(type_id, attribute_id, n) SELECT a.type_id, v.attribute_id, count(*) FROM eav_value_text v
  JOIN eav_attribute a ON a.id = v.attribute_id WHERE a.value_type = 'text' GROUP BY v.attribute_id;
)sql",
};

/// The secondary indexes that a bulk load into a small store drops and rebuilds afterwards
/// (building an index by sorting beats inserting into it row by row): name, then DDL.
inline constexpr std::array<std::pair<std::string_view, std::string_view>, 5> kDeferrableIndexes = {{
    {"eav_entity_type_idx", "CREATE INDEX IF NOT EXISTS eav_entity_type_idx ON eav_entity(type_id, id)"},
    {"eav_value_varchar_av", "CREATE INDEX IF NOT EXISTS eav_value_varchar_av ON eav_value_varchar(attribute_id, value)"},
    {"eav_value_int_av", "CREATE INDEX IF NOT EXISTS eav_value_int_av ON eav_value_int(attribute_id, value)"},
    {"eav_value_decimal_av", "CREATE INDEX IF NOT EXISTS eav_value_decimal_av ON eav_value_decimal(attribute_id, value)"},
    {"eav_value_datetime_av", "CREATE INDEX IF NOT EXISTS eav_value_datetime_av ON eav_value_datetime(attribute_id, value)"},
}};

}  // namespace eavdb::storage::sqlite
