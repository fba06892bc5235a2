// A slot that PostgreSQL invalidated (WAL removed past max_slot_wal_keep_size): pgcdc stops with a
// clear error by default, or drops it and reads the tables again with on_slot_lost = resnapshot.
// Before that, the slot-loss guard warns while the slot can still be saved.
// Changes max_slot_wal_keep_size for the whole server: serial (fault label).
#include <gtest/gtest.h>
#include <signal.h>

#include <functional>
#include <thread>

#include "tests/support/black_hole_proxy.h"
#include "tests/support/http_get.h"
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

// Kafka stops confirming (its connection frozen by a proxy, sockets open), so one record stays in
// flight and the slot's position stands still while a table pgcdc does not capture writes WAL. At
// source.wal_retention_warn of max_slot_wal_keep_size the guard logs one error, sets
// pgcdc_slot_wal_at_risk and /readyz says degraded; once Kafka is back and pgcdc caught up, the
// slot is safe again and all of it is taken back.
TEST_F(SlotLost, RetainedWalNearTheLimitIsLoggedCountedAndShownByReadyz) {
  const TestEnv& env = test_env();
  ASSERT_FALSE(env.kafka_proxied_brokers.empty()) << "the dev environment has no proxied listener";
  const auto colon = env.kafka_proxied_upstream.rfind(':');
  BlackHoleProxy kafka(
      env.kafka_proxied_upstream.substr(0, colon),
      std::stoi(env.kafka_proxied_upstream.substr(colon + 1)),
      std::stoi(env.kafka_proxied_brokers.substr(env.kafka_proxied_brokers.rfind(':') + 1)));
  sql("CREATE TABLE " + name_ + " (id int PRIMARY KEY, v text)");
  sql("CREATE TABLE " + name_ + "_junk (id int, v text)");  // not captured: it only makes WAL
  sql("ALTER SYSTEM SET max_slot_wal_keep_size = '128MB'");
  sql("SELECT pg_reload_conf()");

  const int port = free_port();
  std::string text = toml_config({name_}, "wal_retention_warn = 0.25\n");
  text.replace(text.find("brokers = '" + env.kafka_brokers + "'"),
               11 + env.kafka_brokers.size() + 1, "brokers = '" + env.kafka_proxied_brokers + "'");
  text.replace(text.find("listen = ''"), 11,
               "listen = '127.0.0.1:" + std::to_string(port) + "'\nslot_sample_interval = '1s'");
  start_daemon(write_config(text));
  ASSERT_TRUE(wait_for_slot(60s)) << daemon_->log();
  sql("INSERT INTO " + name_ + " VALUES (1, 'delivered')");
  ASSERT_EQ(read_topic(topic(name_), 1).size(), 1u) << daemon_->log();
  ASSERT_TRUE(wait_for_slot_to_catch_up(60s)) << daemon_->log();

  auto metric = [&](const std::string& name) {
    std::string body = http_get(port, "/metrics").body;
    auto at = body.find("\n" + name + " ");
    return at == std::string::npos ? -1.0 : std::stod(body.substr(at + name.size() + 2));
  };
  auto wait_for = [&](const std::function<bool()>& condition) {
    for (int i = 0; i < 1200 && !condition(); ++i) std::this_thread::sleep_for(100ms);
    return condition();
  };
  const std::string error_line = "error replication slot " + name_ + " retains ";
  EXPECT_EQ(metric("pgcdc_slot_wal_at_risk"), 0);
  EXPECT_EQ(daemon_->log().find(error_line), std::string::npos);

  kafka.freeze();
  sql("INSERT INTO " + name_ + " VALUES (2, 'held while Kafka is frozen')");
  // About 40 MB of WAL: past 0.25 of 128 MB, well below the limit.
  sql("INSERT INTO " + name_ +
      "_junk SELECT g, repeat('w', 200) FROM generate_series(1, 150000) g");
  ASSERT_TRUE(wait_for([&] { return metric("pgcdc_slot_wal_at_risk") == 1; }))
      << "retained: " << metric("pgcdc_slot_retained_wal_bytes") << "\n"
      << daemon_->log();
  HttpResponse ready = http_get(port, "/readyz");
  EXPECT_NE(ready.body.find("degraded: replication slot " + name_ + " retains "), std::string::npos)
      << ready.status << " " << ready.body;
  EXPECT_NE(
      ready.body.find("of max_slot_wal_keep_size (128 MB) (source.wal_retention_warn = 0.25)"),
      std::string::npos)
      << ready.body;
  // Once per change of state, not once per sample.
  std::this_thread::sleep_for(3s);
  std::string log = daemon_->log();
  EXPECT_NE(log.find(error_line), std::string::npos) << log;
  EXPECT_EQ(log.find(error_line), log.rfind(error_line)) << log;
  EXPECT_EQ(wal_status(), "reserved");

  kafka.resume();
  ASSERT_EQ(read_topic(topic(name_), 2, 120s).size(), 2u) << daemon_->log();
  ASSERT_TRUE(wait_for([&] { return metric("pgcdc_slot_wal_at_risk") == 0; }))
      << "retained: " << metric("pgcdc_slot_retained_wal_bytes") << "\n"
      << daemon_->log();
  EXPECT_NE(
      daemon_->log().find("replication slot " + name_ + " is no longer at risk of losing WAL"),
      std::string::npos);
  ASSERT_TRUE(wait_for([&] { return http_get(port, "/readyz").body == "ok: streaming\n"; }))
      << http_get(port, "/readyz").body;
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
