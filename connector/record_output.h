#pragma once
// RecordOutput: hands the source's records to the BoundedBuffer, each counted in its ledger entry
// (PositionLedger) before the sink can see it. Source thread only.
//
// The buffer wakes the sink per batch, not per record: before the source waits for anything (the
// server, a query, the disk) it calls hand_over() to wake the sink for what it pushed so far.
// Snapshot rows are built into a small staging batch instead (at most 64 records or 256 KiB) and
// handed over one batch under one lock: the buffer's lock is shared with the sink thread on the
// other core, and a hand-off per row showed in profiles.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "core/bounded_buffer.h"
#include "core/position_ledger.h"
#include "core/record.h"
#include "core/source_offset.h"
#include "core/source_stats.h"

namespace pgcdc {

// Thrown by a push that cannot go on (the buffer was closed, or wait_for_room said the session
// must end): it unwinds the decoder. The transaction being decoded is not sealed, so its position
// is never committed and it is read again next time.
struct StopRequested {};

class RecordOutput {
 public:
  // `wait_for_room` runs each time the buffer stayed full for a while: it keeps the walsender
  // and the watchdog informed, and throws StopRequested when the session must end.
  RecordOutput(BoundedBuffer& buffer, PositionLedger& ledger, SourceStats& stats,
               std::function<void()> wait_for_room);

  // One record of entry `token`: counted in the ledger and the metrics, then pushed (waiting for
  // room). The record's storage is swapped for a recycled record's.
  void push(Record& record, DeliveryToken token);
  // Exactly-once: a marker telling the transactional sink where entry `token` ends and what
  // position it commits. Not counted in the ledger (it gets no delivery report). Pushed before
  // the entry is sealed, so a stop while the buffer is full leaves the entry unsealed (never
  // committed) rather than sealed without its marker.
  void push_position_marker(DeliveryToken token, const SourceOffset& position);

  // Snapshot rows: `count` rows of `table` for entry `token` are announced to the ledger and
  // counted at once, not one lock per row, and the staging batch starts empty (a stop may have
  // left one: it was never delivered, so never due). Then each row is built into stage_slot()
  // and handed over by stage(); push_staged() pushes what is staged.
  void begin_rows(DeliveryToken token, const std::string& table, std::uint64_t count);
  Record& stage_slot();
  void stage(const Record& record);
  void push_staged();

  // Wakes the sink for what was pushed since the last hand-over.
  void hand_over();

 private:
  // Pushes every record in order, waiting for room.
  void push_records(std::span<Record> records);

  BoundedBuffer& buffer_;
  PositionLedger& ledger_;
  SourceStats& stats_;
  std::function<void()> wait_for_room_;
  Record marker_;  // reused for every position marker
  std::vector<Record> staged_;
  std::size_t staged_count_ = 0;
  std::size_t staged_bytes_ = 0;
  bool pushed_since_hand_over_ = false;
};

}  // namespace pgcdc
