#include "connector/postgres_source.h"

#include <sys/select.h>

#include <algorithm>
#include <thread>

#include <spdlog/spdlog.h>

#include "connector/publication_watch.h"
#include "connector/replication_protocol.h"
#include "connector/replication_setup.h"
#include "connector/session_setup.h"

namespace pgcdc {
namespace {

using Clock = std::chrono::steady_clock;
// While changes flow (a message arrived within kFlowingWindow), read_from_server waits for a
// batch (ReplicationStream::wait_for_batch) instead of any byte.
constexpr auto kFlowingWindow = std::chrono::milliseconds(20);
constexpr const char* kHeartbeatPrefix = "pgcdc_heartbeat";
// How often the stream loop checks that every captured table is still in the publication.
constexpr auto kPublicationCheckInterval = std::chrono::seconds(5);

std::int64_t unix_now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string random_session_id() {
  std::random_device device;
  std::uniform_int_distribution<std::uint64_t> distribution;
  char text[17];
  std::snprintf(text, sizeof text, "%016llx",
                static_cast<unsigned long long>(distribution(device)));
  return text;
}

}  // namespace

PostgresSource::PostgresSource(SourceOptions options, BoundedBuffer& buffer, PositionLedger& ledger,
                               OffsetStore& offsets, SourceStats& stats)
    : options_(std::move(options)),
      ledger_(ledger),
      offsets_(offsets),
      stats_(stats),
      output_(buffer, ledger, stats, [this] { wait_for_room(); }),
      converter_(options_.format),  // [format]: the same options for snapshot and stream
      plan_(tables_, options_.source.snapshot),
      watermarks_(random_session_id(),
                  [this](const SnapshotChunk& chunk, std::size_t row, std::string& key) {
                    chunk.rows.fill(row, key_tuple_);
                    return builder_->key_of(chunk.layout, key_tuple_, key);
                  }) {}

PostgresSource::~PostgresSource() = default;

PostgresSource::Outcome PostgresSource::run(const std::atomic<bool>& stop) {
  stop_ = &stop;
  connect_and_prepare();
  try {
    Outcome outcome = options_.source.cdc ? stream_loop(stop) : snapshot_only_loop(stop);
    if (snapshot_) snapshot_->abandon();
    return outcome;
  } catch (const StopRequested&) {
    if (snapshot_) snapshot_->abandon();
    return ledger_.failed() ? Outcome::kDeliveryFailed : Outcome::kStopped;
  }
}

void PostgresSource::connect_and_prepare() {
  const SourceConfig& source = options_.source;
  query_.emplace(connect_to_source(options_));
  types_ = std::make_unique<TypeCache>(*query_);
  builder_ = std::make_unique<RecordBuilder>(converter_, query_->database());
  tables_ = describe_tables(*query_, options_);
  relations_.emplace(tables_, *query_, *types_, source.publication_name,
                     start_over_advice(options_));

  snapshot_.emplace(options_, *query_, *types_, watermarks_);

  SourceOffset start = ledger_.committable();
  resume_lsn_ = start.lsn;
  plan_.set_progress(start.snapshot);
  positions_.emplace(offsets_, ledger_, stats_, source.status_interval, start);
  if (!source.cdc) return;

  SlotCheck slot = check_slot(*query_, options_, tables_, resume_lsn_, plan_.progress()->empty());
  if (slot.start_over) {
    resume_lsn_ = 0;
    plan_.set_progress(std::make_shared<SnapshotProgress>());
    positions_->start_over(/*save=*/slot.dropped);
  }
  replication_.emplace(open_replication(*query_, options_, tables_, slot.exists));
  check_publication();
  start_streaming(resume_lsn_);
}

void PostgresSource::start_streaming(Lsn start) {
  start_replication(*replication_, options_, start);
  stream_.emplace(replication_->raw());
  silence_.emplace(options_.source.connection_timeout, Clock::now());
  socket_counted_ = {};
  naps_counted_ = 0;
  positions_->stream_to(*replication_);
  stats_.streaming = true;
}

// ---------------------------------------------------------------------------------------------
// Main loops

PostgresSource::Outcome PostgresSource::stream_loop(const std::atomic<bool>& stop) {
  for (;;) {
    stats_.note_loop_turn();  // daemon watchdog: the loop is not wedged
    if (stop) return Outcome::kStopped;
    if (ledger_.failed()) return Outcome::kDeliveryFailed;
    // While the stream owes an answer to a request for one, the loop only listens: a query on a
    // dead network would first wait out its own timeout (SilenceWatch::awaiting_answer).
    const bool only_listen = silence_->awaiting_answer();
    if (!watermarks_.current() && !only_listen) {
      TableInfo* table = plan_.next_table();
      stats_.snapshotting = table != nullptr;
      // Snapshot done: streaming RSS does not keep the chunks' buffer (up to about
      // snapshot_chunk_bytes).
      if (!table && spare_rows_.capacity_bytes() > 0) spare_rows_.release_memory();
      if (table) {
        hand_over();  // reading a chunk takes a few queries
        start_chunk(*table);
      }
    }
    if (watermarks_.wants_read_ahead() && !only_listen) {
      hand_over();
      begin_next_chunk();
    }
    read_from_server(std::chrono::milliseconds(100));
    watch_replication_connection();
    maybe_commit(false);
    if (silence_->awaiting_answer()) continue;
    maybe_heartbeat();
    if (Clock::now() >= next_publication_check_) check_publication();
  }
}
void PostgresSource::check_publication() {
  next_publication_check_ = Clock::now() + kPublicationCheckInterval;
  PublicationCheck check = watch_publication(*query_, options_, tables_, *plan_.progress(),
                                             stats_.publication_gaps);
  reread_after_gap_.insert(check.gaps.begin(), check.gaps.end());
  for (const std::string& table : check.read_again) {
    for (const TableInfo& captured : tables_) {
      if (captured.qualified == table) watermarks_.restart_table(&captured);
    }
  }
  if (!(check.progress == *plan_.progress())) {
    plan_.set_progress(std::make_shared<SnapshotProgress>(std::move(check.progress)));
  }
  stats_.tables_reread_after_gap = static_cast<std::uint32_t>(reread_after_gap_.size());
}

void PostgresSource::maybe_heartbeat() {
  // On a database where the published tables are quiet but others write, the slot would hold
  // their WAL: a message written here is decoded, moves the walsender's position, and the
  // keepalive that follows lets the idle ledger advance the flush position past that WAL.
  const auto interval = options_.source.heartbeat_interval;
  if (interval.count() <= 0) return;
  auto now = Clock::now();
  if (now < next_heartbeat_) return;
  next_heartbeat_ = now + interval;
  hand_over();
  query_->exec_params("SELECT pg_catalog.pg_logical_emit_message(false, $1, '')",
                      {std::string(kHeartbeatPrefix)});
}

PostgresSource::Outcome PostgresSource::snapshot_only_loop(const std::atomic<bool>& stop) {
  // Without a stream there is nothing to be consistent with: read chunk after chunk, each one a
  // ledger entry whose position is the snapshot progress after it. The next chunk's query runs in
  // PostgreSQL while this thread turns the current chunk into records, so reading and publishing
  // overlap instead of taking turns. nullptr when a stop came while DDL held the table.
  auto begin = [&](const SnapshotPlan::ChunkStart& start) -> std::unique_ptr<SnapshotChunk> {
    for (;;) {
      if (auto chunk = snapshot_->begin(SnapshotReader::Kind::kPlain, *start.table, start.after)) {
        return chunk;
      }
      stats_.note_loop_turn();  // waiting out DDL is not wedged
      if (stop) return nullptr;
    }
  };
  std::unique_ptr<SnapshotChunk> next;
  if (TableInfo* table = plan_.next_table()) next = begin(plan_.resume_point(*table));
  while (next) {
    stats_.note_loop_turn();  // daemon watchdog
    stats_.snapshotting = true;
    if (stop) return Outcome::kStopped;
    if (ledger_.failed()) return Outcome::kDeliveryFailed;
    std::unique_ptr<SnapshotChunk> current = std::move(next);
    hand_over();  // receiving may wait for PostgreSQL
    snapshot_->finish(SnapshotReader::Kind::kPlain, *current, spare_rows_);
    if (auto start = plan_.chunk_after(*current->table, current->query, current->rows)) {
      next = begin(*start);
    }
    DeliveryToken token = ledger_.open();
    ChangeSource source{resume_lsn_, std::nullopt, unix_now_us(), true};
    std::uint64_t published =
        publish_rows(*current->table, current->layout, current->rows, nullptr, token, source);
    advance_snapshot_progress(*current, published);
    spare_rows_ = std::move(current->rows);
    SourceOffset position;
    position.lsn = resume_lsn_;
    position.snapshot = plan_.progress();
    seal(token, std::move(position));
    maybe_commit(false);
  }
  if (stop) return Outcome::kStopped;  // begin() gave up on a chunk: the snapshot is not done
  stats_.snapshotting = false;
  hand_over();
  while (ledger_.entries_in_flight() > 0) {
    stats_.note_loop_turn();  // daemon watchdog
    if (stop) return Outcome::kStopped;
    if (ledger_.failed()) return Outcome::kDeliveryFailed;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    maybe_commit(false);
  }
  if (ledger_.failed()) return Outcome::kDeliveryFailed;
  commit_durably();
  return Outcome::kFinished;
}

bool PostgresSource::read_from_server(std::chrono::milliseconds wait) {
  bool received = false;
  bool waited = false;
  // Bounded so chunks and commits get their turn even when the server never pauses.
  for (int handled = 0; handled < 10000; ++handled) {
    if (auto message = stream_->next()) {
      handle_copy_data(*message);
      received = true;
      continue;
    }
    if (received) {
      last_message_at_ = Clock::now();
      silence_->heard(last_message_at_);
      sample_socket(last_message_at_);
      return true;
    }
    if (waited) {
      sample_socket(Clock::now());
      return false;
    }
    hand_over();  // about to wait: the sink takes what is queued now
    // While changes flow, wake for a few of them, not for each: wait until the socket holds a
    // batch or the batch's time passed (ReplicationStream::batching()). Waking at the first byte
    // costs a wake-up of this thread, and of the walsender, for nearly every message when the
    // walsender is the slower side (docs/benchmarks.md, "Wake-ups"). A bulk stream reaches the
    // mark at once; a trickle waits at most the batch's time more. A fast stream of small messages
    // is held back instead (ReplicationStream, "Holding back a reserve"). Idle, any byte wakes
    // the loop.
    if (Clock::now() - last_message_at_ < kFlowingWindow) {
      stream_->wait_for_batch();
    } else {
      stream_->wait(wait);
    }
    waited = true;  // one wait per call
  }
  last_message_at_ = Clock::now();
  silence_->heard(last_message_at_);
  return received;
}

void PostgresSource::watch_replication_connection() {
  const auto now = Clock::now();
  const auto silent =
      std::chrono::duration_cast<std::chrono::milliseconds>(silence_->silent_for(now));
  switch (silence_->check(now)) {
    case SilenceWatch::Verdict::kFine:
      return;
    case SilenceWatch::Verdict::kAskForReply:
      spdlog::debug("{}: no message for {} ms; asking the server for a reply", replication_->name(),
                    silent.count());
      positions_->send_status(/*reply_requested=*/true);
      return;
    case SilenceWatch::Verdict::kCheckServer: {
      // A walsender replaying a large transaction it filters out reads no replies meanwhile.
      PgConnection::ServerWork work = replication_->server_at_work(silence_->dead_at());
      if (work.at_work) {
        spdlog::debug("{}: no message for {} ms, but the walsender is at work",
                      replication_->name(), silent.count());
        silence_->heard(Clock::now());
      } else {
        silence_check_ = std::move(work.why_not);
      }
      return;
    }
    case SilenceWatch::Verdict::kPresumedDead: {
      std::string message = fmt::format(
          "{}: no message from the server for {:.1f} s, not even an answer to a request for one "
          "({}; source.connection_timeout is {} ms): the connection is presumed dead",
          replication_->name(), static_cast<double>(silent.count()) / 1000.0, silence_check_,
          options_.source.connection_timeout.count());
      // Nothing more is sent on it (commit_positions skips a broken connection), and nothing
      // waits for it.
      replication_->close_dead();
      throw PgError(message, "", /*transient=*/true);
    }
  }
}

void PostgresSource::sample_socket(Clock::time_point now) {
  if (now < next_socket_sample_) return;
  next_socket_sample_ = now + std::chrono::seconds(1);
  stats_.replication_reserve_naps += stream_->reserve_naps() - naps_counted_;
  naps_counted_ = stream_->reserve_naps();
  auto received = stream_->socket_received();
  if (!received) return;
  stats_.replication_bytes_received += received->bytes - socket_counted_.bytes;
  stats_.replication_segments_received += received->segments - socket_counted_.segments;
  socket_counted_ = *received;
}

void PostgresSource::handle_copy_data(std::string_view data) {
  auto message = replication::parse_server_message(data);
  if (auto* xlog = std::get_if<replication::XLogData>(&message)) {
    positions_->received(xlog->data_start);
    decoder_.decode(xlog->payload, *this);
    return;
  }
  if (auto* keepalive = std::get_if<replication::PrimaryKeepalive>(&message)) {
    positions_->keepalive(keepalive->wal_end);
    if (keepalive->reply_requested) maybe_commit(true);
    return;
  }
  throw pgoutput::DecodeError("replication protocol: " +
                              std::get<replication::MalformedMessage>(message).reason);
}

// ---------------------------------------------------------------------------------------------
// Positions

void PostgresSource::maybe_commit(bool force) {
  positions_->maybe_commit(force, /*in_transaction=*/txn_.open);
}

void PostgresSource::commit_durably() {
  hand_over();  // the save waits for the disk
  positions_->commit_durably(/*in_transaction=*/txn_.open);
}

void PostgresSource::commit_positions() {
  // Without a reporter the session ended before it was set up: it read nothing, and writing
  // back the position it loaded could undo a newer one another instance saved meanwhile.
  if (!positions_) return;
  hand_over();
  positions_->finish(/*in_transaction=*/txn_.open);
}

void PostgresSource::seal(DeliveryToken token, SourceOffset position) {
  if (options_.position_markers) output_.push_position_marker(token, position);
  ledger_.seal(token, std::move(position));
}

void PostgresSource::wait_for_room() {
  // Backpressure: keep the walsender informed so wal_sender_timeout never fires.
  stats_.note_loop_turn();  // daemon watchdog: waiting for room is not wedged
  if (stop_ && *stop_) throw StopRequested{};
  if (ledger_.failed()) throw StopRequested{};
  maybe_commit(false);
}

void PostgresSource::drop_replication_objects() {
  if (!query_) return;
  if (positions_) positions_->detach();
  stream_.reset();
  replication_.reset();  // the slot stays active while its walsender runs
  drop_slot_and_publication(*query_, options_);
}

// ---------------------------------------------------------------------------------------------
// Snapshot chunks

void PostgresSource::start_chunk(TableInfo& table) {
  auto chunk =
      snapshot_->begin(SnapshotReader::Kind::kWatermark, table, plan_.resume_point(table).after);
  if (!chunk) return;  // the table is locked by DDL: the next turn tries again
  snapshot_->finish(SnapshotReader::Kind::kWatermark, *chunk, spare_rows_);
  watermarks_.start(std::move(chunk));
}

void PostgresSource::begin_next_chunk() {
  const SnapshotChunk& current = *watermarks_.current();
  if (auto start = plan_.chunk_after(*current.table, current.query, current.rows)) {
    if (auto next =
            snapshot_->begin(SnapshotReader::Kind::kWatermark, *start->table, start->after)) {
      watermarks_.read_ahead(std::move(next));
    }
  }
}

void PostgresSource::advance_snapshot_progress(const SnapshotChunk& chunk,
                                               std::uint64_t published) {
  const TableInfo& table = *chunk.table;
  if (plan_.advance(table, chunk.query, chunk.rows, published)) {
    const bool reread = reread_after_gap_.erase(table.qualified) > 0;
    stats_.tables_reread_after_gap = static_cast<std::uint32_t>(reread_after_gap_.size());
    spdlog::info("snapshot of {} complete: {} rows{}", table.qualified,
                 plan_.progress()->at(table.qualified).rows,
                 reread ? " (read again after a publication gap)" : "");
  }
  stats_.snapshot_rows += published;
  ++stats_.snapshot_chunks;
  stats_.per_table.count_chunk(table.qualified);  // daemon metrics
}

std::uint64_t PostgresSource::publish_rows(const TableInfo& table, const RowLayout& layout,
                                           const ChunkRows& rows, const std::vector<bool>* dropped,
                                           DeliveryToken token, const ChangeSource& source) {
  pgoutput::Tuple tuple;
  // The rows are announced to the ledger at once (begin_rows). If the session stops half-way, the
  // entry simply never completes: nothing of it is committed.
  const std::size_t count = rows.size();
  std::uint64_t published = 0;
  for (std::size_t row = 0; row < count; ++row) {
    if (!dropped || !(*dropped)[row]) ++published;
  }
  output_.begin_rows(token, table.qualified, published);
  for (std::size_t row = 0; row < count; ++row) {
    // Take in what the next chunk's query has sent so far, so PostgreSQL never waits on a full
    // socket while this loop works (non-blocking; the rows wait in libpq until received).
    if (row % 1024 == 0) snapshot_->consume_input();
    if (dropped && (*dropped)[row]) continue;
    rows.fill(row, tuple);
    Record& record = output_.stage_slot();
    if (!builder_->build(table, layout, Operation::kRead, nullptr, 0, &tuple, source, record)) {
      throw pgoutput::DecodeError("snapshot row of " + table.qualified + " has no key");
    }
    record.token = token;
    output_.stage(record);
  }
  output_.push_staged();
  stats_.unknown_type_values = builder_->unknown_type_values();
  return published;
}

// ---------------------------------------------------------------------------------------------
// pgoutput handler

void PostgresSource::on_begin(const pgoutput::Begin& begin) {
  txn_ = Transaction{};
  txn_.open = true;
  txn_.final_lsn = begin.final_lsn;
  txn_.xid = begin.xid;
  txn_.commit_time_us = begin.commit_time_us;
  // START_REPLICATION resumes at the slot's confirmed position, which may lag our offsets.
  txn_.skip = begin.final_lsn < resume_lsn_;
  if (!txn_.skip) txn_.token = ledger_.open();
  watermarks_.begin(begin.xid);
}

void PostgresSource::on_commit(const pgoutput::Commit& commit) {
  if (!txn_.open) throw pgoutput::DecodeError("Commit without Begin");
  if (!txn_.skip) {
    SourceOffset position;
    position.lsn = commit.end_lsn;
    position.snapshot = plan_.progress();
    seal(txn_.token, std::move(position));
    ++stats_.transactions;
  }
  txn_.open = false;
}

void PostgresSource::on_relation(const pgoutput::Relation& relation) {
  relations_->update(relation);
}

const RelationMap::Relation* PostgresSource::relation_for_change(std::uint32_t relation_id) {
  if (!txn_.open) throw pgoutput::DecodeError("change outside a transaction");
  if (txn_.skip) return nullptr;
  return relations_->for_change(relation_id);
}

void PostgresSource::note_chunk_key(const RelationMap::Relation& relation,
                                    const pgoutput::Tuple& tuple) {
  if (!watermarks_.watches(relation.table)) return;
  std::string key;
  if (!builder_->key_of(relation.layout, tuple, key)) return;
  watermarks_.change(relation.table, key);
}

void PostgresSource::on_insert(std::uint32_t relation_id, const pgoutput::Tuple& new_tuple) {
  const RelationMap::Relation* relation = relation_for_change(relation_id);
  if (!relation) return;
  note_chunk_key(*relation, new_tuple);
  emit(*relation, Operation::kCreate, nullptr, 0, &new_tuple);
}

void PostgresSource::on_update(std::uint32_t relation_id, char old_kind,
                               const pgoutput::Tuple* old_tuple, const pgoutput::Tuple& new_tuple) {
  const RelationMap::Relation* relation = relation_for_change(relation_id);
  if (!relation) return;
  note_chunk_key(*relation, new_tuple);
  if (old_tuple) {
    note_chunk_key(*relation, *old_tuple);
    std::string old_key, new_key;
    if (builder_->key_of(relation->layout, *old_tuple, old_key) &&
        builder_->key_of(relation->layout, new_tuple, new_key) && old_key != new_key) {
      // The key changed: for a compacted topic that is a delete of the old key and a create of
      // the new one (as Debezium does), not an update under the new key.
      emit(*relation, Operation::kDelete, old_tuple, old_kind, nullptr);
      if (options_.tombstones)
        emit_tombstone(relation->table->topic, old_key, relation->table->qualified);
      // The create has no `before` to take unchanged TOASTed values from: fill them here from
      // the old row when it carries them (a FULL identity), as an update's `after` would be.
      created_row_ = new_tuple;
      for (std::size_t i = 0; i < created_row_.size() && i < old_tuple->size(); ++i) {
        const pgoutput::TupleValue& old_value = (*old_tuple)[i];
        if (created_row_[i].kind == pgoutput::ValueKind::kUnchangedToast &&
            (old_value.kind == pgoutput::ValueKind::kText ||
             old_value.kind == pgoutput::ValueKind::kBinary)) {
          created_row_[i] = old_value;
        }
      }
      emit(*relation, Operation::kCreate, nullptr, 0, &created_row_);
      return;
    }
  }
  emit(*relation, Operation::kUpdate, old_tuple, old_kind, &new_tuple);
}

void PostgresSource::on_delete(std::uint32_t relation_id, char old_kind,
                               const pgoutput::Tuple& old_tuple) {
  const RelationMap::Relation* relation = relation_for_change(relation_id);
  if (!relation) return;
  note_chunk_key(*relation, old_tuple);
  std::string key;
  bool has_key = builder_->key_of(relation->layout, old_tuple, key);
  emit(*relation, Operation::kDelete, &old_tuple, old_kind, nullptr);
  if (has_key && options_.tombstones) {
    emit_tombstone(relation->table->topic, key, relation->table->qualified);
  }
}

void PostgresSource::on_truncate(std::uint8_t, const std::vector<std::uint32_t>& relation_ids) {
  for (std::uint32_t id : relation_ids) {
    const RelationMap::Relation* relation = relation_for_change(id);
    if (!relation) continue;
    watermarks_.truncate(relation->table);
    emit(*relation, Operation::kTruncate, nullptr, 0, nullptr);
  }
}

void PostgresSource::on_message(const pgoutput::LogicalMessage& message) {
  if (!message.transactional || message.prefix != WatermarkSnapshot::kMessagePrefix) return;
  auto closed = watermarks_.watermark(message.content, /*already_delivered=*/txn_.skip);
  if (!closed) return;
  SnapshotChunk& chunk = *closed->chunk;
  if (closed->publish) {
    // The chunk's rows take the high watermark's place in the stream: after every change
    // that committed before it, before every change after it.
    ChangeSource source{txn_.final_lsn, std::nullopt, txn_.commit_time_us, true};
    std::uint64_t published =
        publish_rows(*chunk.table, chunk.layout, chunk.rows, &chunk.dropped, txn_.token, source);
    advance_snapshot_progress(chunk, published);
  } else {
    ++stats_.snapshot_chunk_retries;
    spdlog::debug("snapshot chunk {} of {} raced a concurrent commit; reading it again", chunk.id,
                  chunk.table->qualified);
  }
  spare_rows_ = std::move(chunk.rows);
  if (closed->read_ahead_dropped) {
    snapshot_->abandon();  // cancels the read-ahead chunk's COPY and rolls its transaction back
  } else if (auto next = watermarks_.take_read_ahead()) {
    snapshot_->finish(SnapshotReader::Kind::kWatermark, *next, spare_rows_);
    watermarks_.start(std::move(next));
  }
}

void PostgresSource::emit(const RelationMap::Relation& relation, Operation op,
                          const pgoutput::Tuple* before, char before_kind,
                          const pgoutput::Tuple* after) {
  ChangeSource source{txn_.final_lsn, txn_.xid, txn_.commit_time_us, false};
  if (!builder_->build(*relation.table, relation.layout, op, before, before_kind, after, source,
                       scratch_)) {
    throw pgoutput::DecodeError("a change of " + relation.table->qualified +
                                " does not carry its key columns");
  }
  stats_.unknown_type_values = builder_->unknown_type_values();
  output_.push(scratch_, txn_.token);
}

void PostgresSource::emit_tombstone(const std::string& topic, const std::string& key,
                                    const std::string& table) {
  scratch_.topic = topic;
  scratch_.key = key;
  scratch_.value.reset();
  scratch_.op = Operation::kTombstone;
  scratch_.table = table;
  scratch_.commit_time_us = txn_.commit_time_us;
  output_.push(scratch_, txn_.token);
}

}  // namespace pgcdc
