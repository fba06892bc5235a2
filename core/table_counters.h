#pragma once
// Per-table counters that one thread writes and the metrics sampler reads: records by operation
// and snapshot chunks. Header-only on purpose (small, and core/ lists its sources by hand).
//
// Threads: count_record() and count_chunk() run on the source thread; rows() on any thread. One
// mutex guards the map; an uncontended lock and one hash lookup per record cost a few tens of
// nanoseconds, small beside building the record's JSON. The number of keys is bounded by the
// configured tables.
#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/record.h"

namespace pgcdc {

class TableCounters {
 public:
  // Every Operation, in the order of the `records` arrays below.
  static constexpr std::array<Operation, 6> kOperations = {
      Operation::kRead,   Operation::kCreate,   Operation::kUpdate,
      Operation::kDelete, Operation::kTruncate, Operation::kTombstone};

  struct Row {
    std::string table;                                  // "schema.table"
    std::array<std::uint64_t, kOperations.size()> records{};  // indexed like kOperations
    std::uint64_t chunks = 0;                           // snapshot chunks published
  };

  // Source thread.
  void count_record(const std::string& table, Operation op) {
    std::lock_guard lock(mutex_);
    ++entry(table).records[index_of(op)];
  }
  void count_chunk(const std::string& table) {
    std::lock_guard lock(mutex_);
    ++entry(table).chunks;
  }

  // Any thread: a copy of every row seen so far.
  std::vector<Row> rows() const {
    std::lock_guard lock(mutex_);
    std::vector<Row> out;
    out.reserve(rows_.size());
    for (const auto& [table, row] : rows_) out.push_back(row);
    return out;
  }

  static std::size_t index_of(Operation op) {
    for (std::size_t i = 0; i < kOperations.size(); ++i) {
      if (kOperations[i] == op) return i;
    }
    return 0;
  }

 private:
  Row& entry(const std::string& table) {  // requires mutex_
    auto it = rows_.find(table);
    if (it == rows_.end()) it = rows_.emplace(table, Row{table, {}, 0}).first;
    return it->second;
  }

  mutable std::mutex mutex_;  // guards rows_
  std::unordered_map<std::string, Row> rows_;
};

}  // namespace pgcdc
