#include "daemon/slot_wal_guard.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <cstdint>
#include <cstdio>

namespace pgcdc {
namespace {

std::string mebibytes(std::int64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.0f MB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return text;
}

}  // namespace

SlotWalRisk assess_slot_wal(const ServerSample& sample, const std::string& slot_name,
                            double warn_fraction) {
  SlotWalRisk risk;
  if (!sample.slot_exists) return risk;  // a missing slot has its own metric and errors
  const std::string slot = "replication slot " + slot_name;
  const std::string limit =
      sample.max_slot_wal_keep_size_bytes
          ? "max_slot_wal_keep_size (" + mebibytes(*sample.max_slot_wal_keep_size_bytes) + ")"
          : "max_slot_wal_keep_size";
  if (sample.wal_status == "lost") {
    risk.state = SlotWalState::kLost;
    risk.reason = slot + " was invalidated (wal_status lost): PostgreSQL removed WAL it needed";
    return risk;
  }
  if (sample.wal_status == "unreserved") {
    risk.state = SlotWalState::kUnreserved;
    risk.reason = slot + " needs WAL beyond " + limit +
                  " (wal_status unreserved): the next checkpoint removes it and the slot is "
                  "lost unless pgcdc catches up first";
    return risk;
  }
  if (!sample.max_slot_wal_keep_size_bytes || !sample.retained_wal_bytes) return risk;
  const std::int64_t keep = *sample.max_slot_wal_keep_size_bytes;
  const std::int64_t retained = *sample.retained_wal_bytes;
  if (keep <= 0 || static_cast<double>(retained) < warn_fraction * static_cast<double>(keep)) {
    return risk;
  }
  const auto percent = static_cast<long>(
      std::floor(100.0 * static_cast<double>(retained) / static_cast<double>(keep)));
  char warn[16];
  std::snprintf(warn, sizeof warn, "%g", warn_fraction);
  risk.state = SlotWalState::kRetention;
  risk.reason = slot + " retains " + mebibytes(retained) + " of WAL, " + std::to_string(percent) +
                "% of " + limit + " (source.wal_retention_warn = " + warn +
                "); PostgreSQL invalidates the slot at the limit";
  return risk;
}

SlotWalGuard::SlotWalGuard(std::string slot_name, double warn_fraction)
    : slot_name_(std::move(slot_name)), warn_fraction_(warn_fraction) {}

const SlotWalRisk& SlotWalGuard::update(const ServerSample& sample) {
  if (!sample.ok) return last_;
  SlotWalRisk risk = assess_slot_wal(sample, slot_name_, warn_fraction_);
  if (risk.state != last_.state) {
    if (risk.at_risk()) {
      spdlog::error("{}", risk.reason);
    } else {
      spdlog::info("replication slot {} is no longer at risk of losing WAL", slot_name_);
    }
  }
  last_ = std::move(risk);
  return last_;
}

}  // namespace pgcdc
