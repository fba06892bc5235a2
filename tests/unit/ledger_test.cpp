#include "core/position_ledger.h"

#include <gtest/gtest.h>

namespace pgcdc {
namespace {

DeliveryReport report(DeliveryToken token, DeliveryStatus status, std::string_view error) {
  DeliveryReport r;
  r.token = token;
  r.status = status;
  r.error = error;
  return r;
}

SourceOffset at(Lsn lsn) {
  SourceOffset offset;
  offset.lsn = lsn;
  return offset;
}

TEST(PositionLedger, StartsAtTheResumedOffset) {
  PositionLedger ledger(at(100));
  EXPECT_EQ(ledger.committable().lsn, 100u);
}

TEST(PositionLedger, CommitsOnlyAfterEveryRecordOfTheEntryIsDelivered) {
  PositionLedger ledger;
  auto t = ledger.open();
  ledger.add_record(t);
  ledger.add_record(t);
  ledger.seal(t, at(200));
  EXPECT_EQ(ledger.committable().lsn, 0u);
  ledger.on_delivery(report(t, DeliveryStatus::kDelivered, ""));
  EXPECT_EQ(ledger.committable().lsn, 0u);
  ledger.on_delivery(report(t, DeliveryStatus::kDelivered, ""));
  EXPECT_EQ(ledger.committable().lsn, 200u);
  EXPECT_EQ(ledger.records_in_flight(), 0u);
}

TEST(PositionLedger, UnsealedEntryIsNeverCommittedEvenWhenItsRecordsAreDelivered) {
  PositionLedger ledger;
  auto t = ledger.open();
  ledger.add_record(t);
  ledger.on_delivery(report(t, DeliveryStatus::kDelivered, ""));
  EXPECT_EQ(ledger.committable().lsn, 0u);  // more records of this transaction may follow
  ledger.seal(t, at(300));
  EXPECT_EQ(ledger.committable().lsn, 300u);
}

TEST(PositionLedger, OutOfOrderAcksCommitOnlyTheDeliveredPrefix) {
  PositionLedger ledger;
  auto a = ledger.open();
  ledger.add_record(a);
  ledger.seal(a, at(10));
  auto b = ledger.open();
  ledger.add_record(b);
  ledger.seal(b, at(20));
  auto c = ledger.open();
  ledger.add_record(c);
  ledger.seal(c, at(30));

  ledger.on_delivery(report(c, DeliveryStatus::kDelivered, ""));
  ledger.on_delivery(report(b, DeliveryStatus::kDelivered, ""));
  EXPECT_EQ(ledger.committable().lsn, 0u);  // a is still in flight
  ledger.on_delivery(report(a, DeliveryStatus::kDelivered, ""));
  EXPECT_EQ(ledger.committable().lsn, 30u);
  EXPECT_EQ(ledger.entries_in_flight(), 0u);
}

TEST(PositionLedger, FailedAckFreezesThePositionBeforeTheFailedEntry) {
  PositionLedger ledger;
  auto a = ledger.open();
  ledger.add_record(a);
  ledger.seal(a, at(10));
  auto b = ledger.open();
  ledger.add_record(b);
  ledger.add_record(b);
  ledger.seal(b, at(20));
  auto c = ledger.open();
  ledger.add_record(c);
  ledger.seal(c, at(30));

  ledger.on_delivery(report(a, DeliveryStatus::kDelivered, ""));
  ledger.on_delivery(report(b, DeliveryStatus::kFailed, "Local: Message timed out"));
  ledger.on_delivery(report(b, DeliveryStatus::kDelivered, ""));
  ledger.on_delivery(report(c, DeliveryStatus::kDelivered, ""));
  EXPECT_TRUE(ledger.failed());
  EXPECT_EQ(ledger.failure(), "Local: Message timed out");
  EXPECT_EQ(ledger.committable().lsn, 10u);
  EXPECT_FALSE(ledger.advance_if_idle(1000));
  EXPECT_EQ(ledger.committable().lsn, 10u);
}

TEST(PositionLedger, ARejectionFreezesThePositionAndItsReasonOutranksAnEarlierFailure) {
  PositionLedger ledger;
  auto a = ledger.open();
  ledger.add_record(a);
  ledger.seal(a, at(10));
  auto b = ledger.open();
  ledger.add_record(b);
  ledger.add_record(b);
  ledger.add_record(b);
  ledger.seal(b, at(20));

  ledger.on_delivery(report(a, DeliveryStatus::kDelivered, ""));
  ledger.on_delivery(report(b, DeliveryStatus::kFailed, "Local: Message timed out"));
  EXPECT_TRUE(ledger.failed());
  EXPECT_FALSE(ledger.rejected());  // a retry may deliver it
  // A broker refuses a whole batch as too large: each of its records is rejected, and the
  // largest one's error is the one that names the culprit.
  DeliveryReport small = report(b, DeliveryStatus::kRejected, "key 1, 200 bytes: too large");
  small.payload_bytes = 200;
  DeliveryReport wide = report(b, DeliveryStatus::kRejected, "key 2, 9000000 bytes: too large");
  wide.payload_bytes = 9000000;
  ledger.on_delivery(small);
  EXPECT_TRUE(ledger.rejected());
  EXPECT_EQ(ledger.failure(), "key 1, 200 bytes: too large");
  ledger.on_delivery(wide);
  EXPECT_EQ(ledger.failure(), "key 2, 9000000 bytes: too large");
  EXPECT_EQ(ledger.committable().lsn, 10u);
  EXPECT_EQ(ledger.records_in_flight(), 0u);
}

TEST(PositionLedger, ARejectionAloneFreezesThePosition) {
  PositionLedger ledger;
  auto a = ledger.open();
  ledger.add_record(a);
  ledger.seal(a, at(10));
  ledger.on_delivery(report(a, DeliveryStatus::kRejected, ""));
  EXPECT_TRUE(ledger.failed());
  EXPECT_TRUE(ledger.rejected());
  EXPECT_FALSE(ledger.failure().empty());
  EXPECT_EQ(ledger.committable().lsn, 0u);
  EXPECT_FALSE(ledger.advance_if_idle(1000));
}

TEST(PositionLedger, FailFromAnotherThreadFreezesThePositionAndKeepsTheFirstReason) {
  PositionLedger ledger;
  auto a = ledger.open();
  ledger.add_record(a);
  ledger.seal(a, at(10));
  auto b = ledger.open();
  ledger.add_record(b);
  ledger.seal(b, at(20));
  ledger.on_delivery(report(a, DeliveryStatus::kDelivered, ""));
  EXPECT_EQ(ledger.committable().lsn, 10u);

  ledger.fail("the sink thread stopped: out of memory");
  ledger.fail("a later reason");
  // b's record is confirmed after the failure: nothing more is committed in this session.
  ledger.on_delivery(report(b, DeliveryStatus::kDelivered, ""));
  EXPECT_TRUE(ledger.failed());
  EXPECT_EQ(ledger.failure(), "the sink thread stopped: out of memory");
  EXPECT_EQ(ledger.committable().lsn, 10u);
  EXPECT_FALSE(ledger.advance_if_idle(1000));
}

TEST(PositionLedger, DuplicateAckFailsTheSessionInsteadOfCommittingUndeliveredData) {
  PositionLedger ledger;
  auto a = ledger.open();
  ledger.add_record(a);
  ledger.add_record(a);
  ledger.seal(a, at(10));
  auto b = ledger.open();
  ledger.add_record(b);
  ledger.seal(b, at(20));
  ledger.on_delivery(report(a, DeliveryStatus::kDelivered, ""));
  ledger.on_delivery(report(a, DeliveryStatus::kDelivered, ""));
  ledger.on_delivery(report(a, DeliveryStatus::kDelivered, ""));  // one report too many
  EXPECT_TRUE(ledger.failed());
  EXPECT_EQ(ledger.committable().lsn, 10u);
  EXPECT_EQ(ledger.records_in_flight(), 1u);
}

TEST(PositionLedger, AMergedReportCountsAsItsRecords) {
  PositionLedger ledger;
  auto t = ledger.open();
  ledger.add_records(t, 5);
  ledger.seal(t, at(50));
  DeliveryReport three = report(t, DeliveryStatus::kDelivered, "");
  three.records = 3;
  ledger.on_delivery(three);
  EXPECT_EQ(ledger.committable().lsn, 0u);
  EXPECT_EQ(ledger.records_in_flight(), 2u);
  DeliveryReport two = three;
  two.records = 2;
  ledger.on_delivery(two);
  EXPECT_EQ(ledger.committable().lsn, 50u);
  EXPECT_FALSE(ledger.failed());
}

TEST(PositionLedger, AMergedReportForMoreRecordsThanPendingFailsTheSession) {
  PositionLedger ledger;
  auto t = ledger.open();
  ledger.add_records(t, 2);
  ledger.seal(t, at(20));
  DeliveryReport three = report(t, DeliveryStatus::kDelivered, "");
  three.records = 3;
  ledger.on_delivery(three);
  EXPECT_TRUE(ledger.failed());
  EXPECT_EQ(ledger.committable().lsn, 0u);
  EXPECT_EQ(ledger.records_in_flight(), 2u);
}

TEST(PositionLedger, EmptyEntriesCommitInOrder) {
  PositionLedger ledger;
  auto a = ledger.open();
  ledger.add_record(a);
  ledger.seal(a, at(10));
  auto b = ledger.open();  // a transaction whose changes were all filtered
  ledger.seal(b, at(20));
  EXPECT_EQ(ledger.committable().lsn, 0u);
  ledger.on_delivery(report(a, DeliveryStatus::kDelivered, ""));
  EXPECT_EQ(ledger.committable().lsn, 20u);
}

TEST(PositionLedger, IdleAdvanceOnlyWhenNothingIsInFlight) {
  PositionLedger ledger(at(5));
  EXPECT_TRUE(ledger.advance_if_idle(50));
  EXPECT_EQ(ledger.committable().lsn, 50u);
  EXPECT_TRUE(ledger.advance_if_idle(40));  // never backwards
  EXPECT_EQ(ledger.committable().lsn, 50u);
  auto a = ledger.open();
  EXPECT_FALSE(ledger.advance_if_idle(60));
  ledger.seal(a, at(70));
  EXPECT_EQ(ledger.committable().lsn, 70u);
}

TEST(PositionLedger, SnapshotProgressTravelsWithTheEntry) {
  PositionLedger ledger;
  auto t = ledger.open();
  ledger.add_record(t);
  SourceOffset position = at(10);
  auto progress = std::make_shared<SnapshotProgress>();
  (*progress)["public.t"] = TableSnapshotProgress{false, std::vector<std::string>{"42"}, 42, "", ""};
  position.snapshot = progress;
  ledger.seal(t, position);
  EXPECT_TRUE(ledger.committable().snapshot->empty());
  ledger.on_delivery(report(t, DeliveryStatus::kDelivered, ""));
  EXPECT_EQ(ledger.committable().snapshot->at("public.t").rows, 42u);
}

}  // namespace
}  // namespace pgcdc
