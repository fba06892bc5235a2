#pragma once
// Failover slots (PostgreSQL 17 and later): a logical slot created with FAILOVER is copied to the
// physical standbys that run with sync_replication_slots = on, so after a promotion the new
// primary has the slot, at a position no later than what the standby received. pgcdc then
// resumes from it without losing a change (source.failover_slot; docs/operations.md, "Failover").
//
// Everything here runs on the thread that owns the connection it is given (the source thread
// at session start, the sampler thread for the metric, the main thread for `pgcdc check`).
#include <string>
#include <vector>

#include "config/config.h"
#include "connector/pg_connection.h"

namespace pgcdc {

inline constexpr int kFailoverSlotsVersion = 170000;  // PostgreSQL 17

// Throws SetupError when source.failover_slot = true but the server (server_version, as
// PQserverVersion gives it) cannot make failover slots. Naming the key and the version.
void check_failover_setting(const SourceConfig& source, int server_version);

// Whether the slot should be a failover slot on this server: `true` and `auto` where the server
// supports it, never with `false`.
bool wants_failover_slot(const SourceConfig& source, int server_version);

// Makes an existing slot's failover flag what the configuration wants (ALTER_REPLICATION_SLOT on
// the replication connection; PostgreSQL 17 and later, the slot not in use). `current` is the
// flag the slot has. Logs what it changed.
void align_slot_failover(PgConnection& replication, const std::string& slot_name, bool current,
                         bool wanted);

// What the primary can say about whether the slot survives a failover. The standby's own view
// (pg_replication_slots.synced there) is not visible from the primary; what is: the slot's
// failover flag, and the physical slots in synchronized_standby_slots. With those set, the
// primary sends pgcdc no change before those standbys have it, and the standby's slot-sync
// worker keeps a copy of the slot there.
struct FailoverReadiness {
  bool supported = false;  // PostgreSQL 17 or later
  bool slot_exists = false;
  bool failover = false;                   // pg_replication_slots.failover
  std::vector<std::string> standby_slots;  // synchronized_standby_slots
  // Those of standby_slots that are not a physical slot with a standby streaming from it.
  std::vector<std::string> standby_slots_not_streaming;

  // A failover slot, protected by at least one synchronized standby slot, every one of them
  // with its standby connected.
  bool ready() const {
    return supported && slot_exists && failover && !standby_slots.empty() &&
           standby_slots_not_streaming.empty();
  }
  // One line for `pgcdc check` and the logs.
  std::string describe() const;
};

// Catalog reads only (pg_replication_slots, a setting): any role may run them. Throws PgError.
FailoverReadiness read_failover_readiness(PgConnection& connection, const std::string& slot_name);

// The names in a synchronized_standby_slots value ("a, \"b\"" -> a, b).
std::vector<std::string> parse_slot_list(const std::string& value);

}  // namespace pgcdc
