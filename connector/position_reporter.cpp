#include "connector/position_reporter.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "connector/replication_protocol.h"

namespace pgcdc {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kCommitInterval = std::chrono::milliseconds(1000);

}  // namespace

PositionReporter::PositionReporter(OffsetStore& store, PositionLedger& ledger, SourceStats& stats,
                                   std::chrono::milliseconds status_interval,
                                   const SourceOffset& start)
    : ledger_(ledger),
      stats_(stats),
      status_interval_(status_interval),
      saver_(store, start),
      last_requested_(start),
      last_saved_(start),
      last_sent_flush_(start.lsn) {}

void PositionReporter::start_over(bool save) {
  ledger_.reset(SourceOffset{});
  last_saved_ = SourceOffset{};
  last_requested_ = SourceOffset{};
  if (save) saver_.save_now(last_saved_);
  last_sent_flush_ = 0;
}

void PositionReporter::received(Lsn data_start) {
  if (data_start == 0) return;
  received_lsn_ = std::max(received_lsn_, data_start);
  stats_.received_lsn = received_lsn_;
}

void PositionReporter::keepalive(Lsn wal_end) {
  // A keepalive's walEnd is how far the walsender has decoded: every transaction that committed
  // before it has been sent, so with nothing in flight the slot may move there.
  server_wal_end_ = std::max(server_wal_end_, wal_end);
  received_lsn_ = std::max(received_lsn_, wal_end);
  stats_.server_wal_end = server_wal_end_;
}

void PositionReporter::maybe_commit(bool force, bool in_transaction) {
  auto now = Clock::now();
  if (!force && now < next_commit_) return;
  next_commit_ = now + kCommitInterval;
  if (replication_ && !in_transaction && server_wal_end_ != 0 &&
      ledger_.committable().lsn < server_wal_end_ && ledger_.advance_if_idle(server_wal_end_)) {
    spdlog::debug("nothing in flight: position follows the server to {}",
                  format_lsn(server_wal_end_));
  }
  SourceOffset offset = ledger_.committable();
  // Durable first, then tell PostgreSQL: a crash in between re-reads, it never skips. The save
  // runs on the saver's thread (an fsync can take hundreds of milliseconds, and every change
  // would wait meanwhile); PostgreSQL hears of a position once the saver says it is durable.
  if (!(offset == last_requested_)) {
    saver_.request(offset);
    last_requested_ = offset;
  }
  last_saved_ = saver_.durable();
  stats_.flushed_lsn = last_saved_.lsn;
  if (!replication_) return;
  if (force || last_saved_.lsn != last_sent_flush_ || now >= next_status_) {
    send_status(false);
    last_sent_flush_ = last_saved_.lsn;
  }
}

void PositionReporter::commit_durably(bool in_transaction) {
  const SourceOffset offset = ledger_.committable();
  if (!(offset == last_saved_)) {
    saver_.save_now(offset);
    last_requested_ = offset;
  }
  maybe_commit(true, in_transaction);
}

void PositionReporter::send_status(bool reply_requested) {
  next_status_ = Clock::now() + status_interval_;
  Lsn flush = last_saved_.lsn;
  spdlog::debug("status update: received {}, flushed {}", format_lsn(received_lsn_),
                format_lsn(flush));
  const std::int64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();
  std::string update = replication::make_standby_status_update(
      std::max(received_lsn_, flush), flush, flush, now_us, reply_requested);
  PGconn* conn = replication_->raw();
  if (PQputCopyData(conn, update.data(), static_cast<int>(update.size())) != 1 ||
      PQflush(conn) != 0) {
    throw make_pg_error(nullptr, conn, "sending a status update failed");
  }
}

void PositionReporter::finish(bool in_transaction) {
  try {
    next_commit_ = {};
    // A status update needs the COPY to be running (it is not after the server ended it).
    if (replication_ && PQstatus(replication_->raw()) == CONNECTION_OK &&
        PQtransactionStatus(replication_->raw()) == PQTRANS_ACTIVE) {
      commit_durably(in_transaction);
    } else {
      SourceOffset offset = ledger_.committable();
      if (!(offset == last_saved_)) {
        saver_.save_now(offset);
        last_saved_ = offset;
      }
    }
  } catch (const std::exception& e) {
    spdlog::warn("final position commit failed: {}", e.what());
  }
}

}  // namespace pgcdc
