#pragma once
// SnapshotPlan: where the snapshot stands and which chunk it reads next. Source thread only; no
// I/O.
//
// The progress (per table: done, rows published, the last key read) is sealed into every ledger
// entry after it, so it is committed exactly when the rows before it were delivered, and a
// session resumes from it. Tables are read in their configured order, each in key order: a chunk
// that comes back full is followed by the same table after its last key; a short one ends the
// table.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "connector/chunk_query.h"
#include "connector/chunk_rows.h"
#include "core/source_offset.h"

namespace pgcdc {

struct TableInfo;

class SnapshotPlan {
 public:
  // Where a chunk starts reading: a table and the key after which it reads.
  struct ChunkStart {
    TableInfo* table = nullptr;
    std::optional<std::vector<std::string>> after;  // none: from the table's start
  };

  // `tables` (the configured tables, in order) must outlive this. `snapshot_new_tables`
  // (source.snapshot): whether a table without progress is read before it is streamed.
  SnapshotPlan(std::vector<TableInfo>& tables, bool snapshot_new_tables);

  const std::shared_ptr<const SnapshotProgress>& progress() const { return progress_; }
  // The progress a session resumes from, or one a publication check changed.
  void set_progress(std::shared_ptr<const SnapshotProgress> progress) {
    progress_ = std::move(progress);
  }

  // The first table whose snapshot is not done; nullptr when none is left.
  TableInfo* next_table();
  // Where `table`'s snapshot stands (a table not begun: its start).
  ChunkStart resume_point(TableInfo& table) const;
  // The chunk after one of `table` read with `query` that returned `rows`: the same table after
  // its last key while chunks come back full, else the next table that is not done; nullopt
  // when none is left.
  std::optional<ChunkStart> chunk_after(TableInfo& table, const ChunkQuery& query,
                                        const ChunkRows& rows) const;

  // A chunk of `table` read with `query` returned `rows`, of which `published` were published:
  // the progress moves past it (past its last row even when that one was dropped: the chunk
  // covered its range). Returns true when the chunk ended the table.
  bool advance(const TableInfo& table, const ChunkQuery& query, const ChunkRows& rows,
               std::uint64_t published);

 private:
  bool wants_snapshot(const TableInfo& table) const;

  std::vector<TableInfo>& tables_;
  const bool snapshot_new_tables_;
  std::shared_ptr<const SnapshotProgress> progress_ = std::make_shared<SnapshotProgress>();
};

}  // namespace pgcdc
