#include "connector/snapshot_reader.h"

#include <algorithm>

#include "connector/chunk_query.h"
#include "connector/record_builder.h"

namespace pgcdc {

SnapshotReader::SnapshotReader(const SourceOptions& options, PgConnection& query, TypeCache& types,
                               WatermarkSnapshot& watermarks)
    : options_(options), query_(query), types_(types), watermarks_(watermarks) {}

ChunkReader& SnapshotReader::reader() {
  if (!reader_) reader_.emplace(options_.source.url, options_.source.connection_timeout);
  return *reader_;
}

void SnapshotReader::consume_input() {
  if (reader_) reader_->consume_input();
}

void SnapshotReader::abandon() {
  if (reader_) reader_->abandon();
}

void SnapshotReader::emit_watermark(const std::string& content) {
  query_.exec_params("SELECT pg_catalog.pg_logical_emit_message(true, $1, $2)",
                     {std::string(WatermarkSnapshot::kMessagePrefix), content});
}

std::unique_ptr<SnapshotChunk> SnapshotReader::begin(
    Kind kind, TableInfo& table, const std::optional<std::vector<std::string>>& after) {
  std::unique_ptr<SnapshotChunk> chunk;
  if (kind == Kind::kWatermark) {
    chunk = watermarks_.new_chunk(table);
    // The low watermark comes before the chunk's snapshot is taken (in open()).
    emit_watermark(watermarks_.low_watermark(*chunk));
  } else {
    chunk = std::make_unique<SnapshotChunk>();
    chunk->table = &table;
  }
  const auto isolation = kind == Kind::kWatermark ? ChunkReader::Isolation::kRepeatableRead
                                                  : ChunkReader::Isolation::kReadCommitted;
  if (!reader().open(table, isolation)) return nullptr;
  try {
    chunk->layout = layout_of(table);                   // the columns open() read
    const std::uint32_t limit = chunk_rows_for(table);  // may read a sample of the rows first
    chunk->query = build_chunk_query(table, after, limit);
    if (kind == Kind::kWatermark) watermarks_.snapshot_taken(*chunk, reader().snapshot());
    reader().send(chunk->query.sql);
  } catch (...) {
    reader().abandon();  // cancels the COPY and rolls the chunk's transaction back
    throw;
  }
  return chunk;
}

void SnapshotReader::finish(Kind kind, SnapshotChunk& chunk, ChunkRows& spare) {
  chunk.rows = std::move(spare);  // the memory of the chunk before
  try {
    reader().receive(chunk.query.columns, chunk.rows);
    reader().commit();
  } catch (...) {
    reader().abandon();
    throw;
  }
  learn_row_width(*chunk.table, chunk.rows);
  if (kind == Kind::kWatermark) emit_watermark(watermarks_.high_watermark(chunk));
}

RowLayout SnapshotReader::layout_of(const TableInfo& table) {
  std::vector<std::string> names;
  std::vector<ColumnType> types;
  for (const auto& column : table.published) {
    names.push_back(column.name);
    types.push_back(types_.resolve(column.type_oid));
  }
  return make_row_layout(table, names, types);
}

std::uint32_t SnapshotReader::chunk_rows_for(const TableInfo& table) {
  const std::uint32_t most = options_.source.snapshot_chunk_rows;
  auto known = row_bytes_.find(&table);
  if (known == row_bytes_.end()) {
    // A first chunk of snapshot_chunk_rows megabyte rows would be the whole memory bound many
    // times over.
    ChunkRows sample;
    reader().read(sample_rows_query(table, 16), table.published.size(), sample);
    learn_row_width(table, sample);
    known = row_bytes_.find(&table);
  }
  if (known->second == 0) return most;  // no row seen yet
  const std::size_t fitting = options_.source.snapshot_chunk_bytes / known->second;
  return static_cast<std::uint32_t>(std::clamp<std::size_t>(fitting, 1, most));
}

void SnapshotReader::learn_row_width(const TableInfo& table, const ChunkRows& rows) {
  if (rows.size() == 0) {
    row_bytes_.emplace(&table, 0);  // nothing to learn from; an earlier width stays
    return;
  }
  row_bytes_[&table] = rows.bytes() / rows.size() + 1;
}

}  // namespace pgcdc
