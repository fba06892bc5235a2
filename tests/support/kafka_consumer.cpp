#include "tests/support/kafka_consumer.h"

#include <librdkafka/rdkafka.h>

#include <stdexcept>
#include <thread>
#include <utility>

#include "sinks/kafka_handles.h"
#include "tests/support/test_env.h"

namespace pgcdc::test {
namespace {

void set(rd_kafka_conf_t* conf, const char* name, const std::string& value) {
  char errstr[512];
  if (rd_kafka_conf_set(conf, name, value.c_str(), errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
    throw std::runtime_error(std::string("test kafka client: ") + errstr);
  }
}

RdKafkaPtr make_handle(rd_kafka_type_t type, RdKafkaConfPtr conf) {
  return new_rd_kafka(type, std::move(conf), "test kafka client");
}

// Partition count of `topic` once the broker knows it and every partition has a leader.
int wait_for_partitions(rd_kafka_t* rk, const std::string& topic,
                        std::chrono::steady_clock::time_point deadline) {
  RdKafkaTopicPtr rkt(rd_kafka_topic_new(rk, topic.c_str(), nullptr));
  if (!rkt) throw std::runtime_error("test kafka client: cannot create topic handle " + topic);
  std::string last_error = "no answer";
  while (std::chrono::steady_clock::now() < deadline) {
    RdKafkaMetadataPtr md;
    rd_kafka_resp_err_t err = fetch_metadata(rk, false, rkt.get(), 5000, md);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1) {
      const rd_kafka_metadata_topic_t& t = md->topics[0];
      bool ready = t.err == RD_KAFKA_RESP_ERR_NO_ERROR && t.partition_cnt > 0;
      for (int i = 0; ready && i < t.partition_cnt; ++i) ready = t.partitions[i].leader >= 0;
      if (ready) return t.partition_cnt;
      last_error = rd_kafka_err2str(t.err);
    } else {
      last_error = rd_kafka_err2str(err);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  throw std::runtime_error("test kafka client: topic " + topic + " not available: " + last_error);
}

}  // namespace

std::vector<ConsumedMessage> consume_all(const std::string& brokers, const std::string& topic,
                                         std::size_t expected_count,
                                         std::chrono::milliseconds timeout,
                                         std::chrono::milliseconds linger) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  RdKafkaConfPtr conf(rd_kafka_conf_new());
  set(conf.get(), "bootstrap.servers", brokers);
  set(conf.get(), "group.id", unique_name("pgcdc_test_consumer"));  // required, never joined
  set(conf.get(), "enable.auto.commit", "false");
  set(conf.get(), "enable.auto.offset.store", "false");
  set(conf.get(), "isolation.level", "read_committed");
  RdKafkaPtr rk = make_handle(RD_KAFKA_CONSUMER, std::move(conf));

  const int partitions = wait_for_partitions(rk.get(), topic, deadline);
  RdKafkaPartitionListPtr assignment(rd_kafka_topic_partition_list_new(partitions));
  for (int p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(assignment.get(), topic.c_str(), p)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
  }
  if (rd_kafka_resp_err_t err = rd_kafka_assign(rk.get(), assignment.get())) {
    throw std::runtime_error(std::string("test kafka client: assign: ") + rd_kafka_err2str(err));
  }

  std::vector<ConsumedMessage> out;
  auto stop_at = deadline;
  bool lingering = false;
  while (std::chrono::steady_clock::now() < stop_at) {
    if (!lingering && out.size() >= expected_count) {
      lingering = true;
      stop_at = std::chrono::steady_clock::now() + linger;
      continue;
    }
    RdKafkaMessagePtr message(rd_kafka_consumer_poll(rk.get(), 100));
    if (!message) continue;
    if (message->err) continue;  // transient (e.g. partition EOF); the deadline bounds the wait
    ConsumedMessage consumed;
    if (message->key) consumed.key.assign(static_cast<const char*>(message->key), message->key_len);
    if (message->payload) {
      consumed.value.emplace(static_cast<const char*>(message->payload), message->len);
    }
    consumed.partition = message->partition;
    consumed.offset = message->offset;
    rd_kafka_timestamp_type_t type;
    consumed.timestamp_ms = rd_kafka_message_timestamp(message.get(), &type);
    out.push_back(std::move(consumed));
  }
  rd_kafka_assign(rk.get(), nullptr);
  rd_kafka_consumer_close(rk.get());
  return out;
}

std::vector<ConsumedMessage> consume_to_end(const std::string& brokers, const std::string& topic,
                                            std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  RdKafkaConfPtr conf(rd_kafka_conf_new());
  set(conf.get(), "bootstrap.servers", brokers);
  set(conf.get(), "group.id", unique_name("pgcdc_test_consumer"));  // required, never joined
  set(conf.get(), "enable.auto.commit", "false");
  set(conf.get(), "enable.auto.offset.store", "false");
  set(conf.get(), "isolation.level", "read_committed");
  set(conf.get(), "enable.partition.eof", "true");
  RdKafkaPtr rk = make_handle(RD_KAFKA_CONSUMER, std::move(conf));

  // Does the topic exist? (Metadata for all topics: asking for one would create it.)
  RdKafkaMetadataPtr md;
  if (fetch_metadata(rk.get(), true, nullptr, 10000, md) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw std::runtime_error("test kafka client: no metadata from " + brokers);
  }
  int partitions = 0;
  for (int t = 0; t < md->topic_cnt; ++t) {
    if (topic == md->topics[t].topic) partitions = md->topics[t].partition_cnt;
  }
  if (partitions == 0) return {};
  std::vector<std::int64_t> high(static_cast<std::size_t>(partitions), 0);
  RdKafkaPartitionListPtr assignment(rd_kafka_topic_partition_list_new(partitions));
  int remaining = 0;
  for (int p = 0; p < partitions; ++p) {
    std::int64_t low = 0;
    if (rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
            rk.get(), topic.c_str(), p, &low, &high[static_cast<std::size_t>(p)], 10000)) {
      throw std::runtime_error("test kafka client: watermarks of " + topic + ": " +
                               rd_kafka_err2str(err));
    }
    if (high[static_cast<std::size_t>(p)] > low) ++remaining;
    rd_kafka_topic_partition_list_add(assignment.get(), topic.c_str(), p)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
  }
  std::vector<ConsumedMessage> out;
  if (remaining == 0) return out;
  if (rd_kafka_resp_err_t err = rd_kafka_assign(rk.get(), assignment.get())) {
    throw std::runtime_error(std::string("test kafka client: assign: ") + rd_kafka_err2str(err));
  }
  std::vector<bool> done(static_cast<std::size_t>(partitions), false);
  for (int p = 0; p < partitions; ++p) done[static_cast<std::size_t>(p)] = high[static_cast<std::size_t>(p)] == 0;
  while (remaining > 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      throw std::runtime_error("test kafka client: " + topic + " not read to its end in time");
    }
    RdKafkaMessagePtr message(rd_kafka_consumer_poll(rk.get(), 200));
    if (!message) continue;
    const auto p = static_cast<std::size_t>(message->partition);
    // Control records of transactions are skipped: the end of a partition comes as an EOF event
    // at its high watermark, or a message at or past the watermark's last offset.
    if (message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      if (message->offset >= high[p] && !done[p]) {
        done[p] = true;
        --remaining;
      }
      continue;
    }
    if (message->err) continue;
    if (message->offset < high[p]) {
      ConsumedMessage consumed;
      if (message->key) consumed.key.assign(static_cast<const char*>(message->key), message->key_len);
      if (message->payload) {
        consumed.value.emplace(static_cast<const char*>(message->payload), message->len);
      }
      consumed.partition = message->partition;
      consumed.offset = message->offset;
      out.push_back(std::move(consumed));
    }
    if (message->offset + 1 >= high[p] && !done[p]) {
      done[p] = true;
      --remaining;
    }
  }
  rd_kafka_assign(rk.get(), nullptr);
  rd_kafka_consumer_close(rk.get());
  return out;
}

