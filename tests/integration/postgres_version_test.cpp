// What differs between PostgreSQL versions: failover slots (17 and later), and a failover from a
// primary to its physical standby with writers running. Runs against whatever server the dev
// environment started (scripts/dev-env up --pg N; scripts/test-pg-matrix runs these on 15-18),
// and each test says which versions it applies to.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <iostream>
#include <thread>

#include "tests/support/change_verifier.h"
#include "tests/support/pg_cluster.h"
#include "tests/support/pipeline_fixture.h"

namespace pgcdc::test {
namespace {

using namespace std::chrono_literals;

class PostgresVersion : public PipelineTest {
 protected:
  int version() { return db().server_version(); }
  // pg_replication_slots.failover of this test's slot ("" when it does not exist).
  std::string slot_failover() {
    auto r =
        db().exec_params("SELECT failover FROM pg_replication_slots WHERE slot_name = $1", {name_});
    return PQntuples(r.get()) == 1 ? std::string(field(r.get(), 0, 0)) : "";
  }
  static std::string line_of(const std::string& output, const std::string& start) {
    auto at = output.find(start);
    return at == std::string::npos ? "" : output.substr(at, output.find('\n', at) - at);
  }
};

TEST_F(PostgresVersion, TheSlotIsAFailoverSlotWhereTheServerHasThem) {
  sql("CREATE TABLE " + name_ + " (id int PRIMARY KEY, v text)");
  sql("INSERT INTO " + name_ + " VALUES (1, 'snapshot')");
  std::string config = write_config(toml_config({name_}));
  start_daemon(config);
  ASSERT_TRUE(wait_for_slot(60s)) << daemon_->log();
  sql("INSERT INTO " + name_ + " VALUES (2, 'stream')");
  ASSERT_EQ(read_topic(topic(name_), 2, 60s).size(), 2u);
  if (version() >= 170000) {
    EXPECT_EQ(slot_failover(), "t");
  }
  stop_daemon();

  std::string output;
  EXPECT_EQ(run_pgcdc({"check", "-c", config}, output), 0) << output;
  std::string failover = line_of(output, "ok    failover (source.failover_slot)");
  if (version() >= 170000) {
    // No standby here: a failover slot that nothing protects yet.
    EXPECT_NE(failover.find("failover slot, but synchronized_standby_slots is empty"),
              std::string::npos)
        << output;
  } else {
    EXPECT_NE(failover.find("has no failover slots"), std::string::npos) << output;
  }
}

TEST_F(PostgresVersion, FailoverSlotFollowsTheSettingAndTrueIsRefusedBefore17) {
  sql("CREATE TABLE " + name_ + " (id int PRIMARY KEY, v text)");
  if (version() < 170000) {
    std::string output;
    int code = run_pgcdc(
        {"run", "-c", write_config(toml_config({name_}, "failover_slot = true\n"))}, output);
    EXPECT_EQ(code, 1) << output;
    EXPECT_NE(output.find("source.failover_slot = true needs PostgreSQL 17 or later"),
              std::string::npos)
        << output;
    EXPECT_NE(output.find("the server is PostgreSQL " + std::to_string(version() / 10000)),
              std::string::npos)
        << output;
    EXPECT_FALSE(slot_exists());
    EXPECT_FALSE(publication_exists());
    return;
  }
  // false: a plain slot. Then the default again: the existing slot is made a failover slot.
  start_daemon(write_config(toml_config({name_}, "failover_slot = false\n")));
  ASSERT_TRUE(wait_for_slot(60s)) << daemon_->log();
  EXPECT_EQ(slot_failover(), "f");
  stop_daemon();
  start_daemon(write_config(toml_config({name_})));
  ASSERT_TRUE(wait_for_slot(60s)) << daemon_->log();
  EXPECT_EQ(slot_failover(), "t");
  EXPECT_NE(daemon_->log().find("was not a failover slot; made it one"), std::string::npos)
      << daemon_->log();
  stop_daemon();
}

// Generated columns: pgcdc reads none in the snapshot, and its publication does not publish them
// (PostgreSQL 18's publish_generated_columns stays at its default), so a row read by the snapshot
// and the same row streamed are byte-identical on every version.
TEST_F(PostgresVersion, GeneratedColumnsLeaveSnapshotAndStreamIdentical) {
  sql("CREATE TABLE " + name_ +
      " (id int PRIMARY KEY, a int, "
      "g int GENERATED ALWAYS AS (a * 2) STORED, t text)");
  sql("INSERT INTO " + name_ + " (id, a, t) VALUES (1, 21, 'same')");
  start_daemon(write_config(toml_config({name_})));
  ASSERT_EQ(read_topic(topic(name_), 1, 60s).size(), 1u) << daemon_->log();  // the snapshot's row
  sql("INSERT INTO " + name_ + " (id, a, t) VALUES (2, 21, 'same')");
  auto events = read_topic(topic(name_), 2, 60s);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].op, "r");
  EXPECT_EQ(events[1].op, "c");
  EXPECT_EQ(events[0].after, R"({"id":1,"a":21,"t":"same"})");
  EXPECT_EQ(events[1].after, R"({"id":2,"a":21,"t":"same"})");
  if (version() >= 180000) {
    auto r = db().exec_params("SELECT pubgencols FROM pg_publication WHERE pubname = $1", {name_});
    ASSERT_EQ(PQntuples(r.get()), 1);
    EXPECT_EQ(std::string(field(r.get(), 0, 0)), "n");  // none
  }
  stop_daemon();
  if (version() < 180000) return;
  // A publication that publishes generated columns would make the stream differ from the
  // snapshot: refused before anything is made, with the fix.
  sql("DROP PUBLICATION " + name_);
  sql("SELECT pg_drop_replication_slot('" + name_ + "')");
  std::remove((dir_ + "/offsets.json").c_str());
  sql("CREATE PUBLICATION " + name_ + " FOR TABLE " + name_ +
      " WITH (publish_generated_columns = stored)");
  std::string output;
  EXPECT_EQ(run_pgcdc({"run", "-c", write_config(toml_config({name_}))}, output), 1) << output;
  EXPECT_NE(output.find("publishes generated columns (publish_generated_columns = stored)"),
            std::string::npos)
      << output;
  EXPECT_FALSE(slot_exists());
}

