// KafkaSink against librdkafka's in-process mock cluster: deterministic delivery, failure and
// backpressure cases that a real broker cannot produce on demand.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/position_ledger.h"
#include "core/source_offset.h"
#include "sinks/kafka_handles.h"
#include "sinks/kafka_offset_store.h"
#include "sinks/kafka_properties.h"
#include "sinks/kafka_sink.h"
#include "sinks/kafka_transactions.h"
#include "sinks/sink_factory.h"

namespace pgcdc {
namespace {

using std::chrono::milliseconds;

constexpr int16_t kProduceApiKey = 0;  // Kafka protocol ApiKey of Produce

struct SavedReport {
  DeliveryToken token;
  DeliveryStatus status;
  std::string error;
  Operation op;
  std::string table;
  std::size_t payload_bytes;
  std::int64_t commit_time_us;
};

// Keeps every report and forwards it to an optional ledger.
class RecordingListener : public DeliveryListener {
 public:
  explicit RecordingListener(PositionLedger* ledger = nullptr) : ledger_(ledger) {}
  void on_delivery(const DeliveryReport& r) override {
    reports.push_back({r.token, r.status, std::string(r.error), r.op, std::string(r.table),
                       r.payload_bytes, r.commit_time_us});
    if (ledger_) ledger_->on_delivery(r);
  }
  std::size_t count(DeliveryStatus status) const {
    std::size_t n = 0;
    for (const auto& r : reports) n += r.status == status;
    return n;
  }
  std::vector<SavedReport> reports;

 private:
  PositionLedger* ledger_;
};

// A one-broker mock cluster. rd_kafka_mock_cluster_new needs a handle to live in; a bare producer
// that never produces serves.
class MockCluster {
 public:
  MockCluster() {
    char errstr[256];
    RdKafkaConfPtr conf(rd_kafka_conf_new());
    rd_kafka_conf_set(conf.get(), "log_level", "3", errstr, sizeof(errstr));
    host_ = new_rd_kafka(RD_KAFKA_PRODUCER, std::move(conf), "mock cluster host");
    cluster_.reset(rd_kafka_mock_cluster_new(host_.get(), 1));
    if (!cluster_) throw std::runtime_error("rd_kafka_mock_cluster_new failed");
  }

  rd_kafka_mock_cluster_t* get() const { return cluster_.get(); }
  std::string bootstraps() const { return rd_kafka_mock_cluster_bootstraps(cluster_.get()); }