void create_topic(const std::string& brokers, const std::string& topic, int partitions,
                  std::chrono::milliseconds timeout,
                  const std::map<std::string, std::string>& configs) {
  RdKafkaConfPtr conf(rd_kafka_conf_new());
  set(conf.get(), "bootstrap.servers", brokers);
  RdKafkaPtr rk = make_handle(RD_KAFKA_PRODUCER, std::move(conf));

  char errstr[512];
  RdKafkaNewTopicPtr new_topic(
      rd_kafka_NewTopic_new(topic.c_str(), partitions, 1, errstr, sizeof(errstr)));
  if (!new_topic) throw std::runtime_error(std::string("test kafka client: ") + errstr);
  for (const auto& [name, value] : configs) {
    if (rd_kafka_NewTopic_set_config(new_topic.get(), name.c_str(), value.c_str()) !=
        RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw std::runtime_error("test kafka client: topic config " + name + "=" + value);
    }
  }
  RdKafkaAdminOptionsPtr options(
      rd_kafka_AdminOptions_new(rk.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS));
  rd_kafka_AdminOptions_set_operation_timeout(options.get(), static_cast<int>(timeout.count()),
                                              errstr, sizeof(errstr));
  RdKafkaQueuePtr queue(rd_kafka_queue_new(rk.get()));
  rd_kafka_NewTopic_t* topics[] = {new_topic.get()};
  rd_kafka_CreateTopics(rk.get(), topics, 1, options.get(), queue.get());

  RdKafkaEventPtr event(rd_kafka_queue_poll(queue.get(), static_cast<int>(timeout.count()) + 1000));
  if (!event) throw std::runtime_error("test kafka client: CreateTopics timed out for " + topic);
  if (rd_kafka_event_error(event.get())) {
    throw std::runtime_error(std::string("test kafka client: CreateTopics: ") +
                             rd_kafka_event_error_string(event.get()));
  }
  const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(event.get());
  size_t count = 0;
  const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(result, &count);
  for (size_t i = 0; i < count; ++i) {
    if (rd_kafka_topic_result_error(results[i])) {
      throw std::runtime_error("test kafka client: create " + topic + ": " +
                               rd_kafka_topic_result_error_string(results[i]));
    }
  }
  // Metadata of the new topic reaches every broker shortly after: wait until it has leaders.
  wait_for_partitions(rk.get(), topic, std::chrono::steady_clock::now() + timeout);
}

