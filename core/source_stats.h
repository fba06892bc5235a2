#pragma once
// What the PostgreSQL source counts and where it stands, published for the daemon's observers
// (metrics, /healthz, /readyz, systemd's watchdog). In core/ so that they need not know the source.
//
// Threads: the source thread writes; any thread reads (every field is an atomic, or TableCounters).
#include <atomic>
#include <chrono>
#include <cstdint>

#include "core/lsn.h"
#include "core/table_counters.h"

namespace pgcdc {

// Counters and gauges the source publishes; read by the metrics sampler (any thread).
struct SourceStats {
  std::atomic<std::uint64_t> records_read{0};
  std::atomic<std::uint64_t> snapshot_rows{0};
  std::atomic<std::uint64_t> snapshot_chunks{0};
  std::atomic<std::uint64_t> snapshot_chunk_retries{0};
  // Tables found to have left the publication while captured (publication_watch.h), and how many
  // of them are being read again now.
  std::atomic<std::uint64_t> publication_gaps{0};
  std::atomic<std::uint32_t> tables_reread_after_gap{0};
  std::atomic<std::uint64_t> transactions{0};
  std::atomic<std::uint64_t> unknown_type_values{0};
  std::atomic<Lsn> received_lsn{0};
  std::atomic<Lsn> flushed_lsn{0};
  std::atomic<Lsn> server_wal_end{0};
  // What the replication connections' sockets received (ReplicationStream::socket_received),
  // summed over sessions, sampled about once a second while changes flow.
  std::atomic<std::uint64_t> replication_bytes_received{0};
  std::atomic<std::uint64_t> replication_segments_received{0};
  // Naps the replication stream took holding back a reserve (ReplicationStream::reserve_naps),
  // summed over sessions, sampled with the socket's counts.
  std::atomic<std::uint64_t> replication_reserve_naps{0};
  std::atomic<bool> streaming{false};
  std::atomic<bool> snapshotting{false};

  // For the daemon (metrics per table, systemd watchdog, /healthz); see daemon/metrics.h.
  TableCounters per_table;  // records read by table and operation, snapshot chunks by table
  // steady_clock time (ns) the source loop last turned: while it moves, the loop is not wedged.
  std::atomic<std::int64_t> loop_turn_ns{0};
  void note_loop_turn() {
    loop_turn_ns.store(std::chrono::steady_clock::now().time_since_epoch().count(),
                       std::memory_order_relaxed);
  }
};

}  // namespace pgcdc
