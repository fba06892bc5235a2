#include <gtest/gtest.h>

#include "connector/pg_connection.h"

namespace pgcdc {
namespace {

// START_REPLICATION's option values: the replication grammar takes '...' with '' for a quote and
// no E'' form, so backslashes stay as they are (tests/integration/hostile_names_test.cpp runs a
// publication named with both against PostgreSQL).
TEST(QuoteReplicationLiteral, DoublesSingleQuotesAndKeepsBackslashes) {
  EXPECT_EQ(quote_replication_literal(""), "''");
  EXPECT_EQ(quote_replication_literal("pgcdc"), "'pgcdc'");
  EXPECT_EQ(quote_replication_literal(R"("pub'""\ x")"), R"('"pub''""\ x"')");
  EXPECT_EQ(quote_replication_literal("''"), "''''''");
}

// What libpq says when the postmaster refuses a connection: a restart with -m immediate shows
// "not yet accepting connections" for a moment, and the daemon must wait it out, not exit.
TEST(TransientConnectFailure, TheServerNotReadyYetIsRetriedAndAPersonsProblemIsNot) {
  const std::string prefix = "connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  ";
  for (const char* text :
       {"the database system is starting up",
        "the database system is not yet accepting connections\nDETAIL:  Consistent recovery "
        "state has not been yet reached.",
        "the database system is not accepting connections\nDETAIL:  Hot standby mode is disabled.",
        "the database system is shutting down", "the database system is in recovery mode",
        "sorry, too many clients already"}) {
    EXPECT_TRUE(is_transient_connect_failure(prefix + text)) << text;
  }
  EXPECT_TRUE(is_transient_connect_failure(
      "connection to server at \"127.0.0.1\", port 5432 failed: Connection refused\n\tIs the "
      "server running on that host and accepting TCP/IP connections?"));
  // Several hosts with target_session_attrs while the old primary is gone and no standby is
  // promoted yet: the promotion is a moment away.
  EXPECT_TRUE(is_transient_connect_failure(
      "connection to server at \"127.0.0.1\", port 5433 failed: session is read-only"));
  EXPECT_TRUE(is_transient_connect_failure(
      "connection to server at \"127.0.0.1\", port 5433 failed: server is in hot standby mode"));
  for (const char* text : {"password authentication failed for user \"pgcdc\"",
                           "database \"nope\" does not exist",
                           "no pg_hba.conf entry for host \"127.0.0.1\", user \"x\"",
                           "permission denied for database \"pgcdc\""}) {
    EXPECT_FALSE(is_transient_connect_failure(prefix + text)) << text;
  }
}

}  // namespace
}  // namespace pgcdc