void alter_topic_configs(const std::string& brokers, const std::string& topic,
                         const std::map<std::string, std::string>& configs,
                         std::chrono::milliseconds timeout) {
  RdKafkaConfPtr conf(rd_kafka_conf_new());
  set(conf.get(), "bootstrap.servers", brokers);
  RdKafkaPtr rk = make_handle(RD_KAFKA_PRODUCER, std::move(conf));

  RdKafkaConfigResourcePtr resource(
      rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str()));
  for (const auto& [name, value] : configs) {
    if (rd_kafka_ConfigResource_set_config(resource.get(), name.c_str(), value.c_str()) !=
        RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw std::runtime_error("test kafka client: topic config " + name + "=" + value);
    }
  }
  char errstr[512];
  RdKafkaAdminOptionsPtr options(
      rd_kafka_AdminOptions_new(rk.get(), RD_KAFKA_ADMIN_OP_ALTERCONFIGS));
  rd_kafka_AdminOptions_set_request_timeout(options.get(), static_cast<int>(timeout.count()),
                                            errstr, sizeof(errstr));
  RdKafkaQueuePtr queue(rd_kafka_queue_new(rk.get()));
  rd_kafka_ConfigResource_t* resources[] = {resource.get()};
  rd_kafka_AlterConfigs(rk.get(), resources, 1, options.get(), queue.get());
  RdKafkaEventPtr event(rd_kafka_queue_poll(queue.get(), static_cast<int>(timeout.count()) + 1000));
  if (!event) throw std::runtime_error("test kafka client: AlterConfigs timed out for " + topic);
  if (rd_kafka_event_error(event.get())) {
    throw std::runtime_error(std::string("test kafka client: AlterConfigs: ") +
                             rd_kafka_event_error_string(event.get()));
  }
  const rd_kafka_AlterConfigs_result_t* result = rd_kafka_event_AlterConfigs_result(event.get());
  size_t count = 0;
  const rd_kafka_ConfigResource_t** results =
      rd_kafka_AlterConfigs_result_resources(result, &count);
  for (size_t i = 0; i < count; ++i) {
    if (rd_kafka_ConfigResource_error(results[i])) {
      throw std::runtime_error("test kafka client: alter " + topic + ": " +
                               rd_kafka_ConfigResource_error_string(results[i]));
    }
  }
}

}  // namespace pgcdc::test
