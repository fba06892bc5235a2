#pragma once
// RAII ownership of libpq handles and the few query helpers the connector needs.
#include <libpq-fe.h>

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace pgcdc {

struct PgResultDeleter {
  void operator()(PGresult* result) const { PQclear(result); }
};
using PgResult = std::unique_ptr<PGresult, PgResultDeleter>;

// A PostgreSQL error. `transient()` says whether retrying later can help (server starting or
// shutting down, connection lost or refused) as opposed to a problem a person must fix
// (authentication, privileges, missing objects, bad settings).
class PgError : public std::runtime_error {
 public:
  PgError(const std::string& message, std::string sqlstate, bool transient)
      : std::runtime_error(message), sqlstate_(std::move(sqlstate)), transient_(transient) {}
  const std::string& sqlstate() const { return sqlstate_; }
  bool transient() const { return transient_; }

 private:
  std::string sqlstate_;
  bool transient_;
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

class PgConnection {
 public:
  enum class Kind { kQuery, kReplication };

  // Connects (blocking). Throws PgError; the message never contains the password.
  PgConnection(const std::string& conninfo, Kind kind);
  PgConnection(PgConnection&&) = default;
  PgConnection& operator=(PgConnection&&) = default;

  // Runs a command without parameters; throws PgError unless it succeeded.
  PgResult exec(const std::string& sql);
  // Runs a command with text parameters (nullopt = NULL); `types` may be empty (server infers).
  PgResult exec_params(const std::string& sql, const std::vector<std::optional<std::string>>& params,
                       const std::vector<Oid>& types = {});

  std::string quote_identifier(std::string_view name) const;
  std::string quote_literal(std::string_view text) const;

  PGconn* raw() const { return conn_.get(); }
  int server_version() const { return PQserverVersion(conn_.get()); }
  std::string database() const { return PQdb(conn_.get()); }

 private:
  PgResult check(PGresult* result, const std::string& what);

  struct ConnDeleter {
    void operator()(PGconn* conn) const { PQfinish(conn); }
  };
  std::unique_ptr<PGconn, ConnDeleter> conn_;
};

// A string literal for a replication command (START_REPLICATION's options): '...' with each ' doubled.
// Not quote_literal: for text with a backslash, PQescapeLiteral writes E'...', which the
// replication command grammar does not accept (a publication named with a backslash then failed
// with a syntax error). Backslashes are plain characters in these literals.
std::string quote_replication_literal(std::string_view text);

// Builds a PgError from a failed result (SQLSTATE, primary message, detail, hint).
PgError make_pg_error(const PGresult* result, PGconn* conn, const std::string& what);

// Text of one field; empty string for NULL.
inline std::string_view field(const PGresult* result, int row, int column) {
  return {PQgetvalue(result, row, column),
          static_cast<std::size_t>(PQgetlength(result, row, column))};
}

}  // namespace pgcdc
