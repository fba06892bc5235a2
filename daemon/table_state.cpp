#include "daemon/table_state.h"

namespace pgcdc {

std::vector<TableStatus> table_statuses(const SourceConfig& source, const SourceOffset& committed,
                                        bool snapshotting) {
  std::vector<TableStatus> statuses;
  statuses.reserve(source.tables.size());
  bool first_pending = true;
  for (const auto& config_table : source.tables) {
    TableStatus status;
    status.table = config_table.qualified();
    TableSnapshotProgress progress;
    if (auto it = committed.snapshot->find(status.table); it != committed.snapshot->end()) {
      progress = it->second;
    }
    status.rows = progress.rows;
    if (!source.snapshot) {
      status.state = TableState::kStreaming;
    } else if (progress.done) {
      status.state = source.cdc ? TableState::kStreaming : TableState::kDone;
    } else if (first_pending) {
      first_pending = false;
      status.state = snapshotting ? TableState::kSnapshotting : TableState::kSnapshotPending;
    } else {
      status.state = TableState::kSnapshotPending;
    }
    statuses.push_back(std::move(status));
  }
  return statuses;
}

}  // namespace pgcdc
