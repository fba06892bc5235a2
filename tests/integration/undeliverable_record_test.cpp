// A record Kafka can never accept stops the daemon with exit 1 and a message a person can act on,
// and no position passes it: against the real PostgreSQL 15 and the real Kafka broker, in both
// delivery modes. Fixing the setting the message names and starting again delivers the record.
#include <gtest/gtest.h>

#include <optional>
#include <set>
#include <string>

#include "core/lsn.h"
#include "core/offset_store.h"
#include "tests/support/pipeline_fixture.h"

namespace pgcdc::test {
namespace {

using namespace std::chrono_literals;

// A value of `bytes` hex digits: lz4 (the producer's default compression) cannot shrink it much,
// so the broker sees about that many bytes.
std::string wide_value_sql(int bytes) {
  return "(SELECT string_agg(md5(g::text), '') FROM generate_series(1, " +
         std::to_string(bytes / 32) + ") g)";
}

class UndeliverableRecord : public PipelineTest, public ::testing::WithParamInterface<bool> {
 protected:
  bool exactly_once() const { return GetParam(); }
  std::string config(const std::string& extra_source = "", const std::string& extra = "") const {
    std::string text = toml_config({name_}, extra_source, extra);
    return exactly_once() ? with_exactly_once(text) : text;
  }
  // Where WAL is being written now: inside a transaction, past its last change and before its
  // commit.
  std::string insert_lsn() {
    auto result = db().exec("SELECT pg_current_wal_insert_lsn()::text");
    return std::string(field(result.get(), 0, 0));
  }
  // True when the slot's confirmed position is at or before `lsn`.
  bool slot_at_or_before(const std::string& lsn) {
    auto result = db().exec_params(
        "SELECT confirmed_flush_lsn <= $2::pg_lsn FROM pg_replication_slots WHERE slot_name = $1",
        {name_, lsn});
    return PQntuples(result.get()) == 1 && field(result.get(), 0, 0) == "t";
  }
  // Waits (bounded: the bug was an endless retry) for the daemon to stop on the record and checks
  // what it says.
  void expect_exit_naming_the_record(const std::string& key, const std::string& setting) {
    const int code = daemon_->wait(60s);
    ASSERT_EQ(code, 1) << (code == -1 ? "still running after 60 s (retrying forever?)\n" : "")
                       << daemon_->log();
    // The last words before the exit.
    const std::string log = daemon_->log();
    const std::size_t at = log.rfind("a record cannot be delivered: ");
    ASSERT_NE(at, std::string::npos) << log;
    const std::string last = log.substr(at, log.find('\n', at) - at);
    for (const std::string& part :
         {"table public." + name_ + ":", "key " + key + " (", topic(name_), setting}) {
      EXPECT_NE(last.find(part), std::string::npos) << "it does not name " << part << ":\n" << last;
    }
    EXPECT_NE(last.find(" bytes: key "), std::string::npos) << last;  // the record's size
  }
  // Every key of the topic (read_committed: what exactly-once committed).
  std::set<std::string> keys_in_topic(std::size_t at_least) {
    std::set<std::string> keys;
    for (const auto& event : read_topic(topic(name_), at_least, 60s, 1s)) keys.insert(event.key);
    return keys;
  }
};

TEST_P(UndeliverableRecord, ARecordTheTopicRefusesAsTooLargeStopsTheDaemonAndNoPositionPassesIt) {
  sql("CREATE TABLE " + name_ + " (id int PRIMARY KEY, v text)");
  sql("INSERT INTO " + name_ + " VALUES (1, 'small')");
  // The broker refuses records above the topic's limit; the producer's (1,000,000 bytes by
  // default) lets this one through.
  create_topic(test_env().kafka_brokers, topic(name_), 1, 30s, {{"max.message.bytes", "20000"}});
  // A long linger puts the records of one transaction into one batch.
  const std::string config_path =
      write_config(config("", "\n[sink.kafka.properties]\n\"linger.ms\" = 500\n"));
  start_daemon(config_path);
  ASSERT_EQ(keys_in_topic(1), (std::set<std::string>{R"({"id":1})"})) << daemon_->log();
  ASSERT_TRUE(wait_for_slot_to_catch_up(60s)) << daemon_->log();

  // A small record first in the same batch: the broker refuses the batch, so both are refused,
  // and the message must still name the wide one. The bound is taken inside the transaction: its
  // commit, the first position that would pass the refused record, comes after it. (An LSN taken
  // before the transaction is too strict: while nothing is in flight the position may follow
  // keepalives past WAL of other databases written meanwhile.)
  sql("BEGIN");
  sql("INSERT INTO " + name_ + " VALUES (3, 'small'), (2, " + wide_value_sql(102400) + ")");
  const std::string before_commit = insert_lsn();
  sql("COMMIT");
  sql("INSERT INTO " + name_ + " VALUES (4, 'after')");
  ASSERT_NO_FATAL_FAILURE(expect_exit_naming_the_record(R"({"id":2})", "max.message.bytes"));
  EXPECT_NE(daemon_->log().find("refused by the broker"), std::string::npos) << daemon_->log();

  // Neither the slot nor the saved position moved past the refused record.
  EXPECT_TRUE(slot_at_or_before(before_commit)) << before_commit;
  if (!exactly_once()) {
    std::optional<SourceOffset> saved = FileOffsetStore(dir_ + "/offsets.json").load();
    ASSERT_TRUE(saved.has_value());
    EXPECT_LE(saved->lsn, parse_lsn(before_commit).value()) << format_lsn(saved->lsn);
  }

  // The fix the message names; the next start resumes from the refused record.
  alter_topic_configs(test_env().kafka_brokers, topic(name_), {{"max.message.bytes", "2000000"}},
                      30s);
  start_daemon(config_path);
  const std::set<std::string> keys = keys_in_topic(4);
  for (const char* key : {R"({"id":2})", R"({"id":3})", R"({"id":4})"}) {
    EXPECT_TRUE(keys.count(key)) << key << " missing\n" << daemon_->log();
  }
  stop_daemon();
}

TEST_P(UndeliverableRecord, ARecordAboveTheProducersMessageMaxBytesStopsTheDaemon) {
  sql("CREATE TABLE " + name_ + " (id int PRIMARY KEY, v text)");
  sql("INSERT INTO " + name_ + " VALUES (1, 'small')");
  // Above librdkafka's default message.max.bytes (1,000,000): refused before it is sent. The
  // topic takes it, so raising the producer's limit is the whole fix.
  sql("INSERT INTO " + name_ + " VALUES (2, " + wide_value_sql(1100000) + ")");
  sql("INSERT INTO " + name_ + " VALUES (3, 'after')");
  create_topic(test_env().kafka_brokers, topic(name_), 1, 30s, {{"max.message.bytes", "8388608"}});
  // One row per snapshot chunk: the first is delivered and its position saved before the refusal.
  start_daemon(write_config(config("snapshot_chunk_rows = 1\n")));
  ASSERT_NO_FATAL_FAILURE(
      expect_exit_naming_the_record(R"({"id":2})", "message.max.bytes (1000000)"));
  const std::string log = daemon_->log();
  EXPECT_NE(log.find("[sink.kafka.properties]"), std::string::npos) << log;
  EXPECT_NE(log.find("refused by the producer"), std::string::npos) << log;

  // With the producer's limit raised, the snapshot resumes from the refused row.
  start_daemon(write_config(config("snapshot_chunk_rows = 1\n",
                                   "\n[sink.kafka.properties]\n"
                                   "\"message.max.bytes\" = 4000000\n"
                                   "\"queue.buffering.max.kbytes\" = 8192\n")));
  const std::set<std::string> keys = keys_in_topic(3);
  EXPECT_TRUE(keys.count(R"({"id":2})")) << daemon_->log();
  EXPECT_TRUE(keys.count(R"({"id":3})")) << daemon_->log();
  stop_daemon();
}

INSTANTIATE_TEST_SUITE_P(BothDeliveryModes, UndeliverableRecord, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "ExactlyOnce" : "AtLeastOnce";
                         });

}  // namespace
}  // namespace pgcdc::test
