#include "connector/record_output.h"


namespace pgcdc {
namespace {

constexpr auto kPushWait = std::chrono::milliseconds(100);
constexpr std::size_t kStagedRecords = 64;        // snapshot records per buffer push
constexpr std::size_t kStagedBytes = 256u << 10;  // ... or fewer when they are this large

}  // namespace

RecordOutput::RecordOutput(BoundedBuffer& buffer, PositionLedger& ledger, SourceStats& stats,
                           std::function<void()> wait_for_room)
    : buffer_(buffer), ledger_(ledger), stats_(stats), wait_for_room_(std::move(wait_for_room)) {}

void RecordOutput::push(Record& record, DeliveryToken token) {
  record.token = token;
  ledger_.add_record(token);
  ++stats_.records_read;
  stats_.per_table.count_record(record.table, record.op);  // daemon metrics
  push_records(std::span<Record>(&record, 1));
}

void RecordOutput::push_position_marker(DeliveryToken token, const SourceOffset& position) {
  marker_.topic.clear();
  marker_.key.clear();
  marker_.value = offset_to_json(position);
  marker_.op = Operation::kPosition;
  marker_.table.clear();
  marker_.commit_time_us = 0;
  marker_.token = token;
  push_records(std::span<Record>(&marker_, 1));
}

void RecordOutput::begin_rows(DeliveryToken token, const std::string& table, std::uint64_t count) {
  ledger_.add_records(token, count);
  stats_.records_read += count;
  stats_.per_table.count_records(table, Operation::kRead, count);  // daemon metrics
  staged_count_ = 0;
  staged_bytes_ = 0;
}

Record& RecordOutput::stage_slot() {
  if (staged_count_ == staged_.size()) staged_.emplace_back();
  return staged_[staged_count_];
}

void RecordOutput::stage(const Record& record) {
  ++staged_count_;
  staged_bytes_ += record.payload_bytes();
  if (staged_count_ >= kStagedRecords || staged_bytes_ >= kStagedBytes) push_staged();
}

void RecordOutput::push_staged() {
  push_records(std::span<Record>(staged_.data(), staged_count_));
  staged_count_ = 0;
  staged_bytes_ = 0;
}

void RecordOutput::hand_over() {
  if (!pushed_since_hand_over_) return;
  buffer_.hand_over();
  pushed_since_hand_over_ = false;
}

void RecordOutput::push_records(std::span<Record> records) {
  std::size_t pushed = 0;
  for (;;) {
    const BoundedBuffer::PushResult result = buffer_.push_batch(records, pushed, kPushWait);
    if (pushed > 0) pushed_since_hand_over_ = true;
    switch (result) {
      case BoundedBuffer::PushResult::kPushed:
        return;
      case BoundedBuffer::PushResult::kClosed:
        throw StopRequested{};
      case BoundedBuffer::PushResult::kTimedOut:
        wait_for_room_();
        break;
    }
  }
}

}  // namespace pgcdc
