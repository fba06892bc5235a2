#pragma once
// Which Kafka errors about one record no retry can mend, and what a person changes for each.
//
// The one place that decides it, for every way a record can fail: refused by librdkafka when it
// is produced (too large for the producer's message.max.bytes), refused by the broker (too large
// for the topic, not authorized), or failed from the topic's metadata (an invalid topic name).
// A permanent refusal is reported DeliveryStatus::kRejected, which stops the daemon (exit 1)
// instead of restarting the session: the record would be refused again, forever. Everything else
// (timeouts, brokers down, a full queue, not enough replicas, a fatal producer state that a new
// producer mends) stays kFailed and is retried from the last committed position.
#include <librdkafka/rdkafka.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace pgcdc {

// Whether a record that failed with `err` would fail the same way every time it is produced again.
bool is_permanent_record_error(rd_kafka_resp_err_t err);

// One record Kafka refused for good, as the error message names it.
struct RefusedRecord {
  std::string_view table;  // "schema.table"
  std::string_view topic;
  std::string_view key;  // JSON of the key columns; empty for a record without a key
  std::size_t key_bytes = 0;
  std::size_t value_bytes = 0;
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
  // Refused by librdkafka when produced (never sent), rather than by a broker.
  bool local = false;
  // The producer's message.max.bytes.
  long long producer_max_bytes = 0;
};

// What the daemon says before it exits: the table, the key (shortened), the record's size, why
// Kafka refuses it and the setting to change. Never empty.
std::string describe_refused_record(const RefusedRecord& record);

// A key for an error message: as it is up to `max_bytes`, otherwise its start and how many bytes
// were left out.
std::string shorten_key(std::string_view key, std::size_t max_bytes = 200);

}  // namespace pgcdc
