#include "core/bounded_buffer.h"

#include <algorithm>

namespace pgcdc {

double BufferStats::fill_ratio() const {
  double by_records = max_records ? static_cast<double>(records) / max_records : 0.0;
  double by_bytes = max_bytes ? static_cast<double>(bytes) / max_bytes : 0.0;
  return std::min(1.0, std::max(by_records, by_bytes));
}

BoundedBuffer::BoundedBuffer(std::size_t max_records, std::size_t max_bytes)
    : max_records_(std::max<std::size_t>(1, max_records)),
      max_bytes_(std::max<std::size_t>(1, max_bytes)) {}

bool BoundedBuffer::has_room_for(std::size_t bytes) const {
  if (records_.empty()) return true;
  return records_.size() < max_records_ && bytes_ + bytes <= max_bytes_;
}

BoundedBuffer::PushResult BoundedBuffer::push(Record& record, std::chrono::milliseconds timeout) {
  const std::size_t bytes = record.payload_bytes();
  std::unique_lock lock(mutex_);
  if (!not_full_.wait_for(lock, timeout, [&] { return closed_ || has_room_for(bytes); })) {
    return PushResult::kTimedOut;
  }
  if (closed_) return PushResult::kClosed;
  bytes_ += bytes;
  records_.push_back(std::move(record));
  lock.unlock();
  not_empty_.notify_one();
  return PushResult::kPushed;
}

bool BoundedBuffer::pop_batch(std::vector<Record>& out, std::size_t max_count,
                              std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  not_empty_.wait_for(lock, timeout, [&] { return closed_ || !records_.empty(); });
  if (records_.empty()) return !closed_;
  std::size_t count = std::min(max_count, records_.size());
  for (std::size_t i = 0; i < count; ++i) {
    bytes_ -= records_.front().payload_bytes();
    out.push_back(std::move(records_.front()));
    records_.pop_front();
  }
  lock.unlock();
  not_full_.notify_all();
  return true;
}

void BoundedBuffer::close() {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  not_full_.notify_all();
  not_empty_.notify_all();
}

void BoundedBuffer::clear() {
  {
    std::lock_guard lock(mutex_);
    records_.clear();
    bytes_ = 0;
  }
  not_full_.notify_all();
}

BufferStats BoundedBuffer::stats() const {
  std::lock_guard lock(mutex_);
  return BufferStats{records_.size(), bytes_, max_records_, max_bytes_};
}

}  // namespace pgcdc