// A primary and its physical standby of this test's own (the dev environment's server must not be
// killed), both of the dev environment's version. 17 and later: pgcdc's failover slot is
// synchronized to the standby; the primary is killed with writers running; the standby is
// promoted; pgcdc, given both hosts, resumes from the synchronized slot there and loses nothing.
class PostgresFailover : public PostgresVersion {
 protected:
  void TearDown() override {
    // The fixture drops the slot through db_: point it back at the dev environment's server (this
    // test's clusters go away with it).
    db_ = std::make_unique<PgConnection>(test_env().pg_url, PgConnection::Kind::kQuery,
                                         kTestConnectionTimeout);
    PostgresVersion::TearDown();
  }

  bool wait_until(PgConnection& db, const std::string& query, std::chrono::milliseconds timeout,
                  const std::vector<std::optional<std::string>>& params = {}) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      try {
        auto r = db.exec_params(query, params);
        if (PQntuples(r.get()) == 1 && field(r.get(), 0, 0) == "t") return true;
      } catch (const PgError&) {
      }
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }
};

TEST_F(PostgresFailover, ThePromotedStandbyHasTheSlotAndNothingIsLost) {
  if (PgCluster::binaries_major() < 17) {
    GTEST_SKIP() << "failover slots need PostgreSQL 17 or later (scripts/dev-env up --pg 17)";
  }
  PgCluster primary("primary"), standby("standby_1");
  primary.init_primary();
  // The slot-sync worker connects with primary_conninfo, which names a database (dbname).
  standby.init_standby_of(primary, "standby_1", "sync_replication_slots = on\n");
  standby.start();
  // Synchronous: every commit a writer sees is on the standby, so the verifier's log of commits
  // is what the promoted standby has. synchronized_standby_slots: pgcdc receives no change the
  // standby does not have.
  primary.configure(
      "synchronous_standby_names = 'standby_1'\n"
      "synchronized_standby_slots = 'standby_1'\n");

  db_ = std::make_unique<PgConnection>(primary.connect());
  const int rows = 2000;
  create_verifier_table(db(), name_, rows);
  std::string hosts = "host=127.0.0.1,127.0.0.1 port=" + std::to_string(primary.port()) + "," +
                      std::to_string(standby.port()) +
                      " user=postgres dbname=postgres target_session_attrs=read-write";
  std::string text = toml_config({name_});
  text.replace(text.find(test_env().pg_url), test_env().pg_url.size(), hosts);
  std::string config = write_config(text);
  start_daemon(config);
  ASSERT_TRUE(wait_for_slot(60s)) << daemon_->log();
  EXPECT_EQ(slot_failover(), "t");

  // The standby's slot-sync worker copies the slot (synced, and no longer temporary once the
  // standby has caught up to it).
  PgConnection on_standby = standby.connect();
  ASSERT_TRUE(wait_until(on_standby,
                         "SELECT synced AND NOT temporary FROM pg_replication_slots "
                         "WHERE slot_name = $1",
                         120s, {name_}))
      << standby.log();
  std::string output;
  run_pgcdc({"check", "-c", config}, output);
  EXPECT_NE(output.find("synchronized to the standby slot(s) standby_1 (standby connected)"),
            std::string::npos)
      << output;

  // The writers go on until after the takeover: through the kill, reconnecting to the new
  // primary.
  std::atomic<bool> stop_writers{false};
  Writer even(name_, 0, 1000000, rows + 1), odd(name_, 1, 1000000, rows + 1);
  even.follow_failover(hosts);
  odd.follow_failover(hosts);
  std::thread a([&] { even.run(rows, &stop_writers); });
  std::thread b([&] { odd.run(rows, &stop_writers); });
  std::this_thread::sleep_for(3s);

  primary.kill_hard();
  auto killed_at = std::chrono::steady_clock::now();
  standby.promote();
  auto promoted_after = std::chrono::steady_clock::now() - killed_at;
  PgConnection on_new_primary = standby.connect();
  bool resumed =
      wait_until(on_new_primary, "SELECT active FROM pg_replication_slots WHERE slot_name = $1",
                 120s, {name_});
  auto takeover = std::chrono::steady_clock::now() - killed_at;
  std::this_thread::sleep_for(2s);
  stop_writers = true;
  a.join();
  b.join();
  ASSERT_TRUE(resumed) << daemon_->log();
  std::cout << "primary killed; standby promoted after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(promoted_after).count()
            << " ms; pgcdc streamed from the new primary's slot after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(takeover).count()
            << " ms; writers reconnected " << even.reconnects() + odd.reconnects() << " time(s)\n";

  db_ = std::make_unique<PgConnection>(standby.connect());
  ASSERT_TRUE(wait_for_slot_to_catch_up(120s)) << daemon_->log();
  std::vector<Write> writes = even.writes();
  writes.insert(writes.end(), odd.writes().begin(), odd.writes().end());
  auto events =
      read_topic(topic(name_), static_cast<std::size_t>(rows) + minimum_records(writes), 120s, 3s);
  VerifyReport report = verify_changes(db(), name_, events, writes);
  std::cout << "after the failover: " << report.summary() << "\n";
  EXPECT_EQ(report.lost, 0) << report.summary();
  EXPECT_EQ(report.out_of_order, 0) << report.summary();
  EXPECT_EQ(report.wrong_final, 0) << report.summary();
  stop_daemon();
}

