// The PostgreSQL that scripts/dev-env starts is real and set up for logical replication.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <thread>

#include "connector/catalog.h"
#include "connector/pg_connection.h"
#include "connector/replication_setup.h"
#include "tests/support/test_env.h"

namespace pgcdc::test {
namespace {

TEST(Postgres, ATableIsCreatedWrittenAndReadBack) {
  PgConnection db(test_env().pg_url, PgConnection::Kind::kQuery, kTestConnectionTimeout);
  std::string table = unique_name("pg_roundtrip");
  db.exec("CREATE TABLE " + table + " (id int PRIMARY KEY, v text)");
  db.exec_params("INSERT INTO " + table + " VALUES (1, $1)", {std::string("héllo")});
  auto result = db.exec("SELECT v FROM " + table + " WHERE id = 1");
  ASSERT_EQ(PQntuples(result.get()), 1);
  EXPECT_EQ(field(result.get(), 0, 0), "héllo");
  db.exec("DROP TABLE " + table);
}

TEST(Postgres, ServerIsReadyForLogicalReplication) {
  PgConnection db(test_env().pg_url, PgConnection::Kind::kQuery, kTestConnectionTimeout);
  EXPECT_GE(db.server_version(), 150000);
  EXPECT_NO_THROW(check_server(db, /*cdc=*/true));
  PgConnection replication(test_env().pg_url, PgConnection::Kind::kReplication,
                           kTestConnectionTimeout);
  auto system = replication.exec("IDENTIFY_SYSTEM");
  EXPECT_EQ(PQntuples(system.get()), 1);
}

TEST(Postgres, SessionSettingsAreTheOnesTheConverterExpects) {
  PgConnection db(test_env().pg_url, PgConnection::Kind::kQuery, kTestConnectionTimeout);
  auto result = db.exec(
      "SELECT current_setting('DateStyle'), current_setting('IntervalStyle'), "
      "current_setting('TimeZone'), current_setting('bytea_output')");
  EXPECT_EQ(field(result.get(), 0, 0), "ISO, MDY");
  EXPECT_EQ(field(result.get(), 0, 1), "iso_8601");
  EXPECT_EQ(field(result.get(), 0, 2), "UTC");
  EXPECT_EQ(field(result.get(), 0, 3), "hex");
}

// Runs ensure_publication on a thread while `other` holds an uncommitted CREATE or ALTER of the
// same publication, lets `other` commit once the call waits for it, and returns what the call
// threw ("" when nothing).
std::string ensure_publication_racing(PgConnection& other, const SourceConfig& config,
                                      const std::vector<TableInfo>& tables,
                                      std::optional<bool>& created) {
  std::string error;
  std::thread racer([&] {
    try {
      PgConnection db(test_env().pg_url, PgConnection::Kind::kQuery, kTestConnectionTimeout);
      created = ensure_publication(db, config, tables);
    } catch (const std::exception& e) {
      error = e.what();
      if (error.empty()) error = "an exception without a message";
    }
  });
  // The racer's statement waits for `other`'s transaction (the catalog's unique index, or the
  // publication's lock) before it can tell whether the publication or the table is there.
  PgConnection monitor(test_env().pg_url, PgConnection::Kind::kQuery, kTestConnectionTimeout);
  bool waiting = false;
  for (int i = 0; i < 500 && !waiting; ++i) {
    auto result = monitor.exec_params(
        "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1",
        {"%PUBLICATION \"" + config.publication_name + "\"%"});
    waiting = PQntuples(result.get()) > 0;
    if (!waiting) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(waiting) << "ensure_publication never waited for the other transaction";
  other.exec("COMMIT");
  racer.join();
  return error;
}

TEST(Postgres, APublicationCreatedByAnotherInstanceMeanwhileIsTakenAsExisting) {
  PgConnection db(test_env().pg_url, PgConnection::Kind::kQuery, kTestConnectionTimeout);
  std::string table = unique_name("pub_race");
  db.exec("CREATE TABLE " + table + " (id int PRIMARY KEY)");
  SourceConfig config;
  config.publication_name = table;
  TableConfig table_config;
  table_config.name = table;
  std::vector<TableInfo> tables = {describe_table(db, table_config, "p")};

  PgConnection other(test_env().pg_url, PgConnection::Kind::kQuery, kTestConnectionTimeout);
  other.exec("BEGIN");
  other.exec("CREATE PUBLICATION \"" + table + "\" FOR TABLE " + table);
  std::optional<bool> created;
  std::string error = ensure_publication_racing(other, config, tables, created);
  EXPECT_EQ(error, "");
  EXPECT_EQ(created, std::optional<bool>(false)) << "the publication is the other instance's";
  db.exec("DROP PUBLICATION \"" + table + "\"");
  db.exec("DROP TABLE " + table);
}

TEST(Postgres, ATableAddedToThePublicationByAnotherInstanceMeanwhileIsTakenAsAdded) {
  PgConnection db(test_env().pg_url, PgConnection::Kind::kQuery, kTestConnectionTimeout);
  std::string table = unique_name("pub_add_race");
  db.exec("CREATE TABLE " + table + "_a (id int PRIMARY KEY)");
  db.exec("CREATE TABLE " + table + "_b (id int PRIMARY KEY)");
  db.exec("CREATE PUBLICATION \"" + table + "\" FOR TABLE " + table + "_a");
  SourceConfig config;
  config.publication_name = table;
  config.alter_publication = true;
  std::vector<TableInfo> tables;
  for (const char* suffix : {"_a", "_b"}) {
    TableConfig table_config;
    table_config.name = table + suffix;
    tables.push_back(describe_table(db, table_config, "p"));
  }

  PgConnection other(test_env().pg_url, PgConnection::Kind::kQuery, kTestConnectionTimeout);
  other.exec("BEGIN");
  other.exec("ALTER PUBLICATION \"" + table + "\" ADD TABLE " + table + "_b");
  std::optional<bool> created;
  std::string error = ensure_publication_racing(other, config, tables, created);
  EXPECT_EQ(error, "");
  EXPECT_EQ(created, std::optional<bool>(false));
  auto published = db.exec_params(
      "SELECT count(*) FROM pg_publication_tables WHERE pubname = $1", {table});
  EXPECT_EQ(field(published.get(), 0, 0), "2");
  db.exec("DROP PUBLICATION \"" + table + "\"");
  db.exec("DROP TABLE " + table + "_a, " + table + "_b");
}

}  // namespace
}  // namespace pgcdc::test
