#include "connector/snapshot_plan.h"

#include "connector/catalog.h"

namespace pgcdc {

SnapshotPlan::SnapshotPlan(std::vector<TableInfo>& tables, bool snapshot_new_tables)
    : tables_(tables), snapshot_new_tables_(snapshot_new_tables) {}

bool SnapshotPlan::wants_snapshot(const TableInfo& table) const {
  auto it = progress_->find(table.qualified);
  // A table without progress is new to the pipeline; one with progress was begun, or is read
  // again after a publication gap even when source.snapshot is off.
  return it == progress_->end() ? snapshot_new_tables_ : !it->second.done;
}

TableInfo* SnapshotPlan::next_table() {
  for (auto& table : tables_) {
    if (wants_snapshot(table)) return &table;
  }
  return nullptr;
}

SnapshotPlan::ChunkStart SnapshotPlan::resume_point(TableInfo& table) const {
  ChunkStart start{&table, std::nullopt};
  auto progress = progress_->find(table.qualified);
  if (progress != progress_->end()) start.after = progress->second.last_key;
  return start;
}

std::optional<SnapshotPlan::ChunkStart> SnapshotPlan::chunk_after(TableInfo& table,
                                                                  const ChunkQuery& query,
                                                                  const ChunkRows& rows) const {
  if (rows.size() >= query.limit) return ChunkStart{&table, last_key_of(rows, query.key_positions)};
  for (auto& other : tables_) {  // `table` is done with this chunk
    if (&other == &table || !wants_snapshot(other)) continue;
    return resume_point(other);
  }
  return std::nullopt;
}

bool SnapshotPlan::advance(const TableInfo& table, const ChunkQuery& query, const ChunkRows& rows,
                           std::uint64_t published) {
  auto next = std::make_shared<SnapshotProgress>(*progress_);
  TableSnapshotProgress& entry = (*next)[table.qualified];
  entry.rows += published;
  if (rows.size() > 0) entry.last_key = last_key_of(rows, query.key_positions);
  const bool done = rows.size() < query.limit;
  if (done) entry.done = true;
  progress_ = std::move(next);
  return done;
}

}  // namespace pgcdc
