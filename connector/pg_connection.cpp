#include "connector/pg_connection.h"

#include <array>

namespace pgcdc {

bool is_transient_connect_failure(std::string_view message) {
  // The postmaster's refusals while it cannot take connections (SQLSTATE 57P03, and 53300 for
  // "too many clients"), as PostgreSQL 15 words them, and libpq's own for an absent server.
  // "not yet accepting connections" is crash recovery before a consistent state: a restart
  // with -m immediate shows it for a moment.
  static constexpr std::array<std::string_view, 11> kTransient = {
      "Connection refused",
      "could not connect",
      "the database system is starting up",
      "the database system is not yet accepting connections",
      "the database system is not accepting connections",
      "the database system is shutting down",
      "the database system is in recovery mode",
      "sorry, too many clients already",
      "timeout expired",
      "Connection timed out",
      "server closed the connection"};
  // Authentication and missing-database failures also say "could not connect" in some libpq
  // versions' prefixes; they are permanent.
  for (std::string_view permanent : {"password authentication failed", "does not exist",
                                     "no pg_hba.conf entry", "authentication failed",
                                     "permission denied", "must be superuser or replication"}) {
    if (message.find(permanent) != std::string_view::npos) return false;
  }
  for (std::string_view transient : kTransient) {
    if (message.find(transient) != std::string_view::npos) return true;
  }
  return false;
}

namespace {

// SQLSTATE classes that retrying can fix: 08 connection exception, 57P01-57P03 admin shutdown,
// crash shutdown, cannot connect now, 53 insufficient resources, 40 serialization/deadlock.
bool is_transient_sqlstate(std::string_view state) {
  return state.starts_with("08") || state == "57P01" || state == "57P02" || state == "57P03" ||
         state.starts_with("53") || state.starts_with("40");
}

std::string trim(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

}  // namespace

PgConnection::PgConnection(const std::string& conninfo, Kind kind) {
  // expand_dbname=1: `dbname` holds the user's URL or key=value string; the keywords after it
  // override what it says, which is how the session options and replication mode are added.
  std::vector<const char*> keys = {"dbname", "application_name", "options", "client_encoding"};
  std::vector<const char*> values = {conninfo.c_str(), "pgcdc", kSessionOptions, "UTF8"};
  if (kind == Kind::kReplication) {
    keys.push_back("replication");
    values.push_back("database");
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  conn_.reset(PQconnectdbParams(keys.data(), values.data(), /*expand_dbname=*/1));
  if (!conn_) throw PgError("out of memory creating a PostgreSQL connection", "", true);
  if (PQstatus(conn_.get()) != CONNECTION_OK) {
    // PQerrorMessage names host and port, never the password.
    std::string message = trim(PQerrorMessage(conn_.get()));
    bool transient = is_transient_connect_failure(message);
    throw PgError("cannot connect to PostgreSQL" +
                      std::string(kind == Kind::kReplication ? " (replication connection)" : "") +
                      ": " + message,
                  "", transient);
  }
}

PgError make_pg_error(const PGresult* result, PGconn* conn, const std::string& what) {
  std::string state, message;
  if (result) {
    const char* s = PQresultErrorField(result, PG_DIAG_SQLSTATE);
    state = s ? s : "";
    const char* primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
    message = primary ? primary : trim(PQresultErrorMessage(result));
    if (const char* detail = PQresultErrorField(result, PG_DIAG_MESSAGE_DETAIL)) {
      message += " (" + std::string(detail) + ")";
    }
    if (const char* hint = PQresultErrorField(result, PG_DIAG_MESSAGE_HINT)) {
      message += " hint: " + std::string(hint);
    }
  }
  if (message.empty() && conn) message = trim(PQerrorMessage(conn));
  bool transient = is_transient_sqlstate(state) || (conn && PQstatus(conn) == CONNECTION_BAD);
  return PgError(what + ": " + message + (state.empty() ? "" : " [SQLSTATE " + state + "]"), state,
                 transient);
}

PgResult PgConnection::check(PGresult* raw, const std::string& what) {
  PgResult result(raw);
  ExecStatusType status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_COPY_BOTH ||
      status == PGRES_COPY_OUT) {
    return result;
  }
  throw make_pg_error(result.get(), conn_.get(), what);
}

PgResult PgConnection::exec(const std::string& sql) {
  return check(PQexec(conn_.get(), sql.c_str()), sql.substr(0, 120));
}

PgResult PgConnection::exec_params(const std::string& sql,
                                   const std::vector<std::optional<std::string>>& params,
                                   const std::vector<Oid>& types) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  return check(PQexecParams(conn_.get(), sql.c_str(), static_cast<int>(params.size()),
                            types.empty() ? nullptr : types.data(), values.data(), nullptr,
                            nullptr, 0),
               sql.substr(0, 120));
}

std::string PgConnection::quote_identifier(std::string_view name) const {
  std::unique_ptr<char, decltype(&PQfreemem)> quoted(
      PQescapeIdentifier(conn_.get(), name.data(), name.size()), &PQfreemem);
  if (!quoted) throw PgError("cannot quote identifier: " + trim(PQerrorMessage(conn_.get())), "", false);
  return quoted.get();
}

std::string quote_replication_literal(std::string_view text) {
  std::string quoted = "'";
  for (char c : text) {
    quoted += c;
    if (c == '\'') quoted += '\'';
  }
  return quoted + "'";
}

std::string PgConnection::quote_literal(std::string_view text) const {
  std::unique_ptr<char, decltype(&PQfreemem)> quoted(
      PQescapeLiteral(conn_.get(), text.data(), text.size()), &PQfreemem);
  if (!quoted) throw PgError("cannot quote literal: " + trim(PQerrorMessage(conn_.get())), "", false);
  return quoted.get();
}

}  // namespace pgcdc
