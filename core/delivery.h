#pragma once
// The contract between a sink and whoever tracks positions: one report per record the sink
// accepted, saying whether the destination confirmed it. A sink reports each record on its own
// (records = 1); a listener that passes reports on may merge a run of alike ones into one report
// with `records` > 1 (daemon/pipeline.cpp's CountingListener), which the ledger and the metrics
// count as that many records.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/record.h"

namespace pgcdc {

enum class DeliveryStatus {
  kDelivered,  // the destination confirmed it (Kafka: acks=all delivery report without error)
  kFailed,     // not delivered by this session (timeout, broker down, fatal producer error);
               // another session, from the last committed position, may deliver it
  kRejected,   // the destination refuses this record for good (too large, not authorized): no
               // retry can deliver it, a person must change a setting. `error` says which.
};

struct DeliveryReport {
  DeliveryToken token = 0;
  DeliveryStatus status = DeliveryStatus::kDelivered;
  std::string_view error;        // empty when delivered
  Operation op = Operation::kRead;
  std::string_view table;        // "schema.table"; valid only during the call
  std::size_t payload_bytes = 0;
  std::int64_t commit_time_us = 0;  // copied from the record, for end-to-end latency
  // When the sink learned the outcome (Unix microseconds), read once per batch of reports rather
  // than once per record; 0 when the sink does not say (the listener reads the clock itself).
  std::int64_t reported_at_us = 0;
  // How many records this report stands for: all with the fields above (payload_bytes is their
  // sum). 1 from every sink.
  std::uint64_t records = 1;
};

// What a sink keeps of a record it accepted until it reports it: the fields its DeliveryReport
// carries. Owns the table name, so it may outlive the record.
struct ReportedRecord {
  DeliveryToken token = 0;
  Operation op = Operation::kRead;
  std::string table;
  std::size_t payload_bytes = 0;
  std::int64_t commit_time_us = 0;

  // Takes the fields from `record`, reusing this one's storage for the table name.
  void assign(const Record& record) {
    token = record.token;
    op = record.op;
    table.assign(record.table);
    payload_bytes = record.payload_bytes();
    commit_time_us = record.commit_time_us;
  }
  // Its report, valid while this lives (reported_at_us 0: the listener reads the clock).
  DeliveryReport report(DeliveryStatus status, std::string_view error) const {
    DeliveryReport out;
    out.token = token;
    out.status = status;
    out.error = error;
    out.op = op;
    out.table = table;
    out.payload_bytes = payload_bytes;
    out.commit_time_us = commit_time_us;
    return out;
  }
};

class DeliveryListener {
 public:
  virtual ~DeliveryListener() = default;
  // Called on the sink's delivery thread, exactly once per record the sink accepted.
  virtual void on_delivery(const DeliveryReport& report) = 0;
  // A sink may bracket the reports it serves in one go (one poll of its client) with these, on
  // the same thread. Between them a listener may hold reports back and apply them together; by
  // the time end_report_batch() returns, every report of the batch is applied.
  virtual void begin_report_batch() {}
  virtual void end_report_batch() {}
};

}  // namespace pgcdc
