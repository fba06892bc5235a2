// KafkaSink against the real Kafka broker started by scripts/dev-env: what the sink reports as
// delivered is really in the topic, in order, byte for byte.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <atomic>
#include <map>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "core/bounded_buffer.h"
#include "core/position_ledger.h"
#include "sinks/kafka_handles.h"
#include "sinks/kafka_sink.h"
#include "sinks/sink_runner.h"
#include "tests/support/kafka_consumer.h"
#include "tests/support/test_env.h"

namespace pgcdc {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Counts reports by status and forwards them to the ledger (sink thread only).
class CountingListener : public DeliveryListener {
 public:
  explicit CountingListener(PositionLedger& ledger) : ledger_(ledger) {}
  void on_delivery(const DeliveryReport& report) override {
    if (report.status == DeliveryStatus::kDelivered) {
      ++delivered;
    } else {
      ++failed;
      if (first_error.empty()) first_error = std::string(report.error);
    }
    ledger_.on_delivery(report);
  }
  std::atomic<int> delivered{0};
  std::atomic<int> failed{0};
  std::string first_error;

 private:
  PositionLedger& ledger_;
};

SourceOffset at(Lsn lsn) {
  SourceOffset offset;
  offset.lsn = lsn;
  return offset;
}

KafkaSinkConfig sink_config() {
  KafkaSinkConfig config;
  config.brokers = test::test_env().kafka_brokers;
  return config;
}

TEST(KafkaBroker, RawProduceAndConsumeRoundTrip) {
  const std::string brokers = test::test_env().kafka_brokers;
  ASSERT_FALSE(brokers.empty());
  const std::string topic = test::unique_name("pgcdc_it_raw");

  char errstr[512];
  RdKafkaConfPtr conf(rd_kafka_conf_new());
  ASSERT_EQ(
      rd_kafka_conf_set(conf.get(), "bootstrap.servers", brokers.c_str(), errstr, sizeof(errstr)),
      RD_KAFKA_CONF_OK)
      << errstr;
  RdKafkaPtr producer = new_rd_kafka(RD_KAFKA_PRODUCER, std::move(conf), "test producer");

  const std::string key = "raw-key";
  const std::string value = "raw-value";
  ASSERT_EQ(rd_kafka_producev(
                producer.get(), RD_KAFKA_V_TOPIC(topic.c_str()),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key.data(), key.size()),
                RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()), RD_KAFKA_V_END),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_EQ(rd_kafka_flush(producer.get(), 30000), RD_KAFKA_RESP_ERR_NO_ERROR);

  auto messages = test::consume_all(brokers, topic, 1, seconds(30), milliseconds(500));
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].key, key);
  ASSERT_TRUE(messages[0].value.has_value());
  EXPECT_EQ(*messages[0].value, value);
  EXPECT_EQ(messages[0].offset, 0);
  EXPECT_GT(messages[0].timestamp_ms, 0);
}

