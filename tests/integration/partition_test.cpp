// Partitioned tables (issue 23, bug 10), captured through their root: the snapshot reads the root,
// changes come under the root's name from a publication with publish_via_partition_root, one
// topic per root. Rows moving between partitions, partitions created while streaming, restarts,
// publications that would publish under the partitions' names, and a partition configured alone.
// Real pgcdc, real PostgreSQL 15, real Kafka.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <map>
#include <optional>
#include <random>
#include <thread>

#include "tests/support/pipeline_fixture.h"

namespace pgcdc::test {
namespace {

using namespace std::chrono_literals;

class Partitions : public PipelineTest {
 protected:
  static std::map<std::string, std::string> live(const std::vector<ChangeEvent>& events) {
    std::map<std::string, std::string> rows;
    for (const auto& [key, after] : last_per_key(events)) {
      if (after) rows[key] = *after;
    }
    return rows;
  }
  // Every row of `table` (read through the root when it is partitioned): key JSON, built by
  // `key_sql`, to the row as JSON, as pgcdc writes them for these column types.
  std::map<std::string, std::string> table_rows(const std::string& key_sql,
                                                const std::string& table) {
    std::map<std::string, std::string> rows;
    auto result = db().exec("SELECT " + key_sql + ", row_to_json(r)::text FROM " + table + " r");
    for (int row = 0; row < PQntuples(result.get()); ++row) {
      rows[std::string(field(result.get(), row, 0))] = std::string(field(result.get(), row, 1));
    }
    return rows;
  }
  // Reads the whole topic once the slot has caught up and compares the last record per key with
  // the table.
  void expect_topic_equals_table(const std::string& table, const std::string& key_sql,
                                 std::size_t at_least) {
    ASSERT_TRUE(wait_for_slot_to_catch_up(120s)) << daemon_->log();
    auto events = read_topic(topic(table), at_least, 120s, 2s);
    auto expected = table_rows(key_sql, table);
    ASSERT_FALSE(expected.empty());
    EXPECT_EQ(live(events), expected) << daemon_->log();
  }

