#pragma once
// What pgcdc needs to know about a configured table, looked up in the catalog once per session,
// and the type facts the value converter needs, cached per type OID.
#include <cstdint>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "config/config.h"
#include "connector/pg_connection.h"
#include "connector/value_converter.h"
#include "core/error.h"

namespace pgcdc {

// A problem a person must fix (missing table, no key, no privilege, wrong server setting).
// The message names the object and the fix. Never retried.
class SetupError : public Error {
 public:
  explicit SetupError(const std::string& message) : Error(ErrorKind::kNeedsPerson, message) {}
};

// Resolves type OIDs to the facts the converter needs, querying the catalog once per OID: a
// domain becomes its base type; an array carries its element type, a range or multirange its
// subtype, a composite type its attributes' names and types (pg_attribute), all resolved the same
// way, nested; hstore is recognised by its output function. Used by both the snapshot and the
// stream so they agree. Source thread only (not thread-safe).
//
// The facts are read once per session: after ALTER TYPE on a composite type that a captured table
// uses, restart pgcdc (until then, values whose attribute count changed are written as strings
// and counted as unknown; docs/types.md).
class TypeCache {
 public:
  explicit TypeCache(PgConnection& connection) : connection_(connection) {}
  ColumnType resolve(Oid oid);

 private:
  ColumnType look_up(Oid oid);

  PgConnection& connection_;
  std::unordered_map<Oid, ColumnType> cache_;
  std::unordered_set<Oid> resolving_;  // OIDs being resolved: a type never contains itself
};

struct ColumnInfo {
  std::string name;
  Oid type_oid = 0;
  bool not_null = false;
  // format_type() with the column's typmod, e.g. numeric(12,2): casts a snapshot chunk's key
  // literal to exactly the column's type (COPY takes no parameters).
  std::string type_name;
};

struct TableInfo {
  std::string schema;
  std::string name;
  std::string qualified;  // "schema.name", unquoted, for logs, offsets and metric labels
  std::string quoted;     // "schema"."name", for SQL
  std::string topic;
  Oid oid = 0;
  char replica_identity = 'd';  // pg_class.relreplident: d default, f full, i index, n nothing
  // Columns pgoutput sends for this table (column list of the publication, or every column that is
  // not generated), in attribute order: the snapshot SELECTs exactly these, in this order.
  std::vector<ColumnInfo> published;
  // `after` object members, in output order. With `all_columns` this is the column set at start
  // and the live set follows ALTER TABLE: every replicated column is output.
  std::vector<std::string> output_columns;
  bool all_columns = true;  // source.columns not set for this table
  std::vector<std::string> key_columns;     // Kafka key members, in key order
  bool column_list = false;  // publish only `published` (a PG15 publication column list)
  // A partitioned table (relkind 'p'): its rows live in its partitions. The snapshot reads them
  // through it, and its changes come under its own name and OID, from a publication with
  // publish_via_partition_root (replication_setup).
  bool partitioned = false;
  // The partitioned tables this table is a partition of, nearest first; empty when it is none.
  struct Ancestor {
    Oid oid = 0;
    std::string qualified;
  };
  std::vector<Ancestor> ancestors;
};

// Looks the table up and checks it can be captured: everything a later step (the publication,
// the snapshot's key order, the records' keys) would refuse is refused here, before the daemon
// creates any object and by `pgcdc check`. Throws SetupError naming the table, the column and why.
TableInfo describe_table(PgConnection& connection, const TableConfig& config,
                         const std::string& topic_prefix);

// Offsets, metric labels and topics are keyed by a table's names: throws SetupError when two of
// `tables` would share one.
void check_distinct_names(const std::vector<TableInfo>& tables);

// Refuses a set of tables where one is a partition of another (at any depth): with
// publish_via_partition_root the partition's changes are published under the ancestor's name
// only, so the partition's own topic would get its snapshot and never a change. Throws
// SetupError naming both.
void check_partition_nesting(const std::vector<TableInfo>& tables);

// The tables' OIDs as a PostgreSQL array literal, "{16384,16390}", for a `$n::oid[]` parameter.
std::string oid_array(const std::vector<TableInfo>& tables);

// Reads the table's current columns again (after ALTER TABLE) into `table.published`: every
// non-generated column, or with a column list those of its columns that still exist.
void refresh_columns(PgConnection& connection, TableInfo& table);

// Kafka topic for a table: "<prefix>.<schema>.<table>", with characters Kafka does not allow in
// topic names replaced by '_'.
std::string topic_for(const std::string& prefix, const std::string& schema, const std::string& table);

}  // namespace pgcdc
