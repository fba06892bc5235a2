// The PostgreSQL that scripts/dev-env starts is real and set up for logical replication.
#include <gtest/gtest.h>

#include "connector/pg_connection.h"
#include "connector/replication_setup.h"
#include "tests/support/test_env.h"

namespace pgcdc::test {
namespace {

TEST(Postgres, ATableIsCreatedWrittenAndReadBack) {
  PgConnection db(test_env().pg_url, PgConnection::Kind::kQuery);
  std::string table = unique_name("pg_roundtrip");
  db.exec("CREATE TABLE " + table + " (id int PRIMARY KEY, v text)");
  db.exec_params("INSERT INTO " + table + " VALUES (1, $1)", {std::string("héllo")});
  auto result = db.exec("SELECT v FROM " + table + " WHERE id = 1");
  ASSERT_EQ(PQntuples(result.get()), 1);
  EXPECT_EQ(field(result.get(), 0, 0), "héllo");
  db.exec("DROP TABLE " + table);
}

TEST(Postgres, ServerIsReadyForLogicalReplication) {
  PgConnection db(test_env().pg_url, PgConnection::Kind::kQuery);
  EXPECT_GE(db.server_version(), 150000);
  EXPECT_NO_THROW(check_server(db, /*cdc=*/true));
  PgConnection replication(test_env().pg_url, PgConnection::Kind::kReplication);
  auto system = replication.exec("IDENTIFY_SYSTEM");
  EXPECT_EQ(PQntuples(system.get()), 1);
}

TEST(Postgres, SessionSettingsAreTheOnesTheConverterExpects) {
  PgConnection db(test_env().pg_url, PgConnection::Kind::kQuery);
  auto result = db.exec(
      "SELECT current_setting('DateStyle'), current_setting('IntervalStyle'), "
      "current_setting('TimeZone'), current_setting('bytea_output')");
  EXPECT_EQ(field(result.get(), 0, 0), "ISO, MDY");
  EXPECT_EQ(field(result.get(), 0, 1), "iso_8601");
  EXPECT_EQ(field(result.get(), 0, 2), "UTC");
  EXPECT_EQ(field(result.get(), 0, 3), "hex");
}

}  // namespace
}  // namespace pgcdc::test
