#pragma once
// The PostgreSQL source: snapshot + logical replication stream, one thread (the "source thread").
//
// Path of one row: the walsender sends a pgoutput message -> Decoder calls this class's Handler
// methods -> RecordBuilder serializes it -> push() puts it into the BoundedBuffer with a ledger
// token -> (sink thread) Kafka -> delivery report -> PositionLedger -> commit_positions() here
// saves the offset and only then reports the flush LSN to PostgreSQL.
//
// Snapshot: DBLog-style watermark chunks (docs/ARCHITECTURE.md). For each chunk of N rows in key
// order: emit a low watermark (pg_logical_emit_message), read the chunk, emit a high watermark.
// While the stream is between the two watermarks, every key a streamed change touches is dropped
// from the chunk; at the high watermark what is left is published as read events. A chunk's rows
// belong to the high watermark's transaction in the ledger, so its progress is committed exactly
// when its rows and everything before them were delivered. PostgreSQL reads the next chunk while
// the current one waits for its high watermark and is published (next_chunk_).
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "config/config.h"
#include "connector/catalog.h"
#include "connector/chunk_reader.h"
#include "connector/chunk_rows.h"
#include "connector/pg_connection.h"
#include "connector/pgoutput.h"
#include "connector/record_builder.h"
#include "connector/replication_stream.h"
#include "connector/silence_watch.h"
#include "connector/value_converter.h"
#include "core/bounded_buffer.h"
#include "core/offset_saver.h"
#include "core/offset_store.h"
#include "core/position_ledger.h"
#include "core/source_stats.h"
#include "core/table_counters.h"

namespace pgcdc {

class PostgresSource : private pgoutput::Handler {
 public:
  enum class Outcome {
    kStopped,         // stop requested
    kFinished,        // snapshot-only run: every row delivered and committed
    kDeliveryFailed,  // a record failed; the session must restart from the committed position
  };

  PostgresSource(const Config& config, BoundedBuffer& buffer, PositionLedger& ledger,
                 OffsetStore& offsets, SourceStats& stats);
  ~PostgresSource() override;

  // Source thread. Connects, checks, prepares publication and slot, then snapshots and streams
  // until one of the outcomes. Throws PgError (transient() says whether to retry), SetupError
  // (a person must fix something) or pgoutput::DecodeError.
  Outcome run(const std::atomic<bool>& stop);

  // Source thread, after run() returned and the sink has drained: saves the committable offset
  // and confirms it to PostgreSQL. Safe to call when run() failed early.
  void commit_positions();

  // Source thread, after commit_positions() on a clean stop: ends the stream and drops the slot and
  // the publication (source.drop_slot_on_stop, for throw-away pipelines).
  void drop_replication_objects();

 private:
  struct PendingChunk;
  struct RelationState {
    const TableInfo* table = nullptr;  // nullptr: not configured, changes ignored
    RowLayout layout;
    std::string name;  // as the last Relation message named it (renames are logged once)
    // Not configured, but a partition of a configured table, or an ancestor of a configured
    // partition: its changes hold rows pgcdc captures under another name, so they stop the
    // session instead of being ignored (relation_for_change).
    const TableInfo* partition_relative = nullptr;
  };

  void connect_and_prepare();
  void start_streaming(Lsn start);
  Outcome stream_loop(const std::atomic<bool>& stop);
  Outcome snapshot_only_loop(const std::atomic<bool>& stop);
  bool read_from_server(std::chrono::milliseconds wait);          // false when nothing arrived
  // After read_from_server: asks the walsender for a reply when it has been silent a while, then
  // looks whether it is at work (a second connection), and ends the session (a transient PgError
  // naming the connection) when the silence lasted source.connection_timeout (SilenceWatch).
  void watch_replication_connection();
  void sample_socket(std::chrono::steady_clock::time_point now);  // into stats_, once a second
  void handle_copy_data(std::string_view data);
  // Hands the committable position to the saver (when due, or at once with `force`) and sends
  // PostgreSQL the durable one in a status update; never waits for the disk.
  void maybe_commit(bool force);
  // As maybe_commit(true), after waiting until the committable position is durable (the end of a
  // run or a session).
  void commit_durably();
  void send_status(bool reply_requested);
  void maybe_heartbeat();

