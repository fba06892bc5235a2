#pragma once
// Exactly-once: records the broker acknowledged, waiting for their Kafka transaction's outcome.
// Counted by (ledger entry, operation, table, commit time) rather than kept one by one: a
// PostgreSQL transaction of a million rows is one Kafka transaction, and its reports must not make
// memory grow with it (invariant 4). Released, they become one report per record again, as the
// DeliveryListener expects.
//
// Thread: one owner (KafkaTransactions, on the sink thread); no locking.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/delivery.h"

namespace pgcdc {

class HeldReports {
 public:
  // Holds the report of an acknowledged record (a failed one is never held: it is reported at
  // once).
  void hold(const ReportedRecord& record);

  // Calls `report(const DeliveryReport&)` once per held record, all with `status`, `error` and
  // `reported_at_us`, and forgets them. A group's bytes are spread evenly over its records.
  template <typename ReportFn>
  void release(DeliveryStatus status, std::string_view error, std::int64_t reported_at_us,
               ReportFn&& report) {
    std::vector<Group> groups;
    groups.swap(groups_);  // `report` may hold again; that starts a new set
    records_ = 0;
    for (const Group& group : groups) {
      DeliveryReport one = group.record.report(status, error);
      one.payload_bytes = group.record.payload_bytes / group.records;
      one.reported_at_us = reported_at_us;
      for (std::uint64_t i = 0; i < group.records; ++i) report(one);
    }
  }

  // Records held.
  std::uint64_t records() const { return records_; }
  // Groups they are counted in (memory grows with these, not with the records).
  std::size_t groups() const { return groups_.size(); }

 private:
  struct Group {
    ReportedRecord record;  // payload_bytes: the sum over the group
    std::uint64_t records = 0;
  };
  std::vector<Group> groups_;
  std::uint64_t records_ = 0;
};

}  // namespace pgcdc
