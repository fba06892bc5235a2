#pragma once
// Per-table counters that one thread writes and the metrics sampler reads: records by operation
// and snapshot chunks. Header-only on purpose (small, and core/ lists its sources by hand).
//
// Threads: count_record(s)() and count_chunk() run on the source thread; rows() on any thread.
// The counters are atomics; one mutex guards the map's structure. The number of keys is bounded by
// the configured tables.
#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/mutex.h"
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

  // Source thread. Consecutive records mostly share a table: the last one's counters are kept at
  // hand, so the per-record cost is one string comparison and one relaxed atomic increment.
  void count_records(const std::string& table, Operation op, std::uint64_t n = 1) {
    entry(table).records[index_of(op)].fetch_add(n, std::memory_order_relaxed);
  }
  void count_record(const std::string& table, Operation op) { count_records(table, op, 1); }
  void count_chunk(const std::string& table) {
    entry(table).chunks.fetch_add(1, std::memory_order_relaxed);
  }

  // Any thread: a copy of every row seen so far.
  std::vector<Row> rows() const EXCLUDES(mutex_) {
    MutexLock lock(mutex_);
    std::vector<Row> out;
    out.reserve(entries_.size());
    for (const auto& [table, entry] : entries_) {
      Row row{table, {}, entry.chunks.load(std::memory_order_relaxed)};
      for (std::size_t i = 0; i < row.records.size(); ++i) {
        row.records[i] = entry.records[i].load(std::memory_order_relaxed);
      }
      out.push_back(std::move(row));
    }
    return out;
  }

  static std::size_t index_of(Operation op) {
    for (std::size_t i = 0; i < kOperations.size(); ++i) {
      if (kOperations[i] == op) return i;
    }
    return 0;
  }

 private:
  struct Entry {
    std::array<std::atomic<std::uint64_t>, kOperations.size()> records{};
    std::atomic<std::uint64_t> chunks{0};
  };

  Entry& entry(const std::string& table) EXCLUDES(mutex_) {  // source thread
    if (last_ && table == last_table_) return *last_;
    MutexLock lock(mutex_);
    // Map nodes never move, so the pointer stays valid while other tables are added.
    last_ = &entries_[table];
    last_table_ = table;
    return *last_;
  }

  mutable Mutex mutex_;  // guards the map's structure, not the counters
  std::unordered_map<std::string, Entry> entries_ GUARDED_BY(mutex_);
  // Source thread only.
  std::string last_table_;
  Entry* last_ = nullptr;
};

}  // namespace pgcdc
