#include "connector/postgres_source.h"

#include <sys/select.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <thread>

#include <spdlog/spdlog.h>

#include "connector/publication_watch.h"
#include "connector/replication_protocol.h"
#include "connector/replication_setup.h"

namespace pgcdc {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kCommitInterval = std::chrono::milliseconds(1000);
constexpr auto kPushWait = std::chrono::milliseconds(100);
// While changes flow (a message arrived within kFlowingWindow), read_from_server waits for a
// batch (ReplicationStream::wait_for_batch) instead of any byte.
constexpr auto kFlowingWindow = std::chrono::milliseconds(20);
constexpr std::size_t kStagedRecords = 64;        // snapshot records per buffer push
constexpr std::size_t kStagedBytes = 256u << 10;  // ... or fewer when they are this large
constexpr std::size_t kRecentXids = 4096;
constexpr const char* kWatermarkPrefix = "pgcdc";
constexpr const char* kHeartbeatPrefix = "pgcdc_heartbeat";
// How often the stream loop checks that every captured table is still in the publication.
constexpr auto kPublicationCheckInterval = std::chrono::seconds(5);

// Unwinds the decoder when a stop is requested while the buffer is full. The transaction being
// decoded is not sealed, so its position is never committed and it is read again next time.
struct StopRequested {};

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

// "xmin:xmax:xip,xip" of pg_current_snapshot(); returns the in-progress xids (low 32 bits: the
// xid pgoutput's Begin carries).
std::unordered_set<std::uint32_t> in_progress_xids(std::string_view snapshot) {
  std::unordered_set<std::uint32_t> xids;
  auto second_colon = snapshot.find(':', snapshot.find(':') + 1);
  if (second_colon == std::string_view::npos) return xids;
  std::string_view list = snapshot.substr(second_colon + 1);
  while (!list.empty()) {
    auto comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    std::uint64_t xid = 0;
    std::from_chars(item.data(), item.data() + item.size(), xid);
    xids.insert(static_cast<std::uint32_t>(xid));
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return xids;
}

}  // namespace

struct PostgresSource::PendingChunk {
  TableInfo* table = nullptr;
  RowLayout layout;
  std::uint64_t id = 0;
  ChunkQuery query;
  ChunkRows rows;
  // Key JSON -> row, built when the stream first brings a change of the chunk's table between
  // the watermarks (key_index()): most chunks see none, and then never pay for it.
  std::unordered_map<std::string, std::size_t> row_by_key;
  bool row_by_key_built = false;
  std::vector<bool> dropped;
  std::unordered_set<std::uint32_t> in_progress;  // xids running when the chunk was read
  bool low_seen = false;
  bool invalid = false;  // a transaction the chunk could not see committed before the low mark
};

PostgresSource::PostgresSource(const Config& config, BoundedBuffer& buffer, PositionLedger& ledger,
                               OffsetStore& offsets, SourceStats& stats)
    : config_(config),
      buffer_(buffer),
      ledger_(ledger),
      offsets_(offsets),
      stats_(stats),
      exactly_once_(config.sink.kind == SinkConfig::Kind::kKafka &&
                    config.sink.kafka.delivery == KafkaSinkConfig::Delivery::kExactlyOnce),
      converter_(config.format),  // [format]: the same options for snapshot and stream
      session_id_(random_session_id()),
      recent_xids_(kRecentXids, 0) {}

PostgresSource::~PostgresSource() = default;

PostgresSource::Outcome PostgresSource::run(const std::atomic<bool>& stop) {
  stop_ = &stop;
  connect_and_prepare();
  try {
    Outcome outcome = config_.source.cdc ? stream_loop(stop) : snapshot_only_loop(stop);
    if (reader_) reader_->abandon();
    return outcome;
  } catch (const StopRequested&) {
    if (reader_) reader_->abandon();
    return ledger_.failed() ? Outcome::kDeliveryFailed : Outcome::kStopped;
  }
}

void PostgresSource::connect_and_prepare() {
  const SourceConfig& source = config_.source;
  query_.emplace(source.url, PgConnection::Kind::kQuery, source.connection_timeout);
  check_server(*query_, source.cdc);
  types_ = std::make_unique<TypeCache>(*query_);
  builder_ = std::make_unique<RecordBuilder>(converter_, query_->database());
  tables_.clear();
  for (const auto& table : source.tables) {
    tables_.push_back(describe_table(*query_, table, config_.sink.kafka.topic_prefix));
  }
  check_distinct_names(tables_);

  check_partition_nesting(tables_);

  SourceOffset start = ledger_.committable();
  resume_lsn_ = start.lsn;
  progress_ = start.snapshot;
  last_saved_ = start;
  last_requested_ = start;
  saver_ = std::make_unique<OffsetSaver>(offsets_, start);
  last_sent_flush_ = start.lsn;
  if (!source.cdc) return;

  auto slot = find_slot(*query_, source.slot_name);
  if (slot) {
    if (slot->plugin != "pgoutput") {
      throw SetupError("replication slot " + source.slot_name + " uses plugin '" + slot->plugin +
                       "', not pgoutput; choose another source.slot_name");
    }
    if (slot->database != query_->database()) {
      throw SetupError("replication slot " + source.slot_name + " belongs to database " +
                       slot->database + ", not " + query_->database());
    }
    if (slot->wal_status == "lost" &&
        source.on_slot_lost == SourceConfig::OnSlotLost::kResnapshot) {
      spdlog::error("replication slot {} was invalidated (wal_status lost): PostgreSQL removed WAL "
                    "it still needed and the changes in it are lost. source.on_slot_lost = "
                    "resnapshot: dropping the slot, creating a new one and reading every table "
                    "again",
                    source.slot_name);
      // Another instance may have dropped it and made a new one meanwhile: that one stays, and
      // the instance that dropped the slot resets the offsets.
      const bool dropped = drop_lost_slot(*query_, source.slot_name);
      slot.reset();
      resume_lsn_ = 0;
      progress_ = std::make_shared<SnapshotProgress>();
      ledger_.reset(SourceOffset{});
      last_saved_ = SourceOffset{};
      last_requested_ = SourceOffset{};
      if (dropped) saver_->save_now(last_saved_);
      last_sent_flush_ = 0;
    } else if (slot->wal_status == "lost") {
      throw SetupError("replication slot " + source.slot_name +
                       " was invalidated (wal_status "
                       "lost): PostgreSQL removed WAL it still needed, changes were lost. Drop the "
                       "slot and the offsets file to start over with a new snapshot");
    }
    if (slot && slot->active) {
      // Another process (a second pgcdc instance) streams from it: stand by.
      throw SlotInUse("replication slot " + source.slot_name + " is in use by another process");
    }
  }
  if (slot && resume_lsn_ == 0 && progress_->empty()) {
    // The slot has streamed (or was made) before, but where its changes were delivered to is
    // unknown: the whole state again, then the stream from where the slot stands.
    const std::string store =
        exactly_once_ ? "the offsets topic " + config_.sink.kafka.offsets_topic +
                            " holds no position for this pipeline"
        : std::filesystem::exists(config_.offsets.path)
            ? "the offsets file " + config_.offsets.path + " holds no position"
            : "the offsets file " + config_.offsets.path + " is missing";
    spdlog::warn(
        "{}, but replication slot {} exists (confirmed flush {}): snapshotting every "
        "table again and streaming from the slot's position. Records delivered before "
        "are sent again (duplicates); none is lost",
        store, source.slot_name, format_lsn(slot->confirmed_flush));
  }
  if (slot && resume_lsn_ != 0 &&
      !find_publication(*query_, source.publication_name, tables_)) {
    // pgoutput looks publications up in the catalog as of each change: one created again now
    // cannot publish the changes in between, so the stream would fail on them forever.
    throw SetupError("publication " + source.publication_name +
                     " was dropped while the slot "
                     "still has changes to stream: they cannot be decoded any more. Drop the slot "
                     "and the offsets file to start over with a new snapshot");
  }
  if (!slot && resume_lsn_ != 0) {
    throw SetupError("replication slot " + source.slot_name +
                     " does not exist, but the offsets "
                     "file " +
                     config_.offsets.path + " says streaming reached " + format_lsn(resume_lsn_) +
                     ": changes since then cannot be recovered. Remove "
                     "the offsets file to start over with a new snapshot");
  }

  bool created_publication = ensure_publication(*query_, source, tables_);
  try {
    replication_.emplace(source.replication_url, PgConnection::Kind::kReplication,
                         source.connection_timeout);
    if (!slot) create_slot(*replication_, source.slot_name);
  } catch (const SlotInUse&) {
    throw;  // the instance that made the slot streams with this publication: it stays
  } catch (...) {
    // Leave nothing half-made: a publication without its slot is the residue of a failed start.
    // With a slot, another instance created it meanwhile and uses the publication.
    if (created_publication) {
      try {
        if (!find_slot(*query_, source.slot_name)) {
          drop_publication(*query_, source.publication_name);
        }
      } catch (const std::exception& e) {
        spdlog::error("could not drop publication {} after a failed start: {}",
                      source.publication_name, e.what());
      }
    }
    throw;
  }
  check_publication();
  start_streaming(resume_lsn_);
}

void PostgresSource::start_streaming(Lsn start) {
  const SourceConfig& source = config_.source;
  std::string publications = replication_->quote_identifier(source.publication_name);
  std::string command = "START_REPLICATION SLOT " +
                        replication_->quote_identifier(source.slot_name) + " LOGICAL " +
                        format_lsn(start) + " (proto_version '1', publication_names " +
                        quote_replication_literal(publications) + ", messages 'true')";
  try {
    replication_->exec(command);  // PGRES_COPY_BOTH
  } catch (const PgError& e) {
    // "replication slot ... is active for PID ...": another instance acquired it after this one
    // found it free.
    if (e.sqlstate() == "55006") {
      std::string reason = e.what();  // the command, then PostgreSQL's words (naming the PID)
      const std::string command_part = command.substr(0, 120) + ": ";
      if (reason.starts_with(command_part)) reason.erase(0, command_part.size());
      throw SlotInUse("replication slot " + source.slot_name + " is in use by another process (" +
                      reason + ")");
    }
    throw;
  }
  stream_.emplace(replication_->raw());
  silence_.emplace(source.connection_timeout, Clock::now());
  socket_counted_ = {};
  naps_counted_ = 0;
  stats_.streaming = true;
  spdlog::info("streaming from slot {} (publication {}), resuming after {}", source.slot_name,
               source.publication_name, format_lsn(start));
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
    if (!chunk_ && !only_listen) {
      TableInfo* table = next_table_to_snapshot();
      stats_.snapshotting = table != nullptr;
      // Snapshot done: streaming RSS does not keep the chunks' buffer (up to about
      // snapshot_chunk_bytes).
      if (!table && spare_rows_.capacity_bytes() > 0) spare_rows_.release_memory();
      if (table) {
        hand_over();  // reading a chunk takes a few queries
        start_chunk(*table);
      }
    }
    if (chunk_ && !next_chunk_ && !chunk_->invalid && !only_listen) {
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
  const SourceConfig& source = config_.source;
  PublicationMembership membership =
      read_publication_membership(*query_, source.publication_name, tables_);
  if (!membership.publication_exists) {
    throw SetupError("publication " + source.publication_name +
                     " was dropped while pgcdc "
                     "streams from it: changes since then cannot be decoded. Drop the slot " +
                     source.slot_name + " and the offsets file to start over with a new snapshot");
  }
  bool missing = false;
  for (const auto& [table, how] : membership.by_table) missing = missing || how.empty();
  if (missing) {
    // Adds them back when source.alter_publication allows it; otherwise throws naming the fix.
    ensure_publication(*query_, source, tables_);
    membership = read_publication_membership(*query_, source.publication_name, tables_);
  }
  auto next = std::make_shared<SnapshotProgress>(*progress_);
  for (const PublicationGap& gap : find_publication_gaps(*progress_, membership.by_table)) {
    const std::string what = "table " + gap.table + " left publication " + source.publication_name +
                             (gap.current.empty() ? "" : " and was added back") +
                             " while its changes were streamed: changes made meanwhile were "
                             "not decoded";
    ++stats_.publication_gaps;
    if (source.on_publication_gap == SourceConfig::OnPublicationGap::kFail) {
      throw SetupError(what +
                       " (source.on_publication_gap = fail). Set on_publication_gap = "
                       "\"resnapshot\" to read the table again, or start over with a new "
                       "snapshot");
    }
    spdlog::error(
        "{}; reading it again with watermark chunks while streaming goes on "
        "(source.on_publication_gap = resnapshot)",
        what);
    TableSnapshotProgress& entry = (*next)[gap.table];
    entry.publication = gap.current;
    read_again(entry, gap.table);
    reread_after_gap_.insert(gap.table);
  }
  for (const auto& table : tables_) {
    auto entry = next->find(table.qualified);
    if (entry == next->end()) {
      TableSnapshotProgress fresh;
      fresh.done = !source.snapshot;  // no snapshot wanted: streamed from now on only
      entry = next->emplace(table.qualified, std::move(fresh)).first;
    }
    if (entry->second.publication.empty())
      entry->second.publication = membership.by_table[table.qualified];
    if (table.partitioned) check_partitions(table, entry->second);
  }
  if (!(*next == *progress_)) progress_ = std::move(next);
  stats_.tables_reread_after_gap = static_cast<std::uint32_t>(reread_after_gap_.size());
}

void PostgresSource::maybe_heartbeat() {
  // On a database where the published tables are quiet but others write, the slot would hold
  // their WAL: a message written here is decoded, moves the walsender's position, and the
  // keepalive that follows lets the idle ledger advance the flush position past that WAL.
  const auto interval = config_.source.heartbeat_interval;
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
  // PostgreSQL (sent with libpq's asynchronous API) while this thread turns the current chunk into
  // records, so reading and publishing overlap instead of taking turns.
  // Each chunk is a transaction of its own that locks its table and reads its current columns
  // first (ChunkReader::open); nullopt when a stop came while DDL held the table.
  auto plan =
      [&](TableInfo* table,
          const std::optional<std::vector<std::string>>& after) -> std::optional<PlannedChunk> {
    while (!reader().open(*table, ChunkReader::Isolation::kReadCommitted)) {
      stats_.note_loop_turn();  // waiting out DDL is not wedged
      if (stop) return std::nullopt;
    }
    PlannedChunk chunk{table, snapshot_layout(*table), chunk_query(*table, after)};
    reader().send(chunk.query.sql);
    return chunk;
  };
  std::optional<PlannedChunk> next;
  if (TableInfo* table = next_table_to_snapshot()) {
    ChunkStart start = resume_point(*table);
    next = plan(start.table, start.after);
  }
  while (next) {
    stats_.note_loop_turn();  // daemon watchdog
    stats_.snapshotting = true;
    if (stop) return Outcome::kStopped;
    if (ledger_.failed()) return Outcome::kDeliveryFailed;
    PlannedChunk current = std::move(*next);
    next.reset();
    hand_over();  // receiving may wait for PostgreSQL
    ChunkRows& rows = spare_rows_;
    reader().receive(current.query.columns, rows);
    reader().commit();
    learn_row_width(*current.table, rows);
    if (auto start = chunk_after(*current.table, current.query, rows)) {
      next = plan(start->table, start->after);
    }
    DeliveryToken token = ledger_.open();
    ChangeSource source{resume_lsn_, std::nullopt, unix_now_us(), true};
    std::uint64_t published =
        publish_rows(*current.table, current.layout, rows, nullptr, token, source);
    advance_snapshot_progress(*current.table, current.query, rows, published);
    SourceOffset position;
    position.lsn = resume_lsn_;
    position.snapshot = progress_;
    if (exactly_once_) push_position_marker(token, position);
    ledger_.seal(token, std::move(position));
    maybe_commit(false);
  }
  if (stop) return Outcome::kStopped;  // plan() gave up on a chunk: the snapshot is not done
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
    // meant a wake-up of this thread for nearly every message when the walsender was the slower
    // side, each one paid by the walsender too (it wakes the reader): at 10,000 single-row
    // transactions a second, 30,000 wake-ups a second and most of pgcdc's CPU. A bulk stream
    // reaches the mark at once (a plain 1 ms nap before each wait cut the 10 KB TOAST workload to
    // a tenth of its rate); a trickle waits at most the batch's time more. A fast stream of small
    // messages is held back instead (ReplicationStream, "Holding back a reserve"). Idle, any byte
    // wakes the loop.
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
      send_status(/*reply_requested=*/true);
      return;
    case SilenceWatch::Verdict::kCheckServer:
      // A walsender replaying a large transaction it filters out reads no replies meanwhile.
      if (replication_->server_at_work(silence_->dead_at(), silence_check_)) {
        spdlog::debug("{}: no message for {} ms, but the walsender is at work",
                      replication_->name(), silent.count());
        silence_->heard(Clock::now());
      }
      return;
    case SilenceWatch::Verdict::kPresumedDead: {
      std::string message = fmt::format(
          "{}: no message from the server for {:.1f} s, not even an answer to a request for one "
          "({}; source.connection_timeout is {} ms): the connection is presumed dead",
          replication_->name(), static_cast<double>(silent.count()) / 1000.0, silence_check_,
          config_.source.connection_timeout.count());
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
    if (xlog->data_start != 0) {
      received_lsn_ = std::max(received_lsn_, xlog->data_start);
      stats_.received_lsn = received_lsn_;
    }
    decoder_.decode(xlog->payload, *this);
    return;
  }
  if (auto* keepalive = std::get_if<replication::PrimaryKeepalive>(&message)) {
    // A keepalive's walEnd is how far the walsender has decoded: every transaction that
    // committed before it has been sent, so with nothing in flight the slot may move there.
    server_wal_end_ = std::max(server_wal_end_, keepalive->wal_end);
    received_lsn_ = std::max(received_lsn_, keepalive->wal_end);
    stats_.server_wal_end = server_wal_end_;
    if (keepalive->reply_requested) maybe_commit(true);
    return;
  }
  throw pgoutput::DecodeError("replication protocol: " +
                              std::get<replication::MalformedMessage>(message).reason);
}

// ---------------------------------------------------------------------------------------------
// Positions

void PostgresSource::maybe_commit(bool force) {
  auto now = Clock::now();
  if (!force && now < next_commit_) return;
  next_commit_ = now + kCommitInterval;
  if (replication_ && !txn_.open && server_wal_end_ != 0 &&
      ledger_.committable().lsn < server_wal_end_ && ledger_.advance_if_idle(server_wal_end_)) {
    spdlog::debug("nothing in flight: position follows the server to {}",
                  format_lsn(server_wal_end_));
  }
  SourceOffset offset = ledger_.committable();
  // Durable first, then tell PostgreSQL: a crash in between re-reads, it never skips. The save
  // runs on the saver's thread (fsync took hundreds of milliseconds at times, and every change
  // waited meanwhile); PostgreSQL hears of a position once the saver says it is durable.
  if (!(offset == last_requested_)) {
    saver_->request(offset);
    last_requested_ = offset;
  }
  last_saved_ = saver_->durable();
  stats_.flushed_lsn = last_saved_.lsn;
  if (!replication_) return;
  if (force || last_saved_.lsn != last_sent_flush_ || now >= next_status_) {
    send_status(false);
    last_sent_flush_ = last_saved_.lsn;
  }
}

void PostgresSource::commit_durably() {
  const SourceOffset offset = ledger_.committable();
  if (!(offset == last_saved_)) {
    hand_over();  // the save waits for the disk
    saver_->save_now(offset);
    last_requested_ = offset;
  }
  maybe_commit(true);
}

void PostgresSource::send_status(bool reply_requested) {
  next_status_ = Clock::now() + config_.source.status_interval;
  Lsn flush = last_saved_.lsn;
  spdlog::debug("status update: received {}, flushed {}", format_lsn(received_lsn_),
                format_lsn(flush));
  std::string update = replication::make_standby_status_update(
      std::max(received_lsn_, flush), flush, flush, unix_now_us(), reply_requested);
  PGconn* conn = replication_->raw();
  if (PQputCopyData(conn, update.data(), static_cast<int>(update.size())) != 1 ||
      PQflush(conn) != 0) {
    throw make_pg_error(nullptr, conn, "sending a status update failed");
  }
}

void PostgresSource::commit_positions() {
  try {
    next_commit_ = {};
    // A status update needs the COPY to be running (it is not after the server ended it).
    if (replication_ && PQstatus(replication_->raw()) == CONNECTION_OK &&
        PQtransactionStatus(replication_->raw()) == PQTRANS_ACTIVE) {
      commit_durably();
    } else if (saver_) {
      // Without a saver the session ended before it was set up: it read nothing, and writing
      // back the position it loaded could undo a newer one another instance saved meanwhile.
      SourceOffset offset = ledger_.committable();
      if (!(offset == last_saved_)) {
        saver_->save_now(offset);
        last_saved_ = offset;
      }
    }
  } catch (const std::exception& e) {
    spdlog::warn("final position commit failed: {}", e.what());
  }
}

void PostgresSource::drop_replication_objects() {
  if (!query_) return;
  stream_.reset();
  replication_.reset();  // the slot stays active while its walsender runs
  const SourceConfig& source = config_.source;
  // The walsender exits asynchronously after the connection closes: retry briefly while active.
  for (int attempt = 0; attempt < 50; ++attempt) {
    try {
      drop_slot(*query_, source.slot_name);
      break;
    } catch (const PgError& e) {
      if (e.sqlstate() != "55006" || attempt == 49) throw;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  drop_publication(*query_, source.publication_name);
  spdlog::info("dropped replication slot {} and publication {} (source.drop_slot_on_stop)",
               source.slot_name, source.publication_name);
}

// ---------------------------------------------------------------------------------------------
// Snapshot chunks

void PostgresSource::check_partitions(const TableInfo& table, TableSnapshotProgress& entry) {
  const std::string leaves = leaf_partitions(*query_, table.oid);
  if (entry.partitions.empty() || entry.partitions == leaves) {
    entry.partitions = leaves;
    return;
  }
  for (const std::string& oid : leaves_gone(entry.partitions, leaves)) {
    spdlog::warn("a partition (oid {}) left {} (DETACH PARTITION or DROP TABLE): PostgreSQL "
                 "writes no deletes for its rows, so their last records stay in topic {}",
                 oid, table.qualified, table.topic);
  }
  const std::vector<std::string> attached = attached_with_rows(*query_, entry.partitions, leaves);
  entry.partitions = leaves;
  if (attached.empty()) return;  // created empty: its rows are streamed through the root
  std::string names;
  for (const auto& name : attached) names += (names.empty() ? "" : ", ") + name;
  spdlog::warn("partition(s) {} joined {} holding rows that PostgreSQL never streams (ATTACH "
               "PARTITION): reading {} again with watermark chunks",
               names, table.qualified, table.qualified);
  read_again(entry, table.qualified);
}

void PostgresSource::read_again(TableSnapshotProgress& entry, const std::string& table) {
  entry.done = false;
  entry.rows = 0;
  entry.last_key.reset();
  // A chunk of it that is read or being read would resume the old pass: read it again.
  for (PendingChunk* chunk : {chunk_.get(), next_chunk_.get()}) {
    if (chunk && chunk->table->qualified == table) chunk->invalid = true;
  }
}

bool PostgresSource::wants_snapshot(const TableInfo& table) const {
  auto it = progress_->find(table.qualified);
  // A table without progress is new to the pipeline; one with progress was begun, or is read
  // again after a publication gap even when source.snapshot is off.
  return it == progress_->end() ? config_.source.snapshot : !it->second.done;
}

TableInfo* PostgresSource::next_table_to_snapshot() {
  for (auto& table : tables_) {
    if (wants_snapshot(table)) return &table;
  }
  return nullptr;
}

PostgresSource::ChunkStart PostgresSource::resume_point(TableInfo& table) const {
  ChunkStart start{&table, std::nullopt};
  auto progress = progress_->find(table.qualified);
  if (progress != progress_->end()) start.after = progress->second.last_key;
  return start;
}

std::optional<PostgresSource::ChunkStart> PostgresSource::chunk_after(TableInfo& table,
                                                                      const ChunkQuery& query,
                                                                      const ChunkRows& rows) {
  if (rows.size() >= query.limit) return ChunkStart{&table, last_key_of(rows, query.key_positions)};
  for (auto& other : tables_) {  // `table` is done with this chunk
    if (&other == &table || !wants_snapshot(other)) continue;
    return resume_point(other);
  }
  return std::nullopt;
}

RowLayout PostgresSource::snapshot_layout(const TableInfo& table) {
  std::vector<std::string> names;
  std::vector<ColumnType> types;
  for (const auto& column : table.published) {
    names.push_back(column.name);
    types.push_back(types_->resolve(column.type_oid));
  }
  return make_row_layout(table, names, types);
}

std::string PostgresSource::select_list(const TableInfo& table) const {
  std::string columns;
  for (const auto& column : table.published) {
    columns += (columns.empty() ? "" : ", ") + query_->quote_identifier(column.name);
  }
  return columns;
}

PostgresSource::ChunkQuery PostgresSource::chunk_query(
    const TableInfo& table, const std::optional<std::vector<std::string>>& after) {
  ChunkQuery query;
  query.columns = table.published.size();
  std::string keys, bound;
  for (std::size_t k = 0; k < table.key_columns.size(); ++k) {
    const std::string& key = table.key_columns[k];
    auto column = std::find_if(table.published.begin(), table.published.end(),
                               [&](const ColumnInfo& c) { return c.name == key; });
    if (column == table.published.end()) {
      throw SetupError("key column " + key + " of " + table.qualified +
                       " is not among its published columns");
    }
    query.key_positions.push_back(static_cast<std::size_t>(column - table.published.begin()));
    keys += (keys.empty() ? "" : ", ") + query_->quote_identifier(key);
    // COPY takes no parameters: the last key is a literal, cast to exactly the column's type
    // (with its typmod), which compares as the typed parameter of a SELECT would.
    if (after) {
      bound += (bound.empty() ? "CAST(" : ", CAST(") + query_->quote_literal((*after)[k]) + " AS " +
               column->type_name + ")";
    }
  }
  // Keyset pagination: the row comparison uses the same btree order as ORDER BY.
  query.limit = chunk_rows_for(table);
  query.sql = "COPY (SELECT " + select_list(table) + " FROM " + table.quoted;
  if (after) query.sql += " WHERE (" + keys + ") > (" + bound + ")";
  query.sql += " ORDER BY " + keys + " LIMIT " + std::to_string(query.limit) + ") TO STDOUT";
  return query;
}

std::uint32_t PostgresSource::chunk_rows_for(const TableInfo& table) {
  const std::uint32_t most = config_.source.snapshot_chunk_rows;
  auto known = row_bytes_.find(&table);
  if (known == row_bytes_.end()) {
    // Before a table's first chunk, a few of its rows tell how wide they are: one row may be
    // megabytes (a large JSONB document, a TOASTed text), and a first chunk of snapshot_chunk_rows
    // such rows would be the whole memory bound many times over.
    ChunkRows sample;
    reader().read(
        "COPY (SELECT " + select_list(table) + " FROM " + table.quoted + " LIMIT 16) TO STDOUT",
        table.published.size(), sample);
    learn_row_width(table, sample);
    known = row_bytes_.find(&table);
  }
  if (known->second == 0) return most;  // no row seen yet
  const std::size_t fitting = config_.source.snapshot_chunk_bytes / known->second;
  return static_cast<std::uint32_t>(std::clamp<std::size_t>(fitting, 1, most));
}

void PostgresSource::learn_row_width(const TableInfo& table, const ChunkRows& rows) {
  if (rows.size() == 0) {
    row_bytes_.emplace(&table, 0);  // nothing to learn from; an earlier width stays
    return;
  }
  row_bytes_[&table] = rows.bytes() / rows.size() + 1;
}

std::unique_ptr<PostgresSource::PendingChunk> PostgresSource::begin_chunk(
    TableInfo& table, const std::optional<std::vector<std::string>>& after) {
  auto chunk = std::make_unique<PendingChunk>();
  chunk->table = &table;
  chunk->id = ++chunk_sequence_;
  // The low watermark comes before the chunk's snapshot is taken (in open()).
  query_->exec_params(
      "SELECT pg_catalog.pg_logical_emit_message(true, $1, $2)",
      {std::string(kWatermarkPrefix), "low " + session_id_ + " " + std::to_string(chunk->id)});
  // A DDL statement holds the table: try again on a later turn of the stream loop (the low
  // watermark just written matches no chunk and is ignored).
  if (!reader().open(table, ChunkReader::Isolation::kRepeatableRead)) return nullptr;
  try {
    chunk->layout = snapshot_layout(table);    // the columns open() read
    chunk->query = chunk_query(table, after);  // may read a sample of the table's rows first
    // A transaction running when the chunk's snapshot was taken, but decoded before the low
    // watermark, committed in WAL order before the chunk yet was invisible to it: the chunk could
    // then overwrite its change with an older row. Rare (a commit racing the snapshot); the chunk
    // is simply read again. Decoded already: recent_xids_; decoded later: on_begin.
    chunk->in_progress = in_progress_xids(reader().snapshot());
    for (std::uint32_t xid : recent_xids_) {
      if (xid != 0 && chunk->in_progress.count(xid)) chunk->invalid = true;
    }
    reader().send(chunk->query.sql);
  } catch (...) {
    reader().abandon();  // cancels the COPY and rolls the chunk's transaction back
    throw;
  }
  return chunk;
}

void PostgresSource::finish_chunk(PendingChunk& chunk) {
  chunk.rows = std::move(spare_rows_);  // the memory of the chunk before
  try {
    reader().receive(chunk.query.columns, chunk.rows);
    reader().commit();
  } catch (...) {
    reader().abandon();
    throw;
  }
  learn_row_width(*chunk.table, chunk.rows);
  query_->exec_params(
      "SELECT pg_catalog.pg_logical_emit_message(true, $1, $2)",
      {std::string(kWatermarkPrefix), "high " + session_id_ + " " + std::to_string(chunk.id)});
  chunk.dropped.assign(chunk.rows.size(), false);
}

void PostgresSource::start_chunk(TableInfo& table) {
  auto chunk = begin_chunk(table, resume_point(table).after);
  if (!chunk) return;  // the table is locked by DDL: the next turn tries again
  finish_chunk(*chunk);
  chunk_ = std::move(chunk);
}

void PostgresSource::begin_next_chunk() {
  const PendingChunk& current = *chunk_;
  if (auto start = chunk_after(*current.table, current.query, current.rows)) {
    next_chunk_ = begin_chunk(*start->table, start->after);
  }
}

void PostgresSource::drop_next_chunk() {
  if (!next_chunk_) return;
  reader().abandon();  // cancels the COPY and rolls its transaction back
  next_chunk_.reset();
}

const std::unordered_map<std::string, std::size_t>& PostgresSource::chunk_key_index() {
  PendingChunk& chunk = *chunk_;
  if (!chunk.row_by_key_built) {
    pgoutput::Tuple tuple;
    std::string key;
    for (std::size_t row = 0; row < chunk.rows.size(); ++row) {
      chunk.rows.fill(row, tuple);
      if (!builder_->key_of(chunk.layout, tuple, key)) continue;
      chunk.row_by_key.emplace(key, row);
    }
    chunk.row_by_key_built = true;
  }
  return chunk.row_by_key;
}

std::vector<std::string> PostgresSource::last_key_of(
    const ChunkRows& rows, const std::vector<std::size_t>& key_positions) const {
  std::vector<std::string> last_key;
  const std::size_t last = rows.size() - 1;
  for (std::size_t position : key_positions) last_key.emplace_back(rows.value(last, position));
  return last_key;
}

ChunkReader& PostgresSource::reader() {
  if (!reader_) reader_.emplace(config_.source.url, config_.source.connection_timeout);
  return *reader_;
}

void PostgresSource::advance_snapshot_progress(const TableInfo& table, const ChunkQuery& query,
                                               const ChunkRows& rows, std::uint64_t published) {
  auto next = std::make_shared<SnapshotProgress>(*progress_);
  TableSnapshotProgress& entry = (*next)[table.qualified];
  entry.rows += published;
  // The last key of the chunk, even if that row was dropped: the chunk covered its range.
  if (rows.size() > 0) entry.last_key = last_key_of(rows, query.key_positions);
  if (rows.size() < query.limit) {
    entry.done = true;
    const bool reread = reread_after_gap_.erase(table.qualified) > 0;
    stats_.tables_reread_after_gap = static_cast<std::uint32_t>(reread_after_gap_.size());
    spdlog::info("snapshot of {} complete: {} rows{}", table.qualified, entry.rows,
                 reread ? " (read again after a publication gap)" : "");
  }
  progress_ = std::move(next);
  stats_.snapshot_rows += published;
  ++stats_.snapshot_chunks;
  stats_.per_table.count_chunk(table.qualified);  // daemon metrics
}

std::uint64_t PostgresSource::publish_rows(const TableInfo& table, const RowLayout& layout,
                                           const ChunkRows& rows, const std::vector<bool>* dropped,
                                           DeliveryToken token, const ChangeSource& source) {
  pgoutput::Tuple tuple;
  // The chunk's rows are announced to the ledger and counted at once, not one lock per row. (If
  // the session stops half-way, the entry simply never completes: nothing of it is committed.)
  const std::size_t count = rows.size();
  std::uint64_t published = 0;
  for (std::size_t row = 0; row < count; ++row) {
    if (!dropped || !(*dropped)[static_cast<std::size_t>(row)]) ++published;
  }
  ledger_.add_records(token, published);
  stats_.records_read += published;
  stats_.per_table.count_records(table.qualified, Operation::kRead, published);  // daemon metrics
  staged_count_ = 0;  // a stop may have left a batch here: it was never delivered, so never due
  staged_bytes_ = 0;
  for (std::size_t row = 0; row < count; ++row) {
    // Take in what the next chunk's query has sent so far, so PostgreSQL never waits on a full
    // socket while this loop works (non-blocking; the rows wait in libpq until received).
    if (reader_ && row % 1024 == 0) reader_->consume_input();
    if (dropped && (*dropped)[static_cast<std::size_t>(row)]) continue;
    rows.fill(row, tuple);
    Record& record = stage_slot();
    if (!builder_->build(table, layout, Operation::kRead, nullptr, 0, &tuple, source, record)) {
      throw pgoutput::DecodeError("snapshot row of " + table.qualified + " has no key");
    }
    record.token = token;
    stage(record);
  }
  push_staged();
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
  recent_xids_[recent_xids_next_] = begin.xid;
  recent_xids_next_ = (recent_xids_next_ + 1) % recent_xids_.size();
  if (chunk_ && !chunk_->low_seen && chunk_->in_progress.count(begin.xid)) chunk_->invalid = true;
  if (next_chunk_ && next_chunk_->in_progress.count(begin.xid)) next_chunk_->invalid = true;
}

void PostgresSource::on_commit(const pgoutput::Commit& commit) {
  if (!txn_.open) throw pgoutput::DecodeError("Commit without Begin");
  if (!txn_.skip) {
    SourceOffset position;
    position.lsn = commit.end_lsn;
    position.snapshot = progress_;
    if (exactly_once_) push_position_marker(txn_.token, position);
    ledger_.seal(txn_.token, std::move(position));
    ++stats_.transactions;
  }
  txn_.open = false;
}

void PostgresSource::on_relation(const pgoutput::Relation& relation) {
  RelationState state;
  // By OID, not by name: a renamed table is the same table, and its changes must not be dropped
  // (the publication follows it by OID too).
  for (const auto& table : tables_) {
    if (table.oid == relation.id) state.table = &table;
  }
  auto known = relations_.find(relation.id);
  const bool seen = known != relations_.end();
  if (state.table && relation.name != state.table->name &&
      (!seen || known->second.name != relation.name)) {
    spdlog::warn("table {} is now named {}.{}; its changes keep going to topic {}",
                 state.table->qualified, relation.schema, relation.name, state.table->topic);
  }
  if (!state.table) state.partition_relative = partition_relative_of(relation.id);
  // pgoutput sends a partition's Relation message beside its root's when it publishes the
  // partition's change under the root: only the root's name is in the changes then.
  if (!state.table && !state.partition_relative && !seen) {
    spdlog::info("changes of {}.{} (oid {}) are not captured: it is in publication {} but not in "
                 "source.tables", relation.schema, relation.name, relation.id,
                 config_.source.publication_name);
  }
  state.name = relation.name;
  if (state.table) {
    std::vector<std::string> names;
    std::vector<ColumnType> types;
    for (const auto& column : relation.columns) {
      names.push_back(column.name);
      types.push_back(types_->resolve(column.type_oid));
    }
    state.layout = make_row_layout(*state.table, names, types);
  }
  relations_[relation.id] = std::move(state);
}

const PostgresSource::RelationState* PostgresSource::relation_for_change(
    std::uint32_t relation_id) {
  if (!txn_.open) throw pgoutput::DecodeError("change outside a transaction");
  if (txn_.skip) return nullptr;
  auto it = relations_.find(relation_id);
  if (it == relations_.end()) {
    throw pgoutput::DecodeError("change for relation " + std::to_string(relation_id) +
                                " before its Relation message");
  }
  const RelationState& relation = it->second;
  if (!relation.table && relation.partition_relative) {
    // Rows of a captured table under another table's name: publish_via_partition_root was not
    // in effect for them (changed behind pgcdc's back, or set after they were written), or a
    // configured partition's ancestor joined the publication. Never drop them quietly; stop
    // before the position passes them.
    const TableInfo& captured = *relation.partition_relative;
    const std::string& publication = config_.source.publication_name;
    throw SetupError("a change of " + relation.name + " (oid " + std::to_string(relation_id) +
                     ") holds rows of captured table " + captured.qualified + ", which pgcdc " +
                     "receives only under " + captured.qualified + "'s own name: publication " +
                     publication + " did not publish it that way when the change was written. " +
                     "ALTER PUBLICATION " + query_->quote_identifier(publication) +
                     " SET (publish_via_partition_root = true) and publish the partitioned " +
                     "table itself, not an ancestor of a configured partition; changes already " +
                     "written this way cannot be decoded again under the right name: drop the " +
                     "slot and the offsets file to snapshot again");
  }
  return relation.table ? &relation : nullptr;
}

const TableInfo* PostgresSource::partition_relative_of(std::uint32_t oid) {
  const TableInfo* partitioned = nullptr;
  for (const auto& table : tables_) {
    for (const auto& ancestor : table.ancestors) {
      if (ancestor.oid == oid) return &table;  // an ancestor of a configured partition
    }
    if (table.partitioned) partitioned = &table;
  }
  if (!partitioned) return nullptr;  // no configured table has partitions: spare the query
  // A partition of a configured table, by the catalog as it is now (it may have been created
  // after the start).
  auto ancestors = query_->exec_params(
      "SELECT relid::oid FROM pg_catalog.pg_partition_ancestors($1::oid::regclass)",
      {std::to_string(oid)});
  for (int row = 0; row < PQntuples(ancestors.get()); ++row) {
    const std::string ancestor(field(ancestors.get(), row, 0));
    for (const auto& table : tables_) {
      if (table.partitioned && std::to_string(table.oid) == ancestor) return &table;
    }
  }
  return nullptr;
}

void PostgresSource::note_chunk_key(const RelationState& relation, const pgoutput::Tuple& tuple) {
  if (!chunk_ || !chunk_->low_seen || relation.table != chunk_->table) return;
  std::string key;
  if (!builder_->key_of(relation.layout, tuple, key)) return;
  const auto& index = chunk_key_index();
  auto it = index.find(key);
  if (it != index.end()) chunk_->dropped[it->second] = true;
}

void PostgresSource::on_insert(std::uint32_t relation_id, const pgoutput::Tuple& new_tuple) {
  const RelationState* relation = relation_for_change(relation_id);
  if (!relation) return;
  note_chunk_key(*relation, new_tuple);
  emit(*relation, Operation::kCreate, nullptr, 0, &new_tuple);
}

void PostgresSource::on_update(std::uint32_t relation_id, char old_kind,
                               const pgoutput::Tuple* old_tuple, const pgoutput::Tuple& new_tuple) {
  const RelationState* relation = relation_for_change(relation_id);
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
      if (config_.sink.kafka.tombstones)
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
  const RelationState* relation = relation_for_change(relation_id);
  if (!relation) return;
  note_chunk_key(*relation, old_tuple);
  std::string key;
  bool has_key = builder_->key_of(relation->layout, old_tuple, key);
  emit(*relation, Operation::kDelete, &old_tuple, old_kind, nullptr);
  if (has_key && config_.sink.kafka.tombstones) {
    emit_tombstone(relation->table->topic, key, relation->table->qualified);
  }
}

void PostgresSource::on_truncate(std::uint8_t, const std::vector<std::uint32_t>& relation_ids) {
  for (std::uint32_t id : relation_ids) {
    const RelationState* relation = relation_for_change(id);
    if (!relation) continue;
    // Rows of a truncated table that a pending chunk still holds must not reappear.
    if (chunk_ && chunk_->table == relation->table && chunk_->low_seen) {
      chunk_->dropped.assign(chunk_->dropped.size(), true);
    }
    emit(*relation, Operation::kTruncate, nullptr, 0, nullptr);
  }
}

void PostgresSource::on_message(const pgoutput::LogicalMessage& message) {
  if (!message.transactional || message.prefix != kWatermarkPrefix || !chunk_) return;
  // "low <session> <chunk>" / "high <session> <chunk>"
  const std::string expected = " " + session_id_ + " " + std::to_string(chunk_->id);
  if (message.content == "low" + expected) {
    chunk_->low_seen = true;
  } else if (message.content == "high" + expected) {
    const bool read_again = txn_.skip || chunk_->invalid || !chunk_->low_seen;
    if (read_again) {
      ++stats_.snapshot_chunk_retries;
      spdlog::debug("snapshot chunk {} of {} raced a concurrent commit; reading it again",
                    chunk_->id, chunk_->table->qualified);
    } else {
      // The chunk's rows take the high watermark's place in the stream: after every change
      // that committed before it, before every change after it.
      ChangeSource source{txn_.final_lsn, std::nullopt, txn_.commit_time_us, true};
      std::uint64_t published = publish_rows(*chunk_->table, chunk_->layout, chunk_->rows,
                                             &chunk_->dropped, txn_.token, source);
      advance_snapshot_progress(*chunk_->table, chunk_->query, chunk_->rows, published);
    }
    spare_rows_ = std::move(chunk_->rows);
    chunk_.reset();
    if (next_chunk_) {
      if (read_again) {
        drop_next_chunk();  // it starts where this chunk ended, which is read again
      } else {
        finish_chunk(*next_chunk_);
        chunk_ = std::move(next_chunk_);
      }
    }
  }
}

void PostgresSource::emit(const RelationState& relation, Operation op,
                          const pgoutput::Tuple* before, char before_kind,
                          const pgoutput::Tuple* after) {
  ChangeSource source{txn_.final_lsn, txn_.xid, txn_.commit_time_us, false};
  if (!builder_->build(*relation.table, relation.layout, op, before, before_kind, after, source,
                       scratch_)) {
    throw pgoutput::DecodeError("a change of " + relation.table->qualified +
                                " does not carry its key columns");
  }
  stats_.unknown_type_values = builder_->unknown_type_values();
  push(scratch_, txn_.token);
}

void PostgresSource::emit_tombstone(const std::string& topic, const std::string& key,
                                    const std::string& table) {
  scratch_.topic = topic;
  scratch_.key = key;
  scratch_.value.reset();
  scratch_.op = Operation::kTombstone;
  scratch_.table = table;
  scratch_.commit_time_us = txn_.commit_time_us;
  push(scratch_, txn_.token);
}

void PostgresSource::push(Record& record, DeliveryToken token) {
  record.token = token;
  ledger_.add_record(token);
  ++stats_.records_read;
  stats_.per_table.count_record(record.table, record.op);  // daemon metrics
  push_uncounted(record);
}

void PostgresSource::push_position_marker(DeliveryToken token, const SourceOffset& position) {
  // Pushed before the entry is sealed, so a stop while the buffer is full leaves the entry
  // unsealed (never committed) rather than sealed without its marker.
  scratch_.topic.clear();
  scratch_.key.clear();
  scratch_.value = offset_to_json(position);
  scratch_.op = Operation::kPosition;
  scratch_.table.clear();
  scratch_.commit_time_us = 0;
  scratch_.token = token;
  push_uncounted(scratch_);
}

void PostgresSource::hand_over() {
  if (!pushed_since_hand_over_) return;
  buffer_.hand_over();
  pushed_since_hand_over_ = false;
}

void PostgresSource::push_uncounted(Record& record) {
  push_records(std::span<Record>(&record, 1));
}

Record& PostgresSource::stage_slot() {
  if (staged_count_ == staged_.size()) staged_.emplace_back();
  return staged_[staged_count_];
}

void PostgresSource::stage(const Record& record) {
  ++staged_count_;
  staged_bytes_ += record.payload_bytes();
  if (staged_count_ >= kStagedRecords || staged_bytes_ >= kStagedBytes) push_staged();
}

void PostgresSource::push_staged() {
  push_records(std::span<Record>(staged_.data(), staged_count_));
  staged_count_ = 0;
  staged_bytes_ = 0;
}

void PostgresSource::push_records(std::span<Record> records) {
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
        wait_for_room();
        break;
    }
  }
}

void PostgresSource::wait_for_room() {
  // Backpressure: keep the walsender informed so wal_sender_timeout never fires.
  stats_.note_loop_turn();  // daemon watchdog: waiting for room is not wedged
  if (stop_ && *stop_) throw StopRequested{};
  if (ledger_.failed()) throw StopRequested{};
  maybe_commit(false);
}

}  // namespace pgcdc
