#include "connector/copy_query.h"

#include <memory>

#include <spdlog/spdlog.h>

namespace pgcdc {
namespace {

const std::string kReading = "reading a snapshot chunk";

}  // namespace

CopyQuery::CopyQuery(PgConnection& connection, const std::string& copy_sql)
    : connection_(connection) {
  if (!PQsendQuery(connection_.raw(), copy_sql.c_str())) {
    running_ = false;
    throw make_pg_error(nullptr, connection_.raw(), "sending a snapshot chunk query failed");
  }
}

CopyQuery::~CopyQuery() {
  if (received_) return;
  PGconn* conn = connection_.raw();
  if (!conn || PQstatus(conn) != CONNECTION_OK) return;
  try {
    if (running_) cancel();
  } catch (const PgError& e) {
    // The connection is broken or presumed dead (and then closed): every later use fails at
    // once and ends the session.
    spdlog::warn("abandoning a snapshot chunk on the {} failed: {}", connection_.name(), e.what());
    return;
  }
  roll_back_quietly(connection_, "abandoning a snapshot chunk");
}

void CopyQuery::cancel() {
  PGconn* conn = connection_.raw();
  // Cancel so PostgreSQL stops reading for nobody, then drain what was sent before it.
  if (PGcancel* request = PQgetCancel(conn)) {
    char error[256];
    PQcancel(request, error, sizeof error);
    PQfreeCancel(request);
  }
  running_ = false;
  const std::string what = "ending a cancelled snapshot chunk";
  while (PgResult result = connection_.get_result(what)) {
    if (PQresultStatus(result.get()) != PGRES_COPY_OUT) continue;
    char* line = nullptr;
    int length = 0;
    while ((length = connection_.get_copy_data(&line, what)) > 0) PQfreemem(line);
    if (length == -2) break;  // the connection failed; nothing more will come
  }
}

void CopyQuery::receive(std::size_t columns, ChunkRows& rows) {
  PGconn* conn = connection_.raw();
  rows.reset(columns);  // keeps its memory: a chunk's rows fill the space of the one before
  PgResult copying = connection_.get_result(kReading);
  if (!copying || PQresultStatus(copying.get()) != PGRES_COPY_OUT) {
    // The query failed before sending a row (its error is in this result).
    while (connection_.get_result(kReading)) {
    }
    running_ = false;
    throw make_pg_error(copying.get(), conn, "reading a snapshot chunk failed");
  }
  for (;;) {
    char* line = nullptr;
    const int length = connection_.get_copy_data(&line, kReading);  // a row or the end
    if (length == -1) break;  // the end: the final result follows
    if (length < 0) {
      running_ = false;  // the connection failed: the session ends
      throw make_pg_error(nullptr, conn, "reading a snapshot chunk failed");
    }
    std::unique_ptr<char, decltype(&PQfreemem)> owned(line, &PQfreemem);
    rows.add_line(std::string_view(line, static_cast<std::size_t>(length)));
  }
  PgResult end = connection_.get_result(kReading);
  while (connection_.get_result(kReading)) {
  }
  running_ = false;
  if (!end || PQresultStatus(end.get()) != PGRES_COMMAND_OK) {
    throw make_pg_error(end.get(), conn, "reading a snapshot chunk failed");
  }
  received_ = true;
}

void CopyQuery::consume_input() {
  if (running_ && PQconsumeInput(connection_.raw()) == 0) {
    throw make_pg_error(nullptr, connection_.raw(), "reading a snapshot chunk failed");
  }
}

void roll_back_quietly(PgConnection& connection, const std::string& what) {
  PGconn* conn = connection.raw();
  if (!conn || PQstatus(conn) != CONNECTION_OK) return;
  try {
    const PGTransactionStatusType status = PQtransactionStatus(conn);
    if (status == PQTRANS_INTRANS || status == PQTRANS_INERROR) connection.exec("ROLLBACK");
  } catch (const PgError& e) {
    spdlog::warn("{} on the {} failed: {}", what, connection.name(), e.what());
  }
}

}  // namespace pgcdc
