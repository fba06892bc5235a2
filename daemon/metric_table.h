#pragma once
// Every metric the daemon serves, declared once: name, type, help and label names. MetricRegistry
// builds the prometheus-cpp families from this table; docs/metrics.md documents each entry (a unit
// test holds the two to each other).
//
// The order is the registration order, which is the order /metrics lists the families of a type.
// Label values are bounded: `table` takes the configured tables, `op` the six operations, and
// `stage`, `state` and `status` the lists below.
#include <array>
#include <cstddef>
#include <span>
#include <string_view>

namespace pgcdc {

enum class MetricType { kCounter, kGauge, kHistogram };

enum class MetricId : std::size_t {
  kRecordsRead,
  kRecordsProduced,
  kRecordsDelivered,
  kRecordsFailed,
  kProducedBytes,
  kDeliveredBytes,
  kSnapshotChunks,
  kSnapshotRows,
  kSnapshotRowsEstimated,
  kTableState,
  kEndToEndLatency,
  kReconnects,
  kTransactions,
  kReplicationReceivedBytes,
  kReplicationReceivedSegments,
  kReplicationReserveNaps,
  kSnapshotChunkRetries,
  kPublicationGaps,
  kTablesRereadAfterGap,
  kUnknownTypeValues,
  kBufferRecords,
  kBufferBytes,
  kBufferCapacityRecords,
  kBufferCapacityBytes,
  kBufferFillRatio,
  kRecordsInFlight,
  kSinkQueueRecords,
  kReceivedLsn,
  kConfirmedFlushLsn,
  kServerWalLsn,
  kReplicationLagBytes,
  kStreaming,
  kSnapshotting,
  kReady,
  kSlotRetainedWalBytes,
  kSlotWalStatus,
  kSlotActive,
  kSlotSafeWalSize,
  kSlotConfirmedFlushLsn,
  kSlotFailoverReady,
  kSlotWalAtRisk,
  kSlotSampleErrors,
  kErrors,
  kBuildInfo,
  kStartTime,
};

// pgcdc_end_to_end_latency_seconds: from a millisecond to a minute.
inline constexpr std::array<double, 15> kLatencyBuckets = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

// Values of the bounded labels, in the order their series are created.
inline constexpr std::array<const char*, 6> kErrorStages = {"source", "setup",   "decode",
                                                            "sink",   "offsets", "internal"};
inline constexpr std::array<const char*, 5> kSlotStatuses = {"reserved", "extended", "unreserved",
                                                             "lost", "missing"};

struct MetricSpec {
  MetricId id;
  MetricType type;
  std::string_view name;
  std::string_view help;
  // Label names, in the order a series' values are given (MetricRegistry::counter(id, values));
  // unused places stay empty. A metric without labels has its one series from the start.
  std::array<std::string_view, 3> labels{};
  // Only for a metric without labels: its series exists only while its value is known, and its
  // owner adds and removes it (MetricRegistry::gauge_family).
  bool only_when_known = false;
  std::span<const double> buckets{};  // histograms
};

inline constexpr std::array kMetricTable = {
    MetricSpec{MetricId::kRecordsRead,
               MetricType::kCounter,
               "pgcdc_records_read_total",
               "Records read from PostgreSQL (snapshot rows and changes) and handed to the buffer, "
               "by table and operation",
               {"table", "op"}},
    MetricSpec{MetricId::kRecordsProduced,
               MetricType::kCounter,
               "pgcdc_records_produced_total",
               "Records the sink accepted (handed to the Kafka producer), by table and operation",
               {"table", "op"}},
    MetricSpec{MetricId::kRecordsDelivered,
               MetricType::kCounter,
               "pgcdc_records_delivered_total",
               "Records the sink confirmed (Kafka: acknowledged by all in-sync replicas), by table "
               "and operation",
               {"table", "op"}},
    MetricSpec{MetricId::kRecordsFailed,
               MetricType::kCounter,
               "pgcdc_records_failed_total",
               "Records whose delivery failed (they are read again by the next session), by table "
               "and operation",
               {"table", "op"}},
    MetricSpec{MetricId::kProducedBytes,
               MetricType::kCounter,
               "pgcdc_produced_bytes_total",
               "Payload bytes (topic, key, value) the sink accepted, by table",
               {"table"}},
    MetricSpec{MetricId::kDeliveredBytes,
               MetricType::kCounter,
               "pgcdc_delivered_bytes_total",
               "Payload bytes (topic, key, value) the sink confirmed, by table",
               {"table"}},
    MetricSpec{MetricId::kSnapshotChunks,
               MetricType::kCounter,
               "pgcdc_snapshot_chunks_total",
               "Snapshot chunks read and published, by table",
               {"table"}},
    MetricSpec{MetricId::kSnapshotRows,
               MetricType::kGauge,
               "pgcdc_snapshot_rows",
               "Snapshot rows delivered and committed so far (all sessions, from the offsets), by "
               "table",
               {"table"}},
    MetricSpec{MetricId::kSnapshotRowsEstimated,
               MetricType::kGauge,
               "pgcdc_snapshot_rows_estimated",
               "Estimated rows in the table (pg_class.reltuples; -1 when PostgreSQL has no "
               "estimate yet), by table",
               {"table"}},
    MetricSpec{MetricId::kTableState,
               MetricType::kGauge,
               "pgcdc_table_state",
               "1 for the table's current state: snapshot_pending, snapshotting, streaming "
               "(snapshot done or not wanted) or done (snapshot-only run)",
               {"table", "state"}},
    MetricSpec{MetricId::kEndToEndLatency,
               MetricType::kHistogram,
               "pgcdc_end_to_end_latency_seconds",
               "From the PostgreSQL commit to the sink's delivery report",
               {},
               false,
               kLatencyBuckets},
    MetricSpec{MetricId::kReconnects, MetricType::kCounter, "pgcdc_reconnects_total",
               "Sessions started again (new PostgreSQL connections and Kafka producer) from the "
               "last committed position after a transient failure"},
    MetricSpec{MetricId::kTransactions, MetricType::kCounter, "pgcdc_transactions_total",
               "Transactions decoded from the replication stream"},
    MetricSpec{MetricId::kReplicationReceivedBytes, MetricType::kCounter,
               "pgcdc_replication_received_bytes_total",
               "Bytes the replication connection's socket received (TCP payload, TLS included), "
               "sampled about once a second"},
    MetricSpec{MetricId::kReplicationReceivedSegments, MetricType::kCounter,
               "pgcdc_replication_received_segments_total",
               "TCP segments the replication connection's socket received; bytes per segment near "
               "one message's size mean the walsender sends each message on its own"},
    MetricSpec{MetricId::kReplicationReserveNaps, MetricType::kCounter,
               "pgcdc_replication_reserve_naps_total",
               "Naps of 1 ms the replication stream took holding back a reserve of its socket "
               "while small changes arrive fast; the rate times 0.001 is the share of time it "
               "held"},
    MetricSpec{MetricId::kSnapshotChunkRetries, MetricType::kCounter,
               "pgcdc_snapshot_chunk_retries_total",
               "Snapshot chunks read again because a concurrent commit raced them"},
    MetricSpec{MetricId::kPublicationGaps, MetricType::kCounter, "pgcdc_publication_gaps_total",
               "Captured tables found to have left the publication (changes were missed; see "
               "source.on_publication_gap)"},
    MetricSpec{MetricId::kTablesRereadAfterGap, MetricType::kGauge, "pgcdc_tables_reread_after_gap",
               "Tables being read again after a publication gap"},
    MetricSpec{MetricId::kUnknownTypeValues, MetricType::kCounter,
               "pgcdc_unknown_type_values_total",
               "Values of types without a specific JSON mapping, written as their PostgreSQL "
               "text form"},
    MetricSpec{MetricId::kBufferRecords, MetricType::kGauge, "pgcdc_buffer_records",
               "Records in the bounded buffer"},
    MetricSpec{MetricId::kBufferBytes, MetricType::kGauge, "pgcdc_buffer_bytes",
               "Bytes held by the records in the bounded buffer"},
    MetricSpec{MetricId::kBufferCapacityRecords, MetricType::kGauge,
               "pgcdc_buffer_capacity_records", "Buffer capacity in records"},
    MetricSpec{MetricId::kBufferCapacityBytes, MetricType::kGauge, "pgcdc_buffer_capacity_bytes",
               "Buffer capacity in bytes"},
    MetricSpec{MetricId::kBufferFillRatio, MetricType::kGauge, "pgcdc_buffer_fill_ratio",
               "Buffer fill level, the larger of records and bytes, 0..1"},
    MetricSpec{MetricId::kRecordsInFlight, MetricType::kGauge, "pgcdc_records_in_flight",
               "Records read and not yet confirmed by the sink (in the buffer or the producer)"},
    MetricSpec{MetricId::kSinkQueueRecords, MetricType::kGauge, "pgcdc_sink_queue_records",
               "Records the sink accepted and has not yet reported (Kafka producer queue depth)"},
    MetricSpec{MetricId::kReceivedLsn, MetricType::kGauge, "pgcdc_received_lsn",
               "Last WAL position received"},
    MetricSpec{MetricId::kConfirmedFlushLsn, MetricType::kGauge, "pgcdc_confirmed_flush_lsn",
               "Last position committed (offsets saved, flush sent to PostgreSQL)"},
    MetricSpec{MetricId::kServerWalLsn, MetricType::kGauge, "pgcdc_server_wal_lsn",
               "The server's WAL position (keepalives and periodic samples)"},
    MetricSpec{MetricId::kReplicationLagBytes, MetricType::kGauge, "pgcdc_replication_lag_bytes",
               "Server WAL position minus the confirmed flush position"},
    MetricSpec{MetricId::kStreaming, MetricType::kGauge, "pgcdc_streaming",
               "1 while the replication stream runs"},
    MetricSpec{MetricId::kSnapshotting, MetricType::kGauge, "pgcdc_snapshotting",
               "1 while a snapshot is in progress"},
    MetricSpec{MetricId::kReady, MetricType::kGauge, "pgcdc_ready", "1 when /readyz answers 200"},
    MetricSpec{MetricId::kSlotRetainedWalBytes, MetricType::kGauge, "pgcdc_slot_retained_wal_bytes",
               "WAL the replication slot keeps on the server (WAL position minus restart_lsn)"},
    MetricSpec{MetricId::kSlotWalStatus,
               MetricType::kGauge,
               "pgcdc_slot_wal_status",
               "1 for the slot's pg_replication_slots.wal_status (reserved, extended, unreserved, "
               "lost) or missing",
               {"status"}},
    MetricSpec{MetricId::kSlotActive, MetricType::kGauge, "pgcdc_slot_active",
               "1 when a walsender streams from the slot"},
    MetricSpec{MetricId::kSlotSafeWalSize,
               MetricType::kGauge,
               "pgcdc_slot_safe_wal_size_bytes",
               "WAL that can still be written before the slot is lost (only with "
               "max_slot_wal_keep_size)",
               {},
               true},
    MetricSpec{MetricId::kSlotConfirmedFlushLsn, MetricType::kGauge,
               "pgcdc_slot_confirmed_flush_lsn",
               "The slot's confirmed_flush_lsn as the server sees it"},
    MetricSpec{MetricId::kSlotFailoverReady, MetricType::kGauge, "pgcdc_slot_failover_ready",
               "1 when the slot is a failover slot and every standby slot in "
               "synchronized_standby_slots has its standby connected (PostgreSQL 17+)"},
    MetricSpec{MetricId::kSlotWalAtRisk, MetricType::kGauge, "pgcdc_slot_wal_at_risk",
               "1 while the slot retains source.wal_retention_warn of max_slot_wal_keep_size or "
               "more, or its wal_status is unreserved or lost (/readyz says which)"},
    MetricSpec{MetricId::kSlotSampleErrors, MetricType::kCounter, "pgcdc_slot_sample_errors_total",
               "Failed attempts to read slot health and row estimates"},
    MetricSpec{MetricId::kErrors,
               MetricType::kCounter,
               "pgcdc_errors_total",
               "Errors that ended a session (retried) or the daemon, by stage",
               {"stage"}},
    MetricSpec{MetricId::kBuildInfo,
               MetricType::kGauge,
               "pgcdc_build_info",
               "Build information: pgcdc, librdkafka and libpq versions",
               {"version", "librdkafka", "libpq"}},
    MetricSpec{MetricId::kStartTime, MetricType::kGauge, "pgcdc_start_time_seconds",
               "Start time of the process, Unix seconds"},
};

inline constexpr std::size_t kMetricCount = kMetricTable.size();

// The table is indexed by MetricId.
constexpr bool metric_table_in_id_order() {
  for (std::size_t i = 0; i < kMetricTable.size(); ++i) {
    if (static_cast<std::size_t>(kMetricTable[i].id) != i) return false;
  }
  return true;
}
static_assert(metric_table_in_id_order(), "kMetricTable lists the metrics in MetricId order");
static_assert(static_cast<std::size_t>(MetricId::kStartTime) + 1 == kMetricCount,
              "every MetricId has its row in kMetricTable");

inline const MetricSpec& metric_spec(MetricId id) {
  return kMetricTable[static_cast<std::size_t>(id)];
}

}  // namespace pgcdc
