#pragma once
// The torture harness's tables: shapes drawn from a seed (key kinds, partitioning, TOAST, nullable
// columns of many types), created and filled, and the SQL literals of their keys.
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "connector/pg_connection.h"

namespace pgcdc::torture {

enum class KeyKind {
  kInt,
  kBigint,
  kText,  // mixed case, accents, spaces: the collation decides the chunk order
  kUuid,
  kNumeric,
  kTimestamptz,
  kComposite2,        // (text, int)
  kComposite3,        // (int, text, uuid)
  kListPartitioned,   // (id, region), PARTITION BY LIST (region)
  kRangePartitioned,  // (id, bucket), PARTITION BY RANGE (bucket)
  kFullIdentity,      // no primary key, REPLICA IDENTITY FULL, `key` set in the config
};
const char* kind_name(KeyKind kind);

struct TableShape {
  std::string name;      // in schema public, as configured (topics, the writer's log)
  std::string sql_name;  // its name now: a rename mid-run changes it, and back
  KeyKind kind = KeyKind::kInt;
  std::vector<std::string> key_columns;
  bool toast = false;                      // a wide, incompressible text column `big`
  bool nullable = false;                   // columns of many types, often NULL
  std::vector<std::string> added_columns;  // by ALTER TABLE ADD COLUMN during the run
  std::uint64_t next_key = 1;              // keys are unique: drawn from this counter

  bool partitioned() const {
    return kind == KeyKind::kListPartitioned || kind == KeyKind::kRangePartitioned;
  }
  // Bulk inserts (INSERT ... SELECT generate_series) need an integer key alone.
  bool bulk_insertable() const { return kind == KeyKind::kInt || kind == KeyKind::kBigint; }
  // The config's entry for this table (a table object when `key` must be given).
  std::string config_entry() const;
};

// 4 to 8 tables with distinct names "<prefix>_<n>".
std::vector<TableShape> draw_schema(std::mt19937_64& random, const std::string& prefix);

// A new key: one SQL literal per key column.
std::vector<std::string> new_key(TableShape& table, std::mt19937_64& random);
// Another value for the partitioning column of `key` (a row that moves to another partition);
// the key changes with it.
std::vector<std::string> moved_key(const TableShape& table, const std::vector<std::string>& key,
                                   std::mt19937_64& random);
// "(k1, k2) = (lit1, lit2)"
std::string key_condition(const TableShape& table, const std::vector<std::string>& key);
// The SET list of an insert or update apart from the key: v (from `sequence`), t, and the others.
struct RowValues {
  std::vector<std::string> columns;
  std::vector<std::string> values;
};
RowValues draw_values(const TableShape& table, const std::string& sequence,
                      std::mt19937_64& random);

// CREATE TABLE (and its partitions), then `rows` rows; returns their keys.
std::vector<std::vector<std::string>> create_table(PgConnection& db, TableShape& table,
                                                   const std::string& sequence, int rows,
                                                   std::mt19937_64& random);

}  // namespace pgcdc::torture