// Before 17 (and on any version with failover_slot = false) the slot does not reach the standby:
// after the promotion pgcdc finds it missing while its offsets say streaming had begun, and
// follows source.on_slot_lost: `fail` stops with the reason, `resnapshot` reads everything again.
TEST_F(PostgresFailover, WithoutAFailoverSlotTheSlotIsMissingAndOnSlotLostDecides) {
  PgCluster primary("primary"), standby("standby_1");
  primary.init_primary();
  standby.init_standby_of(primary, "standby_1");
  standby.start();
  primary.configure("synchronous_standby_names = 'standby_1'\n");
  db_ = std::make_unique<PgConnection>(primary.connect());
  sql("CREATE TABLE " + name_ + " (id int PRIMARY KEY, v text)");
  sql("INSERT INTO " + name_ + " SELECT g, 'before' FROM generate_series(1, 100) g");
  std::string hosts = "host=127.0.0.1,127.0.0.1 port=" + std::to_string(primary.port()) + "," +
                      std::to_string(standby.port()) +
                      " user=postgres dbname=postgres target_session_attrs=read-write";
  std::string text =
      toml_config({name_}, PgCluster::binaries_major() >= 17 ? "failover_slot = false\n" : "");
  text.replace(text.find(test_env().pg_url), test_env().pg_url.size(), hosts);
  std::string config = write_config(text);
  start_daemon(config);
  ASSERT_TRUE(wait_for_slot(60s)) << daemon_->log();
  sql("INSERT INTO " + name_ + " SELECT g, 'streamed' FROM generate_series(101, 200) g");
  ASSERT_EQ(read_topic(topic(name_), 200, 60s).size(), 200u);
  ASSERT_TRUE(wait_for_slot_to_catch_up(60s)) << daemon_->log();

  primary.kill_hard();
  standby.promote();
  db_ = std::make_unique<PgConnection>(standby.connect());
  sql("INSERT INTO " + name_ + " SELECT g, 'after the failover' FROM generate_series(201, 300) g");
  // on_slot_lost = fail (the default): exit 1, naming the slot and why it may be missing.
  EXPECT_EQ(daemon_->wait(120s), 1) << daemon_->log();
  EXPECT_NE(daemon_->log().find("replication slot " + name_ + " does not exist, but"),
            std::string::npos)
      << daemon_->log();
  EXPECT_NE(daemon_->log().find("a promoted standby the slot did not reach"), std::string::npos)
      << daemon_->log();
  EXPECT_FALSE(slot_exists());

  // resnapshot: a new slot on the new primary, and every row read again.
  text.replace(text.find("[sink.kafka]"), 0, "on_slot_lost = 'resnapshot'\n");
  start_daemon(write_config(text));
  ASSERT_TRUE(wait_for_slot(60s)) << daemon_->log();
  sql("INSERT INTO " + name_ + " VALUES (301, 'streamed again')");
  auto events = read_topic(topic(name_), 200 + 301, 120s, 2s);
  auto last = last_per_key(events);
  for (int id = 1; id <= 301; ++id) {
    EXPECT_TRUE(last.count("{\"id\":" + std::to_string(id) + "}")) << id;
  }
  EXPECT_NE(daemon_->log().find("creating a new slot and reading every table again"),
            std::string::npos)
      << daemon_->log();
  stop_daemon();
}

