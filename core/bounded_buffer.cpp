#include "core/bounded_buffer.h"

#include <algorithm>

namespace pgcdc {
namespace {

constexpr std::size_t kInitialRing = 64;
constexpr std::size_t kWakeBatch = 64;  // records queued before a push wakes the consumer

std::size_t capacity_of(const Record& record) {
  return record.topic.capacity() + record.key.capacity() + record.table.capacity() +
         (record.value ? record.value->capacity() : 0);
}

// What a queued record costs against max_bytes: its strings and its own slot, so the bound is
// close to the memory the records really hold (the payload alone was ~60% of it for narrow rows).
std::size_t cost_of(const Record& record) {
  return record.payload_bytes() + record.table.size() + sizeof(Record);
}

}  // namespace

double BufferStats::fill_ratio() const {
  double by_records = max_records ? static_cast<double>(records) / max_records : 0.0;
  double by_bytes = max_bytes ? static_cast<double>(bytes) / max_bytes : 0.0;
  return std::min(1.0, std::max(by_records, by_bytes));
}

BoundedBuffer::BoundedBuffer(std::size_t max_records, std::size_t max_bytes)
    : max_records_(std::max<std::size_t>(1, max_records)),
      max_bytes_(std::max<std::size_t>(1, max_bytes)) {}

bool BoundedBuffer::has_room_for(std::size_t bytes) const {
  if (count_ == 0) return true;
  return count_ < max_records_ && bytes_ + bytes <= max_bytes_;
}

void BoundedBuffer::grow_ring() {
  std::vector<Record> bigger(ring_.empty() ? kInitialRing : ring_.size() * 2);
  for (std::size_t i = 0; i < count_; ++i) {
    bigger[i] = std::move(ring_[(head_ + i) & (ring_.size() - 1)]);
  }
  ring_ = std::move(bigger);
  head_ = 0;
}

void BoundedBuffer::enqueue(Record& record, std::size_t cost) {
  if (count_ == ring_.size()) grow_ring();
  ring_[(head_ + count_) & (ring_.size() - 1)] = std::move(record);
  ++count_;
  bytes_ += cost;
  if (!spares_.empty()) {
    record = std::move(spares_.back());
    spares_.pop_back();
    spare_bytes_ -= capacity_of(record);
  }
}

BoundedBuffer::PushResult BoundedBuffer::push(Record& record, std::chrono::milliseconds timeout) {
  std::size_t pushed = 0;
  return push_batch(std::span<Record>(&record, 1), pushed, timeout);
}

BoundedBuffer::PushResult BoundedBuffer::push_batch(std::span<Record> records,
                                                    std::size_t& pushed,
                                                    std::chrono::milliseconds timeout) {
  MutexLock lock(mutex_);
  while (pushed < records.size()) {
    Record& record = records[pushed];
    const std::size_t bytes = cost_of(record);
    // The predicate first: wait_for reads the clock even when it need not wait.
    auto ready = [&]() REQUIRES(mutex_) { return closed_ || has_room_for(bytes); };
    if (!ready()) {
      // Full: whatever batch is queued must go now, or the two sides would wait for each other.
      woken_.store(true);
      not_empty_.notify_one();
      if (!not_full_.wait_for(lock.native(), timeout, ready)) return PushResult::kTimedOut;
    }
    if (closed_) return PushResult::kClosed;
    enqueue(record, bytes);
    ++pushed;
  }
  // Wake the consumer for a batch, not for every record: a sink woken per record sends batches of
  // one and pays a thread wake-up for each. The source calls hand_over() when it goes idle, so
  // a lone record is not held back. A consumer that is not waiting needs no notify: it looks at
  // the ring before it sleeps, under the lock this thread holds now.
  const bool wake = count_ >= kWakeBatch && consumer_waiting_.load() != kNotWaiting;
  lock.unlock();
  if (wake) not_empty_.notify_one();
  return PushResult::kPushed;
}

bool BoundedBuffer::pop_batch(std::vector<Record>& out, std::size_t max_count,
                              std::chrono::milliseconds timeout, bool reports_due) {
  MutexLock lock(mutex_);
  auto ready = [&]() REQUIRES(mutex_) { return closed_ || count_ > 0 || woken_.load(); };
  if (!ready()) {
    // Announced before the predicate is checked again inside wait_for: a wake_consumer() then
    // either sees this flag (and notifies) or its woken_ is seen here.
    consumer_waiting_.store(reports_due ? kWaitingForReports : kWaitingIdle);
    not_empty_.wait_for(lock.native(), timeout, ready);
    consumer_waiting_.store(kNotWaiting);
  }
  woken_.store(false);
  if (count_ == 0) return !closed_;
  std::size_t count = std::min(max_count, count_);
  for (std::size_t i = 0; i < count; ++i) {
    bytes_ -= cost_of(front());
    out.push_back(std::move(front()));
    head_ = (head_ + 1) & (ring_.size() - 1);
    --count_;
  }
  // A ring whose slots alone outweigh the byte bound (only possible when the record bound lets
  // many tiny records in) is given back once it drains: a burst must not pin it for good. Smaller
  // rings stay: their slots are already counted in max_bytes (cost_of), and giving one back made
  // a busy pipeline regrow it, 64 slots at a time, every time the sink caught up.
  if (count_ == 0 && ring_.size() * sizeof(Record) > max_bytes_) {
    ring_ = std::vector<Record>(kInitialRing);
    head_ = 0;
  }
  lock.unlock();
  not_full_.notify_all();
  return true;
}

void BoundedBuffer::recycle(std::vector<Record>& done) {
  {
    MutexLock lock(mutex_);
    for (Record& record : done) {
      const std::size_t capacity = capacity_of(record);
      if (capacity > kSpareRecordBytes || spare_bytes_ + capacity > kSpareBytes) continue;
      spare_bytes_ += capacity;
      spares_.push_back(std::move(record));
    }
  }
  done.clear();  // what was not kept is freed here, outside the lock
}

void BoundedBuffer::wake_consumer() {
  // Called for every batch of delivery reports: when the consumer is busy (the usual case under
  // load) this is two atomic operations, no lock and no system call.
  woken_.store(true);
  if (consumer_waiting_.load() == kNotWaiting) return;
  { MutexLock lock(mutex_); }  // the consumer is inside wait_for: notify after it slept
  not_empty_.notify_one();
}

void BoundedBuffer::hand_over() {
  if (consumer_waiting_.load() == kWaitingForReports) return;
  wake_consumer();
}

void BoundedBuffer::close() {
  {
    MutexLock lock(mutex_);
    closed_ = true;
  }
  not_full_.notify_all();
  not_empty_.notify_all();
}

void BoundedBuffer::clear() {
  std::vector<Record> dropped;
  {
    MutexLock lock(mutex_);
    dropped.swap(ring_);
    head_ = 0;
    count_ = 0;
    bytes_ = 0;
  }
  not_full_.notify_all();
}

BufferStats BoundedBuffer::stats() const {
  MutexLock lock(mutex_);
  return BufferStats{count_, bytes_, max_records_, max_bytes_};
}

}  // namespace pgcdc
