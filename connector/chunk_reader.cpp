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
  copy_.emplace(connection_, copy_sql);
}

void ChunkReader::receive(std::size_t columns, ChunkRows& rows) {
  copy_->receive(columns, rows);  // a failed COPY stays here until abandon() rolls it back
  copy_.reset();
}

void ChunkReader::consume_input() {
  if (copy_) copy_->consume_input();
}

void ChunkReader::commit() {
  connection_.exec("COMMIT");
}

void ChunkReader::abandon() {
  copy_.reset();  // cancels the COPY if it still runs, and rolls its transaction back
  roll_back_quietly(connection_, "abandoning a snapshot chunk");
}

}  // namespace pgcdc
