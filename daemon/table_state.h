#pragma once
// Where each configured table stands: its snapshot waits, runs or is done. Shown by the
// pgcdc_table_state gauge, the status line and the snapshot progress log.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/source_offset.h"

namespace pgcdc {

// The values index kTableStateNames: pgcdc_table_state's `state` label values, in the order their
// series are created.
enum class TableState : std::size_t {
  kSnapshotPending = 0,  // its snapshot has not started, or the session is not running
  kSnapshotting = 1,
  kStreaming = 2,  // snapshot done or not wanted
  kDone = 3,       // snapshot-only run finished
};

inline constexpr std::array<const char*, 4> kTableStateNames = {"snapshot_pending", "snapshotting",
                                                                "streaming", "done"};

inline std::size_t index_of(TableState state) {
  return static_cast<std::size_t>(state);
}

struct TableStatus {
  std::string table;  // "schema.table"
  TableState state = TableState::kSnapshotPending;
  std::uint64_t rows = 0;  // snapshot rows delivered and committed (all sessions)
};

// Each configured table's status, in configuration order, from the committed position. Tables
// are read one after the other in that order, so the first whose snapshot is not done is the one
// being read while `snapshotting`; the ones after it wait. Pure: any thread.
std::vector<TableStatus> table_statuses(const SourceConfig& source, const SourceOffset& committed,
                                        bool snapshotting);

}  // namespace pgcdc
