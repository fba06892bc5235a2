#include "connector/pg_connection.h"

#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "connector/sql_quote.h"

namespace pgcdc {

bool is_transient_connect_failure(std::string_view message) {
  // The postmaster's refusals while it cannot take connections (SQLSTATE 57P03, and 53300 for
  // "too many clients"), as PostgreSQL 15 words them, and libpq's own for an absent server.
  // "not yet accepting connections" is crash recovery before a consistent state: a restart
  // with -m immediate shows it for a moment.
  // With several hosts and target_session_attrs, libpq refuses the standbys ("session is
  // read-only", "server is in hot standby mode") until one of them is promoted.
  static constexpr std::array<std::string_view, 13> kTransient = {
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
      "server closed the connection",
      "session is read-only",
      "server is in hot standby mode"};
  // Authentication and missing-database failures also say "could not connect" in some libpq
  // versions' prefixes; they are permanent.
  for (std::string_view permanent :
       {"password authentication failed", "does not exist", "no pg_hba.conf entry",
        "authentication failed", "permission denied", "must be superuser or replication"}) {
    if (message.find(permanent) != std::string_view::npos) return false;
  }
  for (std::string_view transient : kTransient) {
    if (message.find(transient) != std::string_view::npos) return true;
  }
  return false;
}

namespace {

using Clock = std::chrono::steady_clock;

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

// What to say when neither the result nor libpq gave a message (PQgetResult returned NULL, a
// result of an unexpected kind): the state of things, never nothing.
std::string fallback_reason(const PGresult* result, const PGconn* conn) {
  if (result) {
    return std::string("the server answered ") + PQresStatus(PQresultStatus(result)) +
           " without a message";
  }
  if (!conn) return "no result, and no connection to ask why";
  if (PQstatus(conn) != CONNECTION_OK) return "the connection is not open (libpq gave no reason)";
  return "no result from the server (libpq gave no reason)";
}

// libpq's message for the last failure on `conn`, or what fallback_reason() says.
std::string libpq_reason(const PGresult* result, const PGconn* conn) {
  std::string message = conn ? trim(PQerrorMessage(conn)) : "";
  return message.empty() ? fallback_reason(result, conn) : message;
}

// The connection parameters for libpq, in order. The ones derived from the timeout come before
// `dbname`, so a URL that sets them wins; pgcdc's own session settings come after it, so none
// can be overridden.
class ConnectParams {
 public:
  ConnectParams(const std::string& conninfo, PgConnection::Kind kind,
                std::chrono::milliseconds timeout, const char* application_name) {
    const long long seconds = std::chrono::duration_cast<std::chrono::seconds>(timeout).count();
    // libpq counts these in whole seconds; connect_timeout takes 2 at least.
    add("connect_timeout", std::to_string(std::max<long long>(2, (timeout.count() + 999) / 1000)));
    // A dead network under the kernel (no acknowledgements): keepalives find it on an idle
    // connection, tcp_user_timeout while data waits to be acknowledged, both within the timeout.
    add("keepalives", "1");
    add("keepalives_idle", std::to_string(std::max<long long>(1, seconds / 3)));
    add("keepalives_interval", std::to_string(std::max<long long>(1, seconds / 6)));
    add("keepalives_count", "4");
    add("tcp_user_timeout", std::to_string(timeout.count()));
    // expand_dbname=1: `dbname` holds the user's URL or key=value string; the keywords after it
    // override what it says, which is how the session options and replication mode are added.
    add("dbname", conninfo);
    add("application_name", application_name);
    add("options", kSessionOptions);
    add("client_encoding", "UTF8");
    if (kind == PgConnection::Kind::kReplication) add("replication", "database");
    for (std::size_t i = 0; i < names_.size(); ++i) {
      keys_.push_back(names_[i].c_str());
      values_.push_back(texts_[i].c_str());
    }
    keys_.push_back(nullptr);
    values_.push_back(nullptr);
  }
  const char* const* keys() const { return keys_.data(); }
  const char* const* values() const { return values_.data(); }

