// Faults against the real servers: the Kafka broker stopped or paused, PostgreSQL restarted.
// These tests stop shared servers, so ctest runs them alone (RUN_SERIAL, label "fault").
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <thread>

#include "tests/support/http_get.h"
#include "tests/support/pipeline_fixture.h"

namespace pgcdc::test {
namespace {

using namespace std::chrono_literals;

void dev_env(const std::string& command) {
  std::string line = std::string(PGCDC_SOURCE_DIR) + "/scripts/dev-env " + command;
  ASSERT_EQ(std::system(line.c_str()), 0) << line;
}

pid_t kafka_pid() {
  const char* dir = std::getenv("PGCDC_DEV_DIR");
  std::ifstream file(std::string(dir ? dir : "") + "/kafka/kafka.pid");
  pid_t pid = 0;
  file >> pid;
  return pid;
}

class Outage : public PipelineTest {
 protected:
  void TearDown() override {
    // Leave the servers as the next test expects them, whatever happened here.
    if (pid_t pid = kafka_pid(); pid > 0) ::kill(pid, SIGCONT);
    if (std::system((std::string(PGCDC_SOURCE_DIR) + "/scripts/dev-env kafka-start").c_str()) != 0) {
      ADD_FAILURE() << "could not restart kafka";
    }
    reconnect();
    PipelineTest::TearDown();
  }

  void reconnect() {
    for (int attempt = 0; attempt < 100; ++attempt) {
      try {
        db_ = std::make_unique<PgConnection>(test_env().pg_url, PgConnection::Kind::kQuery,
                                             kTestConnectionTimeout);
        return;
      } catch (const std::exception&) {
        std::this_thread::sleep_for(100ms);
      }
    }
  }

  void broker_down(bool exactly_once);
  void postgres_restarts(bool exactly_once);

  std::string confirmed_flush() {
    auto result = db().exec_params(
        "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1", {name_});
    return PQntuples(result.get()) ? std::string(field(result.get(), 0, 0)) : "";
  }

  bool lsn_below(const std::string& lsn, const std::string& bound) {
    auto result = db().exec_params("SELECT $1::pg_lsn < $2::pg_lsn", {lsn, bound});
    return field(result.get(), 0, 0) == "t";
  }