  // Snapshot chunks: each is read with `COPY (SELECT ...) TO STDOUT` into ChunkRows.
  struct ChunkQuery {
    std::string sql;  // the COPY statement; the previous chunk's last key inlined as literals
    std::size_t columns = 0;                 // values per row
    std::vector<std::size_t> key_positions;  // where the key columns are among them
    std::uint32_t limit = 0;                 // LIMIT: fewer rows back means the table is done
  };
  struct PlannedChunk {  // a chunk whose query was sent (snapshot-only mode)
    TableInfo* table = nullptr;
    RowLayout layout;
    ChunkQuery query;
  };
  // Source thread, at start and every few seconds while streaming: every captured table is still
  // in the publication as its offsets recorded (publication_watch.h); a gap is read again or fails
  // (source.on_publication_gap). Also records the membership of tables that have none yet.
  void check_publication();
  // A partitioned table's leaves against those its offsets recorded: a partition attached with
  // rows (never streamed) has the table read again; one detached or dropped is logged.
  void check_partitions(const TableInfo& table, TableSnapshotProgress& entry);
  // Resets `entry` so the table is snapshotted again from its start.
  void read_again(TableSnapshotProgress& entry, const std::string& table);
  bool wants_snapshot(const TableInfo& table) const;
  TableInfo* next_table_to_snapshot();
  // Where a chunk starts reading: a table and the key after which it reads (none: the start).
  struct ChunkStart {
    TableInfo* table = nullptr;
    std::optional<std::vector<std::string>> after;
  };
  // Where `table`'s snapshot stands in progress_ (a table not begun: its start).
  ChunkStart resume_point(TableInfo& table) const;
  // The chunk after one of `table` that read `rows`: the same table from its last key while
  // chunks come back full, else the next table that is not done; nullopt when none is left.
  std::optional<ChunkStart> chunk_after(TableInfo& table, const ChunkQuery& query,
                                        const ChunkRows& rows);
  std::string select_list(const TableInfo& table) const;  // the published columns, quoted
  ChunkQuery chunk_query(const TableInfo& table,
                         const std::optional<std::vector<std::string>>& after);
  // The snapshot's own connection, opened at the first chunk.
  ChunkReader& reader();
  std::vector<std::string> last_key_of(const ChunkRows& rows,
                                       const std::vector<std::size_t>& key_positions) const;
  // A watermark chunk in two steps, so PostgreSQL can read the next chunk while this thread
  // publishes the current one: begin_chunk() emits the low watermark, opens the chunk's
  // REPEATABLE READ transaction (ChunkReader::open), takes its snapshot and sends its COPY
  // (asynchronous); finish_chunk() receives the rows, commits and emits the high watermark.
  // begin_chunk() returns nullptr when DDL holds the table: the stream loop tries again later.
  std::unique_ptr<PendingChunk> begin_chunk(TableInfo& table,
                                            const std::optional<std::vector<std::string>>& after);
  void finish_chunk(PendingChunk& chunk);
  // The chunk after chunk_ (chunk_after), begun while chunk_ waits for its high watermark.
  void begin_next_chunk();
  // Drops next_chunk_: its query is cancelled and its transaction rolled back.
  void drop_next_chunk();
  // Rows for the next chunk of `table`: snapshot_chunk_rows, or fewer when its rows are wide, so
  // a chunk's rows (which the source holds whole while the next chunk's query runs) stay near
  // snapshot_chunk_bytes. Before a table's first chunk, a few of its rows are read to learn
  // their width; each chunk then updates it.
  std::uint32_t chunk_rows_for(const TableInfo& table);
  void learn_row_width(const TableInfo& table, const ChunkRows& rows);
  void start_chunk(TableInfo& table);
  // Publishes the rows of a snapshot read (skipping `dropped` ones) as read events of `token`.
  std::uint64_t publish_rows(const TableInfo& table, const RowLayout& layout, const ChunkRows& rows,
                             const std::vector<bool>* dropped, DeliveryToken token,
                             const ChangeSource& source);
  void advance_snapshot_progress(const TableInfo& table, const ChunkQuery& query,
                                 const ChunkRows& rows, std::uint64_t published);
  RowLayout snapshot_layout(const TableInfo& table);

  // pgoutput::Handler, called by the decoder on the source thread.
  void on_begin(const pgoutput::Begin& begin) override;
  void on_commit(const pgoutput::Commit& commit) override;
  void on_relation(const pgoutput::Relation& relation) override;
  void on_insert(std::uint32_t relation_id, const pgoutput::Tuple& new_tuple) override;
  void on_update(std::uint32_t relation_id, char old_kind, const pgoutput::Tuple* old_tuple,
                 const pgoutput::Tuple& new_tuple) override;
  void on_delete(std::uint32_t relation_id, char old_kind,
                 const pgoutput::Tuple& old_tuple) override;
  void on_truncate(std::uint8_t options, const std::vector<std::uint32_t>& relation_ids) override;
  void on_message(const pgoutput::LogicalMessage& message) override;

  const RelationState* relation_for_change(std::uint32_t relation_id);
  // The configured table that relation `oid` (not configured) is a partition or an ancestor of;
  // nullptr when none.
  const TableInfo* partition_relative_of(std::uint32_t oid);
  void note_chunk_key(const RelationState& relation, const pgoutput::Tuple& tuple);
  // The pending chunk's rows by key JSON, built on first use.
  const std::unordered_map<std::string, std::size_t>& chunk_key_index();
  void emit(const RelationState& relation, Operation op, const pgoutput::Tuple* before,
            char before_kind, const pgoutput::Tuple* after);
  void emit_tombstone(const std::string& topic, const std::string& key, const std::string& table);
  void push(Record& record, DeliveryToken token);
  // Exactly-once: tells the transactional sink where the entry `token` ends and what position it
  // commits. Not counted in the ledger.
  void push_position_marker(DeliveryToken token, const SourceOffset& position);
  void push_uncounted(Record& record);
  // Snapshot rows: the next free record of staged_, and its hand-over once built (pushes the
  // batch when it is full); push_staged() pushes what is staged.
  Record& stage_slot();
  void stage(const Record& record);
  void push_staged();
  // Pushes every record in order, waiting for room (and answering the walsender meanwhile).
  void push_records(std::span<Record> records);
  // Buffer full for kPushWait: keeps the walsender and the watchdog informed; throws
  // StopRequested when the session must end.
  void wait_for_room();
  // The buffer wakes the sink per batch, not per record: before this thread waits for anything
  // (the server, a query, the disk), it wakes the sink for what it pushed so far.
  void hand_over();

