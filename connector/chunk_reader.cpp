#include "connector/chunk_reader.h"

#include <spdlog/spdlog.h>

namespace pgcdc {
namespace {

// How long a chunk waits for its table's lock. A DDL statement holding the table longer is waited
// out by trying again later, while the stream goes on: a source thread blocked in a lock wait
// would answer no keepalive.
constexpr const char* kLockTimeout = "1s";
constexpr int kRenameAttempts = 5;

// The table's current name, quoted, by OID; nullopt when the table is gone.
std::optional<std::string> current_name(PgConnection& connection, Oid oid) {
  auto result = connection.exec_params(
      "SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) "
      "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
      "WHERE c.oid = $1::oid",
      {std::to_string(oid)});
  if (PQntuples(result.get()) != 1) return std::nullopt;
  return std::string(field(result.get(), 0, 0));
}

}  // namespace

ChunkReader::ChunkReader(const std::string& conninfo, std::chrono::milliseconds timeout)
    : connection_(conninfo, PgConnection::Kind::kQuery, timeout) {}

ChunkReader::~ChunkReader() {
  abandon();
}

ChunkReader::Lock ChunkReader::lock(TableInfo& table) {
  try {
    connection_.exec("LOCK TABLE " + table.quoted + " IN ACCESS SHARE MODE");
  } catch (const PgError& e) {
    if (e.sqlstate() == "55P03") return Lock::kBusy;     // lock_not_available
    if (e.sqlstate() == "42P01") return Lock::kRenamed;  // undefined_table: renamed or dropped
    throw;
  }
  // The name may now belong to another table (renamed away, another created in its place).
  auto locked =
      connection_.exec_params("SELECT pg_catalog.to_regclass($1)::oid::text", {table.quoted});
  if (field(locked.get(), 0, 0) != std::to_string(table.oid)) return Lock::kRenamed;
  return Lock::kTaken;
}

bool ChunkReader::open(TableInfo& table, Isolation isolation) {
  for (int attempt = 0; attempt < kRenameAttempts; ++attempt) {
    connection_.exec(isolation == Isolation::kRepeatableRead
                         ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
                         : "BEGIN READ ONLY");
    Lock locked = Lock::kBusy;
    try {
      // Neither SET nor LOCK takes the transaction's snapshot: the first query after them does.
      connection_.exec(std::string("SET LOCAL lock_timeout = '") + kLockTimeout + "'");
      locked = lock(table);
      if (locked == Lock::kTaken) {
        refresh_columns(connection_, table);
        return true;
      }
    } catch (...) {
      abandon();
      throw;
    }
    abandon();
    if (locked == Lock::kBusy) return false;
    std::optional<std::string> name = current_name(connection_, table.oid);
    if (!name) {
      throw SetupError("table " + table.qualified + " (oid " + std::to_string(table.oid) +
                       ") was dropped while pgcdc captures it; remove it from source.tables");
    }
    if (*name != table.quoted) {
      spdlog::warn("table {} was renamed to {}; its rows keep going to topic {}", table.qualified,
                   *name, table.topic);
      table.quoted = *name;
    }
  }
  return false;  // renamed again at every attempt: try later
}

std::string ChunkReader::snapshot() {
  auto result = connection_.exec("SELECT pg_catalog.pg_current_snapshot()::text");
  return std::string(field(result.get(), 0, 0));
}

void ChunkReader::read(const std::string& copy_sql, std::size_t columns, ChunkRows& rows) {
  send(copy_sql);
  receive(columns, rows);
}

void ChunkReader::send(const std::string& copy_sql) {
  if (!PQsendQuery(connection_.raw(), copy_sql.c_str())) {
    throw make_pg_error(nullptr, connection_.raw(), "sending a snapshot chunk query failed");
  }
  copy_sent_ = true;
}

void ChunkReader::receive(std::size_t columns, ChunkRows& rows) {
  PGconn* conn = connection_.raw();
  rows.reset(columns);  // keeps its memory: a chunk's rows fill the space of the one before
  // Each wait below ends after source.connection_timeout of silence (PgConnection).
  const std::string what = "reading a snapshot chunk";
  PgResult copying = connection_.get_result(what);
  if (!copying || PQresultStatus(copying.get()) != PGRES_COPY_OUT) {
    // The query failed before sending a row (its error is in this result).
    while (connection_.get_result(what)) {
    }
    copy_sent_ = false;
    throw make_pg_error(copying.get(), conn, "reading a snapshot chunk failed");
  }
  for (;;) {
    char* line = nullptr;
    const int length = connection_.get_copy_data(&line, what);  // a row or the end
    if (length == -1) break;                                    // the end: the final result follows
    if (length < 0) {
      copy_sent_ = false;  // the connection failed: the session ends
      throw make_pg_error(nullptr, conn, "reading a snapshot chunk failed");
    }
    std::unique_ptr<char, decltype(&PQfreemem)> owned(line, &PQfreemem);
    rows.add_line(std::string_view(line, static_cast<std::size_t>(length)));
  }
  PgResult end = connection_.get_result(what);
  while (connection_.get_result(what)) {
  }
  copy_sent_ = false;
  if (!end || PQresultStatus(end.get()) != PGRES_COMMAND_OK) {
    throw make_pg_error(end.get(), conn, "reading a snapshot chunk failed");
  }
}

void ChunkReader::consume_input() {
  if (copy_sent_ && PQconsumeInput(connection_.raw()) == 0) {
    throw make_pg_error(nullptr, connection_.raw(), "reading a snapshot chunk failed");
  }
}

void ChunkReader::commit() {
  connection_.exec("COMMIT");
}

void ChunkReader::abandon() {
  PGconn* conn = connection_.raw();
  if (!conn || PQstatus(conn) != CONNECTION_OK) {
    copy_sent_ = false;
    return;
  }
  try {
    if (copy_sent_) {
      // Cancel so PostgreSQL stops reading for nobody, then drain what was sent before it.
      if (PGcancel* cancel = PQgetCancel(conn)) {
        char error[256];
        PQcancel(cancel, error, sizeof error);
        PQfreeCancel(cancel);
      }
      const std::string what = "ending a cancelled snapshot chunk";
      while (PgResult result = connection_.get_result(what)) {
        if (PQresultStatus(result.get()) != PGRES_COPY_OUT) continue;
        char* line = nullptr;
        int length = 0;
        while ((length = connection_.get_copy_data(&line, what)) > 0) PQfreemem(line);
        if (length == -2) break;  // the connection failed; nothing more will come
      }
      copy_sent_ = false;
    }
    const PGTransactionStatusType status = PQtransactionStatus(conn);
    if (status == PQTRANS_INTRANS || status == PQTRANS_INERROR) connection_.exec("ROLLBACK");
  } catch (const PgError& e) {
    // The connection is broken or presumed dead (and then closed): every later use fails at once
    // and ends the session. Called from a destructor and after other failures: never throws.
    copy_sent_ = false;
    spdlog::warn("abandoning a snapshot chunk on the {} failed: {}", connection_.name(), e.what());
  }
}

}  // namespace pgcdc
