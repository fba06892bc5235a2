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

}  // namespace
}  // namespace pgcdc
