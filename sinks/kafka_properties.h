#pragma once
// What pgcdc sets on its Kafka producer, and the checks across settings that librdkafka does not
// make: pgcdc's defaults, then the user's [sink.kafka.properties], then the delivery mode's
// (exactly-once: transactional.id). Startup only, on the owner's thread.
#include <librdkafka/rdkafka.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"
#include "sinks/kafka_handles.h"

namespace pgcdc {

using KafkaProperties = std::vector<std::pair<std::string, std::string>>;

// The properties pgcdc sets before the user's (which override them), for docs and tests.
KafkaProperties kafka_default_properties();

// The producer's configuration: defaults, bootstrap.servers, the user's properties, then
// `mode_properties`. Throws std::runtime_error naming the property when one is unknown or
// invalid, when the user turns off success reports, or when a record of message.max.bytes could
// never fit librdkafka's queue.
RdKafkaConfPtr make_producer_conf(const KafkaSinkConfig& config,
                                  const KafkaProperties& mode_properties);

// rd_kafka_conf_set, throwing std::runtime_error with librdkafka's message (which names the
// property) and where the value came from.
void set_kafka_property(rd_kafka_conf_t* conf, const std::string& name, const std::string& value);

// A property's value as librdkafka holds it; "0" when it has none.
std::string kafka_property(const rd_kafka_conf_t* conf, const char* name);

// Warnings for properties that weaken what a delivery report means (acks other than all).
std::vector<std::string> kafka_property_warnings(const KafkaSinkConfig& config);

// What to tell a user of SCRAM whose librdkafka predates 2.6.1: its client-final-message
// repeats the client nonce, which Kafka 4.x brokers refuse as "invalid credentials"
// (confluentinc/librdkafka#4895); Kafka 3.x brokers accept it. Empty when it does not apply
// (no SASL, another mechanism, or a fixed librdkafka). `version` is rd_kafka_version()'s.
std::string scram_compatibility_note(std::string_view security_protocol,
                                     std::string_view mechanisms, int version);

}  // namespace pgcdc
