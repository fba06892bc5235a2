// The slot-loss guard (daemon/slot_wal_guard.h): when a slot's retained WAL or wal_status says
// PostgreSQL may soon invalidate it, and that it logs each change of state once.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <sstream>
#include <string>

#include "daemon/slot_wal_guard.h"

namespace pgcdc {
namespace {

constexpr std::int64_t kMiB = 1024 * 1024;

ServerSample slot_sample(std::int64_t retained, std::optional<std::int64_t> keep,
                         const std::string& wal_status = "reserved") {
  ServerSample sample;
  sample.ok = true;
  sample.slot_exists = true;
  sample.wal_status = wal_status;
  sample.retained_wal_bytes = retained;
  sample.max_slot_wal_keep_size_bytes = keep;
  return sample;
}

TEST(SlotWalGuard, AtRiskFromTheWarnFractionOfMaxSlotWalKeepSize) {
  EXPECT_FALSE(assess_slot_wal(slot_sample(79 * kMiB, 100 * kMiB), "s", 0.8).at_risk());
  SlotWalRisk risk = assess_slot_wal(slot_sample(80 * kMiB, 100 * kMiB), "s", 0.8);
  EXPECT_EQ(risk.state, SlotWalState::kRetention);
  EXPECT_EQ(risk.reason,
            "replication slot s retains 80 MB of WAL, 80% of max_slot_wal_keep_size (100 MB) "
            "(source.wal_retention_warn = 0.8); PostgreSQL invalidates the slot at the limit");
  EXPECT_TRUE(assess_slot_wal(slot_sample(50 * kMiB, 100 * kMiB), "s", 0.5).at_risk());
  EXPECT_FALSE(assess_slot_wal(slot_sample(99 * kMiB, 100 * kMiB), "s", 1.0).at_risk());
}

TEST(SlotWalGuard, WithoutALimitOnlyWalStatusCounts) {
  // max_slot_wal_keep_size = -1: the slot keeps WAL without limit and is never invalidated.
  EXPECT_FALSE(assess_slot_wal(slot_sample(500000 * kMiB, std::nullopt), "s", 0.8).at_risk());
  // A limit of 0 keeps no WAL for slots: no fraction of it means anything; wal_status does.
  EXPECT_FALSE(assess_slot_wal(slot_sample(10 * kMiB, 0), "s", 0.8).at_risk());
  EXPECT_EQ(assess_slot_wal(slot_sample(10 * kMiB, 0, "unreserved"), "s", 0.8).state,
            SlotWalState::kUnreserved);
}

TEST(SlotWalGuard, UnreservedAndLostAreAtRiskWhateverTheRetention) {
  SlotWalRisk risk = assess_slot_wal(slot_sample(1 * kMiB, 100 * kMiB, "unreserved"), "s", 0.8);
  EXPECT_EQ(risk.state, SlotWalState::kUnreserved);
  EXPECT_NE(risk.reason.find("replication slot s needs WAL beyond max_slot_wal_keep_size (100 MB) "
                             "(wal_status unreserved)"),
            std::string::npos)
      << risk.reason;
  risk = assess_slot_wal(slot_sample(1 * kMiB, 100 * kMiB, "lost"), "s", 0.8);
  EXPECT_EQ(risk.state, SlotWalState::kLost);
  EXPECT_NE(risk.reason.find("was invalidated (wal_status lost)"), std::string::npos);
}

TEST(SlotWalGuard, AMissingSlotIsNotThisGuardsConcern) {
  ServerSample sample = slot_sample(90 * kMiB, 100 * kMiB);
  sample.slot_exists = false;
  EXPECT_FALSE(assess_slot_wal(sample, "s", 0.8).at_risk());
}

// spdlog's default logger writes to `out` for as long as this lives.
class CapturedLog {
 public:
  CapturedLog() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    sink->set_pattern("%l %v");
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("captured", sink));
  }
  ~CapturedLog() { spdlog::set_default_logger(previous_); }
  std::string text() const { return out_.str(); }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> previous_;
};

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(SlotWalGuard, LogsAnErrorOncePerChangeOfStateAndKeepsItsAnswerOverFailedSamples) {
  CapturedLog log;
  SlotWalGuard guard("s", 0.8);
  EXPECT_FALSE(guard.update(slot_sample(10 * kMiB, 100 * kMiB)).at_risk());
  for (std::int64_t retained : {85, 88, 90}) {
    EXPECT_TRUE(guard.update(slot_sample(retained * kMiB, 100 * kMiB)).at_risk());
  }
  // The answer follows the numbers; the log says it once.
  EXPECT_NE(guard.update(slot_sample(91 * kMiB, 100 * kMiB)).reason.find("retains 91 MB"),
            std::string::npos);
  ServerSample failed;
  failed.error = "connection refused";
  EXPECT_TRUE(guard.update(failed).at_risk());
  EXPECT_EQ(guard.update(slot_sample(101 * kMiB, 100 * kMiB, "unreserved")).state,
            SlotWalState::kUnreserved);
  EXPECT_FALSE(guard.update(slot_sample(5 * kMiB, 100 * kMiB)).at_risk());
  EXPECT_FALSE(guard.update(slot_sample(6 * kMiB, 100 * kMiB)).at_risk());

  const std::string text = log.text();
  EXPECT_EQ(count(text, "error replication slot s retains 85 MB of WAL, 85%"), 1u) << text;
  EXPECT_EQ(count(text, "retains 8"), 1u) << text;  // not again at 88
  EXPECT_EQ(count(text, "error replication slot s needs WAL beyond"), 1u) << text;
  EXPECT_EQ(count(text, "info replication slot s is no longer at risk of losing WAL"), 1u) << text;
  EXPECT_EQ(count(text, "\n"), 3u) << text;
}

}  // namespace
}  // namespace pgcdc