 private:
  void add(const char* name, std::string value) {
    names_.emplace_back(name);
    texts_.push_back(std::move(value));
  }
  std::vector<std::string> names_, texts_;
  std::vector<const char*> keys_, values_;
};

// Waits until `socket` is ready for `events` (or failed: libpq then reports why); false when
// `deadline` passed first.
bool wait_socket(int socket, short events, Clock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    pollfd fd{socket, events, 0};
    const int ready =
        ::poll(&fd, 1, static_cast<int>(std::clamp<long long>(left.count(), 0, 60000)));
    if (ready > 0) return true;
    if (ready < 0 && errno != EINTR) return true;  // the next libpq call reports the error
    if (ready == 0 && Clock::now() >= deadline) return false;
  }
}

// Bytes OpenSSL has decrypted but libpq has not taken yet: the socket would not show them.
bool ssl_pending(PGconn* conn) {
  if (PQsslInUse(conn) == 0) return false;
  const char* library = PQsslAttribute(conn, "library");
  if (library == nullptr || std::strcmp(library, "OpenSSL") != 0) return false;
  auto* ssl = static_cast<SSL*>(PQsslStruct(conn, "OpenSSL"));
  return ssl != nullptr && SSL_pending(ssl) > 0;
}

std::string seconds_text(std::chrono::milliseconds duration) {
  if (duration.count() % 1000 == 0) return std::to_string(duration.count() / 1000) + " s";
  return fmt::format("{:.1f} s", static_cast<double>(duration.count()) / 1000.0);
}

}  // namespace

PgConnection::PgConnection(const std::string& conninfo, Kind kind,
                           std::chrono::milliseconds timeout, const std::string& application_name)
    : conninfo_(conninfo), timeout_(timeout) {
  const char* kind_name =
      kind == Kind::kReplication ? "replication connection" : "query connection";
  ConnectParams params(conninfo, kind, timeout, application_name.c_str());
  conn_.reset(PQconnectdbParams(params.keys(), params.values(), /*expand_dbname=*/1));
  if (!conn_) throw PgError("out of memory creating a PostgreSQL connection", "", true);
  if (PQstatus(conn_.get()) != CONNECTION_OK) {
    // PQerrorMessage names host and port, never the password.
    std::string message = libpq_reason(nullptr, conn_.get());
    bool transient = is_transient_connect_failure(message);
    throw PgError("cannot connect to PostgreSQL" +
                      std::string(kind == Kind::kReplication ? " (replication connection)" : "") +
                      ": " + message,
                  "", transient);
  }
  const char* host = PQhost(conn_.get());
  const char* port = PQport(conn_.get());
  name_ = std::string(kind_name) + " to " + (host ? host : "?") + ":" + (port ? port : "?");
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
  if (message.empty()) message = libpq_reason(result, conn);
  bool transient = is_transient_sqlstate(state) || (conn && PQstatus(conn) == CONNECTION_BAD);
  return PgError((what.empty() ? std::string("a PostgreSQL call failed") : what) + ": " + message +
                     (state.empty() ? "" : " [SQLSTATE " + state + "]"),
                 state, transient);
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
  const std::string what = sql.substr(0, 120);
  last_result(what);  // what an earlier command left, discarded as PQexec does
  if (PQsendQuery(conn_.get(), sql.c_str()) == 0) throw make_pg_error(nullptr, conn_.get(), what);
  return check(last_result(what).release(), what);
}

PgResult PgConnection::exec_params(const std::string& sql,
                                   const std::vector<std::optional<std::string>>& params,
                                   const std::vector<Oid>& types) {
  const std::string what = sql.substr(0, 120);
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  last_result(what);
  if (PQsendQueryParams(conn_.get(), sql.c_str(), static_cast<int>(params.size()),
                        types.empty() ? nullptr : types.data(), values.data(), nullptr, nullptr,
                        0) == 0) {
    throw make_pg_error(nullptr, conn_.get(), what);
  }
  return check(last_result(what).release(), what);
}

