#pragma once
// The bounded queue between the source thread (producer) and the sink thread (consumer).
//
// Bounded by record count and by bytes (each record's strings plus its own slot), whichever fills
// first: this is what keeps memory independent of transaction and table size. push() waits with a timeout so the source can keep
// answering the walsender (status updates) while the buffer is full.
//
// Records circulate instead of being allocated per row: the sink hands the records it has sent
// back with recycle(), and push() returns one of them to the source, whose strings still have
// their capacity. The source overwrites every field, so a steady stream allocates nothing here
// (the buffer had been a top malloc/free site: strings allocated on one thread, freed on the
// other). What is kept for reuse is bounded by kSpareBytes, separately from max_bytes.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <span>
#include <vector>

#include "core/mutex.h"
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

  // Capacity (bytes of string storage) of the records kept for reuse, at most; records with more
  // are freed rather than kept.
  static constexpr std::size_t kSpareBytes = 2u << 20;
  static constexpr std::size_t kSpareRecordBytes = 16u << 10;

  BoundedBuffer(std::size_t max_records, std::size_t max_bytes);
  BoundedBuffer(const BoundedBuffer&) = delete;
  BoundedBuffer& operator=(const BoundedBuffer&) = delete;

  // Source thread. Waits up to `timeout` for room. A record larger than max_bytes is still
  // admitted into an empty buffer, so one huge row cannot wedge the pipeline. A push wakes a
  // waiting consumer only once a batch (64 records) is queued or the buffer is full: call
  // hand_over() when no more records follow for now.
  // kPushed: `record` now holds a recycled record with unspecified contents (overwrite every
  // field before pushing it). kTimedOut and kClosed: the record is left untouched.
  PushResult push(Record& record, std::chrono::milliseconds timeout) EXCLUDES(mutex_);

  // Source thread. push() for several records under one lock: pushes `records[pushed...]` in
  // order while there is room, waiting up to `timeout` for room when there is none, and advances
  // `pushed` past each record taken. Each taken slot of `records` receives a recycled record (or
  // an empty one). kPushed once every record is in; kTimedOut and kClosed leave the rest as they
  // were. One lock per batch instead of per record: the lock's cache line and the ring are shared
  // with the sink thread on the other core, and per-record hand-offs showed in snapshot profiles.
  PushResult push_batch(std::span<Record> records, std::size_t& pushed,
                        std::chrono::milliseconds timeout) EXCLUDES(mutex_);

  // Sink thread. Moves up to `max_count` records into `out` (appended), waiting up to `timeout`
  // for the first one or for wake_consumer(). `reports_due`: the sink has records in flight and
  // will be woken by their reports (see hand_over()). Returns false once closed and drained.
  bool pop_batch(std::vector<Record>& out, std::size_t max_count,
                 std::chrono::milliseconds timeout, bool reports_due = false);

  // Sink thread. Gives back records the sink is done with (sent, or dropped) so push() can reuse
  // their storage; leaves `done` empty.
  void recycle(std::vector<Record>& done);

  // Any thread. Ends the consumer's current (or next) wait in pop_batch() early, even with no
  // record: the sink has delivery reports to serve.
  void wake_consumer() EXCLUDES(mutex_);

  // Source thread: it pushed what it had for now and is about to wait for more. Wakes a consumer
  // that waits with nothing in flight (a lone record must not wait). A consumer waiting for
  // reports is left alone: it takes these records when the reports wake it, a few milliseconds
  // later at most, and the records already wait that long in the producer's linger anyway. Waking
  // it at every hand-over cost a thread wake-up per few records while streaming.
  void hand_over() EXCLUDES(mutex_);

  // Any thread. Wakes both sides; pushes fail from now on, pops drain what is left.
  void close();

  // Any thread. Drops everything queued (used when a failed session is torn down and its records
  // will be re-read from the last committed position).
  void clear();

  BufferStats stats() const;

 private:
  bool has_room_for(std::size_t bytes) const REQUIRES(mutex_);
  void enqueue(Record& record, std::size_t cost) REQUIRES(mutex_);  // and room
  void grow_ring() REQUIRES(mutex_);
  Record& front() REQUIRES(mutex_) { return ring_[head_]; }  // count_ > 0

  const std::size_t max_records_;
  const std::size_t max_bytes_;
  mutable Mutex mutex_;
  std::condition_variable not_full_;
  std::condition_variable not_empty_;
  // FIFO of queued records: a ring over `ring_` (its size a power of two, grown on demand up to
  // max_records, shrunk again when it drains), `count_` records from `head_`. A deque would
  // allocate and free a node every few records.
  std::vector<Record> ring_ GUARDED_BY(mutex_);
  std::size_t head_ GUARDED_BY(mutex_) = 0;
  std::size_t count_ GUARDED_BY(mutex_) = 0;
  std::size_t bytes_ GUARDED_BY(mutex_) = 0;
  std::vector<Record> spares_ GUARDED_BY(mutex_);   // recycled, waiting for push() to hand them out
  std::size_t spare_bytes_ GUARDED_BY(mutex_) = 0;  // string capacity held by spares_
  // Not guarded by mutex_: wake_consumer() avoids the lock unless the consumer sleeps.
  std::atomic<bool> woken_{false};            // wake_consumer() called since the last pop
  enum Waiting : int { kNotWaiting, kWaitingIdle, kWaitingForReports };
  std::atomic<int> consumer_waiting_{kNotWaiting};  // pop_batch() is (about to be) asleep
  bool closed_ GUARDED_BY(mutex_) = false;
};

}  // namespace pgcdc