  // m (region, id, v): LIST-partitioned by region, eu and us, `rows` rows spread over both.
  void create_list_table(const std::string& table, int rows) {
    sql("CREATE TABLE " + table +
        " (region text NOT NULL, id int NOT NULL, v text, PRIMARY KEY (region, id)) "
        "PARTITION BY LIST (region)");
    sql("CREATE TABLE " + table + "_eu PARTITION OF " + table + " FOR VALUES IN ('eu')");
    sql("CREATE TABLE " + table + "_us PARTITION OF " + table + " FOR VALUES IN ('us')");
    sql("INSERT INTO " + table + " SELECT CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END, g, " +
        "'s' || g FROM generate_series(1, " + std::to_string(rows) + ") g");
  }
  static std::string list_key() {
    return "'{\"region\":\"' || region || '\",\"id\":' || id || '}'";
  }
  bool via_root() {
    auto result =
        db().exec_params("SELECT pubviaroot FROM pg_publication WHERE pubname = $1", {name_});
    return PQntuples(result.get()) == 1 && field(result.get(), 0, 0) == "t";
  }
  // Runs `pgcdc run` expecting it to refuse to start: exit 1, `expected` in the output, and
  // neither the slot nor (unless it existed before) the publication created.
  void expect_refused(const std::string& config, const std::string& expected,
                      bool publication_existed = false) {
    std::string output;
    EXPECT_EQ(run_pgcdc({"run", "-c", write_config(config)}, output), 1) << output;
    EXPECT_NE(output.find(expected), std::string::npos) << output;
    EXPECT_FALSE(slot_exists()) << output;
    EXPECT_EQ(publication_exists(), publication_existed) << output;
  }
};

// The snapshot reads the root, and every streamed insert, update and delete of a LIST-partitioned
// table arrives on the root's topic, including rows moving between partitions (a delete and an
// insert of the root) and rows of a partition created while streaming. They were all dropped:
// PostgreSQL named the partitions, which pgcdc does not capture.
TEST_F(Partitions, AListPartitionedTableStreamsThroughItsRoot) {
  create_list_table(name_, 100);
  start_daemon(write_config(toml_config({name_})));
  ASSERT_EQ(read_topic(topic(name_), 100).size(), 100u) << daemon_->log();
  ASSERT_TRUE(wait_for_slot(60s)) << daemon_->log();
  EXPECT_TRUE(via_root());

  sql("INSERT INTO " + name_ + " VALUES ('eu', 1000, 'new-eu'), ('us', 1001, 'new-us')");
  sql("UPDATE " + name_ + " SET v = 'updated' WHERE id IN (2, 3)");
  sql("DELETE FROM " + name_ + " WHERE id IN (4, 5)");
  sql("UPDATE " + name_ + " SET region = 'us', v = 'moved' WHERE region = 'eu' AND id = 6");
  sql("CREATE TABLE " + name_ + "_asia PARTITION OF " + name_ + " FOR VALUES IN ('asia')");
  sql("INSERT INTO " + name_ + " VALUES ('asia', 2000, 'asia')");
  sql("UPDATE " + name_ + " SET region = 'asia' WHERE region = 'us' AND id = 7");
  sql("UPDATE " + name_ + " SET v = 'asia-updated' WHERE region = 'asia' AND id = 2000");

  ASSERT_TRUE(wait_for_slot_to_catch_up(60s)) << daemon_->log();
  auto events = read_topic(topic(name_), 100 + 16, 60s, 2s);
  ASSERT_GE(events.size(), 116u) << daemon_->log();
  // The move: a delete of the old key (and its tombstone), then a create of the new one.
  std::vector<std::string> moved;
  for (const auto& event : events) {
    if (event.key.find("\"id\":6}") != std::string::npos && event.snapshot != "true") {
      moved.push_back(event.op.empty() ? "tombstone" : event.op);
    }
  }
  EXPECT_EQ(moved, (std::vector<std::string>{"d", "tombstone", "c"}));
  EXPECT_EQ(live(events), table_rows(list_key(), name_));
  // The partitions' own Relation messages come beside the root's: nothing to report about them.
  EXPECT_EQ(daemon_->log().find("are not captured"), std::string::npos) << daemon_->log();
  stop_daemon();
}

// A RANGE-partitioned table with a DEFAULT partition and a HASH-subpartitioned partition, written
// by a writer that moves rows across partitions while a snapshot in small chunks reads the root:
// the last record per key equals the table.
TEST_F(Partitions, ARangePartitionedTableWrittenDuringItsSnapshotEndsEqualToTheTable) {
  sql("CREATE TABLE " + name_ + " (id int PRIMARY KEY, v int NOT NULL, t text) " +
      "PARTITION BY RANGE (id)");
  sql("CREATE TABLE " + name_ + "_low PARTITION OF " + name_ + " FOR VALUES FROM (0) TO (1000)");
  sql("CREATE TABLE " + name_ + "_mid PARTITION OF " + name_ +
      " FOR VALUES FROM (1000) TO (3000) PARTITION BY HASH (id)");
  sql("CREATE TABLE " + name_ + "_mid0 PARTITION OF " + name_ +
      "_mid FOR VALUES WITH (MODULUS 2, REMAINDER 0)");
  sql("CREATE TABLE " + name_ + "_mid1 PARTITION OF " + name_ +
      "_mid FOR VALUES WITH (MODULUS 2, REMAINDER 1)");
  sql("CREATE TABLE " + name_ + "_rest PARTITION OF " + name_ + " DEFAULT");
  const int rows = 20000;
  sql("INSERT INTO " + name_ + " SELECT g, 0, 'r' || g FROM generate_series(0, " +
      std::to_string(rows - 1) + ") g");

  std::atomic<bool> stop{false};
  std::thread writer([&] {
    PgConnection db(test_env().pg_url, PgConnection::Kind::kQuery, kTestConnectionTimeout);
    std::mt19937 random(7);
    for (int i = 1; !stop && i < 5000; ++i) {
      const int id = static_cast<int>(random() % rows);
      switch (i % 4) {
        case 0:  // moves a row of _low or _mid to the DEFAULT partition (a key change)
          db.exec("UPDATE " + name_ + " SET id = " + std::to_string(100000 + i) +
                  " WHERE id = " + std::to_string(id % 3000));
          break;
        case 1:
          db.exec("UPDATE " + name_ + " SET v = " + std::to_string(i) +
                  " WHERE id = " + std::to_string(id));
          break;
        case 2:
          db.exec("DELETE FROM " + name_ + " WHERE id = " + std::to_string(id));
          break;
        default:
          db.exec("INSERT INTO " + name_ + " VALUES (" + std::to_string(200000 + i) + ", " +
                  std::to_string(i) + ", 'w')");
      }
    }
  });
  start_daemon(write_config(toml_config({name_}, "snapshot_chunk_rows = 100\n")));
  std::this_thread::sleep_for(4s);
  stop = true;
  writer.join();
  ASSERT_TRUE(daemon_->running()) << daemon_->log();
  expect_topic_equals_table(name_, "'{\"id\":' || id || '}'", rows);
  stop_daemon();
}

// Stopped with SIGTERM, then killed with SIGKILL, written while down each time: every start
// accepts the publication the first one created and resumes without loss. (The publication
// created without publish_via_partition_root was refused at the next start.)
TEST_F(Partitions, RestartsResumeWithoutLoss) {
  create_list_table(name_, 50);
  const std::string config = write_config(toml_config({name_}));
  start_daemon(config);
  ASSERT_EQ(read_topic(topic(name_), 50).size(), 50u) << daemon_->log();
  ASSERT_TRUE(wait_for_slot(60s)) << daemon_->log();
  sql("INSERT INTO " + name_ + " VALUES ('eu', 500, 'first run')");
  ASSERT_TRUE(wait_for_slot_to_catch_up(60s)) << daemon_->log();
  stop_daemon();

  sql("INSERT INTO " + name_ + " VALUES ('us', 501, 'while stopped')");
  sql("UPDATE " + name_ + " SET region = 'us' WHERE region = 'eu' AND id = 2");
  start_daemon(config);
  sql("DELETE FROM " + name_ + " WHERE id = 3");
  sql("UPDATE " + name_ + " SET v = 'second run' WHERE id = 4");
  ASSERT_TRUE(wait_for_slot_to_catch_up(60s)) << daemon_->log();
  daemon_->signal(SIGKILL);
  daemon_->wait(10s);

  sql("INSERT INTO " + name_ + " VALUES ('eu', 502, 'while killed')");
  sql("UPDATE " + name_ + " SET region = 'eu', v = 'moved back' WHERE region = 'us' AND id = 2");
  start_daemon(config);
  sql("UPDATE " + name_ + " SET v = 'third run' WHERE id = 5");
  expect_topic_equals_table(name_, list_key(), 50 + 13);
  // The log holds all three runs: one snapshot, none at the restarts.
  const std::string log = daemon_->log(), done = "snapshot of public." + name_ + " complete";
  EXPECT_NE(log.find(done), std::string::npos) << log;
  EXPECT_EQ(log.find(done, log.find(done) + 1), std::string::npos) << log;
  stop_daemon();
}

// A publication without publish_via_partition_root would publish the table's changes under its
// partitions' names: refused at the start with the fix, and nothing created (nor altered);
// `pgcdc check` says so too. With source.alter_publication = true pgcdc sets it and says so.
TEST_F(Partitions, APublicationWithoutViaRootIsRefusedWithTheFix) {
  create_list_table(name_, 10);
  sql("CREATE PUBLICATION " + name_ + " FOR TABLE " + name_);
  const std::string fix =
      "ALTER PUBLICATION \"" + name_ + "\" SET (publish_via_partition_root = true)";
  expect_refused(toml_config({name_}), fix, /*publication_existed=*/true);
  EXPECT_FALSE(via_root());

  std::string output;
  EXPECT_EQ(run_pgcdc({"check", "-c", write_config(toml_config({name_}))}, output), 1) << output;
  EXPECT_NE(output.find("FAIL  publication " + name_), std::string::npos) << output;
  EXPECT_NE(output.find(fix), std::string::npos) << output;

  start_daemon(write_config(toml_config({name_}, "alter_publication = true\n")));
  ASSERT_EQ(read_topic(topic(name_), 10).size(), 10u) << daemon_->log();
  ASSERT_TRUE(wait_for_slot(60s)) << daemon_->log();
  EXPECT_TRUE(via_root());
  EXPECT_NE(daemon_->log().find("set publish_via_partition_root = true on publication " + name_),
            std::string::npos)
      << daemon_->log();
  sql("INSERT INTO " + name_ + " VALUES ('eu', 100, 'streamed')");
  sql("UPDATE " + name_ + " SET region = 'eu' WHERE region = 'us' AND id = 1");
  expect_topic_equals_table(name_, list_key(), 10 + 4);
  stop_daemon();
}

// The publication changed behind pgcdc's back so that PostgreSQL names the partitions again: the
// daemon stops with the reason before the position passes the change, instead of dropping it.
TEST_F(Partitions, ChangesUnderAPartitionsNameStopTheDaemon) {
  create_list_table(name_, 10);
  start_daemon(write_config(toml_config({name_})));
  ASSERT_EQ(read_topic(topic(name_), 10).size(), 10u) << daemon_->log();
  ASSERT_TRUE(wait_for_slot(60s)) << daemon_->log();
  sql("ALTER PUBLICATION " + name_ + " SET (publish_via_partition_root = false)");
  sql("INSERT INTO " + name_ + " VALUES ('eu', 100, 'under the partition')");
  EXPECT_EQ(daemon_->wait(60s), 1) << daemon_->log();
  EXPECT_NE(daemon_->log().find("a change of " + name_ + "_eu"), std::string::npos)
      << daemon_->log();
  EXPECT_NE(daemon_->log().find("holds rows of captured table public." + name_), std::string::npos)
      << daemon_->log();
  // The change is still ahead of the slot: nothing confirmed it.
  auto pending = db().exec_params(
      "SELECT count(*) FROM pg_logical_slot_peek_binary_changes($1, NULL, NULL, "
      "'proto_version', '1', 'publication_names', $2) WHERE get_byte(data, 0) = ascii('I')",
      {name_, name_});
  EXPECT_EQ(field(pending.get(), 0, 0), "1");
}

// A partition configured alone is a table of its own: its own topic, its rows only, its changes
// under its own name (a row moving out of it is a delete there).
TEST_F(Partitions, APartitionConfiguredAloneIsATableOfItsOwn) {
  create_list_table(name_, 20);
  const std::string eu = name_ + "_eu";
  start_daemon(write_config(toml_config({eu})));
  ASSERT_EQ(read_topic(topic(eu), 10).size(), 10u) << daemon_->log();
  ASSERT_TRUE(wait_for_slot(60s)) << daemon_->log();
  sql("INSERT INTO " + name_ + " VALUES ('eu', 100, 'eu'), ('us', 101, 'us')");
  sql("UPDATE " + name_ + " SET v = 'updated' WHERE id IN (2, 3)");
  sql("UPDATE " + name_ + " SET region = 'us' WHERE id = 4");
  sql("UPDATE " + name_ + " SET region = 'eu' WHERE id = 5");
  expect_topic_equals_table(eu, list_key(), 10 + 5);
  auto events = read_topic(topic(eu), 10 + 5, 10s, 1s);
  for (const auto& event : events) {
    if (event.value) {
      EXPECT_NE(event.value->find("\"table\":\"" + eu + "\""), std::string::npos) << *event.value;
    }
  }
  stop_daemon();
}

// Shapes refused before anything is created: a root together with one of its partitions (the
// partition's changes would come under the root only), and partitions whose old rows would not
// be captured whole.
TEST_F(Partitions, ShapesThatCannotBeCapturedAreRefusedAtTheStart) {
  create_list_table(name_, 4);
  expect_refused(toml_config({name_, name_ + "_us"}),
                 "tables public." + name_ + " and public." + name_ + "_us are both configured");

  sql("ALTER TABLE " + name_ + " REPLICA IDENTITY FULL");
  sql("ALTER TABLE " + name_ + "_eu REPLICA IDENTITY FULL");
  expect_refused(toml_config({name_}),
                 "its partition public." + name_ + "_us has REPLICA IDENTITY DEFAULT");
  sql("ALTER TABLE " + name_ + " REPLICA IDENTITY DEFAULT");

  sql("CREATE UNIQUE INDEX " + name_ + "_us_v ON " + name_ + "_us (v)");
  sql("ALTER TABLE " + name_ + "_us ALTER COLUMN v SET NOT NULL");
  sql("ALTER TABLE " + name_ + "_us REPLICA IDENTITY USING INDEX " + name_ + "_us_v");
  const std::string not_in_identity = "key column region of public." + name_ +
                                      " is not part of the replica identity of its partition " +
                                      "public." + name_ + "_us";
  expect_refused(toml_config({name_}), not_in_identity);

  // A partition's own publication membership under a root published via the root.
  sql("ALTER TABLE " + name_ + "_us REPLICA IDENTITY DEFAULT");
  sql("CREATE PUBLICATION " + name_ + " FOR TABLE " + name_ +
      " WITH (publish_via_partition_root = true)");
  expect_refused(toml_config({name_ + "_eu"}, "alter_publication = true\n"),
                 "publishes the changes of public." + name_ + "_eu (under public." + name_ + ")",
                 /*publication_existed=*/true);
}

// ATTACH PARTITION of a table that holds rows writes no row change to the WAL: pgcdc notices the
// new partition from the catalog and reads the root again, so the attached rows reach the topic.
// DETACH PARTITION writes no deletes either: pgcdc says so in the log.
TEST_F(Partitions, AnAttachedPartitionsRowsArriveAndADetachIsLogged) {
  create_list_table(name_, 100);
  start_daemon(write_config(toml_config({name_})));
  ASSERT_EQ(read_topic(topic(name_), 100).size(), 100u) << daemon_->log();
  sql("CREATE TABLE " + name_ + "_ap (LIKE " + name_ + ")");
  sql("INSERT INTO " + name_ + "_ap SELECT 'ap', g, 'attached ' || g FROM generate_series(1000, 1049) g");
  sql("ALTER TABLE " + name_ + " ATTACH PARTITION " + name_ + "_ap FOR VALUES IN ('ap')");
  sql("INSERT INTO " + name_ + " VALUES ('ap', 2000, 'streamed after the attach')");
  const std::string key = "'{\"region\":\"' || region || '\",\"id\":' || id || '}'";
  auto deadline = std::chrono::steady_clock::now() + 60s;
  std::map<std::string, std::string> expected = table_rows(key, name_);
  std::map<std::string, std::string> got;
  while (std::chrono::steady_clock::now() < deadline && got != expected) {
    got = live(read_topic(topic(name_), 151, 10s, 1s));
  }
  EXPECT_EQ(got, expected) << daemon_->log();
  EXPECT_NE(daemon_->log().find("ATTACH PARTITION"), std::string::npos) << daemon_->log();

  sql("ALTER TABLE " + name_ + " DETACH PARTITION " + name_ + "_eu");
  deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline &&
         daemon_->log().find("DETACH PARTITION or DROP TABLE") == std::string::npos) {
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_NE(daemon_->log().find("DETACH PARTITION or DROP TABLE"), std::string::npos)
      << daemon_->log();
  stop_daemon();
}

}  // namespace
}  // namespace pgcdc::test
