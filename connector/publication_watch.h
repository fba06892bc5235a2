#pragma once
// Publication gaps: a captured table that leaves the publication while its changes are streamed
// (ALTER PUBLICATION ... DROP TABLE), even if it is added back later, has changes that pgoutput
// never sends. Nothing in the stream says so. What does tell: the catalog row that makes the table
// a member (pg_publication_rel, pg_publication_namespace) is a new row with a new OID after a drop
// and an add. pgcdc records that "membership" per table in its offsets and compares it at start
// and periodically while streaming.
#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "config/config.h"
#include "connector/catalog.h"
#include "connector/pg_connection.h"
#include "connector/source_options.h"
#include "core/source_offset.h"

namespace pgcdc {

struct PublicationMembership {
  bool publication_exists = false;
  // Table ("schema.table" as configured) -> "all" (FOR ALL TABLES), "table <oid>" (its
  // pg_publication_rel row), "schema <oid>" (its schema's pg_publication_namespace row), or ""
  // when the publication does not publish it.
  std::map<std::string, std::string> by_table;
};

// The leaf partitions of a partitioned table, "oid,oid,..." ascending. Source thread.
std::string leaf_partitions(PgConnection& connection, Oid table);

// Of the leaves in `now` that `before` lacks, those that hold rows: attached with rows that
// PostgreSQL never streamed (a partition created empty and written since needs no re-read, but
// is counted when it already holds rows). Source thread.
std::vector<std::string> attached_with_rows(PgConnection& connection, const std::string& before,
                                            const std::string& now);
// The leaves of `before` missing from `now` (detached or dropped), as "oid".
std::vector<std::string> leaves_gone(const std::string& before, const std::string& now);

// Source thread (the query connection).
PublicationMembership read_publication_membership(PgConnection& connection,
                                                  const std::string& publication_name,
                                                  const std::vector<TableInfo>& tables);

struct PublicationGap {
  std::string table;
  std::string recorded;  // the membership its streamed changes were read under
  std::string current;   // "" when it is not in the publication now
};

// The tables whose membership is recorded in `progress` and differs from `current`. Tables with
// nothing recorded yet are not gaps: their membership is simply taken.
std::vector<PublicationGap> find_publication_gaps(
    const SnapshotProgress& progress, const std::map<std::string, std::string>& current);

// What a look at the publication found.
struct PublicationCheck {
  // `progress` with every table's membership and leaf partitions recorded, and the tables to
  // read again reset to their start.
  SnapshotProgress progress;
  std::vector<std::string> gaps;        // tables that left the publication, to be read again
  std::vector<std::string> read_again;  // every table reset: gaps, partitions attached with rows
};

// Source thread (the query connection), at start and every few seconds while streaming: every
// captured table is still in the publication as `progress` recorded. A gap is counted in
// `gaps_seen` and logged, and the table is read again (source.on_publication_gap = resnapshot)
// or a SetupError thrown (fail). Tables missing from the publication are added back when
// source.alter_publication allows it (ensure_publication throws naming the fix otherwise). A
// partitioned table's leaves are compared with those recorded: a partition attached with rows
// (never streamed) has the table read again; one detached or dropped is logged. Throws
// SetupError when the publication is gone.
PublicationCheck watch_publication(PgConnection& query, const SourceOptions& options,
                                   const std::vector<TableInfo>& tables,
                                   const SnapshotProgress& progress,
                                   std::atomic<std::uint64_t>& gaps_seen);

}  // namespace pgcdc
