#pragma once
// Tracks which source positions are safe to commit: a position is committable only when every
// record of its entry and of all earlier entries has a successful delivery report.
//
// One entry per PostgreSQL transaction (or snapshot chunk), not per record: memory is O(entries in
// flight), and a 1,000,000-row transaction is one counter. Delivery reports may arrive out of order
// across partitions; the committable position is the end of the longest fully delivered prefix.
// A failed report freezes the committable position before that entry for the rest of the session.
// A rejected report does the same and also says that no later session can get past it either.
#include <cstdint>
#include <deque>
#include <optional>
#include <string>

#include "core/delivery.h"
#include "core/mutex.h"
#include "core/source_offset.h"

namespace pgcdc {

class PositionLedger : public DeliveryListener {
 public:
  // `start` is the offset the session resumed from: committable() returns it until more is done.
  explicit PositionLedger(SourceOffset start = {});

  // Before any entry is opened (session start): the position the session resumes from.
  void reset(SourceOffset start);

  // Source thread: starts a new entry after all existing ones. Its records must carry the token.
  DeliveryToken open();
  // Source thread: one more record of `token` was handed to the buffer.
  void add_record(DeliveryToken token) { add_records(token, 1); }
  // Source thread: `count` more records of `token` are about to be handed to the buffer (a snapshot
  // chunk announces its rows at once: one lock instead of one per row).
  void add_records(DeliveryToken token, std::uint64_t count) EXCLUDES(mutex_);
  // Source thread: the entry has all its records; `position` is where the source stands once they
  // are delivered (end LSN of the transaction, snapshot progress after the chunk).
  void seal(DeliveryToken token, SourceOffset position);

  // Source thread, for idle streams: when no entry is in flight, the position may move forward
  // without any record (keepalive walEnd, transactions that touched nothing published).
  // Returns false (and changes nothing) when entries are in flight.
  bool advance_if_idle(Lsn lsn);

  // Sink delivery thread. A report counts as report.records records of its entry (a merged run,
  // see CountingListener); more than the entry has pending fails the session.
  void on_delivery(const DeliveryReport& report) override;

  // Any thread: the session cannot go on (the sink thread stopped). Freezes the committable
  // position as a failed report does; the source sees failed() and ends the session. The first
  // failure's reason is kept.
  void fail(std::string reason);

  // Any thread.
  SourceOffset committable() const;
  bool failed() const;
  // A record was rejected (DeliveryStatus::kRejected): restarting from the committed position
  // would meet it again, so the session's owner stops instead of retrying.
  bool rejected() const;
  // Why the session failed: if any record was rejected, the error of the largest rejected record
  // (it is what a person must act on), otherwise the first failure's; empty if none.
  std::string failure() const;
  std::uint64_t records_in_flight() const;
  std::size_t entries_in_flight() const;

 private:
  struct Entry {
    std::uint64_t pending = 0;  // records handed out and not yet acked
    bool sealed = false;
    SourceOffset position;
  };
  Entry* find(DeliveryToken token) REQUIRES(mutex_);
  void pop_completed() REQUIRES(mutex_);

  mutable Mutex mutex_;
  std::deque<Entry> entries_ GUARDED_BY(mutex_);
  DeliveryToken first_token_ GUARDED_BY(mutex_) = 1;  // token of entries_.front()
  DeliveryToken next_token_ GUARDED_BY(mutex_) = 1;
  SourceOffset committed_ GUARDED_BY(mutex_);
  std::uint64_t in_flight_ GUARDED_BY(mutex_) = 0;
  bool failed_ GUARDED_BY(mutex_) = false;
  bool rejected_ GUARDED_BY(mutex_) = false;
  // The payload of the record whose rejection failure_ holds.
  std::size_t rejected_bytes_ GUARDED_BY(mutex_) = 0;
  std::string failure_ GUARDED_BY(mutex_);
};

}  // namespace pgcdc
