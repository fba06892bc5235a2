// Shapes that broke the core path when pgcdc was tried as a new user would (issue 23): several
// tables snapshotted while a later one is written, DDL that rewrites or drops columns of a table
// mid-snapshot, and tables renamed while streaming. Real pgcdc, real PostgreSQL 15, real Kafka.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <atomic>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "tests/support/pipeline_fixture.h"

namespace pgcdc::test {
namespace {

using namespace std::chrono_literals;

std::set<std::string> live_keys(const std::vector<ChangeEvent>& events) {
  std::set<std::string> keys;
  for (const auto& [key, after] : last_per_key(events)) {
    if (after) keys.insert(key);
  }
  return keys;
}

class CorePath : public PipelineTest {
 protected:
  // The keys of `table` as pgcdc writes them, from a SELECT of `key_sql` (one text column that
  // builds the key JSON).
  std::set<std::string> table_keys(const std::string& key_sql, const std::string& table) {
    std::set<std::string> keys;
    auto result = db().exec("SELECT " + key_sql + " FROM " + table);
    for (int row = 0; row < PQntuples(result.get()); ++row) {
      keys.insert(std::string(field(result.get(), row, 0)));
    }
    return keys;
  }
  static std::string int_key(const std::string& column) {
    return "'{\"" + column + "\":' || " + column + " || '}'";
  }
};

// Two tables, the second written (deletes, one short transaction each) while the first is read in
// chunks: a Relation message for the second table arrived while the first table's next chunk was
// in flight on the shared query connection, the type lookup it caused discarded that chunk's COPY,
// and the session died with an empty error, at every restart.
TEST_F(CorePath, SeveralTablesSnapshotWhileALaterOneIsWritten) {
  const std::string orders = name_ + "_orders", events = name_ + "_events";
  sql("CREATE TABLE " + orders + " (id bigint PRIMARY KEY, v text, n numeric(14,4), d jsonb)");
  sql("INSERT INTO " + orders +
      " SELECT g, 'v' || g, g * 1.5, jsonb_build_object('g', g) "
      "FROM generate_series(1, 60000) g");
  sql("CREATE TABLE " + events +
      " (tenant text, seq int, payload jsonb, "
      "PRIMARY KEY (tenant, seq))");
  sql("INSERT INTO " + events + " SELECT 't' || (g % 20), g, '{}' FROM generate_series(1, 8000) g");

  std::atomic<bool> stop{false};
  std::thread writer([&] {
    PgConnection db(test_env().pg_url, PgConnection::Kind::kQuery, kTestConnectionTimeout);
    for (int i = 0; i < 1500 && !stop; ++i) {
      db.exec("DELETE FROM " + events + " WHERE (tenant, seq) IN (SELECT tenant, seq FROM " +
              events + " ORDER BY random() LIMIT 1)");
    }
  });
  start_daemon(write_config(toml_config({orders, events})));
  std::this_thread::sleep_for(3s);
  stop = true;
  writer.join();
  ASSERT_TRUE(daemon_->running()) << daemon_->log();
  ASSERT_TRUE(wait_for_slot_to_catch_up(120s)) << daemon_->log();

  auto order_events = read_topic(topic(orders), 60000, 120s);
  EXPECT_EQ(live_keys(order_events).size(), 60000u);
  const std::string event_key = "'{\"tenant\":\"' || tenant || '\",\"seq\":' || seq || '}'";
  const auto expected = table_keys(event_key, events);
  auto event_records = read_topic(topic(events), expected.size(), 60s, 3s);
  EXPECT_EQ(live_keys(event_records), expected);
  EXPECT_EQ(daemon_->log().find("snapshot chunk failed"), std::string::npos) << daemon_->log();
  stop_daemon();
}

// DDL while a table is snapshotted in small chunks: a rewrite (ALTER COLUMN TYPE, ADD COLUMN with
// a volatile default) made the next chunk's snapshot see an empty table, taken for its end, and
// most rows were never published; DROP COLUMN made the next chunk's query fail and the daemon exit.
class SnapshotUnderDdl : public CorePath, public ::testing::WithParamInterface<const char*> {};

TEST_P(SnapshotUnderDdl, EveryRowIsPublishedAndTheDaemonKeepsRunning) {
  const int rows = 20000;
  sql("CREATE TABLE " + name_ +
      " (id int PRIMARY KEY, v int, t text, c int DEFAULT 5, "
      "d int DEFAULT 9, pad text DEFAULT repeat('p', 2000))");
  sql("INSERT INTO " + name_ + " (id, v, t) SELECT g, g, 't' || g FROM generate_series(1, " +
      std::to_string(rows) + ") g");
  start_daemon(write_config(toml_config({name_}, "snapshot_chunk_rows = 100\n")));
  ASSERT_EQ(read_topic(topic(name_), 200, 60s).size(), 200u) << daemon_->log();  // mid-snapshot
  std::string ddl = GetParam();
  ddl.replace(ddl.find("%t"), 2, name_);
  // Held open a moment, so the chunks after it wait for its lock.
  sql("BEGIN; " + ddl + "; SELECT pg_sleep(0.5); COMMIT");
  sql("INSERT INTO " + name_ + " (id, v, t) VALUES (" + std::to_string(rows + 1) + ", 0, 'after')");
  ASSERT_TRUE(wait_for_slot_to_catch_up(120s)) << daemon_->log();
  ASSERT_TRUE(daemon_->running()) << daemon_->log();
  auto events = read_topic(topic(name_), rows + 1, 120s, 1s);
  std::set<std::string> expected = table_keys(int_key("id"), name_);
  EXPECT_EQ(expected.size(), static_cast<std::size_t>(rows + 1));
  EXPECT_EQ(live_keys(events), expected);
  stop_daemon();
}

std::string ddl_name(const ::testing::TestParamInfo<const char*>& info) {
  static const char* const kNames[] = {"AlterColumnType", "AddColumnVolatileDefault", "DropColumn"};
  return kNames[info.index];
}

INSTANTIATE_TEST_SUITE_P(
    Ddl, SnapshotUnderDdl,
    ::testing::Values("ALTER TABLE %t ALTER COLUMN c TYPE text USING 'c=' || c::text",
                      "ALTER TABLE %t ADD COLUMN r float8 DEFAULT random()",
                      "ALTER TABLE %t DROP COLUMN d"),
    ddl_name);

// A table renamed while streaming is the same table (same OID, still in the publication): its
// changes keep going to its topic. They were dropped silently, matched by name.
TEST_F(CorePath, ARenamedTableKeepsStreamingToItsTopic) {
  const std::string renamed = name_ + "_renamed";
  sql("CREATE TABLE " + name_ + " (id int PRIMARY KEY, v int, t text)");
  sql("INSERT INTO " + name_ + " VALUES (1, 0, 'snapshot')");
  start_daemon(write_config(toml_config({name_})));
  ASSERT_EQ(read_topic(topic(name_), 1).size(), 1u) << daemon_->log();
  sql("INSERT INTO " + name_ + " VALUES (101, 1, 'before')");
  sql("ALTER TABLE " + name_ + " RENAME TO " + renamed);
  sql("INSERT INTO " + renamed + " VALUES (103, 1, 'after-rename')");
  sql("UPDATE " + renamed + " SET v = 9 WHERE id = 1");
  sql("ALTER TABLE " + renamed + " RENAME TO " + name_);
  sql("INSERT INTO " + name_ + " VALUES (104, 1, 'renamed-back')");
  auto events = read_topic(topic(name_), 5, 60s, 1s);
  ASSERT_EQ(events.size(), 5u) << daemon_->log();
  EXPECT_EQ(events[1].after, R"({"id":101,"v":1,"t":"before"})");
  EXPECT_EQ(events[2].after, R"({"id":103,"v":1,"t":"after-rename"})");
  EXPECT_EQ(events[3].op, "u");
  EXPECT_EQ(events[3].after, R"({"id":1,"v":9,"t":"snapshot"})");
  EXPECT_EQ(events[4].after, R"({"id":104,"v":1,"t":"renamed-back"})");
  EXPECT_NE(daemon_->log().find("is now named public." + renamed), std::string::npos)
      << daemon_->log();
  stop_daemon();
}

// Renamed while its snapshot runs: the chunks follow the table by OID instead of failing on the
// old name, and the snapshot ends with every row.
TEST_F(CorePath, ATableRenamedMidSnapshotIsReadToTheEnd) {
  const int rows = 20000;
  const std::string renamed = name_ + "_renamed";
  sql("CREATE TABLE " + name_ + " (id int PRIMARY KEY, pad text DEFAULT repeat('p', 1000))");
  sql("INSERT INTO " + name_ + " (id) SELECT g FROM generate_series(1, " + std::to_string(rows) +
      ") g");
  start_daemon(write_config(toml_config({name_}, "snapshot_chunk_rows = 100\n")));
  ASSERT_EQ(read_topic(topic(name_), 200, 60s).size(), 200u) << daemon_->log();
  sql("ALTER TABLE " + name_ + " RENAME TO " + renamed);
  sql("INSERT INTO " + renamed + " (id) VALUES (" + std::to_string(rows + 1) + ")");
  ASSERT_TRUE(wait_for_slot_to_catch_up(120s)) << daemon_->log();
  ASSERT_TRUE(daemon_->running()) << daemon_->log();
  auto events = read_topic(topic(name_), rows + 1, 120s, 1s);
  EXPECT_EQ(live_keys(events).size(), static_cast<std::size_t>(rows + 1));
  EXPECT_NE(daemon_->log().find("was renamed to"), std::string::npos) << daemon_->log();
  stop_daemon();
}

}  // namespace
}  // namespace pgcdc::test