  // Every id in [1, n] appears as a record key of the topic (duplicates allowed).
  void expect_all_ids(int n, bool exactly_once = false) {
    auto events = read_topic(topic(name_), static_cast<std::size_t>(n), 180s, 2s);
    std::set<std::string> keys;
    for (const auto& e : events) keys.insert(e.key);
    if (exactly_once) {
      // A row may be read by the snapshot and also inserted after the slot existed (both are
      // right); but no record may appear twice.
      std::multiset<std::string> records;
      for (const auto& e : events) records.insert(e.key + e.op);
      int duplicates = 0;
      for (const auto& record : records) duplicates += records.count(record) > 1 ? 1 : 0;
      EXPECT_EQ(duplicates, 0) << "read_committed saw duplicated records";
    }
    int missing = 0;
    for (int id = 1; id <= n; ++id) {
      if (!keys.count("{\"id\":" + std::to_string(id) + "}") && ++missing < 5) {
        ADD_FAILURE() << "id " << id << " never reached Kafka";
      }
    }
    EXPECT_EQ(missing, 0);
  }
};

void Outage::broker_down(bool exactly_once) {
  sql("CREATE TABLE " + name_ + " (id int PRIMARY KEY, v text)");
  sql("INSERT INTO " + name_ + " SELECT g, 'before' FROM generate_series(1, 10) g");
  std::string text = toml_config({name_}, "",
                                 "\n[sink.kafka.properties]\n\"message.timeout.ms\" = \"3000\"\n");
  start_daemon(write_config(exactly_once ? with_exactly_once(text) : text));
  ASSERT_EQ(read_topic(topic(name_), 10).size(), 10u);
  ASSERT_TRUE(wait_for_slot_to_catch_up(60s)) << daemon_->log();

  dev_env("kafka-stop");
  // The first change while the broker is down, and a WAL position at or after its commit: the
  // slot may follow unrelated WAL (autovacuum, other databases) while nothing is in flight, but it
  // must never reach this commit before Kafka has the change.
  sql("INSERT INTO " + name_ + " SELECT g, 'during' FROM generate_series(11, 20) g");
  auto after_first = db().exec("SELECT pg_current_wal_insert_lsn()::text");
  std::string first_commit_bound(field(after_first.get(), 0, 0));
  for (int t = 1; t < 20; ++t) {
    sql("INSERT INTO " + name_ + " SELECT g, 'during' FROM generate_series(" +
        std::to_string(11 + t * 10) + ", " + std::to_string(20 + t * 10) + ") g");
  }
  // Deliveries time out (3 s) and sessions restart; the slot must not move past what Kafka has.
  for (int i = 0; i < 16; ++i) {
    std::this_thread::sleep_for(500ms);
    ASSERT_TRUE(lsn_below(confirmed_flush(), first_commit_bound))
        << "flush position " << confirmed_flush() << " passed an undelivered commit (before "
        << first_commit_bound << ")";
  }
  EXPECT_TRUE(daemon_->running()) << "a transient broker outage must not end the daemon";
  dev_env("kafka-start");
  ASSERT_TRUE(wait_for_slot_to_catch_up(180s)) << daemon_->log();
  expect_all_ids(210, exactly_once);
  EXPECT_NE(daemon_->log().find("restarting from the last committed position"), std::string::npos)
      << "the outage did not exercise the failure path: " << daemon_->log();
  stop_daemon();
}

TEST_F(Outage, BrokerDownLongerThanTheMessageTimeoutHoldsPositionsAndLosesNothing) {
  broker_down(false);
}

TEST_F(Outage, ExactlyOnceBrokerDownLosesAndDuplicatesNothing) { broker_down(true); }

TEST_F(Outage, BrokerPausedFillsTheBufferWithoutTheWalsenderTimingOut) {
  sql("ALTER SYSTEM SET wal_sender_timeout = '4s'");
  sql("SELECT pg_reload_conf()");
  sql("CREATE TABLE " + name_ + " (id int PRIMARY KEY, v text)");
  // A small librdkafka queue too, so the paused broker backs up into pgcdc's buffer.
  std::string text = toml_config({name_}, "status_interval = '1s'\n",
                                 "\n[sink.kafka.properties]\n\"queue.buffering.max.messages\" = 500\n"
                                 "\n[buffer]\nmax_records = 100\n");
  const int port = free_port();
  text.replace(text.find("listen = ''"), 11, "listen = '127.0.0.1:" + std::to_string(port) + "'");
  start_daemon(write_config(text));
  ASSERT_TRUE(wait_for_slot(60s));
  sql("INSERT INTO " + name_ + " VALUES (1, 'x')");
  ASSERT_EQ(read_topic(topic(name_), 1).size(), 1u);
  auto walsender = [&] {
    auto r = db().exec_params("SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1", {name_});
    return std::string(field(r.get(), 0, 0));
  };
  std::string pid_before = walsender();

  pid_t broker = kafka_pid();
  ASSERT_GT(broker, 0);
  ::kill(broker, SIGSTOP);
  sql("INSERT INTO " + name_ + " SELECT g, repeat('y', 100) FROM generate_series(2, 20000) g");
  // Three times wal_sender_timeout with the buffer full; the fill metric must show it.
  bool full = false;
  for (int i = 0; i < 120; ++i) {
    std::this_thread::sleep_for(100ms);
    std::string body = http_get(port, "/metrics").body;
    auto at = body.find("\npgcdc_buffer_fill_ratio ");
    if (at != std::string::npos && std::stod(body.substr(at + 25)) >= 1.0) full = true;
  }
  EXPECT_TRUE(full) << http_get(port, "/metrics").body;
  ::kill(broker, SIGCONT);
  ASSERT_TRUE(wait_for_slot_to_catch_up(180s)) << daemon_->log();
  EXPECT_EQ(walsender(), pid_before) << "the walsender was replaced: the connection was lost";
  EXPECT_EQ(daemon_->log().find("replication stream ended"), std::string::npos) << daemon_->log();
  expect_all_ids(20000);
  stop_daemon();
  sql("ALTER SYSTEM RESET wal_sender_timeout");
  sql("SELECT pg_reload_conf()");
}

void Outage::postgres_restarts(bool exactly_once) {
  sql("CREATE TABLE " + name_ + " (id int PRIMARY KEY, v text)");
  std::string text = toml_config({name_});
  start_daemon(write_config(exactly_once ? with_exactly_once(text) : text));
  ASSERT_TRUE(wait_for_slot(60s));
  int next = 1;
  auto insert = [&](int count) {
    sql("INSERT INTO " + name_ + " SELECT g, 'v' FROM generate_series(" + std::to_string(next) +
        ", " + std::to_string(next + count - 1) + ") g");
    next += count;
  };
  for (const char* mode : {"fast", "immediate"}) {
    insert(100);
    dev_env(std::string("pg-restart ") + mode);
    reconnect();
    insert(100);
  }
  ASSERT_TRUE(wait_for_slot_to_catch_up(180s)) << daemon_->log();
  EXPECT_TRUE(daemon_->running());
  expect_all_ids(next - 1, exactly_once);
  stop_daemon();
}

TEST_F(Outage, PostgresRestartedMidStreamLosesNothing) { postgres_restarts(false); }

TEST_F(Outage, ExactlyOncePostgresRestartedMidStreamLosesAndDuplicatesNothing) {
  postgres_restarts(true);
}

}  // namespace
}  // namespace pgcdc::test
