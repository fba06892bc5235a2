#pragma once
// What the PostgreSQL source is given to run a session: its own configuration section, how
// values are written, and the few facts it needs about what lies downstream. The daemon works
// those out once from the whole configuration (daemon/pipeline.cpp); nothing in connector/ reads
// a sink's settings.
#include <string>

#include "config/config.h"

namespace pgcdc {

struct SourceOptions {
  SourceConfig source;
  FormatConfig format;  // the same for snapshot rows and streamed changes (invariant 3)
  // Records go to topic "<topic_prefix>.<schema>.<table>".
  std::string topic_prefix = "pgcdc";
  // A delete is followed by a record of the same key without a value (a tombstone).
  bool tombstones = true;
  // Each ledger entry (a transaction, a snapshot chunk) ends with a position marker record that
  // carries its position: the sink commits positions together with records (exactly-once).
  bool position_markers = false;
  // Where committed positions are kept, for messages: "the offsets file PATH".
  std::string offsets_store;
  // How that store holds no position, for the warning when a slot exists without one: "the
  // offsets file PATH is missing".
  std::string no_position;
  // How a person removes this pipeline's position from that store: "delete the offsets file PATH".
  std::string forget_position;
};

// The advice that ends an error the slot cannot recover from: the slot and the position go, and
// the next start snapshots every table again.
inline std::string start_over_advice(const SourceOptions& options) {
  return "drop the replication slot " + options.source.slot_name + " and " +
         options.forget_position + " to start over with a new snapshot";
}

}  // namespace pgcdc
