#include "core/position_ledger.h"

#include <stdexcept>

namespace pgcdc {

PositionLedger::PositionLedger(SourceOffset start) : committed_(std::move(start)) {}

void PositionLedger::reset(SourceOffset start) {
  MutexLock lock(mutex_);
  if (!entries_.empty()) throw std::logic_error("ledger reset while entries are in flight");
  committed_ = std::move(start);
}

DeliveryToken PositionLedger::open() {
  MutexLock lock(mutex_);
  entries_.emplace_back();
  return next_token_++;
}

PositionLedger::Entry* PositionLedger::find(DeliveryToken token) {
  if (token < first_token_ || token >= first_token_ + entries_.size()) return nullptr;
  return &entries_[token - first_token_];
}

void PositionLedger::add_records(DeliveryToken token, std::uint64_t count) {
  MutexLock lock(mutex_);
  Entry* entry = find(token);
  if (!entry || entry->sealed) throw std::logic_error("record added to a closed ledger entry");
  entry->pending += count;
  in_flight_ += count;
}

void PositionLedger::seal(DeliveryToken token, SourceOffset position) {
  MutexLock lock(mutex_);
  Entry* entry = find(token);
  if (!entry || entry->sealed) throw std::logic_error("ledger entry sealed twice");
  entry->sealed = true;
  entry->position = std::move(position);
  pop_completed();
}

bool PositionLedger::advance_if_idle(Lsn lsn) {
  MutexLock lock(mutex_);
  if (!entries_.empty() || failed_) return false;
  if (lsn > committed_.lsn) committed_.lsn = lsn;
  return true;
}

void PositionLedger::on_delivery(const DeliveryReport& report) {
  const DeliveryToken token = report.token;
  MutexLock lock(mutex_);
  Entry* entry = find(token);
  // A report for an unknown token would mean a sink reported twice or invented a token: that is a
  // bug which could commit undelivered data, so it fails the session instead of being ignored.
  if (!entry || entry->pending < report.records || report.records == 0) {
    if (!failed_) {
      failed_ = true;
      failure_ = "delivery report for unknown or completed ledger entry " + std::to_string(token);
    }
    return;
  }
  entry->pending -= report.records;
  in_flight_ -= report.records;
  if (report.status != DeliveryStatus::kDelivered) {
    // A rejection takes the place of a failure's reason: a timeout mends itself, a record the
    // destination refuses does not, and that is what the person reading the error must fix.
    // Among rejections, the largest record's: a broker refuses a whole batch as too large, and
    // its first record is seldom the one that made it so.
    const bool rejection = report.status == DeliveryStatus::kRejected;
    const std::size_t bytes = report.payload_bytes / report.records;
    if (!failed_ || (rejection && (!rejected_ || bytes > rejected_bytes_))) {
      failure_ =
          std::string(report.error.empty() ? (rejection ? "delivery rejected" : "delivery failed")
                                           : report.error);
      if (rejection) rejected_bytes_ = bytes;
    }
    failed_ = true;
    if (rejection) rejected_ = true;
  }
  pop_completed();
}

void PositionLedger::fail(std::string reason) {
  MutexLock lock(mutex_);
  if (failed_) return;
  failed_ = true;
  failure_ = reason.empty() ? "the session failed without a reason (a bug: please report it)"
                            : std::move(reason);
}

void PositionLedger::pop_completed() {
  // After a failure nothing more is committed in this session: the failed record's position and
  // everything after it must be re-read from the last committed position.
  if (failed_) return;
  while (!entries_.empty() && entries_.front().sealed && entries_.front().pending == 0) {
    committed_ = std::move(entries_.front().position);
    entries_.pop_front();
    ++first_token_;
  }
}

SourceOffset PositionLedger::committable() const {
  MutexLock lock(mutex_);
  return committed_;
}

bool PositionLedger::failed() const {
  MutexLock lock(mutex_);
  return failed_;
}

bool PositionLedger::rejected() const {
  MutexLock lock(mutex_);
  return rejected_;
}

std::string PositionLedger::failure() const {
  MutexLock lock(mutex_);
  return failure_;
}

std::uint64_t PositionLedger::records_in_flight() const {
  MutexLock lock(mutex_);
  return in_flight_;
}

std::size_t PositionLedger::entries_in_flight() const {
  MutexLock lock(mutex_);
  return entries_.size();
}

}  // namespace pgcdc
