#pragma once
// Source positions kept in Kafka, for exactly-once delivery (sink.kafka.delivery = exactly_once).
//
// The transactional KafkaSink writes the position of each Kafka transaction into the compacted
// offsets topic inside that same transaction, so positions and records commit together. This
// store only reads them back at start: the last committed value of this pipeline's key
// (its transactional.id), read with isolation.level=read_committed.
#include <optional>

#include "config/config.h"
#include "core/error.h"
#include "core/offset_store.h"

namespace pgcdc {

class KafkaOffsetStore : public OffsetStore {
 public:
  explicit KafkaOffsetStore(const KafkaSinkConfig& config) : config_(config) {}

  // Main thread, after the sink's init_transactions (which aborts a previous instance's open
  // transaction, so reading to the end does not wait for it). Creates the compacted offsets topic
  // when it does not exist. Throws an Error of kind kTransient when the topic cannot be read to
  // its end: the store is read through the network, and the brokers may come back.
  std::optional<SourceOffset> load() override;

  // Nothing to do: the sink wrote the position inside the Kafka transaction that delivered the
  // records it covers. Positions that move without records (idle keepalives) are only sent to
  // PostgreSQL; everything before them is committed in Kafka already.
  void save(const SourceOffset&) override {}

 private:
  std::optional<SourceOffset> read();

  const KafkaSinkConfig& config_;
};

}  // namespace pgcdc