namespace pgcdc::test {
namespace {

// A table that leaves the publication while captured loses the changes made until it is back, and
// nothing in the stream says so: pgcdc notices from the catalog (at start from its offsets, and
// periodically while streaming), says so, and reads the table again.
class PublicationGap : public CorePath {
 protected:
  void create_table() {
    sql("CREATE TABLE " + name_ + " (id int PRIMARY KEY, t text)");
    sql("INSERT INTO " + name_ + " VALUES (1, 'snapshot')");
  }
  // Every row of the table is the last record of its key.
  void expect_topic_matches_table(std::size_t at_least) {
    ASSERT_TRUE(wait_for_slot_to_catch_up(60s)) << daemon_->log();
    auto expected = table_keys(int_key("id"), name_);
    std::vector<ChangeEvent> events;
    auto deadline = std::chrono::steady_clock::now() + 60s;
    while (std::chrono::steady_clock::now() < deadline) {
      events = read_topic(topic(name_), at_least, 10s, 500ms);
      if (live_keys(events) == expected) break;
    }
    EXPECT_EQ(live_keys(events), expected) << daemon_->log();
  }
  std::string publication() const { return name_; }
};

TEST_F(PublicationGap, DroppedWhileStreamingIsAddedBackAndReadAgain) {
  create_table();
  start_daemon(write_config(toml_config({name_}, "alter_publication = true\n")));
  ASSERT_EQ(read_topic(topic(name_), 1).size(), 1u) << daemon_->log();
  sql("ALTER PUBLICATION " + publication() + " DROP TABLE " + name_);
  sql("INSERT INTO " + name_ + " VALUES (2, 'while out of the publication')");
  sql("UPDATE " + name_ + " SET t = 'changed while out' WHERE id = 1");
  expect_topic_matches_table(3);
  auto events = read_topic(topic(name_), 3, 10s, 500ms);
  EXPECT_EQ(last_per_key(events)[R"({"id":1})"], R"({"id":1,"t":"changed while out"})");
  EXPECT_NE(daemon_->log().find("left publication " + publication()), std::string::npos)
      << daemon_->log();
  EXPECT_NE(daemon_->log().find("(read again after a publication gap)"), std::string::npos);
  sql("INSERT INTO " + name_ + " VALUES (3, 'streamed again')");
  expect_topic_matches_table(4);
  stop_daemon();
}

TEST_F(PublicationGap, DroppedAndAddedBackBetweenTwoChecksIsNoticed) {
  create_table();
  start_daemon(write_config(toml_config({name_})));
  ASSERT_EQ(read_topic(topic(name_), 1).size(), 1u) << daemon_->log();
  sql("BEGIN; ALTER PUBLICATION " + publication() + " DROP TABLE " + name_ + "; COMMIT");
  sql("INSERT INTO " + name_ + " VALUES (2, 'missed by the stream')");
  sql("ALTER PUBLICATION " + publication() + " ADD TABLE " + name_);
  expect_topic_matches_table(2);
  EXPECT_NE(daemon_->log().find("and was added back"), std::string::npos) << daemon_->log();
  stop_daemon();
}

TEST_F(PublicationGap, ALeaveWhileStoppedIsNoticedAtStart) {
  create_table();
  std::string config = write_config(toml_config({name_}, "alter_publication = true\n"));
  start_daemon(config);
  ASSERT_EQ(read_topic(topic(name_), 1).size(), 1u) << daemon_->log();
  ASSERT_TRUE(wait_for_slot_to_catch_up(60s)) << daemon_->log();
  stop_daemon();
  sql("ALTER PUBLICATION " + publication() + " DROP TABLE " + name_);
  sql("INSERT INTO " + name_ + " VALUES (2, 'while stopped and out')");
  start_daemon(config);
  expect_topic_matches_table(2);
  EXPECT_NE(daemon_->log().find("left publication"), std::string::npos) << daemon_->log();
  stop_daemon();
}

TEST_F(PublicationGap, FailModeStopsWithTheReason) {
  create_table();
  start_daemon(write_config(toml_config({name_}, "on_publication_gap = 'fail'\n")));
  ASSERT_EQ(read_topic(topic(name_), 1).size(), 1u) << daemon_->log();
  sql("ALTER PUBLICATION " + publication() + " DROP TABLE " + name_);
  sql("INSERT INTO " + name_ + " VALUES (2, 'missed')");
  sql("ALTER PUBLICATION " + publication() + " ADD TABLE " + name_);
  EXPECT_EQ(daemon_->wait(30s), 1) << daemon_->log();
  EXPECT_NE(daemon_->log().find("on_publication_gap = fail"), std::string::npos) << daemon_->log();
}

}  // namespace
}  // namespace pgcdc::test
