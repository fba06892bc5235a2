// A slot that PostgreSQL invalidated (WAL removed past max_slot_wal_keep_size): pgcdc stops with a
// clear error by default, or drops it and reads the tables again with on_slot_lost = resnapshot.
// Changes max_slot_wal_keep_size for the whole server: serial (fault label).
#include <gtest/gtest.h>
#include <signal.h>

#include <thread>

#include "tests/support/pipeline_fixture.h"

namespace pgcdc::test {
namespace {

using namespace std::chrono_literals;

class SlotLost : public PipelineTest {
 protected:
  void TearDown() override {
    try {
      sql("ALTER SYSTEM RESET max_slot_wal_keep_size");
      sql("SELECT pg_reload_conf()");
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what();
    }
    PipelineTest::TearDown();
  }

  std::string wal_status() {
    auto r = db().exec_params("SELECT coalesce(wal_status, '') FROM pg_replication_slots WHERE slot_name = $1",
                              {name_});
    return PQntuples(r.get()) ? std::string(field(r.get(), 0, 0)) : "";
  }
};

TEST_F(SlotLost, FailsClearlyThenResnapshotsWhenAskedTo) {
  sql("CREATE TABLE " + name_ + " (id int PRIMARY KEY, v text)");
  sql("INSERT INTO " + name_ + " SELECT g, 'v' FROM generate_series(1, 100) g");
  std::string config = write_config(toml_config({name_}));
  start_daemon(config);
  ASSERT_EQ(read_topic(topic(name_), 100).size(), 100u);
  ASSERT_TRUE(wait_for_slot_to_catch_up(60s));
  stop_daemon();

  sql("ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'");
  sql("SELECT pg_reload_conf()");
  sql("CREATE TABLE " + name_ + "_junk (id int, v text)");
  for (int round = 0; round < 6 && wal_status() != "lost"; ++round) {
    sql("INSERT INTO " + name_ + "_junk SELECT g, repeat('w', 200) FROM generate_series(1, 100000) g");
    sql("SELECT pg_switch_wal()");
    sql("CHECKPOINT");
  }
  ASSERT_EQ(wal_status(), "lost");

  std::string output;
  int code = run_pgcdc({"run", "-c", config}, output);
  EXPECT_EQ(code, 1) << output;
  EXPECT_NE(output.find("replication slot " + name_ + " was invalidated (wal_status lost)"),
            std::string::npos) << output;

  sql("ALTER SYSTEM RESET max_slot_wal_keep_size");
  sql("SELECT pg_reload_conf()");
  std::string text = toml_config({name_}, "on_slot_lost = 'resnapshot'\n");
  start_daemon(write_config(text));
  // Read again: 100 from the first run, 100 from the new snapshot.
  auto events = read_topic(topic(name_), 200, 60s);
  ASSERT_EQ(events.size(), 200u) << daemon_->log();
  EXPECT_EQ(events[100].op, "r");
  EXPECT_NE(daemon_->log().find("source.on_slot_lost = resnapshot"), std::string::npos);
  sql("INSERT INTO " + name_ + " VALUES (101, 'after')");
  events = read_topic(topic(name_), 201, 60s);
  ASSERT_EQ(events.size(), 201u);
  EXPECT_EQ(events[200].op, "c");
  stop_daemon();
  sql("DROP TABLE " + name_ + "_junk");
}

TEST_F(SlotLost, ADroppedPublicationStopsTheDaemonWithTheReason) {
  sql("CREATE TABLE " + name_ + " (id int PRIMARY KEY)");
  std::string config = write_config(toml_config({name_}));
  start_daemon(config);
  ASSERT_TRUE(wait_for_slot(60s));
  sql("INSERT INTO " + name_ + " VALUES (1)");
  ASSERT_EQ(read_topic(topic(name_), 1).size(), 1u);
  ASSERT_TRUE(wait_for_slot_to_catch_up(60s));
  stop_daemon();
  sql("DROP PUBLICATION " + name_);
  sql("INSERT INTO " + name_ + " VALUES (2)");
  std::string output;
  int code = run_pgcdc({"run", "-c", config}, output);
  EXPECT_EQ(code, 1) << output;
  EXPECT_NE(output.find("publication " + name_ + " was dropped"), std::string::npos) << output;
}

}  // namespace
}  // namespace pgcdc::test
