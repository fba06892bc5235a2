#pragma once
// SnapshotReader: reads the snapshot's chunks, each in a transaction of its own on the chunk
// connection (ChunkReader), sized to the rows' width, and for watermark chunks between the
// watermarks that WatermarkSnapshot needs in the stream. Source thread only.
//
// In two steps, so PostgreSQL reads the next chunk while the source publishes the current one:
// begin() opens the chunk's transaction (which locks the table and reads its columns), sizes and
// sends its COPY without waiting; finish() receives the rows and commits.
//
// Chunk size: snapshot_chunk_rows, or fewer when the rows are wide, so a chunk's rows (which the
// source holds whole while the next chunk's query runs) stay near snapshot_chunk_bytes. Before a
// table's first chunk a few of its rows are read to learn their width (one row may be megabytes:
// a large JSONB document, a TOASTed text); each chunk then updates it.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "connector/catalog.h"
#include "connector/chunk_reader.h"
#include "connector/chunk_rows.h"
#include "connector/pg_connection.h"
#include "connector/source_options.h"
#include "connector/watermark_snapshot.h"

namespace pgcdc {

class SnapshotReader {
 public:
  enum class Kind {
    // While streaming: a low watermark before the chunk's snapshot (REPEATABLE READ, so
    // pg_current_snapshot() is the COPY's), a high watermark after its rows.
    kWatermark,
    // Snapshot only: nothing to be consistent with; each COPY takes its snapshot after the lock.
    kPlain,
  };

  // `query` writes the watermarks and `types` resolves the columns' types; they and
  // `watermarks` must outlive this.
  SnapshotReader(const SourceOptions& options, PgConnection& query, TypeCache& types,
                 WatermarkSnapshot& watermarks);

  // Begins a chunk of `table` after the key `after` (none: from the start). Returns nullptr,
  // with nothing open, when DDL holds the table: try again later (a watermark chunk's low
  // watermark then matches no chunk and is ignored).
  std::unique_ptr<SnapshotChunk> begin(Kind kind, TableInfo& table,
                                       const std::optional<std::vector<std::string>>& after);
  // Receives the rows of the chunk begun last into chunk.rows, which first takes `spare`'s
  // memory, commits, and for a watermark chunk writes its high watermark.
  void finish(Kind kind, SnapshotChunk& chunk, ChunkRows& spare);

  // Takes in what a sent COPY delivered so far, without waiting (ChunkReader::consume_input).
  void consume_input();
  // Cancels a sent COPY and rolls its transaction back; a no-op when nothing is open.
  void abandon();

 private:
  ChunkReader& reader();  // opened at the first chunk
  void emit_watermark(const std::string& content);
  RowLayout layout_of(const TableInfo& table);
  std::uint32_t chunk_rows_for(const TableInfo& table);
  void learn_row_width(const TableInfo& table, const ChunkRows& rows);

  const SourceOptions& options_;
  PgConnection& query_;
  TypeCache& types_;
  WatermarkSnapshot& watermarks_;
  std::optional<ChunkReader> reader_;
  // Bytes per row of each table's last chunk, as ChunkRows holds them (see chunk_rows_for).
  std::unordered_map<const TableInfo*, std::size_t> row_bytes_;
};

}  // namespace pgcdc
