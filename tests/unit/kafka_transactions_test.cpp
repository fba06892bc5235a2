// The exactly-once layer's pure parts, without a broker: how acknowledged records are held until
// their transaction's outcome (HeldReports), and how slow commits stretch the next transaction.
// The layer against a (mock) cluster: KafkaMockTransactionTest in kafka_mock_sink_test.cpp.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "sinks/held_reports.h"
#include "sinks/kafka_transactions.h"

namespace pgcdc {
namespace {

using std::chrono::milliseconds;

// A released report, with copies of what it only points to.
struct Released {
  DeliveryReport report;
  std::string table;
  std::string error;
};

ReportedRecord acked(DeliveryToken token, const std::string& table, std::size_t bytes,
                     Operation op = Operation::kCreate, std::int64_t commit_time_us = 7) {
  return ReportedRecord{token, op, table, bytes, commit_time_us};
}

std::vector<Released> release(HeldReports& held, DeliveryStatus status, std::string_view error) {
  std::vector<Released> out;
  held.release(status, error, 42, [&out](const DeliveryReport& r) {
    EXPECT_EQ(r.records, 1u);
    out.push_back({r, std::string(r.table), std::string(r.error)});
  });
  return out;
}

TEST(HeldReports, AMillionRecordsOfOneTransactionAreOneGroupAndAMillionReports) {
  HeldReports held;
  for (int i = 0; i < 1000000; ++i) held.hold(acked(1, "public.items", 10));
  EXPECT_EQ(held.records(), 1000000u);
  EXPECT_EQ(held.groups(), 1u);  // memory does not grow with the transaction (invariant 4)
  std::size_t reports = 0;
  held.release(DeliveryStatus::kDelivered, {}, 1, [&reports](const DeliveryReport& r) {
    EXPECT_EQ(r.payload_bytes, 10u);
    ++reports;
  });
  EXPECT_EQ(reports, 1000000u);
  EXPECT_EQ(held.records(), 0u);
  EXPECT_EQ(held.groups(), 0u);
}

TEST(HeldReports, ReleasesEveryRecordInOrderWithTheOutcomeAndItsOwnFields) {
  HeldReports held;
  held.hold(acked(1, "public.a", 10));
  held.hold(acked(1, "public.b", 20, Operation::kUpdate));
  held.hold(acked(1, "public.a", 30));  // joins the first group: same entry, operation, table
  held.hold(acked(2, "public.a", 40, Operation::kCreate, 8));
  EXPECT_EQ(held.groups(), 3u);

  const std::vector<Released> out =
      release(held, DeliveryStatus::kFailed, "kafka transaction aborted");
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].report.token, 1u);
  EXPECT_EQ(out[0].table, "public.a");
  EXPECT_EQ(out[0].report.payload_bytes, 20u);  // the group's 40 bytes over its two records
  EXPECT_EQ(out[1].table, "public.a");
  EXPECT_EQ(out[2].table, "public.b");
  EXPECT_EQ(out[2].report.op, Operation::kUpdate);
  EXPECT_EQ(out[3].report.token, 2u);
  EXPECT_EQ(out[3].report.commit_time_us, 8);
  for (const Released& r : out) {
    EXPECT_EQ(r.report.status, DeliveryStatus::kFailed);
    EXPECT_EQ(r.error, "kafka transaction aborted");
    EXPECT_EQ(r.report.reported_at_us, 42);
  }
  EXPECT_TRUE(release(held, DeliveryStatus::kDelivered, {}).empty()) << "released only once";
}

TEST(HeldReports, ANewEntryStartsANewGroupEvenForTheSameTable) {
  HeldReports held;
  held.hold(acked(1, "public.a", 10));
  held.hold(acked(2, "public.a", 10));
  held.hold(acked(1, "public.a", 10));  // entry 1 again after entry 2: not merged back
  EXPECT_EQ(held.groups(), 3u);
  const std::vector<Released> out = release(held, DeliveryStatus::kDelivered, {});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].report.token, 1u);
  EXPECT_EQ(out[1].report.token, 2u);
  EXPECT_EQ(out[2].report.token, 1u);
}

TEST(KafkaTransactionLength, NineTimesTheCommitBetweenOneAndTenIntervals) {
  const milliseconds interval(100);
  EXPECT_EQ(KafkaTransactions::next_length(milliseconds(1), interval), interval);
  EXPECT_EQ(KafkaTransactions::next_length(milliseconds(20), interval), milliseconds(180));
  EXPECT_EQ(KafkaTransactions::next_length(milliseconds(500), interval), interval * 10);
  EXPECT_EQ(KafkaTransactions::next_length(milliseconds(0), milliseconds(0)), milliseconds(0));
}

}  // namespace
}  // namespace pgcdc
