#include "sinks/kafka_properties.h"

#include <cctype>
#include <stdexcept>

namespace pgcdc {

KafkaProperties kafka_default_properties() {
  return {
      // "Delivered" must mean durable and in order, without duplicates from internal retries:
      // the idempotent producer (acks=all, at most 5 in flight per partition, retries kept in
      // order). acks=all is implied by idempotence; it is written out so an override of
      // enable.idempotence alone does not silently weaken what a delivery report means.
      {"enable.idempotence", "true"},
      {"acks", "all"},
      // A short linger builds batches under load at a small latency cost (librdkafka's own default
      // in 2.x, pinned so it does not drift with the library version).
      {"linger.ms", "5"},
      // CDC values are JSON with repeated field names: lz4 shrinks them well for little CPU, and
      // every supported broker and client decompresses it. zstd compresses better but costs more
      // CPU on the sink thread's machine; override with compression.type if the network is the
      // bottleneck.
      {"compression.type", "lz4"},
      // How long librdkafka retries a message before failing it (librdkafka's default, pinned):
      // a failure here stops positions and the session restarts from the last committed one.
      {"message.timeout.ms", "300000"},
      // Same key -> same partition as the Java client (murmur2), so Kafka Connect and Debezium
      // deployments see keys where they expect them. librdkafka's own default is crc32-based.
      {"partitioner", "murmur2_random"},
      // Bound what librdkafka itself holds (invariant 4): its default of 1 GiB would dwarf the
      // pgcdc buffer. A full queue is backpressure (ERR__QUEUE_FULL), never loss. 2 MiB (with
      // the buffer's 1 MiB) keeps streaming RSS flat near 28 MiB at full speed; 4 MiB with an
      // 8 MiB buffer held 10-20 MiB more, and 16 or 64 MiB only memory, not throughput
      // (docs/benchmarks.md, "How much to buffer"). It must also hold a message.max.bytes record.
      {"queue.buffering.max.kbytes", "2048"},
      {"client.id", "pgcdc"},
  };
}

void set_kafka_property(rd_kafka_conf_t* conf, const std::string& name, const std::string& value) {
  char errstr[512];
  if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr, sizeof(errstr)) !=
      RD_KAFKA_CONF_OK) {
    // librdkafka's text names the property ("No such configuration property: \"x\"",
    // "Invalid value \"y\" for configuration property \"x\""); say where it came from too.
    throw std::runtime_error("kafka property " + name + "=" + value + ": " + errstr);
  }
}

std::string kafka_property(const rd_kafka_conf_t* conf, const char* name) {
  char value[512];
  size_t size = sizeof(value);
  if (rd_kafka_conf_get(conf, name, value, &size) != RD_KAFKA_CONF_OK) return "0";
  return value;
}

RdKafkaConfPtr make_producer_conf(const KafkaSinkConfig& config,
                                  const KafkaProperties& mode_properties) {
  if (config.brokers.empty()) throw std::runtime_error("kafka: no brokers configured");
  RdKafkaConfPtr conf(rd_kafka_conf_new());
  for (const auto& [name, value] : kafka_default_properties()) {
    set_kafka_property(conf.get(), name, value);
  }
  set_kafka_property(conf.get(), "bootstrap.servers", config.brokers);
  for (const auto& [name, value] : config.properties) {
    if (name == "delivery.report.only.error" && value != "false") {
      // Without success reports no position would ever be committed.
      throw std::runtime_error("kafka property delivery.report.only.error=" + value +
                               ": pgcdc needs a delivery report for every message");
    }
    set_kafka_property(conf.get(), name, value);
  }
  for (const auto& [name, value] : mode_properties) set_kafka_property(conf.get(), name, value);
  // A record larger than librdkafka's queue can never be queued (it would be refused as "queue
  // full" forever: a wedged pipeline, not an error). Records up to message.max.bytes must fit.
  const long long max_message = std::stoll(kafka_property(conf.get(), "message.max.bytes"));
  const long long queue_kbytes =
      std::stoll(kafka_property(conf.get(), "queue.buffering.max.kbytes"));
  if (max_message > queue_kbytes * 1024) {
    throw std::runtime_error(
        "kafka property message.max.bytes=" + std::to_string(max_message) +
        " is larger than queue.buffering.max.kbytes=" + std::to_string(queue_kbytes) +
        " KiB: such a record could never be "
        "queued; raise queue.buffering.max.kbytes too");
  }
  return conf;
}

std::vector<std::string> kafka_property_warnings(const KafkaSinkConfig& config) {
  std::vector<std::string> warnings;
  for (const char* name : {"acks", "request.required.acks"}) {
    auto it = config.properties.find(name);
    if (it != config.properties.end() && it->second != "all" && it->second != "-1") {
      warnings.push_back("kafka property " + std::string(name) + "=" + it->second +
                         ": a delivery report no longer means every in-sync replica has the "
                         "record, so committed positions may pass data a broker failure loses");
    }
  }
  return warnings;
}

std::string scram_compatibility_note(std::string_view security_protocol,
                                     std::string_view mechanisms, int version) {
  auto starts_with = [](std::string_view text, std::string_view prefix) {
    if (text.size() < prefix.size()) return false;
    for (std::size_t i = 0; i < prefix.size(); ++i) {
      if (std::tolower(static_cast<unsigned char>(text[i])) != prefix[i]) return false;
    }
    return true;
  };
  constexpr int kFixed = 0x02060100;  // 2.6.1 (0xMMmmrrpp; any 2.6.1 build has the fix)
  if (version >= kFixed || !starts_with(security_protocol, "sasl") ||
      !starts_with(mechanisms, "scram")) {
    return "";
  }
  const std::string release = std::to_string((version >> 24) & 0xff) + "." +
                              std::to_string((version >> 16) & 0xff) + "." +
                              std::to_string((version >> 8) & 0xff);
  return "librdkafka " + release + " (the one pgcdc runs with) cannot log in to Kafka 4.x " +
         "brokers with SCRAM: they refuse its login as invalid credentials (fixed in librdkafka "
         "2.6.1, confluentinc/librdkafka#4895). Kafka 3.x brokers accept it; for 4.x use "
         "SASL/PLAIN over TLS or build pgcdc against librdkafka 2.6.1 or later";
}

}  // namespace pgcdc