  const Config& config_;
  BoundedBuffer& buffer_;
  PositionLedger& ledger_;
  OffsetStore& offsets_;
  SourceStats& stats_;
  const std::atomic<bool>* stop_ = nullptr;
  const bool exactly_once_;

  std::optional<PgConnection> query_;
  std::optional<PgConnection> replication_;
  std::optional<ChunkReader> reader_;        // snapshot chunks only; see reader()
  std::optional<ReplicationStream> stream_;  // reads replication_ once it streams
  std::optional<SilenceWatch> silence_;      // of replication_, once it streams
  std::string silence_check_;                // what the last look at the silent walsender saw
  std::unique_ptr<TypeCache> types_;
  ValueConverter converter_;
  std::unique_ptr<RecordBuilder> builder_;
  pgoutput::Decoder decoder_;
  std::vector<TableInfo> tables_;
  std::unordered_map<std::uint32_t, RelationState> relations_;

  // Where this session resumed: transactions that committed before it were delivered already.
  Lsn resume_lsn_ = 0;
  // Snapshot progress after the last published chunk; sealed into each later ledger entry.
  std::shared_ptr<const SnapshotProgress> progress_;

  // The transaction being decoded.
  struct Transaction {
    bool open = false;
    bool skip = false;  // committed before resume_lsn_: already delivered
    DeliveryToken token = 0;
    Lsn final_lsn = 0;
    std::uint32_t xid = 0;
    std::int64_t commit_time_us = 0;
  } txn_;

  std::unique_ptr<PendingChunk> chunk_;  // read, waiting for its high watermark
  // Begun (low watermark, snapshot, COPY sent) while chunk_ waits; received when chunk_ is
  // published. Its low watermark follows chunk_'s high one in WAL order, so the windows stay
  // disjoint; if chunk_ is read again, this one is dropped (its lower bound was chunk_'s end).
  std::unique_ptr<PendingChunk> next_chunk_;
  // Bytes per row of each table's last chunk, as ChunkRows holds them (see chunk_rows_for).
  std::unordered_map<const TableInfo*, std::size_t> row_bytes_;
  // The rows of the snapshot-only chunk being published, and a pending chunk's rows once it is
  // done: reused so a chunk's memory is allocated once, not per chunk.
  ChunkRows spare_rows_;
  std::uint64_t chunk_sequence_ = 0;
  std::string session_id_;  // tells this session's watermarks from a previous session's
  // Xids of recently decoded transactions (a ring), for the chunk visibility check.
  std::vector<std::uint32_t> recent_xids_;
  std::size_t recent_xids_next_ = 0;

  // Saves positions off this thread (connect_and_prepare creates it for the session).
  std::unique_ptr<OffsetSaver> saver_;
  SourceOffset last_requested_;  // handed to saver_ last
  SourceOffset last_saved_;      // durable: what status updates report as flushed
  Lsn last_sent_flush_ = 0;
  Lsn received_lsn_ = 0;
  Lsn server_wal_end_ = 0;
  std::chrono::steady_clock::time_point next_commit_{};
  std::chrono::steady_clock::time_point next_status_{};
  std::chrono::steady_clock::time_point next_heartbeat_{};
  std::chrono::steady_clock::time_point next_publication_check_{};
  std::set<std::string> reread_after_gap_;  // tables read again after a publication gap
  std::chrono::steady_clock::time_point last_message_at_{};  // read_from_server's coalescing
  std::chrono::steady_clock::time_point next_socket_sample_{};
  ReplicationStream::SocketReceived socket_counted_;  // of this session's stream, in stats_
  std::uint64_t naps_counted_ = 0;                    // the same, of its reserve naps
  Record scratch_;                                    // reused for every record built
  // The new row of a key-changing update with the values the WAL left out (unchanged TOAST)
  // taken from the old row where it has them (REPLICA IDENTITY FULL); reused.
  pgoutput::Tuple created_row_;
  // A snapshot chunk's records are built here and handed to the buffer a batch at a time
  // (push_staged): one lock per batch instead of per row. At most kStagedRecords records and
  // about kStagedBytes wait here, outside the buffer's bound.
  std::vector<Record> staged_;
  std::size_t staged_count_ = 0;
  std::size_t staged_bytes_ = 0;
  bool pushed_since_hand_over_ = false;
};

}  // namespace pgcdc
