#include "connector/session_setup.h"

#include <thread>

#include <spdlog/spdlog.h>

#include "connector/failover_slot.h"
#include "connector/replication_setup.h"

namespace pgcdc {

PgConnection connect_to_source(const SourceOptions& options) {
  const SourceConfig& source = options.source;
  PgConnection query(source.url, PgConnection::Kind::kQuery, source.connection_timeout);
  check_server(query, source.cdc);
  check_failover_setting(source, query.server_version());
  return query;
}

std::vector<TableInfo> describe_tables(PgConnection& query, const SourceOptions& options) {
  std::vector<TableInfo> tables;
  for (const auto& table : options.source.tables) {
    tables.push_back(describe_table(query, table, options.topic_prefix));
  }
  check_distinct_names(tables);
  check_partition_nesting(tables);
  return tables;
}

SlotCheck check_slot(PgConnection& query, const SourceOptions& options,
                     const std::vector<TableInfo>& tables, Lsn resume_lsn, bool progress_empty) {
  const SourceConfig& source = options.source;
  SlotCheck check;
  auto slot = find_slot(query, source.slot_name);
  if (slot) {
    if (slot->plugin != "pgoutput") {
      throw SetupError("replication slot " + source.slot_name + " uses plugin '" + slot->plugin +
                       "', not pgoutput; choose another source.slot_name");
    }
    if (slot->database != query.database()) {
      throw SetupError("replication slot " + source.slot_name + " belongs to database " +
                       slot->database + ", not " + query.database());
    }
    if (slot->wal_status == "lost" &&
        source.on_slot_lost == SourceConfig::OnSlotLost::kResnapshot) {
      spdlog::error(
          "replication slot {} was invalidated (wal_status lost): PostgreSQL removed WAL "
          "it still needed and the changes in it are lost. source.on_slot_lost = "
          "resnapshot: dropping the slot, creating a new one and reading every table "
          "again",
          source.slot_name);
      // Another instance may have dropped it and made a new one meanwhile: that one stays, and
      // the instance that dropped the slot resets the offsets.
      check.dropped = drop_lost_slot(query, source.slot_name);
      check.start_over = true;
      slot.reset();
      resume_lsn = 0;
      progress_empty = true;
    } else if (slot->wal_status == "lost") {
      throw SetupError("replication slot " + source.slot_name +
                       " was invalidated (wal_status "
                       "lost): PostgreSQL removed WAL it still needed, changes were lost: " +
                       start_over_advice(options));
    } else if (slot->active) {
      // Another process (a second pgcdc instance) streams from it: stand by.
      throw SlotInUse("replication slot " + source.slot_name + " is in use by another process");
    }
  }
  if (slot && resume_lsn == 0 && progress_empty) {
    // The slot has streamed (or was made) before, but where its changes were delivered to is
    // unknown: the whole state again, then the stream from where the slot stands.
    spdlog::warn(
        "{}, but replication slot {} exists (confirmed flush {}): snapshotting every "
        "table again and streaming from the slot's position. Records delivered before "
        "are sent again (duplicates); none is lost",
        options.no_position, source.slot_name, format_lsn(slot->confirmed_flush));
  }
  if (slot && resume_lsn != 0 && !find_publication(query, source.publication_name, tables)) {
    // pgoutput looks publications up in the catalog as of each change: one created again now
    // cannot publish the changes in between, so the stream would fail on them forever.
    throw SetupError("publication " + source.publication_name +
                     " was dropped while the slot "
                     "still has changes to stream: they cannot be decoded any more: " +
                     start_over_advice(options));
  }
  if (!slot && resume_lsn != 0) {
    // Dropped by hand, or this is a promoted standby that the slot did not reach (PostgreSQL
    // before 17, or not a failover slot): the slot is lost as surely as an invalidated one.
    const std::string missing =
        "replication slot " + source.slot_name + " does not exist, but " + options.offsets_store +
        " says streaming reached " + format_lsn(resume_lsn) +
        " (dropped, or this server is a promoted standby the slot did not reach: before "
        "PostgreSQL 17, or without source.failover_slot)";
    if (source.on_slot_lost != SourceConfig::OnSlotLost::kResnapshot) {
      throw SetupError(missing +
                       ": changes since then cannot be recovered: " + options.forget_position +
                       " to start over with a new snapshot, or set source.on_slot_lost = "
                       "resnapshot");
    }
    spdlog::error(
        "{}: changes since then are lost. source.on_slot_lost = resnapshot: creating "
        "a new slot and reading every table again",
        missing);
    check.start_over = true;
    check.dropped = true;  // nothing to drop: this instance resets the saved position
    return check;
  }
  check.exists = slot.has_value();
  return check;
}

void refuse_standby(PgConnection& replication) {
  auto recovery = replication.exec("SELECT pg_catalog.pg_is_in_recovery()");
  if (field(recovery.get(), 0, 0) == "t") {
    throw SetupError(
        "source.replication_url connects to a standby (the server is in recovery): pgcdc "
        "decodes only on the primary, where source.url manages its slot; point "
        "source.replication_url at the primary, or leave it unset (it defaults to source.url), "
        "and use target_session_attrs=read-write with several hosts");
  }
}

PgConnection open_replication(PgConnection& query, const SourceOptions& options,
                              const std::vector<TableInfo>& tables, bool slot_exists) {
  const SourceConfig& source = options.source;
  bool created_publication = ensure_publication(query, source, tables);
  try {
    PgConnection replication(source.replication_url, PgConnection::Kind::kReplication,
                             source.connection_timeout);
    refuse_standby(replication);
    const bool failover = wants_failover_slot(source, replication.server_version());
    if (!slot_exists) {
      create_slot(replication, source.slot_name, failover);
    } else if (auto slot = find_slot(query, source.slot_name)) {
      // A slot made before (by an older pgcdc, by hand, or with another setting) follows
      // source.failover_slot too; the slot is not in use here (check_slot).
      align_slot_failover(replication, source.slot_name, slot->failover, failover);
    }
    return replication;
  } catch (const SlotInUse&) {
    throw;  // the instance that made the slot streams with this publication: it stays
  } catch (...) {
    // Leave nothing half-made: a publication without its slot is the residue of a failed start.
    // With a slot, another instance created it meanwhile and uses the publication.
    if (created_publication) {
      try {
        if (!find_slot(query, source.slot_name)) {
          drop_publication(query, source.publication_name);
        }
      } catch (const std::exception& e) {
        spdlog::error("could not drop publication {} after a failed start: {}",
                      source.publication_name, e.what());
      }
    }
    throw;
  }
}

void start_replication(PgConnection& replication, const SourceOptions& options, Lsn start) {
  const SourceConfig& source = options.source;
  std::string publications = replication.quote_identifier(source.publication_name);
  std::string command = "START_REPLICATION SLOT " + replication.quote_identifier(source.slot_name) +
                        " LOGICAL " + format_lsn(start) +
                        " (proto_version '1', publication_names " +
                        quote_replication_literal(publications) + ", messages 'true')";
  try {
    replication.exec(command);  // PGRES_COPY_BOTH
  } catch (const PgError& e) {
    // "replication slot ... is active for PID ...": another instance acquired it after this one
    // found it free.
    if (e.sqlstate() == "55006") {
      std::string reason = e.what();  // the command, then PostgreSQL's words (naming the PID)
      const std::string command_part = command.substr(0, 120) + ": ";
      if (reason.starts_with(command_part)) reason.erase(0, command_part.size());
      throw SlotInUse("replication slot " + source.slot_name + " is in use by another process (" +
                      reason + ")");
    }
    throw;
  }
  spdlog::info("streaming from slot {} (publication {}), resuming after {}", source.slot_name,
               source.publication_name, format_lsn(start));
}

void drop_slot_and_publication(PgConnection& query, const SourceOptions& options) {
  const SourceConfig& source = options.source;
  // The walsender exits asynchronously after the connection closes: retry briefly while active.
  for (int attempt = 0; attempt < 50; ++attempt) {
    try {
      drop_slot(query, source.slot_name);
      break;
    } catch (const PgError& e) {
      if (e.sqlstate() != "55006" || attempt == 49) throw;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  drop_publication(query, source.publication_name);
  spdlog::info("dropped replication slot {} and publication {} (source.drop_slot_on_stop)",
               source.slot_name, source.publication_name);
}

}  // namespace pgcdc
