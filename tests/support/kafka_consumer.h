#pragma once
// A small librdkafka consumer (and topic creator) for tests that check what reached a real broker.
// Not used by pgcdc itself.
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace pgcdc::test {

struct ConsumedMessage {
  std::string key;                   // empty when the message had no key
  std::optional<std::string> value;  // nullopt for a null value (tombstone)
  std::int32_t partition = -1;
  std::int64_t offset = -1;
  std::int64_t timestamp_ms = -1;  // -1 when the broker gave none
};

// Reads `topic` from the beginning of every partition (assign(), no consumer group offsets), until
// `expected_count` messages arrived or `timeout` passed; then keeps reading for `linger` to catch
// messages beyond the expected ones (duplicates). Waits for the topic to exist within `timeout`.
// Messages come in arrival order: ordered within a partition, interleaved across partitions.
// Throws std::runtime_error when the consumer cannot be set up.
std::vector<ConsumedMessage> consume_all(
    const std::string& brokers, const std::string& topic, std::size_t expected_count,
    std::chrono::milliseconds timeout,
    std::chrono::milliseconds linger = std::chrono::milliseconds(0));

// Reads `topic` from the beginning to the end it has now (its high watermarks when called), as a
// read_committed consumer; an empty list when the topic does not exist. Throws when the end is not
// reached within `timeout`.
std::vector<ConsumedMessage> consume_to_end(const std::string& brokers, const std::string& topic,
                                            std::chrono::milliseconds timeout);

// Creates `topic` with `partitions` partitions and replication factor 1 (the dev broker has one
// node), and the given topic configs (e.g. {"max.message.bytes", "20000"}). Throws
// std::runtime_error with the broker's error.
void create_topic(const std::string& brokers, const std::string& topic, int partitions,
                  std::chrono::milliseconds timeout,
                  const std::map<std::string, std::string>& configs = {});

// Sets topic configs (AlterConfigs: every dynamic config not named goes back to its default), as
// kafka-configs.sh --alter does. Throws std::runtime_error with the broker's error.
void alter_topic_configs(const std::string& brokers, const std::string& topic,
                         const std::map<std::string, std::string>& configs,
                         std::chrono::milliseconds timeout);

}  // namespace pgcdc::test
