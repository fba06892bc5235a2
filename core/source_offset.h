#pragma once
// What the source needs to resume after a restart: how far the stream and the snapshot got.
// Only positions whose records were all delivered are ever saved (see PositionLedger).
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/lsn.h"

namespace pgcdc {

// Snapshot progress of one table ("highwater mark"): the key of the last row of the last delivered
// chunk, as the text values of the key columns in key order.
struct TableSnapshotProgress {
  bool done = false;
  std::optional<std::vector<std::string>> last_key;  // nullopt: no chunk delivered yet
  std::uint64_t rows = 0;                             // rows published so far
  // How the table is in the publication since its changes are streamed (replication_setup.h,
  // publication_membership): if that changes, the table left the publication meanwhile and
  // changes were missed. Empty: not known yet.
  std::string publication;
  // A partitioned table's leaf partitions ("oid,oid,..." ascending) when its changes were last
  // checked: ATTACH PARTITION and DETACH PARTITION change it without a row change in the WAL.
  std::string partitions;

  bool operator==(const TableSnapshotProgress&) const = default;
};

// Keyed by "schema.table".
using SnapshotProgress = std::map<std::string, TableSnapshotProgress>;

struct SourceOffset {
  // End LSN of the last transaction whose records (and all earlier ones) were delivered.
  // 0 when nothing was ever committed.
  Lsn lsn = 0;
  // Shared and immutable: it changes once per snapshot chunk, not once per transaction.
  std::shared_ptr<const SnapshotProgress> snapshot = std::make_shared<SnapshotProgress>();

  bool operator==(const SourceOffset& other) const {
    return lsn == other.lsn && *snapshot == *other.snapshot;
  }
};

// JSON form used by the offset store: {"lsn":"0/16B3748","snapshot":{"public.t":{...}}}.
std::string offset_to_json(const SourceOffset& offset);
// Throws std::runtime_error naming the problem when the text is not a valid offset document.
SourceOffset offset_from_json(const std::string& json);

}  // namespace pgcdc