PgResult PgConnection::last_result(const std::string& what) {
  // As PQexec: the first error if there is one, else the last result; a COPY result at once
  // (its rows follow).
  PgResult kept;
  while (PgResult result = get_result(what)) {
    const ExecStatusType status = PQresultStatus(result.get());
    if (status == PGRES_COPY_IN || status == PGRES_COPY_OUT || status == PGRES_COPY_BOTH) {
      return result;
    }
    if (kept && PQresultStatus(kept.get()) == PGRES_FATAL_ERROR) continue;
    kept = std::move(result);
  }
  return kept;
}

PgResult PgConnection::get_result(const std::string& what) {
  PGconn* conn = conn_.get();
  while (PQisBusy(conn) != 0) {
    wait_for_server(what);
    // A failed read closes the connection: PQgetResult then reports it without waiting.
    if (PQconsumeInput(conn) == 0) break;
  }
  return PgResult(PQgetResult(conn));
}

int PgConnection::get_copy_data(char** row, const std::string& what) {
  PGconn* conn = conn_.get();
  for (;;) {
    const int length = PQgetCopyData(conn, row, /*async=*/1);
    if (length != 0) return length;
    wait_for_server(what);
    if (PQconsumeInput(conn) == 0) return -2;
  }
}

void PgConnection::wait_for_server(const std::string& what) {
  PGconn* conn = conn_.get();
  const int socket = PQsocket(conn);
  if (socket < 0 || ssl_pending(conn)) return;  // libpq reports a closed connection itself
  auto silent_since = Clock::now();
  bool probed = false;
  std::string probe_said;
  for (;;) {
    const auto deadline = silent_since + timeout_;
    if (wait_socket(socket, POLLIN, probed ? deadline : silent_since + timeout_ / 2)) return;
    if (!probed) {
      // Half the timeout without a byte: the server may be working on the command (a lock
      // wait, a slot waiting for transactions to end), or the network may be gone. Only a
      // second connection can tell: the backend cannot answer on this one before it is done.
      probed = true;
      ServerWork work = server_at_work(deadline);
      if (work.at_work) {
        spdlog::debug(
            "{}: {}: the server has said nothing for {}, but its backend is at work: "
            "waiting on",
            name_, what,
            seconds_text(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() -
                                                                               silent_since)));
        silent_since = Clock::now();
        probed = false;
      } else {
        probe_said = std::move(work.why_not);
      }
      continue;
    }
    std::string message =
        name_ + ": " + what + ": no answer from the server for " + seconds_text(timeout_) +
        (probe_said.empty() ? "" : " (" + probe_said + ")") + ": the connection is presumed dead";
    close_dead();
    throw PgError(message, "", /*transient=*/true);
  }
}

void PgConnection::close_dead() {
  PGconn* conn = conn_.get();
  const int socket = PQsocket(conn);
  if (socket < 0) return;
  ::shutdown(socket, SHUT_RDWR);
  // libpq finds the end of the stream, marks the connection CONNECTION_BAD and lets go of the
  // socket; what was still buffered is read first.
  for (int reads = 0; reads < 1000 && PQstatus(conn) == CONNECTION_OK; ++reads) {
    if (PQconsumeInput(conn) == 0) break;
  }
}

