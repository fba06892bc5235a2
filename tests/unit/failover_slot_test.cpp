// The pure parts of connector/failover_slot: which servers get a failover slot, what a wrong
// setting says, how synchronized_standby_slots is read and when the slot counts as ready.
#include "connector/failover_slot.h"

#include <gtest/gtest.h>

#include "connector/catalog.h"

namespace pgcdc {
namespace {

SourceConfig with(SourceConfig::FailoverSlot setting) {
  SourceConfig source;
  source.failover_slot = setting;
  return source;
}

TEST(FailoverSlot, AutoMakesOneFrom17OnAndOffNever) {
  EXPECT_FALSE(wants_failover_slot(with(SourceConfig::FailoverSlot::kAuto), 160004));
  EXPECT_TRUE(wants_failover_slot(with(SourceConfig::FailoverSlot::kAuto), 170000));
  EXPECT_TRUE(wants_failover_slot(with(SourceConfig::FailoverSlot::kAuto), 180004));
  EXPECT_TRUE(wants_failover_slot(with(SourceConfig::FailoverSlot::kOn), 170010));
  EXPECT_FALSE(wants_failover_slot(with(SourceConfig::FailoverSlot::kOff), 170010));
}

TEST(FailoverSlot, AskingForOneBefore17NamesTheKeyAndTheVersion) {
  EXPECT_NO_THROW(check_failover_setting(with(SourceConfig::FailoverSlot::kAuto), 150012));
  EXPECT_NO_THROW(check_failover_setting(with(SourceConfig::FailoverSlot::kOn), 170000));
  try {
    check_failover_setting(with(SourceConfig::FailoverSlot::kOn), 160014);
    FAIL() << "no error";
  } catch (const SetupError& e) {
    std::string message = e.what();
    EXPECT_NE(message.find("source.failover_slot = true"), std::string::npos) << message;
    EXPECT_NE(message.find("PostgreSQL 16"), std::string::npos) << message;
  }
  SourceConfig snapshot_only = with(SourceConfig::FailoverSlot::kOn);
  snapshot_only.cdc = false;  // no slot at all
  EXPECT_NO_THROW(check_failover_setting(snapshot_only, 150012));
}

TEST(FailoverSlot, ReadsTheStandbySlotList) {
  EXPECT_TRUE(parse_slot_list("").empty());
  EXPECT_EQ(parse_slot_list("a"), (std::vector<std::string>{"a"}));
  EXPECT_EQ(parse_slot_list("standby_1, \"Standby 2\",c"),
            (std::vector<std::string>{"standby_1", "Standby 2", "c"}));
}

TEST(FailoverSlot, IsReadyOnlyWithAConnectedSynchronizedStandby) {
  FailoverReadiness state;
  state.supported = true;
  state.slot_exists = true;
  state.failover = true;
  EXPECT_FALSE(state.ready());
  EXPECT_NE(state.describe().find("synchronized_standby_slots is empty"), std::string::npos);
  state.standby_slots = {"standby_1"};
  EXPECT_TRUE(state.ready()) << state.describe();
  state.standby_slots_not_streaming = {"standby_1"};
  EXPECT_FALSE(state.ready());
  EXPECT_NE(state.describe().find("no standby streams from standby_1"), std::string::npos)
      << state.describe();
  state.standby_slots_not_streaming.clear();
  state.failover = false;
  EXPECT_FALSE(state.ready());
  state.failover = true;
  state.supported = false;
  EXPECT_FALSE(state.ready());
}

}  // namespace
}  // namespace pgcdc
