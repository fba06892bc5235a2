#include "sinks/kafka_record_error.h"

namespace pgcdc {

bool is_permanent_record_error(rd_kafka_resp_err_t err) {
  switch (err) {
    // Larger than the producer's message.max.bytes (librdkafka refuses it when produced) or
    // than the topic's max.message.bytes (the broker refuses it): the same record is as large
    // the next time.
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    // The batch is larger than the topic's segment.bytes.
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    // The broker refused the record itself (a record without a key on a compacted topic).
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    // No ACL grants writing to the topic.
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    // A topic name Kafka refuses.
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
      return true;
    default:
      // Timeouts (message.timeout.ms), brokers down, a full queue, not enough in-sync replicas,
      // leader changes, an unknown topic (it may be created meanwhile), purges when a session
      // ends, and a fatal producer error (a new producer starts clean): another session may
      // deliver the record.
      return false;
  }
}

std::string shorten_key(std::string_view key, std::size_t max_bytes) {
  if (key.empty()) return "(none)";
  if (key.size() <= max_bytes) return std::string(key);
  // Cut on a UTF-8 character boundary: the message may end up in JSON logs.
  std::size_t cut = max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(key[cut]) & 0xC0) == 0x80) --cut;
  return std::string(key.substr(0, cut)) + "... (" + std::to_string(key.size() - cut) +
         " more bytes)";
}

namespace {

std::string quoted(std::string_view text) {
  return "\"" + std::string(text) + "\"";
}

// Why Kafka refuses the record and which setting a person changes.
std::string why_and_fix(const RefusedRecord& r) {
  const std::string topic(r.topic);
  const std::string size = std::to_string(r.key_bytes + r.value_bytes);
  const std::string producer_max = std::to_string(r.producer_max_bytes);
  switch (r.err) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
      if (r.local) {
        return "it is larger than the producer's message.max.bytes (" + producer_max + "). Raise " +
               quoted("message.max.bytes") + " in [sink.kafka.properties] above " + size +
               " (and " + quoted("queue.buffering.max.kbytes") +
               " with it: the queue must hold a whole record), and the topic's "
               "max.message.bytes (or the broker's message.max.bytes) to match";
      }
      return "raise the topic's max.message.bytes (kafka-configs.sh --alter --entity-type topics "
             "--entity-name " +
             topic +
             " --add-config max.message.bytes=<bytes>) or the "
             "broker's message.max.bytes above " +
             size +
             " (the broker counts the compressed batch); if it is above that already, a batch "
             "of several records was too large: set " +
             quoted("batch.size") +
             " in [sink.kafka.properties] below it (the producer's message.max.bytes is " +
             producer_max + ")";
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
      return "the batch is larger than the topic's segment.bytes: raise the topic's "
             "segment.bytes, or set " +
             quoted("batch.size") + " in [sink.kafka.properties] below it";
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
      return "the broker's log says why (a compacted topic refuses records without a key, such "
             "as TRUNCATE events): check the topic's cleanup.policy";
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
      return "grant pgcdc's Kafka principal WRITE and DESCRIBE on topic " + topic +
             " (kafka-acls.sh), or change sink.kafka.topic_prefix";
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
      return "Kafka refuses the topic name; a topic name is 1 to 249 ASCII letters, digits, "
             "'.', '_' and '-', and neither \".\" nor \"..\": change sink.kafka.topic_prefix";
    default:
      return "Kafka would refuse it again";
  }
}

}  // namespace

std::string describe_refused_record(const RefusedRecord& r) {
  // librdkafka names its own size check with the broker's error ("Broker: Message size too
  // large"): say who refused.
  std::string by = r.local ? "refused by the producer (librdkafka)" : "refused by the broker";
  if (!r.local || r.err != RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
    by += std::string(" (") + rd_kafka_err2str(r.err) + ")";
  }
  return "table " + std::string(r.table.empty() ? "(unknown)" : r.table) +
         ": the record with key " + shorten_key(r.key) + " (" +
         std::to_string(r.key_bytes + r.value_bytes) + " bytes: key " +
         std::to_string(r.key_bytes) + ", value " + std::to_string(r.value_bytes) +
         ") can never be delivered to topic " + std::string(r.topic) + ", " + by + ": " +
         why_and_fix(r) + "; then start pgcdc again, which resumes from this record";
}

}  // namespace pgcdc
