#include "daemon/server_sampler.h"

#include <cstdlib>
#include <vector>

#include "connector/failover_slot.h"
#include "connector/pg_connection.h"
#include "core/thread_name.h"

namespace pgcdc {
namespace {

// Fills `out` but for ok and error; throws PgError when a query fails.
void read_sample(PgConnection& connection, const Config& config, ServerSample& out) {
  const std::string& slot = config.source.slot_name;
  PgResult wal = connection.exec_params(
      "WITH w AS (SELECT CASE WHEN pg_catalog.pg_is_in_recovery() "
      "THEN pg_catalog.pg_last_wal_replay_lsn() "
      "ELSE pg_catalog.pg_current_wal_lsn() END AS lsn) "
      "SELECT w.lsn::text, s.slot_name IS NOT NULL, s.wal_status, s.active, "
      "pg_catalog.pg_wal_lsn_diff(w.lsn, s.restart_lsn)::bigint, "
      "s.safe_wal_size, s.confirmed_flush_lsn::text, "
      // In MB (its unit in pg_settings); -1 when unlimited.
      "(SELECT setting::bigint FROM pg_catalog.pg_settings "
      "WHERE name = 'max_slot_wal_keep_size') "
      "FROM w LEFT JOIN pg_catalog.pg_replication_slots s ON s.slot_name = $1",
      {slot});
  out.server_wal_lsn = parse_lsn(field(wal.get(), 0, 0)).value_or(0);
  out.slot_exists = field(wal.get(), 0, 1) == "t";
  if (!PQgetisnull(wal.get(), 0, 7)) {
    std::int64_t keep_mb = std::strtoll(PQgetvalue(wal.get(), 0, 7), nullptr, 10);
    if (keep_mb >= 0) out.max_slot_wal_keep_size_bytes = keep_mb * 1024 * 1024;
  }
  if (out.slot_exists) {
    out.wal_status = std::string(field(wal.get(), 0, 2));
    out.slot_active = field(wal.get(), 0, 3) == "t";
    if (!PQgetisnull(wal.get(), 0, 4)) {
      out.retained_wal_bytes = std::strtoll(PQgetvalue(wal.get(), 0, 4), nullptr, 10);
    }
    if (!PQgetisnull(wal.get(), 0, 5)) {
      out.safe_wal_size_bytes = std::strtoll(PQgetvalue(wal.get(), 0, 5), nullptr, 10);
    }
    out.slot_confirmed_flush_lsn = parse_lsn(field(wal.get(), 0, 6)).value_or(0);
    out.slot_failover_ready = read_failover_readiness(connection, slot).ready();
  }
  for (const auto& table : config.source.tables) {
    PgResult estimate = connection.exec_params(
        // A partitioned table holds no rows: its leaves' estimates
        // add up to its size (-1 while none of them is known yet).
        "SELECT CASE WHEN c.relkind <> 'p' THEN c.reltuples::float8 "
        "ELSE (SELECT coalesce(sum(l.reltuples) FILTER "
        "(WHERE l.reltuples >= 0), -1)::float8 "
        "FROM pg_catalog.pg_partition_tree(c.oid) t "
        "JOIN pg_catalog.pg_class l ON l.oid = t.relid WHERE t.isleaf) END "
        "FROM pg_catalog.pg_class c "
        "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = $1 AND c.relname = $2",
        {table.schema, table.name});
    if (PQntuples(estimate.get()) == 1) {
      out.estimated_rows[table.qualified()] =
          std::strtod(PQgetvalue(estimate.get(), 0, 0), nullptr);
    }
  }
}

}  // namespace

ServerSampler::ServerSampler(const Config& config, Callback on_sample)
    : config_(config), on_sample_(std::move(on_sample)) {
  thread_ = std::thread([this] {
    name_this_thread("pgcdc-sampler");
    run();
  });
}

ServerSampler::~ServerSampler() {
  {
    MutexLock lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

PgConnection ServerSampler::connect() const {
  // Short statement and lock timeouts: this connection only ever runs three catalog reads. A
  // silent network ends a wait after source.connection_timeout (PgConnection).
  PgConnection connection(config_.source.url, PgConnection::Kind::kQuery,
                          config_.source.connection_timeout, "pgcdc-metrics");
  connection.exec("SET statement_timeout = 5000");
  connection.exec("SET lock_timeout = 1000");
  return connection;
}

ServerSample ServerSampler::sample(PgConnection& connection, const Config& config) {
  ServerSample out;
  try {
    read_sample(connection, config, out);
    out.ok = true;
  } catch (const PgError& e) {
    out.error = e.what();
  }
  return out;
}

void ServerSampler::run() {
  std::optional<PgConnection> connection;
  for (;;) {
    ServerSample result;
    if (!connection) {
      try {
        connection.emplace(connect());
      } catch (const PgError& e) {
        result.error = e.what();  // names host and port, never the password
      }
    }
    if (connection) {
      result = sample(*connection, config_);
      // A failed query may mean a broken connection: start over with a fresh one next time.
      if (!result.ok) connection.reset();
    }
    on_sample_(result);
    MutexLock lock(mutex_);
    if (wake_.wait_for(lock.native(), config_.metrics.slot_sample_interval,
                       [this]() REQUIRES(mutex_) { return stop_; })) {
      return;
    }
  }
}

}  // namespace pgcdc
