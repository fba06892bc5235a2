#pragma once
// RAII ownership of libpq handles and the few query helpers the connector needs.
#include <libpq-fe.h>

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace pgcdc {

struct PgResultDeleter {
  void operator()(PGresult* result) const { PQclear(result); }
};
using PgResult = std::unique_ptr<PGresult, PgResultDeleter>;

// A PostgreSQL error. `transient` (kind kTransient) when retrying later can help (server starting
// or shutting down, connection lost or refused: the SQLSTATE or the connection's state says so),
// as opposed to a problem a person must fix (kNeedsPerson: authentication, privileges, missing
// objects, bad settings).
class PgError : public Error {
 public:
  PgError(const std::string& message, std::string sqlstate, bool transient)
      : Error(transient ? ErrorKind::kTransient : ErrorKind::kNeedsPerson, message),
        sqlstate_(std::move(sqlstate)) {}
  const std::string& sqlstate() const { return sqlstate_; }
  bool transient() const { return kind() == ErrorKind::kTransient; }

 private:
  std::string sqlstate_;
};

// Whether a failure to connect (libpq reports it as text only) is one that waiting mends: the
// server is down, starting, recovering, shutting down or full. Authentication, privileges and
// missing databases are not.
bool is_transient_connect_failure(std::string_view message);

// Session settings both connections use, so that a value's text form is the same whether the
// snapshot (SELECT) or the stream (pgoutput, which formats values in the walsender session) read
// it. The value converter relies on exactly these.
inline constexpr const char* kSessionOptions =
    "-c datestyle=ISO -c intervalstyle=iso_8601 -c timezone=UTC -c extra_float_digits=1 "
    "-c bytea_output=hex";

// One connection to PostgreSQL. Every wait for the server is bounded: a connection that stays
// silent for `timeout` (source.connection_timeout) is presumed dead (a network black hole: a
// dead router, a failed-over address, a proxy that stopped forwarding, none of which closes the
// socket), closed, and reported as a transient PgError that names it. Used by one thread at a
// time (the source thread for the source's connections).
class PgConnection {
 public:
  enum class Kind { kQuery, kReplication };

  // Connects (blocking, at most connect_timeout, derived from `timeout` like the TCP keepalives
  // and tcp_user_timeout, all of which the conninfo may override). Throws PgError; the message
  // never contains the password.
  PgConnection(const std::string& conninfo, Kind kind, std::chrono::milliseconds timeout,
               const std::string& application_name = "pgcdc");
  PgConnection(PgConnection&&) = default;
  PgConnection& operator=(PgConnection&&) = default;

  // Runs a command without parameters; throws PgError unless it succeeded. Waits for the
  // answer as wait_for_server() says. Returns at once on a COPY result, as PQexec does.
  PgResult exec(const std::string& sql);
  // Runs a command with text parameters (nullopt = NULL); `types` may be empty (server infers).
  PgResult exec_params(const std::string& sql,
                       const std::vector<std::optional<std::string>>& params,
                       const std::vector<Oid>& types = {});

  // For a command sent with libpq's asynchronous calls (PQsendQuery): its next result as
  // PQgetResult returns it (nullptr once the command is done), waited for as wait_for_server()
  // says. `what` names the work in an error ("reading a snapshot chunk").
  PgResult get_result(const std::string& what);
  // The next row of a COPY TO STDOUT as PQgetCopyData returns it (its length, -1 at the end,
  // -2 when the connection failed), waited for as wait_for_server() says.
  int get_copy_data(char** row, const std::string& what);

  // Waits until the server sent something. After half the timeout of silence, a second
  // connection looks at this one's backend in pg_stat_activity: while it works on the command
  // (a lock wait behind DDL, CREATE_REPLICATION_SLOT waiting for transactions to end), the
  // silence is the server's work and the wait goes on. Otherwise, once the timeout has passed
  // without a byte, close_dead() and a transient PgError naming the connection and `what`.
  void wait_for_server(const std::string& what);

  // Whether the server is at work on this connection's command, as a second, short connection
  // sees its backend in pg_stat_activity by `deadline`: active and not waiting for the client
  // (ClientRead, ClientWrite, a walsender's WalSenderMain, WalSenderWaitForWAL,
  // WalSenderWriteData). `why_not` says what it saw otherwise. Needs the conninfo to accept a
  // plain connection for the same role.
  struct ServerWork {
    bool at_work = false;
    std::string why_not;
  };
  ServerWork server_at_work(std::chrono::steady_clock::time_point deadline) const;

  // Shuts the socket down under libpq, so every later call on this connection fails at once
  // instead of waiting for a peer that is gone. Nothing is sent: in a black hole a cancel request
  // or a goodbye would only wait too.
  void close_dead();

  std::string quote_identifier(std::string_view name) const;
  std::string quote_literal(std::string_view text) const;

  PGconn* raw() const { return conn_.get(); }
  int server_version() const { return PQserverVersion(conn_.get()); }
  std::string database() const { return PQdb(conn_.get()); }
  // "query connection to HOST:PORT" or "replication connection to HOST:PORT", for messages.
  const std::string& name() const { return name_; }
  std::chrono::milliseconds timeout() const { return timeout_; }

 private:
  PgResult check(PGresult* result, const std::string& what);
  // The results of the command just sent, as PQexec would return them.
  PgResult last_result(const std::string& what);

  struct ConnDeleter {
    void operator()(PGconn* conn) const { PQfinish(conn); }
  };
  std::unique_ptr<PGconn, ConnDeleter> conn_;
  std::string conninfo_;
  std::chrono::milliseconds timeout_;
  std::string name_;
};

// A string literal for a replication command (START_REPLICATION's options): '...' with each '
// doubled. Not quote_literal: for text with a backslash, PQescapeLiteral writes E'...', which the
// replication command grammar does not accept (a publication named with a backslash then failed
// with a syntax error). Backslashes are plain characters in these literals.
std::string quote_replication_literal(std::string_view text);

// Builds a PgError from a failed result (SQLSTATE, primary message, detail, hint), or from the
// connection's state when the result says nothing (or there is none). The reason is never empty.
PgError make_pg_error(const PGresult* result, PGconn* conn, const std::string& what);

// Text of one field; empty string for NULL.
inline std::string_view field(const PGresult* result, int row, int column) {
  return {PQgetvalue(result, row, column),
          static_cast<std::size_t>(PQgetlength(result, row, column))};
}

}  // namespace pgcdc