TEST(KafkaSink, ThousandRecordsThroughRunnerAndLedgerArriveInOrder) {
  const std::string brokers = test::test_env().kafka_brokers;
  ASSERT_FALSE(brokers.empty());
  const std::string topic = test::unique_name("pgcdc_it_sink");
  // Several partitions, so ordering is checked where Kafka promises it: per partition, per key.
  test::create_topic(brokers, topic, 3, seconds(30));

  constexpr int kTransactions = 20;
  constexpr int kPerTransaction = 50;
  constexpr int kRecords = kTransactions * kPerTransaction;
  constexpr int kKeys = 37;

  PositionLedger ledger;
  CountingListener listener(ledger);
  KafkaSink sink(sink_config(), listener);
  std::optional<Error> unreachable = sink.ping(seconds(10));
  ASSERT_FALSE(unreachable) << unreachable->what();

  BoundedBuffer buffer(64, 1 << 20);
  SinkRunner runner(buffer, sink);
  std::atomic<bool> stop{false};
  std::thread sink_thread([&] {
    runner.run(stop);
    EXPECT_TRUE(sink.flush(seconds(60)));  // on the sink thread, as the daemon does
  });

  std::vector<std::pair<std::string, std::string>> sent;  // (key, value) in send order
  for (int t = 0; t < kTransactions; ++t) {
    DeliveryToken token = ledger.open();
    for (int i = 0; i < kPerTransaction; ++i) {
      const int seq = t * kPerTransaction + i;
      Record r;
      r.topic = topic;
      r.key = "{\"id\":" + std::to_string(seq % kKeys) + "}";
      r.value = "{\"op\":\"u\",\"after\":{\"id\":" + std::to_string(seq % kKeys) +
                ",\"seq\":" + std::to_string(seq) + ",\"text\":\"caf\xc3\xa9 \\\"q\\\"\"}}";
      r.token = token;
      r.op = Operation::kUpdate;
      r.table = "public.items";
      sent.emplace_back(r.key, *r.value);
      ledger.add_record(token);
      while (buffer.push(r, milliseconds(100)) == BoundedBuffer::PushResult::kTimedOut) {
      }
    }
    ledger.seal(token, at(static_cast<Lsn>(t + 1) * 1000));
  }
  buffer.close();
  sink_thread.join();

  EXPECT_EQ(listener.failed.load(), 0) << listener.first_error;
  EXPECT_EQ(listener.delivered.load(), kRecords);
  EXPECT_EQ(runner.records_sent(), static_cast<std::uint64_t>(kRecords));
  EXPECT_FALSE(ledger.failed()) << ledger.failure();
  EXPECT_EQ(ledger.committable().lsn, static_cast<Lsn>(kTransactions) * 1000);
  EXPECT_EQ(ledger.records_in_flight(), 0u);

  auto consumed = test::consume_all(brokers, topic, kRecords, seconds(60), milliseconds(1000));
  ASSERT_EQ(consumed.size(), static_cast<std::size_t>(kRecords));  // nothing lost or duplicated

  // Per key: one partition, and the values in send order.
  std::map<std::string, std::vector<std::string>> sent_by_key;
  for (const auto& [key, value] : sent) sent_by_key[key].push_back(value);
  std::map<std::string, std::vector<std::string>> got_by_key;
  std::map<std::string, std::int32_t> partition_of_key;
  std::map<std::int32_t, std::int64_t> last_offset;
  for (const auto& m : consumed) {
    ASSERT_TRUE(m.value.has_value());
    got_by_key[m.key].push_back(*m.value);
    auto [it, inserted] = partition_of_key.emplace(m.key, m.partition);
    EXPECT_EQ(it->second, m.partition) << "key " << m.key << " in two partitions";
    auto last = last_offset.find(m.partition);
    if (last != last_offset.end()) {
      EXPECT_GT(m.offset, last->second);
    }
    last_offset[m.partition] = m.offset;
  }
  EXPECT_EQ(got_by_key, sent_by_key);
  EXPECT_GT(last_offset.size(), 1u) << "all keys in one partition: the order check is weaker";
}

TEST(KafkaSink, TombstoneArrivesAsANullValue) {
  const std::string brokers = test::test_env().kafka_brokers;
  ASSERT_FALSE(brokers.empty());
  const std::string topic = test::unique_name("pgcdc_it_tombstone");

  PositionLedger ledger;
  CountingListener listener(ledger);
  KafkaSink sink(sink_config(), listener);
  DeliveryToken token = ledger.open();
  Record del;
  del.topic = topic;
  del.key = "{\"id\":42}";
  del.value = "{\"op\":\"d\",\"before\":{\"id\":42}}";
  del.token = token;
  del.op = Operation::kDelete;
  del.table = "public.items";
  Record tombstone = del;
  tombstone.value = std::nullopt;
  tombstone.op = Operation::kTombstone;
  for (Record* r : {&del, &tombstone}) {
    ledger.add_record(token);
    ASSERT_EQ(sink.send(*r), Sink::SendResult::kAccepted);
  }
  ledger.seal(token, at(77));
  ASSERT_TRUE(sink.flush(seconds(60)));
  EXPECT_EQ(listener.delivered.load(), 2) << listener.first_error;
  EXPECT_EQ(ledger.committable().lsn, 77u);

  auto consumed = test::consume_all(brokers, topic, 2, seconds(30), milliseconds(500));
  ASSERT_EQ(consumed.size(), 2u);
  EXPECT_EQ(consumed[0].key, "{\"id\":42}");
  ASSERT_TRUE(consumed[0].value.has_value());
  EXPECT_EQ(*consumed[0].value, "{\"op\":\"d\",\"before\":{\"id\":42}}");
  EXPECT_EQ(consumed[1].key, "{\"id\":42}");
  EXPECT_FALSE(consumed[1].value.has_value())
      << "tombstone arrived as '" << *consumed[1].value << "'";
}

TEST(KafkaSink, DescribesTheRealBroker) {
  const std::string brokers = test::test_env().kafka_brokers;
  ASSERT_FALSE(brokers.empty());
  PositionLedger ledger;
  CountingListener listener(ledger);
  KafkaSink sink(sink_config(), listener);
  EXPECT_EQ(sink.describe_metadata(seconds(10)).rfind("1 broker(s): ", 0), 0u);
}

}  // namespace
}  // namespace pgcdc
