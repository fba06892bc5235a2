// Which Kafka errors about a record stop the daemon (permanent) and which are retried
// (transient), and what the message says for a permanent one.
#include "sinks/kafka_record_error.h"

#include <gtest/gtest.h>

#include <string>

namespace pgcdc {
namespace {

TEST(KafkaRecordError, RefusalsNoRetryCanMendArePermanent) {
  for (rd_kafka_resp_err_t err : {
           RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE,  // librdkafka's own check and the broker's
           RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE,
           RD_KAFKA_RESP_ERR_INVALID_RECORD,
           RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
           RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION,
       }) {
    EXPECT_TRUE(is_permanent_record_error(err)) << rd_kafka_err2name(err);
  }
}

TEST(KafkaRecordError, WhatAnotherSessionMayDeliverIsTransient) {
  for (rd_kafka_resp_err_t err : {
           RD_KAFKA_RESP_ERR__MSG_TIMED_OUT,
           RD_KAFKA_RESP_ERR__TIMED_OUT,
           RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
           RD_KAFKA_RESP_ERR__QUEUE_FULL,
           RD_KAFKA_RESP_ERR__TRANSPORT,
           RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN,
           RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION,
           RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
           RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND,
           RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
           RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
           RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR,
           RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,  // it may be created meanwhile
           RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC,
           RD_KAFKA_RESP_ERR__PURGE_QUEUE,
           RD_KAFKA_RESP_ERR__PURGE_INFLIGHT,
           RD_KAFKA_RESP_ERR__FATAL,  // a new producer starts clean
           RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
           RD_KAFKA_RESP_ERR_NO_ERROR,
       }) {
    EXPECT_FALSE(is_permanent_record_error(err)) << rd_kafka_err2name(err);
  }
}

RefusedRecord wide_row(rd_kafka_resp_err_t err, bool local) {
  RefusedRecord record;
  record.table = "public.wide";
  record.topic = "app.public.wide";
  record.key = R"({"id":42})";
  record.key_bytes = record.key.size();
  record.value_bytes = 53477376;
  record.err = err;
  record.local = local;
  record.producer_max_bytes = 1000000;
  return record;
}

void expect_contains(const std::string& text, const std::string& part) {
  EXPECT_NE(text.find(part), std::string::npos) << "no \"" << part << "\" in: " << text;
}

TEST(KafkaRecordError, TooLargeForTheProducerNamesTheRecordAndTheProducersSetting) {
  const std::string text =
      describe_refused_record(wide_row(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, /*local=*/true));
  expect_contains(text, "public.wide");
  expect_contains(text, R"({"id":42})");
  expect_contains(text, "53477385 bytes");  // key and value
  expect_contains(text, "app.public.wide");
  expect_contains(text, "message.max.bytes (1000000)");
  expect_contains(text, "[sink.kafka.properties]");
  expect_contains(text, "queue.buffering.max.kbytes");
  expect_contains(text, "max.message.bytes");
  // librdkafka's text for its own check says "Broker:", which would send a person to the broker.
  EXPECT_EQ(text.find("Broker:"), std::string::npos) << text;
}

TEST(KafkaRecordError, TooLargeForTheTopicNamesTheTopicsSetting) {
  const std::string text =
      describe_refused_record(wide_row(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, /*local=*/false));
  expect_contains(text, "public.wide");
  expect_contains(text, R"({"id":42})");
  expect_contains(text, "53477385 bytes");
  expect_contains(text, "refused by the broker");
  expect_contains(text, "max.message.bytes");
  expect_contains(text, "--entity-name app.public.wide");
  expect_contains(text, "batch.size");
}

TEST(KafkaRecordError, AuthorizationAndTopicNameSayWhatToChange) {
  const std::string denied =
      describe_refused_record(wide_row(RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, false));
  expect_contains(denied, "WRITE");
  expect_contains(denied, "app.public.wide");
  expect_contains(denied, "uthorization");
  const std::string invalid =
      describe_refused_record(wide_row(RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION, false));
  expect_contains(invalid, "topic_prefix");
  expect_contains(invalid, "249");
}

TEST(KafkaRecordError, EveryMessageNamesTheTableAndKeyAndIsNeverEmpty) {
  for (int code = RD_KAFKA_RESP_ERR__BEGIN + 1; code < RD_KAFKA_RESP_ERR_END_ALL; ++code) {
    const auto err = static_cast<rd_kafka_resp_err_t>(code);
    for (bool local : {true, false}) {
      const std::string text = describe_refused_record(wide_row(err, local));
      expect_contains(text, "public.wide");
      expect_contains(text, R"({"id":42})");
    }
  }
  RefusedRecord unnamed;  // nothing known: still says something
  EXPECT_FALSE(describe_refused_record(unnamed).empty());
}

TEST(KafkaRecordError, LongKeysAreShortenedOnACharacterBoundary) {
  EXPECT_EQ(shorten_key(R"({"id":1})"), R"({"id":1})");
  EXPECT_EQ(shorten_key(""), "(none)");  // a TRUNCATE event has no key
  const std::string key = R"({"name":")" + std::string(500, 'x') + R"("})";
  const std::string shown = shorten_key(key, 200);
  EXPECT_EQ(shown.rfind(key.substr(0, 200), 0), 0u) << shown;
  expect_contains(shown, "(" + std::to_string(key.size() - 200) + " more bytes)");
  // "é" is two bytes; a cut between them would leave invalid UTF-8 in the log.
  const std::string accents = "{\"k\":\"" + std::string("\xc3\xa9\xc3\xa9\xc3\xa9") + "\"}";
  const std::string cut = shorten_key(accents, 7);  // 6 ASCII bytes, then inside the first é
  EXPECT_EQ(cut.rfind("{\"k\":\"", 0), 0u) << cut;
  EXPECT_EQ(cut.substr(0, 9), "{\"k\":\"...") << cut;

  RefusedRecord record = wide_row(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, true);
  record.key = key;
  record.key_bytes = key.size();
  const std::string text = describe_refused_record(record);
  EXPECT_EQ(text.find(key), std::string::npos) << "the whole key is in the message";
  expect_contains(text, "more bytes");
}

}  // namespace
}  // namespace pgcdc
