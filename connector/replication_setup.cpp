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
      "       slot_type "
      "FROM pg_catalog.pg_replication_slots WHERE slot_name = $1",
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
      "SELECT puballtables, pubinsert AND pubupdate AND pubdelete "
      "FROM pg_catalog.pg_publication WHERE pubname = $1",
      {publication_name});
  if (PQntuples(publication.get()) == 0) return std::nullopt;
  PublicationState state;
  state.all_tables = field(publication.get(), 0, 0) == "t";
  state.publishes_all_operations = field(publication.get(), 0, 1) == "t";
  if (state.all_tables) return state;
  // pg_publication_tables lists each published table (PG15: with its published columns).
  auto published = connection.exec_params(
      "SELECT schemaname, tablename FROM pg_catalog.pg_publication_tables WHERE pubname = $1",
      {publication_name});
  // (schema, table) pairs, not "schema.table" text: with a dot in a name, "a.b"."c" and
  // "a"."b.c" read the same, and a publication of one was taken for the other.
  std::set<std::pair<std::string, std::string>> present;
  for (int row = 0; row < PQntuples(published.get()); ++row) {
    present.emplace(field(published.get(), row, 0), field(published.get(), row, 1));
  }
  for (const auto& table : tables) {
    if (!present.count({table.schema, table.name})) {
      state.missing_tables.push_back(table.qualified);
      continue;
    }
    for (const auto& key : table.key_columns) {
      auto missing = connection.exec_params(
          "SELECT 1 FROM pg_catalog.pg_publication_tables WHERE pubname = $1 AND schemaname = $2 "
          "AND tablename = $3 AND NOT ($4::name = ANY (attnames))",
          {publication_name, table.schema, table.name, key});
      if (PQntuples(missing.get()) > 0) {
        state.tables_without_key.push_back(table.qualified + " (key column " + key + ")");
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

bool ensure_publication(PgConnection& connection, const SourceConfig& config,
                        const std::vector<TableInfo>& tables) {
  const std::string name = connection.quote_identifier(config.publication_name);
  auto state = find_publication(connection, config.publication_name, tables);
  if (!state) {
    std::string sql = "CREATE PUBLICATION " + name + " FOR TABLE ";
    for (std::size_t i = 0; i < tables.size(); ++i) {
      sql += (i ? ", " : "") + table_clause(connection, tables[i]);
    }
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
  if (state->missing_tables.empty()) return false;
  if (!config.alter_publication) {
    std::string names;
    for (const auto& table : state->missing_tables) names += (names.empty() ? "" : ", ") + table;
    throw SetupError("publication " + config.publication_name + " exists but does not publish " +
                     names + ": ALTER PUBLICATION " + name + " ADD TABLE ..., or set "
                     "source.alter_publication = true");
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

Lsn create_slot(PgConnection& replication, const std::string& slot_name) {
  PgResult result;
  try {
    result = replication.exec("CREATE_REPLICATION_SLOT " + replication.quote_identifier(slot_name) +
                              " LOGICAL pgoutput (SNAPSHOT 'nothing')");
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
  spdlog::info("created replication slot {} at {}", slot_name, format_lsn(*lsn));
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