PgConnection::ServerWork PgConnection::server_at_work(Clock::time_point deadline) const {
  const std::string pid = std::to_string(PQbackendPID(conn_.get()));
  ConnectParams params(conninfo_, Kind::kQuery, timeout_, "pgcdc-probe");
  std::unique_ptr<PGconn, ConnDeleter> probe(
      PQconnectStartParams(params.keys(), params.values(), /*expand_dbname=*/1));
  auto failed = [&](const std::string& step) {
    std::string reason = probe ? trim(PQerrorMessage(probe.get())) : "out of memory";
    return ServerWork{false, "a second connection " + step + (reason.empty() ? "" : ": " + reason)};
  };
  if (!probe || PQstatus(probe.get()) == CONNECTION_BAD) return failed("could not start");
  // The asynchronous connect, so that the deadline holds (connect_timeout counts whole seconds).
  PostgresPollingStatusType polling = PGRES_POLLING_WRITING;
  while (polling != PGRES_POLLING_OK) {
    if (polling == PGRES_POLLING_FAILED) return failed("could not connect");
    const short events = polling == PGRES_POLLING_READING ? POLLIN : POLLOUT;
    if (!wait_socket(PQsocket(probe.get()), events, deadline)) {
      return ServerWork{false, "a second connection got no answer either"};
    }
    polling = PQconnectPoll(probe.get());
  }
  const char* values[] = {pid.c_str()};
  if (PQsendQueryParams(probe.get(),
                        "SELECT state, coalesce(wait_event, '') FROM pg_catalog.pg_stat_activity "
                        "WHERE pid = $1",
                        1, nullptr, values, nullptr, nullptr, 0) == 0) {
    return failed("could not ask pg_stat_activity");
  }
  while (PQisBusy(probe.get()) != 0) {
    if (!wait_socket(PQsocket(probe.get()), POLLIN, deadline)) {
      return ServerWork{false, "a second connection got no answer either"};
    }
    if (PQconsumeInput(probe.get()) == 0) return failed("failed");
  }
  PgResult result(PQgetResult(probe.get()));
  if (!result || PQresultStatus(result.get()) != PGRES_TUPLES_OK) {
    return ServerWork{false, make_pg_error(result.get(), probe.get(),
                                           "a second connection could not read pg_stat_activity")
                                 .what()};
  }
  if (PQntuples(result.get()) == 0) {
    return ServerWork{false, "a second connection finds no backend " + pid + " on the server"};
  }
  const std::string state(field(result.get(), 0, 0));
  const std::string wait_event(field(result.get(), 0, 1));
  // Waiting for the client means the client's side is gone: ClientRead, the command never
  // arrived; ClientWrite and WalSenderWriteData, the answer does not get through; WalSenderMain
  // and WalSenderWaitForWAL, a walsender idle enough to have answered a request for a reply.
  static constexpr std::array<std::string_view, 5> kWaitingForTheClient = {
      "ClientRead", "ClientWrite", "WalSenderWriteData", "WalSenderMain", "WalSenderWaitForWAL"};
  if (state == "active" && std::find(kWaitingForTheClient.begin(), kWaitingForTheClient.end(),
                                     wait_event) == kWaitingForTheClient.end()) {
    return ServerWork{true, {}};
  }
  return ServerWork{false, "a second connection sees backend " + pid + " " +
                               (state.empty() ? "in no state" : state) +
                               (wait_event.empty() ? "" : ", waiting on " + wait_event)};
}

std::string PgConnection::quote_identifier(std::string_view name) const {
  std::unique_ptr<char, decltype(&PQfreemem)> quoted(
      PQescapeIdentifier(conn_.get(), name.data(), name.size()), &PQfreemem);
  if (!quoted) {
    throw PgError("cannot quote identifier: " + libpq_reason(nullptr, conn_.get()), "", false);
  }
  return quoted.get();
}

std::string quote_replication_literal(std::string_view text) {
  return quote_doubling(text, '\'');
}

std::string PgConnection::quote_literal(std::string_view text) const {
  std::unique_ptr<char, decltype(&PQfreemem)> quoted(
      PQescapeLiteral(conn_.get(), text.data(), text.size()), &PQfreemem);
  if (!quoted) {
    throw PgError("cannot quote literal: " + libpq_reason(nullptr, conn_.get()), "", false);
  }
  return quoted.get();
}

}  // namespace pgcdc
