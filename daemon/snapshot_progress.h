#pragma once
// How far a table's snapshot is, in words: for the steady progress log line and systemd's STATUS=.
#include <cstdint>
#include <optional>
#include <string>

namespace pgcdc {

struct TableProgress {
  std::string table;           // "schema.table"
  std::uint64_t rows = 0;      // rows delivered so far (all sessions)
  double estimated_rows = -1;  // pg_class.reltuples; below 0 when unknown
  double rows_per_second = 0;  // over the last interval
};

// Percent done, 0..99 (a snapshot is 100% only when it finished, whatever the estimate says);
// nullopt without an estimate.
std::optional<int> snapshot_percent(const TableProgress& progress);

// "snapshot of public.orders: 45% (450000 of about 1000000 rows), 15000 rows/s, about 37s left"
std::string describe_snapshot_progress(const TableProgress& progress);

// "37s", "4m10s", "2h05m".
std::string short_duration(double seconds);

}  // namespace pgcdc
