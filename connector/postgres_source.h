#pragma once
// The PostgreSQL source: snapshot + logical replication stream, one thread (the "source thread").
// It keeps the loops and the dispatch; each job beside them is a component of its own:
//   session_setup.h      connect, check, publication and slot, START_REPLICATION
//   replication_stream.h reading the streaming connection; pgoutput.h decoding it
//   record_builder.h     a row change -> a Record (key + Debezium envelope)
//   record_output.h      records -> the BoundedBuffer, counted in the PositionLedger
//   watermark_snapshot.h the snapshot's chunk windows (which rows to publish, when)
//   snapshot_plan.h      where the snapshot stands, which chunk is next
//   snapshot_reader.h    reading a chunk on its own connection (chunk_reader.h, copy_query.h,
//                        chunk_query.h)
//   position_reporter.h  committable position -> offsets store -> flush LSN at PostgreSQL
//
// Path of one row: the walsender sends a pgoutput message -> Decoder calls this class's Handler
// methods -> RecordBuilder serializes it -> RecordOutput puts it into the BoundedBuffer with a
// ledger token -> (sink thread) Kafka -> delivery report -> PositionLedger -> PositionReporter
// saves the offset and only then reports the flush LSN to PostgreSQL.
//
// Snapshot: DBLog-style watermark chunks (docs/ARCHITECTURE.md, watermark_snapshot.h). PostgreSQL
// reads the next chunk while the current one waits for its high watermark and is published.
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "connector/catalog.h"
#include "connector/chunk_query.h"
#include "connector/chunk_rows.h"
#include "connector/pg_connection.h"
#include "connector/pgoutput.h"
#include "connector/position_reporter.h"
#include "connector/record_builder.h"
#include "connector/record_output.h"
#include "connector/relation_map.h"
#include "connector/replication_stream.h"
#include "connector/silence_watch.h"
#include "connector/snapshot_plan.h"
#include "connector/snapshot_reader.h"
#include "connector/source_options.h"
#include "connector/value_converter.h"
#include "connector/watermark_snapshot.h"
#include "core/bounded_buffer.h"
#include "core/offset_store.h"
#include "core/position_ledger.h"
#include "core/source_stats.h"

namespace pgcdc {

class PostgresSource : private pgoutput::Handler {
 public:
  enum class Outcome {
    kStopped,         // stop requested
    kFinished,        // snapshot-only run: every row delivered and committed
    kDeliveryFailed,  // a record failed; the session must restart from the committed position
  };

  PostgresSource(SourceOptions options, BoundedBuffer& buffer, PositionLedger& ledger,
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
  // PositionReporter's, told whether a transaction is being decoded.
  void maybe_commit(bool force);
  void commit_durably();
  void maybe_heartbeat();

  // Source thread, at start and every few seconds while streaming: every captured table is still
  // in the publication as its offsets recorded (watch_publication); a table read again has its
  // chunks read again.
  void check_publication();
  // A watermark chunk of `table` from where its snapshot stands: begun, read and waiting for its
  // window (SnapshotReader, WatermarkSnapshot).
  void start_chunk(TableInfo& table);
  // The chunk after the current one (SnapshotPlan::chunk_after), begun while the current one
  // waits for its high watermark, so PostgreSQL reads it while this thread publishes.
  void begin_next_chunk();
  // Publishes the rows of a chunk (skipping `dropped` ones) as read events of `token`.
  std::uint64_t publish_rows(const TableInfo& table, const RowLayout& layout, const ChunkRows& rows,
                             const std::vector<bool>* dropped, DeliveryToken token,
                             const ChangeSource& source);
  // The chunk's rows were published: the snapshot's progress moves past it, and the metrics.
  void advance_snapshot_progress(const SnapshotChunk& chunk, std::uint64_t published);

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

  // The captured relation a change is for (RelationMap::for_change); nullptr when the change is
  // not captured or its transaction was delivered before.
  const RelationMap::Relation* relation_for_change(std::uint32_t relation_id);
  // A change of `tuple`'s key, for the snapshot chunk's window (WatermarkSnapshot::change).
  void note_chunk_key(const RelationMap::Relation& relation, const pgoutput::Tuple& tuple);
  void emit(const RelationMap::Relation& relation, Operation op, const pgoutput::Tuple* before,
            char before_kind, const pgoutput::Tuple* after);
  void emit_tombstone(const std::string& topic, const std::string& key, const std::string& table);
  // Exactly-once (options_.position_markers): a marker that tells the transactional sink where
  // the entry `token` ends and what position it commits. Pushed before the entry is sealed.
  void seal(DeliveryToken token, SourceOffset position);
  // Buffer full: keeps the walsender and the watchdog informed; throws StopRequested when the
  // session must end (RecordOutput calls it while it waits for room).
  void wait_for_room();
  void hand_over() { output_.hand_over(); }

  const SourceOptions options_;
  PositionLedger& ledger_;
  OffsetStore& offsets_;
  SourceStats& stats_;
  const std::atomic<bool>* stop_ = nullptr;
  RecordOutput output_;

  std::optional<PgConnection> query_;
  std::optional<PgConnection> replication_;
  std::optional<ReplicationStream> stream_;  // reads replication_ once it streams
  std::optional<SilenceWatch> silence_;      // of replication_, once it streams
  std::string silence_check_;                // what the last look at the silent walsender saw
  std::unique_ptr<TypeCache> types_;
  ValueConverter converter_;
  std::unique_ptr<RecordBuilder> builder_;
  pgoutput::Decoder decoder_;
  std::vector<TableInfo> tables_;
  std::optional<RelationMap> relations_;  // of the stream's relation ids, once connected
  // Saves positions and reports them to PostgreSQL (connect_and_prepare creates it).
  std::optional<PositionReporter> positions_;

  // Where this session resumed: transactions that committed before it were delivered already.
  Lsn resume_lsn_ = 0;
  // Snapshot progress after the last published chunk (sealed into each later ledger entry), and
  // which chunk comes next.
  SnapshotPlan plan_;

  // The transaction being decoded.
  struct Transaction {
    bool open = false;
    bool skip = false;  // committed before resume_lsn_: already delivered
    DeliveryToken token = 0;
    Lsn final_lsn = 0;
    std::uint32_t xid = 0;
    std::int64_t commit_time_us = 0;
  } txn_;

  // The chunks between their watermarks: the current one and the one read ahead.
  WatermarkSnapshot watermarks_;
  pgoutput::Tuple key_tuple_;  // a chunk row's tuple while watermarks_ asks for its key
  std::optional<SnapshotReader> snapshot_;  // reads the chunks, once connected
  // A chunk's rows once it is published, for the next chunk: a chunk's memory is allocated
  // once, not per chunk.
  ChunkRows spare_rows_;

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
};

}  // namespace pgcdc
