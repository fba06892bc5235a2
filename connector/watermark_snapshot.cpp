#include "connector/watermark_snapshot.h"

#include <charconv>

namespace pgcdc {
namespace {

// Transactions remembered for a chunk that begins after them. The chunk's snapshot is taken
// right after its low watermark: what the stream decoded before it and could still be running
// for the snapshot is among the last ones.
constexpr std::size_t kRecentXids = 4096;

}  // namespace

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

std::size_t SnapshotChunk::rows_left() const {
  std::size_t left = 0;
  for (std::size_t row = 0; row < rows.size(); ++row) {
    if (row >= dropped.size() || !dropped[row]) ++left;
  }
  return left;
}

WatermarkSnapshot::WatermarkSnapshot(std::string session_id, RowKey row_key)
    : session_id_(std::move(session_id)),
      row_key_(std::move(row_key)),
      recent_xids_(kRecentXids, 0) {}

std::unique_ptr<SnapshotChunk> WatermarkSnapshot::new_chunk(TableInfo& table) {
  auto chunk = std::make_unique<SnapshotChunk>();
  chunk->table = &table;
  chunk->id = ++chunk_sequence_;
  return chunk;
}

std::string WatermarkSnapshot::low_watermark(const SnapshotChunk& chunk) const {
  return "low " + session_id_ + " " + std::to_string(chunk.id);
}

std::string WatermarkSnapshot::high_watermark(const SnapshotChunk& chunk) const {
  return "high " + session_id_ + " " + std::to_string(chunk.id);
}

void WatermarkSnapshot::snapshot_taken(SnapshotChunk& chunk, std::string_view snapshot) const {
  chunk.in_progress = in_progress_xids(snapshot);
  // Decoded already, yet running for the snapshot: it committed before the low watermark in WAL
  // order and the chunk cannot see it. Decoded later: begin().
  for (std::uint32_t xid : recent_xids_) {
    if (xid != 0 && chunk.in_progress.count(xid)) chunk.invalid = true;
  }
}

void WatermarkSnapshot::start(std::unique_ptr<SnapshotChunk> chunk) {
  chunk->dropped.assign(chunk->rows.size(), false);
  current_ = std::move(chunk);
}

void WatermarkSnapshot::read_ahead(std::unique_ptr<SnapshotChunk> chunk) {
  next_ = std::move(chunk);
}

std::unique_ptr<SnapshotChunk> WatermarkSnapshot::take_read_ahead() {
  return std::move(next_);
}

void WatermarkSnapshot::begin(std::uint32_t xid) {
  recent_xids_[recent_xids_next_] = xid;
  recent_xids_next_ = (recent_xids_next_ + 1) % recent_xids_.size();
  if (current_ && !current_->low_seen && current_->in_progress.count(xid)) current_->invalid = true;
  // The read-ahead chunk's low watermark follows the current chunk's high one: whatever is
  // decoded while it is the read-ahead precedes its window.
  if (next_ && next_->in_progress.count(xid)) next_->invalid = true;
}

bool WatermarkSnapshot::watches(const TableInfo* table) const {
  return current_ && current_->low_seen && current_->table == table;
}

void WatermarkSnapshot::change(const TableInfo* table, const std::string& key) {
  if (!watches(table)) return;
  const auto& index = key_index();
  auto row = index.find(key);
  if (row != index.end()) current_->dropped[row->second] = true;
}

void WatermarkSnapshot::truncate(const TableInfo* table) {
  // Rows of a truncated table that the chunk still holds must not reappear.
  if (watches(table)) current_->dropped.assign(current_->dropped.size(), true);
}

std::optional<WatermarkSnapshot::ClosedWindow> WatermarkSnapshot::watermark(
    std::string_view content, bool already_delivered) {
  if (!current_) return std::nullopt;
  if (content == low_watermark(*current_)) {
    current_->low_seen = true;
    return std::nullopt;
  }
  if (content != high_watermark(*current_)) return std::nullopt;
  ClosedWindow closed;
  closed.publish = !already_delivered && !current_->invalid && current_->low_seen;
  closed.chunk = std::move(current_);
  if (next_ && !closed.publish) {
    next_.reset();
    closed.read_ahead_dropped = true;
  }
  return closed;
}

void WatermarkSnapshot::restart_table(const TableInfo* table) {
  for (SnapshotChunk* chunk : {current_.get(), next_.get()}) {
    if (chunk && chunk->table == table) chunk->invalid = true;
  }
}

const std::unordered_map<std::string, std::size_t>& WatermarkSnapshot::key_index() {
  SnapshotChunk& chunk = *current_;
  if (!chunk.row_by_key_built) {
    std::string key;
    for (std::size_t row = 0; row < chunk.rows.size(); ++row) {
      if (!row_key_(chunk, row, key)) continue;
      chunk.row_by_key.emplace(key, row);
    }
    chunk.row_by_key_built = true;
  }
  return chunk.row_by_key;
}

}  // namespace pgcdc
