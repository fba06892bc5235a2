#include "sinks/kafka_offset_store.h"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <stdexcept>
#include <utility>
#include <vector>

#include "sinks/kafka_handles.h"

namespace pgcdc {
namespace {

constexpr int kTimeoutMs = 30000;

// Connection and security properties apply to this consumer too; producer tuning does not.
bool applies_to_consumer(const std::string& name) {
  for (const char* prefix : {"security.", "ssl.", "sasl.", "socket.", "broker.", "client.",
                             "api.version", "reconnect.", "metadata."}) {
    if (name.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

void set(rd_kafka_conf_t* conf, const std::string& name, const std::string& value) {
  char errstr[512];
  if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr, sizeof errstr) !=
      RD_KAFKA_CONF_OK) {
    throw std::runtime_error("kafka offsets reader property " + name + ": " + errstr);
  }
}

void create_compacted_topic(rd_kafka_t* rk, const std::string& topic) {
  char errstr[512];
  rd_kafka_NewTopic_t* raw = rd_kafka_NewTopic_new(topic.c_str(), 1, -1, errstr, sizeof errstr);
  if (!raw) throw std::runtime_error("kafka offsets topic " + topic + ": " + errstr);
  RdKafkaNewTopicPtr new_topic(raw);
  rd_kafka_NewTopic_set_config(new_topic.get(), "cleanup.policy", "compact");
  RdKafkaQueuePtr queue(rd_kafka_queue_new(rk));
  rd_kafka_NewTopic_t* topics[] = {new_topic.get()};
  rd_kafka_CreateTopics(rk, topics, 1, nullptr, queue.get());
  RdKafkaEventPtr event(rd_kafka_queue_poll(queue.get(), kTimeoutMs));
  if (!event) throw std::runtime_error("kafka offsets topic " + topic + ": creation timed out");
  const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(event.get());
  size_t count = 0;
  const rd_kafka_topic_result_t** results =
      result ? rd_kafka_CreateTopics_result_topics(result, &count) : nullptr;
  for (size_t i = 0; i < count; ++i) {
    rd_kafka_resp_err_t err = rd_kafka_topic_result_error(results[i]);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      throw std::runtime_error("kafka offsets topic " + topic + ": cannot create it: " +
                               rd_kafka_err2str(err) + " (create it compacted, or grant Create)");
    }
  }
  spdlog::info("created compacted kafka offsets topic {}", topic);
}

}  // namespace

std::optional<SourceOffset> KafkaOffsetStore::load() {
  try {
    return read();
  } catch (const std::exception& e) {
    throw Error(ErrorKind::kTransient, e.what());
  }
}

std::optional<SourceOffset> KafkaOffsetStore::read() {
  const std::string& topic = config_.offsets_topic;
  RdKafkaConfPtr conf(rd_kafka_conf_new());
  set(conf.get(), "bootstrap.servers", config_.brokers);
  // Unused: partitions are assigned, not subscribed.
  set(conf.get(), "group.id", "pgcdc-offsets-reader");
  set(conf.get(), "enable.auto.commit", "false");
  set(conf.get(), "enable.partition.eof", "true");
  // Only committed transactions: an aborted one's position never counts.
  set(conf.get(), "isolation.level", "read_committed");
  for (const auto& [name, value] : config_.properties) {
    if (applies_to_consumer(name)) set(conf.get(), name, value);
  }
  // Closed (leaving its group) and destroyed by its owner on every way out.
  RdKafkaPtr consumer = new_rd_kafka(RD_KAFKA_CONSUMER, std::move(conf), "kafka offsets reader");

  RdKafkaTopicPtr handle(rd_kafka_topic_new(consumer.get(), topic.c_str(), nullptr));
  RdKafkaMetadataPtr metadata;
  rd_kafka_resp_err_t err =
      fetch_metadata(consumer.get(), false, handle.get(), kTimeoutMs, metadata);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw std::runtime_error("kafka offsets topic " + topic + ": " + rd_kafka_err2str(err));
  }
  if (metadata->topic_cnt != 1 || metadata->topics[0].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
      metadata->topics[0].partition_cnt == 0) {
    create_compacted_topic(consumer.get(), topic);
    return std::nullopt;
  }

  RdKafkaPartitionListPtr partitions(
      rd_kafka_topic_partition_list_new(metadata->topics[0].partition_cnt));
  for (int i = 0; i < metadata->topics[0].partition_cnt; ++i) {
    rd_kafka_topic_partition_list_add(partitions.get(), topic.c_str(),
                                      metadata->topics[0].partitions[i].id)
        ->offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  if (rd_kafka_assign(consumer.get(), partitions.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw std::runtime_error("kafka offsets topic " + topic + ": cannot assign partitions");
  }
  // Read every partition to its end (for read_committed: its last stable offset).
  std::optional<std::string> last;
  int at_end = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kTimeoutMs);
  while (at_end < partitions->cnt) {
    if (std::chrono::steady_clock::now() > deadline) {
      throw std::runtime_error("kafka offsets topic " + topic + ": not read to its end within " +
                               std::to_string(kTimeoutMs / 1000) +
                               " s (an open transaction of another producer?)");
    }
    RdKafkaMessagePtr message(rd_kafka_consumer_poll(consumer.get(), 200));
    if (!message) continue;
    if (message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      ++at_end;
      continue;
    }
    if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw std::runtime_error("kafka offsets topic " + topic + ": " +
                               rd_kafka_message_errstr(message.get()));
    }
    std::string key(static_cast<const char*>(message->key), message->key_len);
    if (key != config_.transactional_id) continue;
    // A record without a value (a tombstone a person wrote) removes the position: start over.
    if (!message->payload) {
      last.reset();
    } else {
      last.emplace(static_cast<const char*>(message->payload), message->len);
    }
  }
  if (!last) return std::nullopt;
  try {
    SourceOffset offset = offset_from_json(*last);
    spdlog::info("resuming from the position committed in kafka topic {}: {}", topic,
                 format_lsn(offset.lsn));
    return offset;
  } catch (const std::exception& e) {
    throw std::runtime_error("kafka offsets topic " + topic + " holds a corrupt position for " +
                             config_.transactional_id + ": " + e.what());
  }
}

}  // namespace pgcdc
