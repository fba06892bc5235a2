// The status line, the snapshot progress log and the table states they are made of, from
// observations and a clock the test owns: no servers.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "daemon/status_report.h"
#include "daemon/table_state.h"

namespace pgcdc {
namespace {

using namespace std::chrono_literals;

SourceConfig three_tables() {
  SourceConfig source;
  for (const char* name : {"orders", "items", "zeta"}) {
    TableConfig table;
    table.name = name;
    source.tables.push_back(table);
  }
  return source;
}

SourceOffset committed(const SnapshotProgress& progress) {
  SourceOffset offset;
  offset.snapshot = std::make_shared<SnapshotProgress>(progress);
  return offset;
}

TableSnapshotProgress rows_so_far(std::uint64_t rows, bool done = false) {
  TableSnapshotProgress progress;
  progress.done = done;
  progress.rows = rows;
  return progress;
}

std::vector<TableState> states_of(const std::vector<TableStatus>& statuses) {
  std::vector<TableState> states;
  for (const auto& status : statuses) states.push_back(status.state);
  return states;
}

TEST(DaemonTableState, TablesAreReadOneAfterTheOtherInConfigurationOrder) {
  SourceConfig source = three_tables();
  SourceOffset offset =
      committed({{"public.orders", rows_so_far(250, true)}, {"public.items", rows_so_far(120)}});
  std::vector<TableStatus> statuses = table_statuses(source, offset, /*snapshotting=*/true);
  ASSERT_EQ(statuses.size(), 3u);
  EXPECT_EQ(statuses[0].table, "public.orders");
  EXPECT_EQ(statuses[1].table, "public.items");
  EXPECT_EQ(statuses[1].rows, 120u);
  EXPECT_EQ(statuses[2].rows, 0u);
  EXPECT_EQ(states_of(statuses),
            (std::vector<TableState>{TableState::kStreaming, TableState::kSnapshotting,
                                     TableState::kSnapshotPending}));
  // Between sessions the table being read waits too.
  EXPECT_EQ(states_of(table_statuses(source, offset, false)),
            (std::vector<TableState>{TableState::kStreaming, TableState::kSnapshotPending,
                                     TableState::kSnapshotPending}));
  // A snapshot-only run: a table read in full is done.
  source.cdc = false;
  EXPECT_EQ(table_statuses(source, offset, true)[0].state, TableState::kDone);
  // No snapshot wanted: every table streams from the start.
  source.cdc = true;
  source.snapshot = false;
  EXPECT_EQ(states_of(table_statuses(source, offset, true)),
            (std::vector<TableState>(3, TableState::kStreaming)));
}

TEST(DaemonTableState, TheGaugeStatesKeepTheirOrder) {
  EXPECT_STREQ(kTableStateNames[index_of(TableState::kSnapshotPending)], "snapshot_pending");
  EXPECT_STREQ(kTableStateNames[index_of(TableState::kSnapshotting)], "snapshotting");
  EXPECT_STREQ(kTableStateNames[index_of(TableState::kStreaming)], "streaming");
  EXPECT_STREQ(kTableStateNames[index_of(TableState::kDone)], "done");
}

HealthInputs session(bool streaming, bool snapshotting) {
  HealthInputs in;
  in.phase = Phase::kSession;
  in.session_attached = true;
  in.streaming = streaming;
  in.snapshotting = snapshotting;
  return in;
}

TEST(DaemonStatusReport, TheLineSaysThePhaseTheTableBeingReadTheLagAndWhyNotReady) {
  SourceConfig source = three_tables();
  StatusReport report(source.tables);
  const HealthAnswer ready{true, "streaming"};
  HealthInputs in;
  EXPECT_EQ(report.line(in, ready, 0, 0), "starting");
  in.phase = Phase::kBackoff;
  in.phase_detail = "sink not reachable";
  EXPECT_EQ(report.line(in, ready, 0, 0), "waiting to retry: sink not reachable");
  in.phase = Phase::kFailed;
  EXPECT_EQ(report.line(in, ready, 0, 0), "failed: sink not reachable");
  in.phase = Phase::kStopping;
  EXPECT_EQ(report.line(in, ready, 0, 0), "stopping");
  EXPECT_EQ(report.line(session(false, false), ready, 0, 0),
            "connecting to PostgreSQL and the sink");

  SourceOffset offset =
      committed({{"public.orders", rows_so_far(250, true)}, {"public.items", rows_so_far(120)}});
  report.update(table_statuses(source, offset, true), true, 1);
  EXPECT_EQ(report.line(session(true, true), ready, 2048, 7),
            "snapshotting public.items (1/3 tables done); streaming, lag 2.0 KiB; 7 records "
            "delivered");
  report.set_estimates({{"public.items", 1000}});
  EXPECT_EQ(
      report.line(session(false, true), {false, "the source loop has not turned for 31s"}, 0, 7),
      "snapshotting public.items 12% (1/3 tables done); 7 records delivered; not ready: "
      "the source loop has not turned for 31s");
  EXPECT_EQ(report.line(session(true, false), ready, 3.5 * 1024 * 1024, 9),
            "streaming, lag 3.5 MiB; 9 records delivered");
}

TEST(DaemonStatusReport, LogsTheTableBeingReadEveryThirtySecondsWhileASnapshotRuns) {
  SourceConfig source = three_tables();
  StatusReport report(source.tables);
  report.set_estimates({{"public.items", 1000}});
  auto statuses = [&](std::uint64_t items_rows) {
    return table_statuses(source,
                          committed({{"public.orders", rows_so_far(250, true)},
                                     {"public.items", rows_so_far(items_rows)}}),
                          true);
  };
  const std::int64_t start = std::chrono::nanoseconds(1h).count();
  auto at = [&](std::chrono::seconds offset) {
    return start + std::chrono::nanoseconds(offset).count();
  };
  EXPECT_TRUE(report.update(statuses(100), true, at(0s)).empty());  // the rhythm starts
  EXPECT_TRUE(report.update(statuses(250), true, at(29s)).empty());
  std::vector<std::string> lines = report.update(statuses(400), true, at(30s));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0],
            "snapshot of public.items: 40% (400 of about 1000 rows), 10 rows/s, about 1m00s left");
  EXPECT_TRUE(report.update(statuses(400), true, at(59s)).empty());
  lines = report.update(statuses(400), true, at(60s));  // no rows since the last line
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], "snapshot of public.items: 40% (400 of about 1000 rows), 0 rows/s, stalled");

  // No snapshot running: nothing, and the rhythm starts again with the next snapshot.
  EXPECT_TRUE(report.update(statuses(400), false, at(200s)).empty());
  EXPECT_TRUE(report.update(statuses(400), true, at(201s)).empty());
  EXPECT_EQ(report.update(statuses(700), true, at(231s)).size(), 1u);
}

}  // namespace
}  // namespace pgcdc
