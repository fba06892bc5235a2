#pragma once
// Checks the server, and creates or checks the publication and the replication slot.
//
// Order matters for "nothing half-made": every check that can fail runs before anything is created;
// if the slot cannot be created after this run created the publication, the publication is dropped.
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/config.h"
#include "connector/catalog.h"
#include "connector/pg_connection.h"
#include "core/error.h"
#include "core/lsn.h"

namespace pgcdc {

// Another process streams from the slot, or created it a moment ago: a second pgcdc instance with
// this configuration won the race for it. Not a failure: the daemon stands by and checks again.
// The message names the slot and, where PostgreSQL said, the process.
class SlotInUse : public Error {
 public:
  explicit SlotInUse(const std::string& message) : Error(ErrorKind::kStandby, message) {}
};

struct SlotState {
  std::string plugin;
  std::string database;
  Lsn confirmed_flush = 0;
  bool active = false;
  std::string wal_status;  // reserved, extended, unreserved, lost
  bool failover = false;   // a failover slot (PostgreSQL 17 and later)
};

// Ping and server checks: version, and for CDC wal_level=logical and the REPLICATION attribute.
// Throws SetupError naming the setting and the fix.
void check_server(PgConnection& connection, bool cdc);

std::optional<SlotState> find_slot(PgConnection& connection, const std::string& slot_name);

struct PublicationState {
  bool all_tables = false;                // FOR ALL TABLES
  bool publishes_all_operations = false;  // insert, update and delete
  bool via_partition_root = false;        // publish_via_partition_root
  bool publishes_generated_columns = false;  // PostgreSQL 18's publish_generated_columns
  std::vector<std::string> missing_tables;  // configured tables it does not publish
  // Configured tables it publishes through a column list without one of their key columns, as
  // "schema.table (key column c)": their changes would carry no key (and PostgreSQL refuses the
  // application's UPDATEs when the list misses the replica identity).
  std::vector<std::string> tables_without_key;
  // Configured partitioned tables: their changes come under their own name only with
  // via_partition_root (without it, under each partition's name).
  std::vector<std::string> partitioned_tables;
  // Configured partitions whose changes it publishes (or, with via_partition_root set, would
  // publish) under an ancestor it includes: "public.m_eu (under public.m)".
  std::vector<std::string> published_under_ancestor;
};

// nullopt when the publication does not exist. Membership is decided as pgoutput decides it: a
// table, its schema (FOR TABLES IN SCHEMA) or FOR ALL TABLES, for the table or an ancestor.
std::optional<PublicationState> find_publication(PgConnection& connection,
                                                 const std::string& publication_name,
                                                 const std::vector<TableInfo>& tables);

// Why `state` cannot be used for its tables (tables_without_key); empty when it can.
std::string publication_key_problem(const std::string& publication_name,
                                    const PublicationState& state);

// What stops `state` from publishing every change of the configured tables under their own
// names, with the fix; empty when nothing does. `alter` (source.alter_publication): missing
// tables and a missing publish_via_partition_root are fixed by pgcdc instead, so they are no
// problem; a partition published under its ancestor always is one.
std::string publication_problem(PgConnection& connection, const PublicationState& state,
                                const std::string& publication_name, bool alter);

// Creates the publication for `tables` if missing (WITH publish_via_partition_root = true, so a
// partitioned table's changes come under its own name); checks (or, when allowed, alters) an
// existing one. Returns true when this call created it. Another process creating it, or adding
// the same table, at the same moment is not an error: it exists then, and is checked as an
// existing one.
bool ensure_publication(PgConnection& connection, const SourceConfig& config,
                        const std::vector<TableInfo>& tables);

void drop_publication(PgConnection& connection, const std::string& publication_name);

// CREATE_REPLICATION_SLOT ... LOGICAL pgoutput on a replication connection, with FAILOVER when
// `failover` (PostgreSQL 17 and later); returns the slot's consistent point. Throws SlotInUse
// when another process created the slot meanwhile.
Lsn create_slot(PgConnection& replication, const std::string& slot_name, bool failover);

void drop_slot(PgConnection& connection, const std::string& slot_name);

// Drops the slot only while it is invalidated (wal_status lost): a slot another instance created
// again meanwhile is left alone. Returns whether this call dropped it.
bool drop_lost_slot(PgConnection& connection, const std::string& slot_name);

}  // namespace pgcdc
