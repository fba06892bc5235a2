#pragma once
// WatermarkSnapshot: the watermark algorithm that keeps the snapshot consistent with the stream
// (DBLog; docs/ARCHITECTURE.md, "Snapshot consistent with the stream"), apart from any I/O. The
// source reads the chunks and writes the watermarks; this class holds the chunks' windows and is
// told, in WAL order, what the stream decodes. Source thread only.
//
// A chunk of a table is read between a low and a high watermark (transactional logical
// messages). While the stream is between the two, a change of a key the chunk holds drops that
// row (the stream carries a state at least as new), and a TRUNCATE of the table drops them all.
// At the high watermark, what is left is ready to publish, in the high watermark's transaction:
// after every change committed before it, before every change after it.
//
// A commit can race the chunk's snapshot: a transaction whose commit precedes the low watermark
// in WAL order may still be invisible to the snapshot taken just after it (it had not left the
// proc array yet), and the chunk would then overwrite its change with an older row. The chunk
// keeps the snapshot's in-progress xids; one of them decoded before the low watermark, or just
// before the chunk began, has the chunk read again. An in-progress transaction that rolls back
// is never decoded and changes nothing.
//
// Read-ahead: while the current chunk waits for its high watermark, the next one is begun (its
// low watermark is written after the current one's high, so the windows stay disjoint in WAL
// order, and a transaction decoded meanwhile precedes its low watermark). It starts where the
// current chunk ends: when the current one is read again, it is dropped.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "connector/chunk_query.h"
#include "connector/chunk_rows.h"
#include "connector/row_layout.h"

namespace pgcdc {

struct TableInfo;

// One chunk of one table, from its low watermark to its high watermark.
struct SnapshotChunk {
  // What the source reads: the table, its rows' layout, the query and the rows it returned.
  TableInfo* table = nullptr;
  RowLayout layout;
  ChunkQuery query;
  ChunkRows rows;

  // The window, kept by WatermarkSnapshot.
  std::uint64_t id = 0;                           // in its watermarks' text
  std::unordered_set<std::uint32_t> in_progress;  // xids running when its snapshot was taken
  std::vector<bool> dropped;                      // by row: changed in the window, not published
  // Key -> row, built at the first change of the table in the window: most chunks see none.
  std::unordered_map<std::string, std::size_t> row_by_key;
  bool row_by_key_built = false;
  bool low_seen = false;
  bool invalid = false;  // to be read again: raced a commit, or its table is read again

  std::size_t rows_left() const;  // rows not dropped
};

class WatermarkSnapshot {
 public:
  // The prefix of the watermarks' logical messages.
  static constexpr std::string_view kMessagePrefix = "pgcdc";

  // The key of row `row` of `chunk` as the stream's changes give keys to change() (the record
  // key's JSON); false when the row has none.
  using RowKey = std::function<bool(const SnapshotChunk& chunk, std::size_t row, std::string& key)>;

  // `session_id` tells this session's watermarks from an earlier session's.
  WatermarkSnapshot(std::string session_id, RowKey row_key);

  // What the high watermark of the current chunk leaves.
  struct ClosedWindow {
    std::unique_ptr<SnapshotChunk> chunk;  // its rows; `dropped` says which are left out
    bool publish = false;                  // false: read it again from where it started
    // The read-ahead chunk was dropped with it (it starts where this one ends): its query must
    // be cancelled.
    bool read_ahead_dropped = false;
  };

  // --- Chunks, whose I/O the source does.

  // A new chunk of `table`, numbered for its watermarks.
  std::unique_ptr<SnapshotChunk> new_chunk(TableInfo& table);
  // The texts of its watermarks: "low <session> <id>", "high <session> <id>".
  std::string low_watermark(const SnapshotChunk& chunk) const;
  std::string high_watermark(const SnapshotChunk& chunk) const;
  // The chunk's snapshot was taken, after its low watermark was written: `snapshot` is its
  // pg_current_snapshot(), "xmin:xmax:xip,xip,...".
  void snapshot_taken(SnapshotChunk& chunk, std::string_view snapshot) const;
  // The chunk's rows are read and its high watermark written: it is the current chunk, waiting
  // for its window. There must be no current chunk.
  void start(std::unique_ptr<SnapshotChunk> chunk);
  // `chunk` was begun (low watermark written, snapshot taken, query sent) while the current one
  // waits for its high watermark.
  void read_ahead(std::unique_ptr<SnapshotChunk> chunk);
  // The read-ahead chunk, to have its rows read and be start()ed once the current one is closed;
  // nullptr when there is none.
  std::unique_ptr<SnapshotChunk> take_read_ahead();

  const SnapshotChunk* current() const { return current_.get(); }
  const SnapshotChunk* read_ahead_chunk() const { return next_.get(); }
  // A read-ahead chunk may begin: the current chunk waits and will not be read again.
  bool wants_read_ahead() const { return current_ && !next_ && !current_->invalid; }

  // --- What the stream decodes, in WAL order.

  // A transaction begins (every transaction, also those already delivered).
  void begin(std::uint32_t xid);
  // Whether a change of `table` falls in the current chunk's window: only then does its key
  // matter (spares the caller building keys for nothing).
  bool watches(const TableInfo* table) const;
  // A change of `table` touches `key` (the old and the new key of an update both count).
  void change(const TableInfo* table, const std::string& key);
  // `table` was truncated.
  void truncate(const TableInfo* table);
  // A transactional logical message with kMessagePrefix, in a transaction that was
  // `already_delivered` or not (committed before the session's resume position). Returns the
  // current chunk when this is its high watermark; nullopt otherwise.
  std::optional<ClosedWindow> watermark(std::string_view content, bool already_delivered);

  // `table` is read again from its start (a publication gap, an attached partition): a chunk of
  // it that is read or being read would go on with the old pass, so it is read again.
  void restart_table(const TableInfo* table);

 private:
  // The current chunk's rows by key, built on first use.
  const std::unordered_map<std::string, std::size_t>& key_index();

  std::string session_id_;
  RowKey row_key_;
  std::uint64_t chunk_sequence_ = 0;
  std::unique_ptr<SnapshotChunk> current_;  // read, waiting for its high watermark
  std::unique_ptr<SnapshotChunk> next_;     // read-ahead: begun while current_ waits
  // Xids of the transactions decoded last (a ring), for a chunk that begins after them.
  std::vector<std::uint32_t> recent_xids_;
  std::size_t recent_xids_next_ = 0;
};

// The in-progress xids of a pg_current_snapshot() text "xmin:xmax:xip,xip,..." (their low 32
// bits: the xid pgoutput's Begin carries).
std::unordered_set<std::uint32_t> in_progress_xids(std::string_view snapshot);

}  // namespace pgcdc
