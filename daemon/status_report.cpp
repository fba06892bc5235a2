#include "daemon/status_report.h"

#include <algorithm>
#include <cstdio>

#include "daemon/snapshot_progress.h"

namespace pgcdc {
namespace {

std::string human_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (bytes >= 1024 && unit < 4) {
    bytes /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.1f %s", bytes, units[unit]);
  return text;
}

}  // namespace

StatusReport::StatusReport(const std::vector<TableConfig>& tables) {
  for (const auto& table : tables) tables_.emplace(table.qualified(), Table{});
}

void StatusReport::set_estimates(const std::map<std::string, double>& estimates) {
  MutexLock lock(estimates_mutex_);
  estimates_ = estimates;
}

std::map<std::string, double> StatusReport::estimates() const {
  MutexLock lock(estimates_mutex_);
  return estimates_;
}

std::vector<std::string> StatusReport::update(const std::vector<TableStatus>& tables,
                                              bool snapshotting, std::int64_t now_ns) {
  for (const TableStatus& status : tables) {
    auto it = tables_.find(status.table);
    if (it == tables_.end()) continue;  // only configured tables have a status
    Table& table = it->second;
    table.rows = status.rows;
    // A snapshot that begins now: its first progress line counts the rows from here.
    if (table.state != status.state && status.state == TableState::kSnapshotting) {
      table.logged_rows = table.rows;
    }
    table.state = status.state;
  }

  // Snapshot progress in the log at a steady rhythm.
  std::vector<std::string> lines;
  if (!snapshotting) {
    next_progress_log_ns_ = 0;
    return lines;
  }
  auto interval_ns = std::chrono::nanoseconds(kProgressLogInterval).count();
  if (next_progress_log_ns_ == 0) {
    next_progress_log_ns_ = now_ns + interval_ns;
    last_progress_log_ns_ = now_ns;
    return lines;
  }
  if (now_ns < next_progress_log_ns_) return lines;
  double elapsed = static_cast<double>(now_ns - last_progress_log_ns_) / 1e9;
  std::map<std::string, double> estimates = this->estimates();
  for (auto& [name, table] : tables_) {
    if (table.state != TableState::kSnapshotting) continue;
    TableProgress progress;
    progress.table = name;
    progress.rows = table.rows;
    auto estimate = estimates.find(name);
    progress.estimated_rows = estimate == estimates.end() ? -1 : estimate->second;
    progress.rows_per_second =
        elapsed > 0
            ? static_cast<double>(table.rows - std::min(table.rows, table.logged_rows)) / elapsed
            : 0;
    lines.push_back(describe_snapshot_progress(progress));
    table.logged_rows = table.rows;
  }
  last_progress_log_ns_ = now_ns;
  next_progress_log_ns_ = now_ns + interval_ns;
  return lines;
}

std::string StatusReport::line(const HealthInputs& in, const HealthAnswer& ready, double lag_bytes,
                               std::uint64_t records_delivered) const {
  switch (in.phase) {
    case Phase::kStarting:
      return "starting";
    case Phase::kBackoff:
      return "waiting to retry: " + in.phase_detail;
    case Phase::kStopping:
      return "stopping";
    case Phase::kFailed:
      return "failed: " + in.phase_detail;
    case Phase::kSession:
      break;
  }
  if (!in.streaming && !in.snapshotting) return "connecting to PostgreSQL and the sink";
  std::string line;
  if (in.snapshotting) {
    std::size_t done = 0;
    std::string current;
    std::map<std::string, double> estimates = this->estimates();
    for (const auto& [name, table] : tables_) {
      if (table.state == TableState::kStreaming || table.state == TableState::kDone) ++done;
      if (table.state == TableState::kSnapshotting) {
        TableProgress progress{name, table.rows, -1, 0};
        if (auto it = estimates.find(name); it != estimates.end()) {
          progress.estimated_rows = it->second;
        }
        auto percent = snapshot_percent(progress);
        current = name + (percent ? " " + std::to_string(*percent) + "%" : "");
      }
    }
    line = "snapshotting" + (current.empty() ? "" : " " + current) + " (" + std::to_string(done) +
           "/" + std::to_string(tables_.size()) + " tables done)";
  }
  if (in.streaming) {
    if (!line.empty()) line += "; ";
    line += "streaming, lag " + human_bytes(lag_bytes);
  }
  line += "; " + std::to_string(records_delivered) + " records delivered";
  if (!ready.ok) {
    line += "; not ready: " + ready.reason;
  } else if (!in.slot_wal_risk.empty()) {
    line += "; degraded: " + in.slot_wal_risk;
  }
  return line;
}

}  // namespace pgcdc
