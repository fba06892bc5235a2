#pragma once
// PositionReporter: how a delivered record becomes a flush LSN at PostgreSQL. Source thread only.
//
// The sink's delivery reports move PositionLedger::committable() (core/position_ledger.h). Once
// a second (maybe_commit), the reporter hands that position to the OffsetSaver, whose thread
// writes it to the offsets store, and sends PostgreSQL, in a standby status update, the newest
// position the saver reports durable: durable first, then PostgreSQL, so a crash in between
// reads again and never skips (invariant 1). The source never waits for the disk while changes
// flow; at the end of a run or a session commit_durably() waits for the save.
//
// With nothing in flight between transactions, the position follows the server's walEnd from
// keepalives, so an idle or filtered database does not keep its WAL. Status updates go out at
// least every source.status_interval, and at once when the walsender asks (invariant 6).
#include <chrono>
#include <optional>

#include "connector/pg_connection.h"
#include "core/lsn.h"
#include "core/offset_saver.h"
#include "core/offset_store.h"
#include "core/position_ledger.h"
#include "core/source_offset.h"
#include "core/source_stats.h"

namespace pgcdc {

class PositionReporter {
 public:
  // `start`: the position the session resumed from, which the store holds already.
  PositionReporter(OffsetStore& store, PositionLedger& ledger, SourceStats& stats,
                   std::chrono::milliseconds status_interval, const SourceOffset& start);
  PositionReporter(const PositionReporter&) = delete;
  PositionReporter& operator=(const PositionReporter&) = delete;

  // The session starts from nothing (an invalidated slot was dropped): the ledger and the
  // positions go back to zero, and with `save` the store is told at once.
  void start_over(bool save);

  // Status updates go to `replication` (streaming) from now on; until then positions are only
  // saved (snapshot-only runs never stream). The connection must outlive this or be detached.
  void stream_to(PgConnection& replication) { replication_ = &replication; }
  void detach() { replication_ = nullptr; }

  // What the stream reports: a message's start (data received up to it) and a keepalive's walEnd
  // (everything committed before it was sent).
  void received(Lsn data_start);
  void keepalive(Lsn wal_end);

  // Hands the committable position to the saver (when due, or at once with `force`) and sends
  // PostgreSQL the durable one in a status update; never waits for the disk. `in_transaction`:
  // the stream is inside a transaction, so the position does not follow walEnd.
  void maybe_commit(bool force, bool in_transaction);
  // As maybe_commit(true, ...), after waiting until the committable position is durable.
  void commit_durably(bool in_transaction);
  // A standby status update with the durable position; `reply_requested` asks the walsender to
  // answer at once. Throws PgError when it cannot be sent.
  void send_status(bool reply_requested);

  // After the session's sink has drained: saves the committable position and, while the stream
  // still runs, confirms it to PostgreSQL. Never throws (a failure is logged: the next session
  // resumes from the position before).
  void finish(bool in_transaction);

 private:
  PositionLedger& ledger_;
  SourceStats& stats_;
  const std::chrono::milliseconds status_interval_;
  OffsetSaver saver_;                    // saves off this thread
  PgConnection* replication_ = nullptr;  // once streaming
  SourceOffset last_requested_;          // handed to saver_ last
  SourceOffset last_saved_;              // durable: what status updates report as flushed
  Lsn last_sent_flush_ = 0;
  Lsn received_lsn_ = 0;
  Lsn server_wal_end_ = 0;
  std::chrono::steady_clock::time_point next_commit_{};
  std::chrono::steady_clock::time_point next_status_{};
};

}  // namespace pgcdc
