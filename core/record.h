#pragma once
// The unit that travels from the source to a sink: one row change, already serialized.
//
// The source serializes key and value (JSON) on its own thread, so the buffer can bound memory by
// exact byte counts and a sink only moves bytes. `token` names the ledger entry (one PostgreSQL
// transaction or one snapshot chunk) whose pending count this record holds until it is acked.
#include <cstdint>
#include <optional>
#include <string>

namespace pgcdc {

// Ledger entry id carried through the sink and returned in its delivery report.
using DeliveryToken = std::uint64_t;

// Debezium-compatible operation codes; also the `op` label of metrics.
enum class Operation : char {
  kRead = 'r',      // snapshot row
  kCreate = 'c',    // INSERT
  kUpdate = 'u',    // UPDATE
  kDelete = 'd',    // DELETE
  kTruncate = 't',  // TRUNCATE
  kTombstone = 'x', // Kafka tombstone that follows a delete (value is null)
  // Not a row change: marks the end of a ledger entry in the buffer (exactly-once delivery only).
  // `value` holds the entry's position (offset JSON); a transactional sink commits at markers.
  // It is not counted in the ledger and gets no delivery report.
  kPosition = 'p',
};

const char* operation_name(Operation op);

struct Record {
  std::string topic;
  std::string key;                   // JSON object of the key columns
  std::optional<std::string> value;  // JSON envelope; nullopt = tombstone
  DeliveryToken token = 0;
  Operation op = Operation::kRead;
  std::string table;                 // "schema.table", for metric labels and logs
  std::int64_t commit_time_us = 0;   // commit time (Unix microseconds); 0 for snapshot rows

  // What this record costs in the buffer: its payload, not the small fixed overhead.
  std::size_t payload_bytes() const {
    return topic.size() + key.size() + (value ? value->size() : 0);
  }
};

}  // namespace pgcdc