 private:
  RdKafkaPtr host_;
  RdKafkaMockClusterPtr cluster_;  // declared after host_: destroyed before it
};

Record make_record(DeliveryToken token, const std::string& topic, int seq, bool tombstone = false) {
  Record r;
  r.topic = topic;
  r.key = "{\"id\":" + std::to_string(seq) + "}";
  if (!tombstone) r.value = "{\"op\":\"c\",\"after\":{\"id\":" + std::to_string(seq) + "}}";
  r.token = token;
  r.op = tombstone ? Operation::kTombstone : Operation::kCreate;
  r.table = "public.items";
  r.commit_time_us = 1700000000000000 + seq;
  return r;
}

SourceOffset at(Lsn lsn) {
  SourceOffset offset;
  offset.lsn = lsn;
  return offset;
}

class KafkaMockSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    topic_ = "pgcdc.mock." + std::to_string(getpid()) + "." +
             ::testing::UnitTest::GetInstance()->current_test_info()->name();
    ASSERT_EQ(rd_kafka_mock_topic_create(cluster_.get(), topic_.c_str(), 3, 1),
              RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  KafkaSinkConfig config(std::map<std::string, std::string> properties = {}) const {
    KafkaSinkConfig c;
    c.brokers = cluster_.bootstraps();
    c.properties = std::move(properties);
    c.properties.emplace("log_level", "2");  // the failure tests make librdkafka complain
    return c;
  }

  MockCluster cluster_;
  std::string topic_;
};

TEST_F(KafkaMockSinkTest, DeliveredRecordsAreReportedOnceWithTheirTokens) {
  PositionLedger ledger;
  RecordingListener listener(&ledger);
  KafkaSink sink(config(), listener);
  std::optional<Error> unreachable = sink.ping(milliseconds(5000));
  ASSERT_FALSE(unreachable) << unreachable->what();

  std::vector<DeliveryToken> tokens;
  for (int t = 0; t < 10; ++t) {
    DeliveryToken token = ledger.open();
    tokens.push_back(token);
    for (int i = 0; i < 10; ++i) {
      Record r = make_record(token, topic_, t * 10 + i, /*tombstone=*/i == 9);
      ledger.add_record(token);
      ASSERT_EQ(sink.send(r), Sink::SendResult::kAccepted);
    }
    ledger.seal(token, at(static_cast<Lsn>(t + 1) * 100));
  }
  EXPECT_EQ(sink.in_flight(), 100u);
  EXPECT_TRUE(sink.flush(milliseconds(10000)));
  EXPECT_EQ(sink.in_flight(), 0u);

  ASSERT_EQ(listener.reports.size(), 100u);
  EXPECT_EQ(listener.count(DeliveryStatus::kDelivered), 100u);
  std::multiset<DeliveryToken> seen;
  for (const auto& r : listener.reports) {
    seen.insert(r.token);
    EXPECT_TRUE(r.error.empty());
    EXPECT_EQ(r.table, "public.items");
    EXPECT_GE(r.commit_time_us, 1700000000000000);
  }
  for (DeliveryToken token : tokens) EXPECT_EQ(seen.count(token), 10u);
  EXPECT_FALSE(ledger.failed());
  EXPECT_EQ(ledger.committable().lsn, 1000u);
  EXPECT_FALSE(sink.fatal());
}

TEST_F(KafkaMockSinkTest, ReadyDeliveryReportsCallTheWakeUpFromLibrdkafkasThread) {
  PositionLedger ledger;
  RecordingListener listener(&ledger);
  KafkaSink sink(config(), listener);
  std::optional<Error> unreachable = sink.ping(milliseconds(5000));
  ASSERT_FALSE(unreachable) << unreachable->what();
  std::atomic<int> wakeups{0};
  ASSERT_TRUE(sink.set_report_wakeup([&] { ++wakeups; }));
  const int at_start = wakeups.load();  // it wakes once at once, for reports already queued

  DeliveryToken token = ledger.open();
  Record r = make_record(token, topic_, 1, /*tombstone=*/false);
  ledger.add_record(token);
  ASSERT_EQ(sink.send(r), Sink::SendResult::kAccepted);
  // Nothing polls: only librdkafka's own thread can call the wake-up when the report is ready.
  for (int i = 0; i < 500 && wakeups.load() == at_start; ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_GT(wakeups.load(), at_start);
  sink.poll(milliseconds(0));
  EXPECT_EQ(listener.reports.size(), 1u);

  // Turned off, it is never called again.
  ASSERT_TRUE(sink.set_report_wakeup(nullptr));
  const int when_off = wakeups.load();
  Record again = make_record(token, topic_, 2, /*tombstone=*/false);
  ledger.add_record(token);
  ASSERT_EQ(sink.send(again), Sink::SendResult::kAccepted);
  EXPECT_TRUE(sink.flush(milliseconds(10000)));
  EXPECT_EQ(wakeups.load(), when_off);
}

TEST_F(KafkaMockSinkTest, RejectedProduceIsAFailedReportAndStopsThePosition) {
  PositionLedger ledger;
  RecordingListener listener(&ledger);
  KafkaSink sink(config(), listener);

  DeliveryToken first = ledger.open();
  Record a = make_record(first, topic_, 1);
  ledger.add_record(first);
  ASSERT_EQ(sink.send(a), Sink::SendResult::kAccepted);
  ledger.seal(first, at(100));
  ASSERT_TRUE(sink.flush(milliseconds(10000)));
  ASSERT_EQ(ledger.committable().lsn, 100u);

  // The next Produce request is rejected with a non-retriable error.
  rd_kafka_mock_push_request_errors(cluster_.get(), kProduceApiKey, 1,
                                    RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
  DeliveryToken second = ledger.open();
  Record b = make_record(second, topic_, 2);
  ledger.add_record(second);
  ASSERT_EQ(sink.send(b), Sink::SendResult::kAccepted);
  ledger.seal(second, at(200));
  sink.flush(milliseconds(10000));
  ASSERT_EQ(listener.reports.size(), 2u);
  EXPECT_EQ(listener.reports[1].token, second);
  // No retry mends it: rejected, so the daemon stops instead of restarting forever.
  EXPECT_EQ(listener.reports[1].status, DeliveryStatus::kRejected);
  EXPECT_NE(listener.reports[1].error.find(topic_), std::string::npos) << listener.reports[1].error;
  EXPECT_NE(listener.reports[1].error.find("uthoriz"), std::string::npos)
      << listener.reports[1].error;
  EXPECT_NE(listener.reports[1].error.find("public.items"), std::string::npos)
      << listener.reports[1].error;
  EXPECT_NE(listener.reports[1].error.find(R"({"id":2})"), std::string::npos)
      << listener.reports[1].error;

  // Later records may well be delivered, but the position never passes the failed one.
  DeliveryToken third = ledger.open();
  Record c = make_record(third, topic_, 3);
  ledger.add_record(third);
  ASSERT_EQ(sink.send(c), Sink::SendResult::kAccepted);
  ledger.seal(third, at(300));
  sink.flush(milliseconds(10000));
  EXPECT_EQ(listener.reports.size(), 3u);
  EXPECT_TRUE(ledger.failed());
  EXPECT_TRUE(ledger.rejected());
  EXPECT_EQ(ledger.committable().lsn, 100u);
}

TEST_F(KafkaMockSinkTest, ARecordTheBrokerRefusesAsTooLargeIsRejectedNamingTheTopicsLimit) {
  PositionLedger ledger;
  RecordingListener listener(&ledger);
  KafkaSink sink(config(), listener);
  std::optional<Error> unreachable = sink.ping(milliseconds(5000));
  ASSERT_FALSE(unreachable) << unreachable->what();

  DeliveryToken first = ledger.open();
  Record a = make_record(first, topic_, 1);
  ledger.add_record(first);
  ASSERT_EQ(sink.send(a), Sink::SendResult::kAccepted);
  ledger.seal(first, at(100));
  ASSERT_TRUE(sink.flush(milliseconds(10000)));

  // What a broker answers for a record above the topic's max.message.bytes.
  rd_kafka_mock_push_request_errors(cluster_.get(), kProduceApiKey, 1,
                                    RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
  DeliveryToken second = ledger.open();
  Record b = make_record(second, topic_, 2);
  ledger.add_record(second);
  ASSERT_EQ(sink.send(b), Sink::SendResult::kAccepted);
  ledger.seal(second, at(200));
  sink.flush(milliseconds(10000));
  ASSERT_EQ(listener.reports.size(), 2u);
  const SavedReport& refused = listener.reports[1];
  EXPECT_EQ(refused.status, DeliveryStatus::kRejected) << refused.error;
  for (const std::string& part :
       {std::string("public.items"), std::string(R"({"id":2})"),
        std::string("refused by the broker"), topic_, std::string("max.message.bytes"),
        std::to_string(b.payload_bytes() - b.topic.size()) + " bytes"}) {
    EXPECT_NE(refused.error.find(part), std::string::npos) << part << " in " << refused.error;
  }
  EXPECT_TRUE(ledger.rejected());
  EXPECT_EQ(ledger.committable().lsn, 100u);
}

TEST_F(KafkaMockSinkTest, NotEnoughReplicasIsRetriedAndDelivered) {
  PositionLedger ledger;
  RecordingListener listener(&ledger);
  KafkaSink sink(config({{"retry.backoff.ms", "10"}}), listener);
  std::optional<Error> unreachable = sink.ping(milliseconds(5000));
  ASSERT_FALSE(unreachable) << unreachable->what();
  // Transient: librdkafka retries these itself, and the record makes it.
  rd_kafka_mock_push_request_errors(
      cluster_.get(), kProduceApiKey, 3, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
      RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
  DeliveryToken token = ledger.open();
  Record r = make_record(token, topic_, 1);
  ledger.add_record(token);
  ASSERT_EQ(sink.send(r), Sink::SendResult::kAccepted);
  ledger.seal(token, at(100));
  ASSERT_TRUE(sink.flush(milliseconds(10000)));
  ASSERT_EQ(listener.reports.size(), 1u);
  EXPECT_EQ(listener.reports[0].status, DeliveryStatus::kDelivered) << listener.reports[0].error;
  EXPECT_FALSE(ledger.failed());
  EXPECT_EQ(ledger.committable().lsn, 100u);
}

TEST_F(KafkaMockSinkTest, BrokerDownPastTheMessageTimeoutFailsTheRecords) {
  PositionLedger ledger;
  RecordingListener listener(&ledger);
  KafkaSink sink(config({{"message.timeout.ms", "1000"}}), listener);
  std::optional<Error> unreachable = sink.ping(milliseconds(5000));
  ASSERT_FALSE(unreachable) << unreachable->what();

  DeliveryToken first = ledger.open();
  Record a = make_record(first, topic_, 1);
  ledger.add_record(first);
  ASSERT_EQ(sink.send(a), Sink::SendResult::kAccepted);
  ledger.seal(first, at(100));
  ASSERT_TRUE(sink.flush(milliseconds(10000)));

  ASSERT_EQ(rd_kafka_mock_broker_set_down(cluster_.get(), 1), RD_KAFKA_RESP_ERR_NO_ERROR);
  DeliveryToken second = ledger.open();
  for (int i = 0; i < 5; ++i) {
    Record r = make_record(second, topic_, 10 + i);
    ledger.add_record(second);
    ASSERT_EQ(sink.send(r), Sink::SendResult::kAccepted);
  }
  ledger.seal(second, at(200));
  EXPECT_TRUE(sink.flush(milliseconds(15000)));

  ASSERT_EQ(listener.reports.size(), 6u);
  EXPECT_EQ(listener.count(DeliveryStatus::kFailed), 5u);  // transient: retried, not rejected
  for (std::size_t i = 1; i < 6; ++i) {
    EXPECT_EQ(listener.reports[i].token, second);
    EXPECT_NE(listener.reports[i].error.find("timed out"), std::string::npos)
        << listener.reports[i].error;
  }
  EXPECT_TRUE(ledger.failed());
  EXPECT_FALSE(ledger.rejected());
  EXPECT_EQ(ledger.committable().lsn, 100u);
}

TEST_F(KafkaMockSinkTest, FullQueueIsBackpressureAndNothingIsReportedForIt) {
  RecordingListener listener;
  KafkaSink sink(config({{"queue.buffering.max.messages", "2"}}), listener);
  ASSERT_EQ(rd_kafka_mock_broker_set_down(cluster_.get(), 1), RD_KAFKA_RESP_ERR_NO_ERROR);

  Record a = make_record(1, topic_, 1);
  Record b = make_record(1, topic_, 2);
  Record c = make_record(1, topic_, 3);
  ASSERT_EQ(sink.send(a), Sink::SendResult::kAccepted);
  ASSERT_EQ(sink.send(b), Sink::SendResult::kAccepted);
  EXPECT_EQ(sink.send(c), Sink::SendResult::kQueueFull);
  EXPECT_EQ(sink.in_flight(), 2u);
  // The refused record is untouched, ready to be sent again.
  EXPECT_EQ(c.key, "{\"id\":3}");
  ASSERT_TRUE(c.value.has_value());
  sink.poll(milliseconds(0));
  EXPECT_TRUE(listener.reports.empty());

  ASSERT_EQ(rd_kafka_mock_broker_set_up(cluster_.get(), 1), RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_TRUE(sink.flush(milliseconds(15000)));
  ASSERT_EQ(sink.send(c), Sink::SendResult::kAccepted);
  ASSERT_TRUE(sink.flush(milliseconds(15000)));
  EXPECT_EQ(listener.reports.size(), 3u);
  EXPECT_EQ(listener.count(DeliveryStatus::kDelivered), 3u);
}

// send_batch() keeps order under backpressure only because rd_kafka_produce_batch takes nothing
// after the first record that meets a full queue, even a later one that would fit.
TEST_F(KafkaMockSinkTest, LibrdkafkaTakesNothingAfterAFullQueue) {
  char errstr[256];
  RdKafkaConfPtr conf(rd_kafka_conf_new());
  ASSERT_EQ(rd_kafka_conf_set(conf.get(), "bootstrap.servers", cluster_.bootstraps().c_str(),
                              errstr, sizeof errstr),
            RD_KAFKA_CONF_OK);
  ASSERT_EQ(rd_kafka_conf_set(conf.get(), "queue.buffering.max.kbytes", "1", errstr, sizeof errstr),
            RD_KAFKA_CONF_OK);
  RdKafkaPtr producer = new_rd_kafka(RD_KAFKA_PRODUCER, std::move(conf), "test producer");
  RdKafkaTopicPtr topic(rd_kafka_topic_new(producer.get(), topic_.c_str(), nullptr));
  ASSERT_EQ(rd_kafka_mock_broker_set_down(cluster_.get(), 1), RD_KAFKA_RESP_ERR_NO_ERROR);
  std::string large(600, 'a');  // two of these exceed the 1 KiB queue
  std::string small(100, 'b');  // fits after one large one
  std::vector<rd_kafka_message_t> messages(3, rd_kafka_message_t{});
  std::string* payloads[] = {&large, &large, &small};
  for (std::size_t i = 0; i < messages.size(); ++i) {
    messages[i].payload = payloads[i]->data();
    messages[i].len = payloads[i]->size();
  }
  EXPECT_EQ(rd_kafka_produce_batch(topic.get(), RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY,
                                   messages.data(), 3), 1);
  EXPECT_EQ(messages[0].err, RD_KAFKA_RESP_ERR_NO_ERROR);
  EXPECT_EQ(messages[1].err, RD_KAFKA_RESP_ERR__QUEUE_FULL);
  EXPECT_EQ(messages[2].err, RD_KAFKA_RESP_ERR__QUEUE_FULL);
  rd_kafka_purge(producer.get(), RD_KAFKA_PURGE_F_QUEUE);
  rd_kafka_poll(producer.get(), 0);
}

TEST_F(KafkaMockSinkTest, ABatchMeetingAFullQueueTakesAPrefixAndTheRestFollowsLater) {
  RecordingListener listener;
  KafkaSink sink(config({{"queue.buffering.max.messages", "3"}}), listener);
  ASSERT_EQ(rd_kafka_mock_broker_set_down(cluster_.get(), 1), RD_KAFKA_RESP_ERR_NO_ERROR);
  std::vector<Record> batch;
  for (int i = 0; i < 5; ++i) batch.push_back(make_record(static_cast<DeliveryToken>(i + 1), topic_, i));
  EXPECT_EQ(sink.send_batch(batch), 3u);
  EXPECT_EQ(sink.in_flight(), 3u);
  // Those not taken are untouched, ready to be offered again.
  EXPECT_EQ(batch[3].key, "{\"id\":3}");
  ASSERT_TRUE(batch[4].value.has_value());
  sink.poll(milliseconds(0));
  EXPECT_TRUE(listener.reports.empty());

  ASSERT_EQ(rd_kafka_mock_broker_set_up(cluster_.get(), 1), RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_TRUE(sink.flush(milliseconds(15000)));
  EXPECT_EQ(sink.send_batch(std::span<Record>(batch).subspan(3)), 2u);
  ASSERT_TRUE(sink.flush(milliseconds(15000)));
  ASSERT_EQ(listener.reports.size(), 5u);
  std::set<DeliveryToken> delivered;
  for (const auto& r : listener.reports) {
    EXPECT_EQ(r.status, DeliveryStatus::kDelivered) << r.error;
    delivered.insert(r.token);
  }
  EXPECT_EQ(delivered, (std::set<DeliveryToken>{1, 2, 3, 4, 5}));
}

TEST_F(KafkaMockSinkTest, ABatchAcrossTopicsFailsOnlyTheRecordKafkaRefuses) {
  const std::string other = topic_ + ".other";
  ASSERT_EQ(rd_kafka_mock_topic_create(cluster_.get(), other.c_str(), 1, 1),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  RecordingListener listener;
  KafkaSink sink(config({{"message.max.bytes", "1000"}}), listener);
  std::vector<Record> batch;
  batch.push_back(make_record(1, topic_, 1));
  batch.push_back(make_record(2, topic_, 2, /*tombstone=*/true));
  batch.push_back(make_record(3, other, 3));
  batch.push_back(make_record(4, topic_, 4));
  batch.back().value = std::string(5000, 'x');  // too large: refused at once
  batch.push_back(make_record(5, topic_, 5));
  EXPECT_EQ(sink.send_batch(batch), 5u);
  ASSERT_TRUE(sink.flush(milliseconds(15000)));
  ASSERT_EQ(listener.reports.size(), 5u);
  for (const auto& r : listener.reports) {
    EXPECT_EQ(r.status, r.token == 4 ? DeliveryStatus::kRejected : DeliveryStatus::kDelivered)
        << "token " << r.token << ": " << r.error;
    if (r.token == 4) {
      EXPECT_NE(r.error.find(topic_), std::string::npos) << r.error;
    }
  }
  EXPECT_EQ(sink.in_flight(), 0u);
}

TEST_F(KafkaMockSinkTest, FatalErrorIsVisibleAndLaterRecordsFail) {
  RecordingListener listener;
  KafkaSink sink(config(), listener);
  Record a = make_record(1, topic_, 1);
  ASSERT_EQ(sink.send(a), Sink::SendResult::kAccepted);
  ASSERT_TRUE(sink.flush(milliseconds(10000)));
  ASSERT_FALSE(sink.fatal());

  // What a fenced or out-of-sequence idempotent producer raises.
  ASSERT_EQ(rd_kafka_test_fatal_error(sink.native_handle(),
                                      RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                                      "injected by the test"),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!sink.fatal() && std::chrono::steady_clock::now() < deadline) sink.poll(milliseconds(20));
  ASSERT_TRUE(sink.fatal());
  std::optional<Error> fatal = sink.fatal_error();
  ASSERT_TRUE(fatal);
  EXPECT_NE(std::string(fatal->what()).find("injected by the test"), std::string::npos)
      << fatal->what();
  // A new producer starts afresh: the session is retried with a new sink.
  EXPECT_EQ(fatal->kind(), ErrorKind::kTransient);

  // Accepted and failed at once: exactly one report, nothing left in flight.
  Record b = make_record(2, topic_, 2);
  EXPECT_EQ(sink.send(b), Sink::SendResult::kAccepted);
  ASSERT_EQ(listener.reports.size(), 2u);
  EXPECT_EQ(listener.reports[1].token, 2u);
  EXPECT_EQ(listener.reports[1].status, DeliveryStatus::kFailed);
  EXPECT_FALSE(listener.reports[1].error.empty());
  EXPECT_EQ(sink.in_flight(), 0u);
}

TEST_F(KafkaMockSinkTest, DestroyingWithRecordsInFlightReportsThemFailedOnce) {
  RecordingListener listener;
  {
    KafkaSink sink(config(), listener);
    ASSERT_EQ(rd_kafka_mock_broker_set_down(cluster_.get(), 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    for (int i = 0; i < 3; ++i) {
      Record r = make_record(static_cast<DeliveryToken>(i + 1), topic_, i);
      ASSERT_EQ(sink.send(r), Sink::SendResult::kAccepted);
    }
    EXPECT_FALSE(sink.flush(milliseconds(100)));
  }
  ASSERT_EQ(listener.reports.size(), 3u);
  std::set<DeliveryToken> tokens;
  for (const auto& r : listener.reports) {
    EXPECT_EQ(r.status, DeliveryStatus::kFailed);
    tokens.insert(r.token);
  }
  EXPECT_EQ(tokens, (std::set<DeliveryToken>{1, 2, 3}));
}

TEST_F(KafkaMockSinkTest, OversizedRecordIsFailedAtOnce) {
  RecordingListener listener;
  KafkaSink sink(config({{"message.max.bytes", "1000"}}), listener);
  Record r = make_record(5, topic_, 1);
  r.value = std::string(5000, 'x');
  EXPECT_EQ(sink.send(r), Sink::SendResult::kAccepted);
  ASSERT_EQ(listener.reports.size(), 1u);
  EXPECT_EQ(listener.reports[0].token, 5u);
  EXPECT_EQ(listener.reports[0].status, DeliveryStatus::kRejected);
  const std::string& error = listener.reports[0].error;
  EXPECT_NE(error.find(topic_), std::string::npos) << error;
  EXPECT_NE(error.find("public.items"), std::string::npos) << error;
  EXPECT_NE(error.find(R"({"id":1})"), std::string::npos) << error;
  EXPECT_NE(error.find("5008 bytes"), std::string::npos) << error;  // key 8, value 5000
  EXPECT_NE(error.find("message.max.bytes (1000)"), std::string::npos) << error;
  EXPECT_EQ(sink.in_flight(), 0u);
}

// Exactly-once against the mock cluster (it speaks the transactional protocol).
class KafkaMockTransactionTest : public KafkaMockSinkTest {
 protected:
  KafkaSinkConfig transactional(std::map<std::string, std::string> properties = {}) const {
    KafkaSinkConfig c = config(std::move(properties));
    c.delivery = KafkaSinkConfig::Delivery::kExactlyOnce;
    c.transactional_id = "pgcdc-mock-" + topic_;
    c.offsets_topic = topic_ + "._offsets";
    c.transaction_interval = milliseconds(0);  // commit at every marker
    return c;
  }
  void SetUp() override {
    KafkaMockSinkTest::SetUp();
    ASSERT_EQ(rd_kafka_mock_topic_create(cluster_.get(), (topic_ + "._offsets").c_str(), 1, 1),
              RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  static Record marker(DeliveryToken token, Lsn lsn) {
    Record r;
    r.op = Operation::kPosition;
    r.value = offset_to_json(at(lsn));
    r.token = token;
    return r;
  }
  // One ledger entry of `records` records (the first `oversized` of them too large to produce),
  // then its marker, as the source sends them.
  // `batched`: records and marker in one send_batch() call, as the sink thread sends them.
  void send_entry(KafkaSink& sink, PositionLedger& ledger, Lsn lsn, int records,
                  int oversized = 0, bool batched = false) const {
    DeliveryToken token = ledger.open();
    std::vector<Record> entry;
    for (int i = 0; i < records; ++i) {
      Record r = make_record(token, topic_, static_cast<int>(lsn) + i);
      if (i < oversized) r.value = std::string(5000, 'x');
      ledger.add_record(token);
      entry.push_back(std::move(r));
    }
    entry.push_back(marker(token, lsn));
    if (batched) {
      ASSERT_EQ(sink.send_batch(entry), entry.size());
    } else {
      for (Record& r : entry) ASSERT_EQ(sink.send(r), Sink::SendResult::kAccepted);
    }
    ledger.seal(token, at(lsn));
  }
  // A transactional sink with its transactions initialized, as a session starts one.
  static void start(KafkaSink& sink) {
    std::optional<Error> unreachable = sink.ping(milliseconds(10000));
    ASSERT_FALSE(unreachable) << unreachable->what();
  }
  // Where the next session would resume: the position committed in the offsets topic (0: none).
  static Lsn committed_position(const KafkaSinkConfig& c) {
    std::optional<SourceOffset> resumed = KafkaOffsetStore(c).load();
    EXPECT_TRUE(resumed.has_value()) << "no position committed";
    return resumed ? resumed->lsn : 0;
  }
};

class KafkaMockTransactionBatchTest : public KafkaMockTransactionTest,
                                      public ::testing::WithParamInterface<bool> {};

TEST_P(KafkaMockTransactionBatchTest, NothingCommitsAfterAnAbortedTransaction) {
  const bool batched = GetParam();
  PositionLedger ledger;
  RecordingListener listener(&ledger);
  KafkaSinkConfig c = transactional({{"message.max.bytes", "1000"}});
  {
    KafkaSink sink(c, listener);
    ASSERT_NO_FATAL_FAILURE(start(sink));
    send_entry(sink, ledger, 100, 3, 0, batched);  // committed
    // A record is refused: the transaction aborts.
    send_entry(sink, ledger, 200, 2, 1, batched);
    // Must not commit: 200's records are not in Kafka.
    send_entry(sink, ledger, 300, 3, 0, batched);
    sink.poll(milliseconds(100));
    EXPECT_TRUE(sink.flush(milliseconds(10000)));
    EXPECT_EQ(sink.in_flight(), 0u);
  }
  ASSERT_EQ(listener.reports.size(), 8u);
  for (std::size_t i = 0; i < listener.reports.size(); ++i) {
    // The oversized record (the first of entry 200) is rejected; the others of its transaction
    // and of the next one fail with it.
    EXPECT_EQ(listener.reports[i].status,
              i < 3 ? DeliveryStatus::kDelivered
                    : (i == 3 ? DeliveryStatus::kRejected : DeliveryStatus::kFailed))
        << "report " << i << " (entry " << listener.reports[i].token << ")";
  }
  EXPECT_TRUE(ledger.failed());
  EXPECT_TRUE(ledger.rejected());
  EXPECT_EQ(ledger.committable().lsn, 100u);
  // The next session resumes from here: it must not be past entry 200.
  EXPECT_EQ(committed_position(c), 100u);
}

INSTANTIATE_TEST_SUITE_P(OneByOneAndBatched, KafkaMockTransactionBatchTest, ::testing::Bool());

TEST_F(KafkaMockTransactionTest, ARecordTheBrokerRefusesIsRejectedAndNoPositionPassesIt) {
  PositionLedger ledger;
  RecordingListener listener(&ledger);
  KafkaSinkConfig c = transactional();
  {
    KafkaSink sink(c, listener);
    ASSERT_NO_FATAL_FAILURE(start(sink));
    send_entry(sink, ledger, 100, 2);
    ASSERT_TRUE(sink.flush(milliseconds(10000)));  // committed
    // The record and the position written at its marker go in one Produce request or in two:
    // either way the record's is refused.
    rd_kafka_mock_push_request_errors(cluster_.get(), kProduceApiKey, 2,
                                      RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE,
                                      RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
    send_entry(sink, ledger, 200, 1);
    send_entry(sink, ledger, 300, 1);
    sink.poll(milliseconds(100));
    sink.flush(milliseconds(10000));
    EXPECT_EQ(sink.in_flight(), 0u);
  }
  ASSERT_EQ(listener.reports.size(), 4u);
  EXPECT_EQ(listener.count(DeliveryStatus::kDelivered), 2u);
  EXPECT_EQ(listener.count(DeliveryStatus::kRejected), 1u);
  for (const auto& r : listener.reports) {
    if (r.status != DeliveryStatus::kRejected) continue;
    EXPECT_NE(r.error.find("max.message.bytes"), std::string::npos) << r.error;
    EXPECT_NE(r.error.find("public.items"), std::string::npos) << r.error;
  }
  EXPECT_TRUE(ledger.rejected());
  EXPECT_EQ(ledger.committable().lsn, 100u);
  EXPECT_EQ(committed_position(c), 100u);
}

TEST_F(KafkaMockTransactionTest, EntriesSentAsBatchesCommitTheirPositions) {
  PositionLedger ledger;
  RecordingListener listener(&ledger);
  KafkaSinkConfig c = transactional();
  {
    KafkaSink sink(c, listener);
    ASSERT_NO_FATAL_FAILURE(start(sink));
    send_entry(sink, ledger, 100, 5, 0, /*batched=*/true);
    send_entry(sink, ledger, 200, 5, 0, /*batched=*/true);
    EXPECT_TRUE(sink.flush(milliseconds(10000)));
  }
  ASSERT_EQ(listener.reports.size(), 10u);
  EXPECT_EQ(listener.count(DeliveryStatus::kDelivered), 10u);
  EXPECT_EQ(ledger.committable().lsn, 200u);
  EXPECT_EQ(committed_position(c), 200u);
}

// The advice to start over with exactly-once is a tombstone for the pipeline's key: after it, no
// position is read back (an older one of the same key must not come back either), and another
// pipeline's position in the same topic stays.
TEST_F(KafkaMockTransactionTest, ATombstoneForThePipelinesKeyRemovesItsPosition) {
  const KafkaSinkConfig c = transactional();
  KafkaSinkConfig other = c;
  other.transactional_id = "other-pipeline";
  char errstr[256];
  RdKafkaConfPtr conf(rd_kafka_conf_new());
  ASSERT_EQ(rd_kafka_conf_set(conf.get(), "bootstrap.servers", cluster_.bootstraps().c_str(),
                              errstr, sizeof errstr),
            RD_KAFKA_CONF_OK);
  RdKafkaPtr producer = new_rd_kafka(RD_KAFKA_PRODUCER, std::move(conf), "test producer");
  // A record of `key` in the offsets topic; without a position, a tombstone.
  auto put = [&](const std::string& key, std::optional<Lsn> position) {
    const std::string value = position ? offset_to_json(at(*position)) : std::string();
    ASSERT_EQ(rd_kafka_producev(producer.get(), RD_KAFKA_V_TOPIC(c.offsets_topic.c_str()),
                                RD_KAFKA_V_KEY(key.data(), key.size()),
                                RD_KAFKA_V_VALUE((position ? const_cast<char*>(value.data()) : nullptr),
                                                 value.size()),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
              RD_KAFKA_RESP_ERR_NO_ERROR);
    ASSERT_EQ(rd_kafka_flush(producer.get(), 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
  };
  put(c.transactional_id, 100);
  put(other.transactional_id, 7);
  ASSERT_EQ(committed_position(c), 100u);
  put(c.transactional_id, std::nullopt);
  EXPECT_FALSE(KafkaOffsetStore(c).load().has_value());
  EXPECT_EQ(committed_position(other), 7u);
}

TEST_F(KafkaMockTransactionTest, AFullQueueWhenThePositionIsWrittenWaitsInsteadOfAborting) {
  PositionLedger ledger;
  RecordingListener listener(&ledger);
  // One message fits in librdkafka's queue: the position always finds it full of the record.
  KafkaSinkConfig c = transactional({{"queue.buffering.max.messages", "1"}});
  {
    KafkaSink sink(c, listener);
    ASSERT_NO_FATAL_FAILURE(start(sink));
    send_entry(sink, ledger, 100, 1);
    EXPECT_TRUE(sink.flush(milliseconds(10000)));
  }
  ASSERT_EQ(listener.reports.size(), 1u);
  EXPECT_EQ(listener.reports[0].status, DeliveryStatus::kDelivered) << listener.reports[0].error;
  EXPECT_EQ(ledger.committable().lsn, 100u);
  EXPECT_EQ(committed_position(c), 100u);
}

TEST_F(KafkaMockTransactionTest, SlowCommitsStretchTheNextTransactionsUpToTenIntervals) {
  // A commit stops the sink while librdkafka flushes and the coordinator answers. After a slow
  // one (a 400 ms round trip to the broker: at least two of them) the next transaction lasts
  // nine times as long as that commit took, at most ten intervals; after a quick one (under a
  // ninth of the 5 s interval, with room for a loaded machine), the interval.
  PositionLedger ledger;
  RecordingListener listener(&ledger);
  KafkaSinkConfig c = transactional({{"linger.ms", "0"}});
  c.transaction_interval = milliseconds(5000);
  using Duration = std::chrono::steady_clock::duration;
  const Duration interval = c.transaction_interval;
  {
    KafkaSink sink(c, listener);
    ASSERT_NO_FATAL_FAILURE(start(sink));
    EXPECT_EQ(sink.transactions()->transaction_length(), interval);

    send_entry(sink, ledger, 100, 3);
    EXPECT_TRUE(sink.flush(milliseconds(10000)));
    EXPECT_EQ(sink.transactions()->transaction_length(), interval)
        << "a quick commit (well under 555 ms)";

    ASSERT_EQ(rd_kafka_mock_broker_set_rtt(cluster_.get(), 1, 400), RD_KAFKA_RESP_ERR_NO_ERROR);
    const auto began = std::chrono::steady_clock::now();
    send_entry(sink, ledger, 200, 3);
    EXPECT_TRUE(sink.flush(milliseconds(30000)));
    const auto took = std::chrono::steady_clock::now() - began;
    EXPECT_GE(took, milliseconds(800)) << "the round trips did not slow the commit";
    EXPECT_GE(sink.transactions()->transaction_length(),
              std::min<Duration>(interval * 10, milliseconds(800) * 9));
    EXPECT_LE(sink.transactions()->transaction_length(),
              std::min<Duration>(interval * 10, took * 9));

    ASSERT_EQ(rd_kafka_mock_broker_set_rtt(cluster_.get(), 1, 0), RD_KAFKA_RESP_ERR_NO_ERROR);
    send_entry(sink, ledger, 300, 3);
    EXPECT_TRUE(sink.flush(milliseconds(10000)));
    EXPECT_EQ(sink.transactions()->transaction_length(), interval);
  }
  EXPECT_EQ(listener.count(DeliveryStatus::kDelivered), 9u);
  EXPECT_EQ(committed_position(c), 300u);
}

TEST_F(KafkaMockSinkTest, DescribesTheCluster) {
  RecordingListener listener;
  KafkaSink sink(config(), listener);
  EXPECT_EQ(sink.describe_metadata(milliseconds(5000)).rfind("1 broker(s): 1@", 0), 0u);
  EXPECT_EQ(sink.name(), "kafka");
}

TEST(KafkaSinkConfigTest, UnknownPropertyThrowsNamingIt) {
  RecordingListener listener;
  KafkaSinkConfig config;
  config.brokers = "127.0.0.1:1";
  config.properties = {{"no.such.property", "1"}};
  try {
    KafkaSink sink(config, listener);
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("no.such.property"), std::string::npos) << e.what();
  }
}

TEST(KafkaSinkConfigTest, InvalidValueThrowsNamingTheProperty) {
  RecordingListener listener;
  KafkaSinkConfig config;
  config.brokers = "127.0.0.1:1";
  config.properties = {{"compression.type", "bogus"}};
  try {
    KafkaSink sink(config, listener);
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("compression.type"), std::string::npos) << e.what();
  }
}

TEST(KafkaSinkConfigTest, RefusesRecordsLargerThanTheQueueCouldEverHold) {
  RecordingListener listener;
  KafkaSinkConfig config;
  config.brokers = "127.0.0.1:1";
  config.properties = {{"message.max.bytes", "8000000"}};  // above the 2 MiB default queue
  try {
    KafkaSink sink(config, listener);
    FAIL() << "accepted a maximum message larger than the queue";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("queue.buffering.max.kbytes"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("message.max.bytes"), std::string::npos) << e.what();
  }
  config.properties["queue.buffering.max.kbytes"] = "16384";
  EXPECT_NO_THROW(KafkaSink(config, listener));
}

TEST(KafkaSinkConfigTest, RefusesToDropSuccessReports) {
  RecordingListener listener;
  KafkaSinkConfig config;
  config.brokers = "127.0.0.1:1";
  config.properties = {{"delivery.report.only.error", "true"}};
  EXPECT_THROW(KafkaSink(config, listener), std::runtime_error);
}

TEST(KafkaSinkConfigTest, UserPropertiesOverrideDefaults) {
  RecordingListener listener;
  KafkaSinkConfig config;
  config.brokers = "127.0.0.1:1";
  config.properties = {{"compression.type", "zstd"}, {"linger.ms", "50"}};
  EXPECT_NO_THROW(KafkaSink(config, listener));
  // Idempotence demands acks=all; a contradicting override is a startup error, not a silent change.
  config.properties = {{"acks", "1"}};
  EXPECT_THROW(KafkaSink(config, listener), std::runtime_error);
}

TEST(KafkaSinkConfigTest, PingFailsClearlyWhenNoBrokerAnswers) {
  RecordingListener listener;
  KafkaSinkConfig config;
  config.brokers = "127.0.0.1:1";
  config.properties = {{"log_level", "0"}};
  SinkConfig sink_config;
  sink_config.kind = SinkConfig::Kind::kKafka;
  sink_config.kafka = config;
  std::unique_ptr<Sink> sink = make_sink(sink_config, listener);
  std::optional<Error> unreachable = sink->ping(milliseconds(500));
  ASSERT_TRUE(unreachable);
  EXPECT_NE(std::string(unreachable->what()).find("127.0.0.1:1"), std::string::npos)
      << unreachable->what();
  // No broker answered: waiting may mend that, so the session is retried.
  EXPECT_EQ(unreachable->kind(), ErrorKind::kTransient);
}

}  // namespace
}  // namespace pgcdc

namespace pgcdc {
namespace {

// Which settings get the SCRAM note (librdkafka before 2.6.1 cannot log in to Kafka 4.x with
// SCRAM); the end-to-end case is KafkaSecurity.ScramLogsInWhere... against the dev broker.
TEST(KafkaScramNote, NamesTheLibraryAndTheFixOnlyForScramWithAnOldLibrdkafka) {
  const int debian12 = 0x020002ff;  // 2.0.2
  const std::string note = scram_compatibility_note("SASL_SSL", "SCRAM-SHA-512", debian12);
  EXPECT_NE(note.find("librdkafka 2.0.2"), std::string::npos) << note;
  EXPECT_NE(note.find("2.6.1"), std::string::npos) << note;
  EXPECT_FALSE(scram_compatibility_note("sasl_plaintext", "scram-sha-256", debian12).empty());
  EXPECT_EQ(scram_compatibility_note("SASL_SSL", "PLAIN", debian12), "");
  EXPECT_EQ(scram_compatibility_note("SSL", "SCRAM-SHA-512", debian12), "");
  EXPECT_EQ(scram_compatibility_note("SASL_SSL", "SCRAM-SHA-512", 0x02060100), "");
  EXPECT_EQ(scram_compatibility_note("SASL_SSL", "SCRAM-SHA-512", 0x020a01ff), "");
  EXPECT_FALSE(scram_compatibility_note("SASL_SSL", "SCRAM-SHA-512", 0x020600ff).empty());
}

}  // namespace
}  // namespace pgcdc
