#pragma once
// Reads what only PostgreSQL knows, every metrics.slot_sample_interval, on its own thread and its
// own connection (application_name "pgcdc-metrics"), so the source loop pays nothing and the
// numbers keep coming while the pipeline is in backoff:
//   - the server's WAL position;
//   - the replication slot: wal_status, active, WAL it retains, safe_wal_size, confirmed flush,
//     and whether it would survive a failover (connector/failover_slot.h);
//     and the server's max_slot_wal_keep_size;
//   - each configured table's estimated row count (pg_class.reltuples), for snapshot progress.
// Every query is a catalog read that any role may run (no superuser, no pg_monitor needed).
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "config/config.h"
#include "connector/pg_connection.h"
#include "core/lsn.h"
#include "core/mutex.h"

namespace pgcdc {

struct ServerSample {
  bool ok = false;
  std::string error;  // why not ok; never contains a password (libpq's messages do not)
  Lsn server_wal_lsn = 0;
  bool slot_exists = false;
  std::string wal_status;  // reserved, extended, unreserved, lost ("" when the slot is missing)
  bool slot_active = false;
  std::optional<std::int64_t> retained_wal_bytes;   // server WAL position - restart_lsn
  std::optional<std::int64_t> safe_wal_size_bytes;  // NULL unless max_slot_wal_keep_size is set
  Lsn slot_confirmed_flush_lsn = 0;
  // A failover slot with a connected standby in synchronized_standby_slots (PostgreSQL 17+).
  bool slot_failover_ready = false;
  // The server's max_slot_wal_keep_size; nullopt when it is -1 (no limit).
  std::optional<std::int64_t> max_slot_wal_keep_size_bytes;
  // "schema.table" -> pg_class.reltuples; below 0 when PostgreSQL has no estimate yet (never
  // vacuumed or analyzed). Missing tables are left out.
  std::map<std::string, double> estimated_rows;
};

class ServerSampler {
 public:
  using Callback = std::function<void(const ServerSample&)>;

  // Starts the thread; the first sample is taken at once. `on_sample` runs on that thread.
  ServerSampler(const Config& config, Callback on_sample);
  // Stops and joins (a query in progress is bounded by a 5 s statement timeout, and by
  // source.connection_timeout when the network is gone).
  ~ServerSampler();
  ServerSampler(const ServerSampler&) = delete;
  ServerSampler& operator=(const ServerSampler&) = delete;

  // One sample on `connection` (already connected); for the thread and for tests. Not ok, with
  // the error, when a query failed.
  static ServerSample sample(PgConnection& connection, const Config& config);

 private:
  void run() EXCLUDES(mutex_);

  // Throws PgError.
  PgConnection connect() const;

  const Config& config_;
  Callback on_sample_;
  Mutex mutex_;
  std::condition_variable wake_;
  bool stop_ GUARDED_BY(mutex_) = false;
  std::thread thread_;
};

}  // namespace pgcdc
