// Errors built from libpq's state name what failed and why; the reason is never empty, whatever
// libpq left (issue 23: "reading a snapshot chunk failed: " with nothing after it).
#include <gtest/gtest.h>

#include <memory>

#include "connector/pg_connection.h"
#include "core/position_ledger.h"

namespace pgcdc {
namespace {

// What follows "<what>: " in the message, without the SQLSTATE suffix.
std::string reason_of(const PgError& error, const std::string& what) {
  const std::string message = error.what();
  EXPECT_EQ(message.rfind(what + ": ", 0), 0u) << message;
  std::string reason = message.substr(std::min(message.size(), what.size() + 2));
  const auto state = reason.find(" [SQLSTATE");
  if (state != std::string::npos) reason.erase(state);
  while (!reason.empty() && (reason.back() == ' ' || reason.back() == '\n')) reason.pop_back();
  return reason;
}

struct ResultDeleter {
  void operator()(PGresult* result) const { PQclear(result); }
};
struct ConnDeleter {
  void operator()(PGconn* conn) const { PQfinish(conn); }
};

TEST(MakePgError, NeverGivesAnEmptyReason) {
  const std::string what = "reading a snapshot chunk failed";
  // PQgetResult returned NULL and libpq said nothing.
  EXPECT_NE(reason_of(make_pg_error(nullptr, nullptr, what), what), "");
  // A result without a message: a failure libpq built, or a status nobody expected.
  for (ExecStatusType status : {PGRES_FATAL_ERROR, PGRES_COPY_IN, PGRES_EMPTY_QUERY,
                                PGRES_BAD_RESPONSE, PGRES_COMMAND_OK}) {
    std::unique_ptr<PGresult, ResultDeleter> result(PQmakeEmptyPGresult(nullptr, status));
    const std::string reason = reason_of(make_pg_error(result.get(), nullptr, what), what);
    EXPECT_NE(reason, "") << PQresStatus(status);
  }
  // A connection that is not open and has no message (yet).
  std::unique_ptr<PGconn, ConnDeleter> conn(PQconnectStart("host=127.0.0.1 port=1"));
  ASSERT_TRUE(conn);
  EXPECT_NE(reason_of(make_pg_error(nullptr, conn.get(), what), what), "");
  std::unique_ptr<PGresult, ResultDeleter> empty(PQmakeEmptyPGresult(nullptr, PGRES_FATAL_ERROR));
  EXPECT_NE(reason_of(make_pg_error(empty.get(), conn.get(), what), what), "");
}

TEST(MakePgError, NamesSomethingEvenWithoutAWhat) {
  const std::string message = make_pg_error(nullptr, nullptr, "").what();
  EXPECT_EQ(message.rfind("a PostgreSQL call failed: ", 0), 0u) << message;
}

TEST(PositionLedger, AFailureAlwaysHasAReason) {
  PositionLedger ledger;
  ledger.fail("");
  EXPECT_TRUE(ledger.failed());
  EXPECT_NE(ledger.failure(), "");
}

}  // namespace
}  // namespace pgcdc
