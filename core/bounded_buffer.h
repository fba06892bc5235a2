#pragma once
// The bounded queue between the source thread (producer) and the sink thread (consumer).
//
// Bounded by record count and by payload bytes, whichever fills first: this is what keeps memory
// independent of transaction and table size. push() waits with a timeout so the source can keep
// answering the walsender (status updates) while the buffer is full.
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <vector>

#include "core/record.h"

namespace pgcdc {

struct BufferStats {
  std::size_t records = 0;
  std::size_t bytes = 0;
  std::size_t max_records = 0;
  std::size_t max_bytes = 0;
  // Fill level as the larger of the two ratios, in [0, 1].
  double fill_ratio() const;
};

class BoundedBuffer {
 public:
  enum class PushResult { kPushed, kTimedOut, kClosed };

  BoundedBuffer(std::size_t max_records, std::size_t max_bytes);
  BoundedBuffer(const BoundedBuffer&) = delete;
  BoundedBuffer& operator=(const BoundedBuffer&) = delete;

  // Source thread. Waits up to `timeout` for room. A record larger than max_bytes is still
  // admitted into an empty buffer, so one huge row cannot wedge the pipeline.
  // On kTimedOut and kClosed the record is left untouched in `record`.
  PushResult push(Record& record, std::chrono::milliseconds timeout);

  // Sink thread. Moves up to `max_count` records into `out` (appended), waiting up to `timeout`
  // for the first one. Returns false once closed and drained.
  bool pop_batch(std::vector<Record>& out, std::size_t max_count,
                 std::chrono::milliseconds timeout);

  // Any thread. Wakes both sides; pushes fail from now on, pops drain what is left.
  void close();

  // Any thread. Drops everything queued (used when a failed session is torn down and its records
  // will be re-read from the last committed position).
  void clear();

  BufferStats stats() const;

 private:
  bool has_room_for(std::size_t bytes) const;

  const std::size_t max_records_;
  const std::size_t max_bytes_;
  mutable std::mutex mutex_;  // guards everything below
  std::condition_variable not_full_;
  std::condition_variable not_empty_;
  std::deque<Record> records_;
  std::size_t bytes_ = 0;
  bool closed_ = false;
};

}  // namespace pgcdc