// replication_url at a standby (logical decoding there exists since PostgreSQL 16) is refused
// before anything is made: pgcdc manages its slot through url, on the primary.
TEST_F(PostgresFailover, AReplicationUrlAtAStandbyIsRefusedWithTheReason) {
  PgCluster primary("primary"), standby("standby_1");
  primary.init_primary();
  standby.init_standby_of(primary, "standby_1");
  standby.start();
  db_ = std::make_unique<PgConnection>(primary.connect());
  sql("CREATE TABLE " + name_ + " (id int PRIMARY KEY, v text)");
  std::string text = toml_config({name_});
  text.replace(text.find(test_env().pg_url), test_env().pg_url.size(), primary.url());
  text.replace(text.find("tables ="), 0, "replication_url = '" + standby.url() + "'\n");
  std::string output;
  EXPECT_EQ(run_pgcdc({"run", "-c", write_config(text)}, output), 1) << output;
  EXPECT_NE(output.find("source.replication_url connects to a standby"), std::string::npos)
      << output;
  EXPECT_FALSE(slot_exists());
  EXPECT_FALSE(publication_exists());
  EXPECT_NE(run_pgcdc({"check", "-c", write_config(text)}, output), 0) << output;
  EXPECT_NE(output.find("FAIL  replication connection (source.replication_url): "
                        "source.replication_url connects to a standby"),
            std::string::npos)
      << output;
}

}  // namespace
}  // namespace pgcdc::test
