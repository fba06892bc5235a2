#pragma once
// The daemon's progress in words: the status line (systemd's STATUS=) and, while a snapshot runs,
// a log line for the table being read every 30 seconds (snapshot_progress.h words both).
//
// Threads: set_estimates() runs on the ServerSampler thread; update() and line() on the thread
// that samples the metrics (Metrics::sample(), whose view lock keeps those calls apart).
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/mutex.h"
#include "daemon/health.h"
#include "daemon/table_state.h"

namespace pgcdc {

class StatusReport {
 public:
  static constexpr std::chrono::seconds kProgressLogInterval{30};

  // Main thread (Metrics' constructor): the configured tables.
  explicit StatusReport(const std::vector<TableConfig>& tables);

  // ServerSampler thread: PostgreSQL's row estimates by "schema.table" (pg_class.reltuples).
  void set_estimates(const std::map<std::string, double>& estimates) EXCLUDES(estimates_mutex_);

  // Metrics sampler: the configured tables' statuses at `now_ns` (steady_now_ns()). Returns the
  // progress lines due now, for the caller to log: while `snapshotting`, one for each table being
  // read, every kProgressLogInterval.
  std::vector<std::string> update(const std::vector<TableStatus>& tables, bool snapshotting,
                                  std::int64_t now_ns);

  // Metrics sampler: the status line. `ready` is the readiness answer for `in`.
  std::string line(const HealthInputs& in, const HealthAnswer& ready, double lag_bytes,
                   std::uint64_t records_delivered) const;

 private:
  struct Table {
    std::optional<TableState> state;  // nullopt until a session's ledger was first sampled
    std::uint64_t rows = 0;           // snapshot rows committed
    std::uint64_t logged_rows = 0;    // rows at the last progress line or when its snapshot began
  };
  std::map<std::string, double> estimates() const EXCLUDES(estimates_mutex_);  // a copy

  std::map<std::string, Table, std::less<>> tables_;  // the configured tables
  mutable Mutex estimates_mutex_;
  std::map<std::string, double> estimates_ GUARDED_BY(estimates_mutex_);
  std::int64_t next_progress_log_ns_ = 0;  // 0 while no snapshot runs
  std::int64_t last_progress_log_ns_ = 0;
};

}  // namespace pgcdc
