#include "connector/replication_setup.h"

#include <algorithm>
#include <set>
#include <utility>

#include <spdlog/spdlog.h>

namespace pgcdc {

void check_server(PgConnection& connection, bool cdc) {
  connection.exec("SELECT 1");  // the ping: fails with the server's own message
  if (connection.server_version() < 150000) {
    throw SetupError("PostgreSQL " + std::to_string(connection.server_version() / 10000) +
                     " is not supported: pgcdc needs PostgreSQL 15 or later");
  }
  if (!cdc) return;
  auto wal_level = connection.exec("SHOW wal_level");
  if (field(wal_level.get(), 0, 0) != "logical") {
    throw SetupError("wal_level is '" + std::string(field(wal_level.get(), 0, 0)) +
                     "' but logical replication needs 'logical': set wal_level = logical in "
                     "postgresql.conf and restart PostgreSQL");
  }
  auto role = connection.exec(
      "SELECT rolsuper OR rolreplication, current_user FROM pg_catalog.pg_roles "
      "WHERE rolname = current_user");
  if (PQntuples(role.get()) != 1 || field(role.get(), 0, 0) != "t") {
    std::string user = PQntuples(role.get()) == 1 ? std::string(field(role.get(), 0, 1)) : "?";
    throw SetupError("role " + user + " lacks the REPLICATION attribute needed to stream changes: "
                     "ALTER ROLE " + connection.quote_identifier(user) + " REPLICATION");
  }
}

std::optional<SlotState> find_slot(PgConnection& connection, const std::string& slot_name) {
  auto result = connection.exec_params(
      "SELECT coalesce(plugin, ''), coalesce(database::text, ''), "
      "       coalesce(confirmed_flush_lsn::text, '0/0'), active, coalesce(wal_status, ''), "
      "       slot_type, " +
          std::string(connection.server_version() >= 170000 ? "failover" : "false") +
          " FROM pg_catalog.pg_replication_slots WHERE slot_name = $1",
      {slot_name});
  if (PQntuples(result.get()) == 0) return std::nullopt;
  if (field(result.get(), 0, 5) != "logical") {
    throw SetupError("replication slot " + slot_name + " exists but is a physical slot; choose "
                     "another source.slot_name");
  }
  SlotState slot;
  slot.plugin = field(result.get(), 0, 0);
  slot.database = field(result.get(), 0, 1);
  slot.confirmed_flush = parse_lsn(field(result.get(), 0, 2)).value_or(0);
  slot.active = field(result.get(), 0, 3) == "t";
  slot.wal_status = field(result.get(), 0, 4);
  slot.failover = field(result.get(), 0, 6) == "t";
  return slot;
}

namespace {

std::string table_clause(PgConnection& connection, const TableInfo& table) {
  std::string clause = table.quoted;
  if (table.column_list) {
    clause += " (";
    for (std::size_t i = 0; i < table.published.size(); ++i) {
      clause += (i ? ", " : "") + connection.quote_identifier(table.published[i].name);
    }
    clause += ")";
  }
  return clause;
}

// A catalog entry another session created between our look-up and our CREATE (or ADD TABLE):
// "already exists" once it committed, a unique violation on the catalog's index while both ran.
bool created_concurrently(const PgError& e) {
  return e.sqlstate() == "42710" || e.sqlstate() == "23505";
}

}  // namespace

std::optional<PublicationState> find_publication(PgConnection& connection,
                                                 const std::string& publication_name,
                                                 const std::vector<TableInfo>& tables) {
  auto publication = connection.exec_params(
      "SELECT puballtables, pubinsert AND pubupdate AND pubdelete, pubviaroot, " +
          std::string(connection.server_version() >= 180000 ? "pubgencols <> 'n'" : "false") +
          " FROM pg_catalog.pg_publication WHERE pubname = $1",
      {publication_name});
  if (PQntuples(publication.get()) == 0) return std::nullopt;
  PublicationState state;
  state.all_tables = field(publication.get(), 0, 0) == "t";
  state.publishes_all_operations = field(publication.get(), 0, 1) == "t";
  state.via_partition_root = field(publication.get(), 0, 2) == "t";
  state.publishes_generated_columns = field(publication.get(), 0, 3) == "t";
  if (tables.empty()) return state;
  // For each configured table, the topmost of itself and its ancestors that the publication
  // includes, as pgoutput picks it: with publish_via_partition_root the changes come under that
  // one's name; without, under each leaf's own. By OID, not by pg_publication_tables, which lists
  // leaves or roots depending on publish_via_partition_root.
  const std::string oids = oid_array(tables);
  auto published = connection.exec_params(
      "SELECT t.oid, top.oid, top.qualified "
      "FROM unnest($2::oid[]) WITH ORDINALITY AS t(oid, ord) "
      "CROSS JOIN pg_catalog.pg_publication p "
      "LEFT JOIN LATERAL ("
      "  SELECT a.relid AS oid, n.nspname || '.' || c.relname AS qualified "
      "  FROM (SELECT t.oid AS relid, 0::bigint AS depth "
      "        UNION ALL "
      "        SELECT x.relid::oid, x.depth "
      "        FROM pg_catalog.pg_partition_ancestors(t.oid::regclass) WITH ORDINALITY "
      "             AS x(relid, depth)) a "
      "  JOIN pg_catalog.pg_class c ON c.oid = a.relid "
      "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
      "  WHERE p.puballtables "
      "     OR EXISTS (SELECT 1 FROM pg_catalog.pg_publication_rel r "
      "                WHERE r.prpubid = p.oid AND r.prrelid = a.relid) "
      "     OR EXISTS (SELECT 1 FROM pg_catalog.pg_publication_namespace s "
      "                WHERE s.pnpubid = p.oid AND s.pnnspid = c.relnamespace) "
      "  ORDER BY a.depth DESC LIMIT 1) top ON true "
      "WHERE p.pubname = $1 ORDER BY t.ord",
      {publication_name, oids});
  for (std::size_t i = 0; i < tables.size(); ++i) {
    const TableInfo& table = tables[i];
    const int row = static_cast<int>(i);
    if (table.partitioned) state.partitioned_tables.push_back(table.qualified);
    if (row >= PQntuples(published.get()) || PQgetisnull(published.get(), row, 1)) {
      state.missing_tables.push_back(table.qualified);
    } else if (field(published.get(), row, 1) != std::to_string(table.oid)) {
      state.published_under_ancestor.push_back(table.qualified + " (under " +
                                               std::string(field(published.get(), row, 2)) + ")");
    } else {
      // With a column list, the key columns must be among them, or changes carry no key.
      for (const auto& key : table.key_columns) {
        auto missing = connection.exec_params(
            "SELECT 1 FROM pg_catalog.pg_publication_tables WHERE pubname = $1 AND schemaname = "
            "$2 AND tablename = $3 AND NOT ($4::name = ANY (attnames))",
            {publication_name, table.schema, table.name, key});
        if (PQntuples(missing.get()) > 0) {
          state.tables_without_key.push_back(table.qualified + " (key column " + key + ")");
        }
      }
    }
  }
  return state;
}

std::string publication_key_problem(const std::string& publication_name,
                                    const PublicationState& state) {
  if (state.tables_without_key.empty()) return "";
  std::string tables;
  for (const auto& table : state.tables_without_key) {
    tables += (tables.empty() ? "" : ", ") + table;
  }
  return "publication " + publication_name + " publishes " + tables +
         " through a column list without the key, so changes would carry no key: add the key "
         "columns to its column list (ALTER PUBLICATION ... SET TABLE), or drop the publication "
         "and let pgcdc create it";
}

std::string publication_problem(PgConnection& connection, const PublicationState& state,
                                const std::string& publication_name, bool alter) {
  const std::string name = connection.quote_identifier(publication_name);
  auto list = [](const std::vector<std::string>& items) {
    std::string text;
    for (const auto& item : items) text += (text.empty() ? "" : ", ") + item;
    return text;
  };
  // pgcdc sets publish_via_partition_root for partitioned tables: a partition published under an
  // ancestor would then be too, so this counts whether the option is on now or is about to be.
  const bool via_root = state.via_partition_root || (alter && !state.partitioned_tables.empty());
  if (state.publishes_generated_columns) {
    // The snapshot reads no generated column: the stream must not carry them either, or a row
    // read by the snapshot and the same row streamed would differ.
    return "publication " + publication_name + " publishes generated columns " +
           "(publish_generated_columns = stored), which pgcdc's snapshot does not read: " +
           "ALTER PUBLICATION " + name + " SET (publish_generated_columns = none), or let " +
           "pgcdc create a publication of its own (source.publication_name)";
  }
  if (via_root && !state.published_under_ancestor.empty()) {
    return "publication " + publication_name + " publishes the changes of " +
           list(state.published_under_ancestor) + " under the partitioned table it includes " +
           "(publish_via_partition_root), not under the configured partition's name: " +
           "configure that partitioned table instead, or take it out of the publication";
  }
  std::vector<std::string> problems;
  if (!state.via_partition_root && !state.partitioned_tables.empty() && !alter) {
    problems.push_back("does not publish via the partition root, so the changes of " +
                       std::string("partitioned table(s) ") + list(state.partitioned_tables) +
                       " would come under their partitions' names: ALTER PUBLICATION " + name +
                       " SET (publish_via_partition_root = true)");
  }
  if (!state.missing_tables.empty() && !alter) {
    problems.push_back("does not publish " + list(state.missing_tables) + ": ALTER PUBLICATION " +
                       name + " ADD TABLE ...");
  }
  if (problems.empty()) return "";
  std::string text = "publication " + publication_name + " exists but " + problems[0];
  for (std::size_t i = 1; i < problems.size(); ++i) text += "; and it " + problems[i];
  return text + " (or set source.alter_publication = true to let pgcdc do it)";
}

bool ensure_publication(PgConnection& connection, const SourceConfig& config,
                        const std::vector<TableInfo>& tables) {
  const std::string name = connection.quote_identifier(config.publication_name);
  auto state = find_publication(connection, config.publication_name, tables);
  if (!state) {
    // Via the root for every publication pgcdc creates: a partitioned table's changes then come
    // under its own name and OID (a row moving between partitions as a delete and an insert of
    // the root), partitions created later included. Other tables are published as they are.
    std::string sql = "CREATE PUBLICATION " + name + " FOR TABLE ";
    for (std::size_t i = 0; i < tables.size(); ++i) {
      sql += (i ? ", " : "") + table_clause(connection, tables[i]);
    }
    sql += " WITH (publish_via_partition_root = true)";
    try {
      connection.exec(sql);
      spdlog::info("created publication {} for {} table(s)", config.publication_name,
                   tables.size());
      return true;
    } catch (const PgError& e) {
      if (!created_concurrently(e)) throw;
      // Another instance created it first: it is an existing publication now, checked as one.
      spdlog::info("publication {} was created by another process meanwhile",
                   config.publication_name);
      state = find_publication(connection, config.publication_name, tables);
      if (!state) throw;  // created and dropped again meanwhile: report what failed
    }
  }
  if (std::string problem = publication_key_problem(config.publication_name, *state);
      !problem.empty()) {
    throw SetupError(problem);
  }
  if (!state->publishes_all_operations) {
    spdlog::warn("publication {} does not publish every one of insert, update, delete: those "
                 "changes will not be captured", config.publication_name);
  }
  // Every problem is found before anything is altered: a refused start changes nothing.
  std::string problem =
      publication_problem(connection, *state, config.publication_name, config.alter_publication);
  if (!problem.empty()) throw SetupError(problem);
  if (!state->via_partition_root && !state->partitioned_tables.empty()) {
    connection.exec("ALTER PUBLICATION " + name + " SET (publish_via_partition_root = true)");
    spdlog::warn(
        "set publish_via_partition_root = true on publication {} "
        "(source.alter_publication = true), so the changes of partitioned table(s) {} "
        "come under their own names; every reader of this publication now gets "
        "partitions' changes under their partitioned tables' names",
        config.publication_name,
        state->partitioned_tables.front() + (state->partitioned_tables.size() > 1 ? ", ..." : ""));
  }
  for (const auto& table : tables) {
    if (std::find(state->missing_tables.begin(), state->missing_tables.end(), table.qualified) ==
        state->missing_tables.end()) {
      continue;
    }
    try {
      connection.exec("ALTER PUBLICATION " + name + " ADD TABLE " +
                      table_clause(connection, table));
      spdlog::info("added {} to publication {}", table.qualified, config.publication_name);
    } catch (const PgError& e) {
      if (!created_concurrently(e)) throw;
      spdlog::info("{} was added to publication {} by another process meanwhile", table.qualified,
                   config.publication_name);
    }
  }
  return false;
}

void drop_publication(PgConnection& connection, const std::string& publication_name) {
  connection.exec("DROP PUBLICATION IF EXISTS " + connection.quote_identifier(publication_name));
}

Lsn create_slot(PgConnection& replication, const std::string& slot_name, bool failover) {
  PgResult result;
  try {
    result = replication.exec("CREATE_REPLICATION_SLOT " + replication.quote_identifier(slot_name) +
                              " LOGICAL pgoutput (SNAPSHOT 'nothing'" +
                              (failover ? ", FAILOVER" : "") + ")");
  } catch (const PgError& e) {
    // The caller found no slot a moment ago: another process created it since.
    if (e.sqlstate() == "42710") {
      throw SlotInUse("replication slot " + slot_name +
                      " was created by another process at the same time (another instance with "
                      "this configuration)");
    }
    throw;
  }
  // Columns: slot_name, consistent_point, snapshot_name, output_plugin.
  auto lsn = parse_lsn(field(result.get(), 0, 1));
  if (!lsn) throw SetupError("CREATE_REPLICATION_SLOT returned no consistent point");
  spdlog::info("created replication slot {} at {}{}", slot_name, format_lsn(*lsn),
               failover ? " (a failover slot)" : "");
  return *lsn;
}

void drop_slot(PgConnection& connection, const std::string& slot_name) {
  connection.exec_params(
      "SELECT pg_catalog.pg_drop_replication_slot(slot_name) "
      "FROM pg_catalog.pg_replication_slots WHERE slot_name = $1",
      {slot_name});
}

bool drop_lost_slot(PgConnection& connection, const std::string& slot_name) {
  auto result = connection.exec_params(
      "SELECT pg_catalog.pg_drop_replication_slot(slot_name) "
      "FROM pg_catalog.pg_replication_slots WHERE slot_name = $1 AND wal_status = 'lost'",
      {slot_name});
  return PQntuples(result.get()) == 1;
}

}  // namespace pgcdc
