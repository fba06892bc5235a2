#pragma once
// What a source session does before it reads anything: connect and check the server, describe
// the tables, check the replication slot against the position the session resumes from, make
// sure of the publication and the slot, and start the stream. Source thread.
//
// Order matters for "nothing half-made": every check that can fail runs before anything is
// created (replication_setup.h has the objects' own checks).
#include <vector>

#include "connector/catalog.h"
#include "connector/pg_connection.h"
#include "connector/source_options.h"
#include "core/lsn.h"

namespace pgcdc {

// The query connection, once the server passed its checks (version; for CDC wal_level and the
// REPLICATION attribute). Throws PgError or SetupError.
PgConnection connect_to_source(const SourceOptions& options);

// The configured tables as the catalog describes them, checked together (distinct names, no
// partition beside its ancestor). Throws SetupError naming the table and why.
std::vector<TableInfo> describe_tables(PgConnection& query, const SourceOptions& options);

struct SlotCheck {
  bool exists = false;  // the slot exists and is this pipeline's to stream from
  // The slot was invalidated and source.on_slot_lost = resnapshot: it is gone, and the session
  // starts from nothing (every table read again, the stream from a new slot).
  bool start_over = false;
  bool dropped = false;  // start_over, and this instance dropped the slot
};

// The slot against where the session resumes (`resume_lsn`, and whether the snapshot has any
// progress). Throws SetupError when they cannot go together (another plugin or database, an
// invalidated slot, a slot or a publication gone while changes are owed), and SlotInUse when
// another process streams from it.
SlotCheck check_slot(PgConnection& query, const SourceOptions& options,
                     const std::vector<TableInfo>& tables, Lsn resume_lsn, bool progress_empty);

// Throws SetupError when the replication connection reached a standby. Decoding on a standby
// (PostgreSQL 16+) is refused: pgcdc finds, checks and drops its slot, and writes its snapshot
// watermarks, through source.url, so a slot living on another server would be missing at every
// check; and a slot on a standby cannot be a failover slot.
void refuse_standby(PgConnection& replication);

// Creates or checks the publication, opens the replication connection and creates the slot
// unless it exists. A publication this call created is dropped again when the slot could not be
// made (unless another instance made it meanwhile: that one streams with it).
PgConnection open_replication(PgConnection& query, const SourceOptions& options,
                              const std::vector<TableInfo>& tables, bool slot_exists);

// START_REPLICATION from `start` with pgoutput's options. Throws SlotInUse when another process
// acquired the slot first.
void start_replication(PgConnection& replication, const SourceOptions& options, Lsn start);

// Drops the slot (waiting briefly while its walsender exits) and the publication
// (source.drop_slot_on_stop). The replication connection must be closed.
void drop_slot_and_publication(PgConnection& query, const SourceOptions& options);

}  // namespace pgcdc
