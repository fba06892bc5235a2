#pragma once
// How the pipeline is doing, in one place: the metrics (a MetricRegistry built from
// metric_table.h; docs/metrics.md lists every metric), the health answers (Health) and the status
// line and snapshot progress log (StatusReport), fed from the running session by a sampler thread.
//
// Counters are updated where things happen: produced records (CountingSink) and delivery reports
// on the sink thread, restarts and errors on the main thread. What the source counts (records read,
// chunks, transactions) and everything that describes state (buffer fill, positions, in flight,
// snapshot progress) is sampled from the running session once a second by the sampler thread, so
// the source loop pays nothing for it. What only PostgreSQL knows (slot health, row estimates)
// comes from the ServerSampler's thread through record_server_sample().
#include <prometheus/counter.h>
#include <prometheus/gauge.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <thread>

#include "config/config.h"
#include "core/delivery.h"
#include "core/mutex.h"
#include "core/table_counters.h"
#include "daemon/health.h"
#include "daemon/metric_registry.h"
#include "daemon/server_sampler.h"
#include "daemon/session_view.h"
#include "daemon/slot_wal_guard.h"
#include "daemon/status_report.h"
#include "daemon/table_state.h"

namespace pgcdc {

class Metrics {
 public:
  // Main thread. Starts the sampler thread. `limits` decide liveness and readiness (health.h).
  explicit Metrics(const Config& config, HealthLimits limits = {});
  ~Metrics();  // main thread: stops the sampler thread
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // What the sampler reads; the pointers stay valid between attach() and detach().
  void attach(const SessionView& view);  // main thread
  void detach() EXCLUDES(view_mutex_);   // main thread; samples one last time first

  // Main thread: what the daemon is doing (Pipeline sets it).
  ServiceState& state() { return health_.state(); }

  // Sink thread.
  void record_delivery(const DeliveryReport& report);
  struct ProducedCounters {
    prometheus::Counter* records;
    prometheus::Counter* bytes;
  };
  ProducedCounters produced_counters(std::string_view table, Operation op);

  // Main thread.
  void count_reconnect();
  void count_error(const std::string& stage);  // one of kErrorStages (metric_table.h)

  // ServerSampler thread.
  void record_server_sample(const ServerSample& sample) EXCLUDES(server_mutex_);

  // Any thread.
  HealthAnswer liveness() const;
  HealthAnswer readiness() const;
  bool started() const { return started_.load(); }  // snapshotting or streaming, at least once
  std::string status_line() const;                  // for systemd's STATUS=
  std::string text_exposition() const;              // GET /metrics

  // Samples the gauges now: the sampler thread every second; the main thread in detach() and
  // once more at exit; tests directly.
  void sample() EXCLUDES(view_mutex_);

 private:
  // A cumulative SourceStats counter that the sampler adds to a Prometheus counter.
  struct SourceCounter {
    MetricId metric;
    const std::atomic<std::uint64_t> SourceStats::*value;
    bool per_session;  // Pipeline sets it to zero for each session
  };
  static constexpr std::array<SourceCounter, 7> kSourceCounters = {{
      {MetricId::kTransactions, &SourceStats::transactions, false},
      {MetricId::kReplicationReceivedBytes, &SourceStats::replication_bytes_received, false},
      {MetricId::kReplicationReceivedSegments, &SourceStats::replication_segments_received, false},
      {MetricId::kReplicationReserveNaps, &SourceStats::replication_reserve_naps, false},
      {MetricId::kSnapshotChunkRetries, &SourceStats::snapshot_chunk_retries, false},
      {MetricId::kPublicationGaps, &SourceStats::publication_gaps, false},
      {MetricId::kUnknownTypeValues, &SourceStats::unknown_type_values, true},
  }};

  // One table's series, looked up once.
  struct TableMetrics {
    std::array<prometheus::Counter*, TableCounters::kOperations.size()> read{}, produced{},
        delivered{}, failed{};
    prometheus::Counter* produced_bytes = nullptr;
    prometheus::Counter* delivered_bytes = nullptr;
    prometheus::Counter* snapshot_chunks = nullptr;
    prometheus::Gauge* snapshot_rows = nullptr;
    prometheus::Gauge* snapshot_rows_estimated = nullptr;
    std::array<prometheus::Gauge*, kTableStateNames.size()> state_gauges{};
    // Sampler only (under view_mutex_): counts already added to the counters above.
    std::array<std::uint64_t, TableCounters::kOperations.size()> read_seen{};
    std::uint64_t chunks_seen = 0;
  };
  // Any thread.
  TableMetrics& table_metrics(std::string_view table) EXCLUDES(extra_tables_mutex_);
  TableMetrics make_table_metrics(const std::string& table);
  // table_metrics() for the sink thread's per-record calls: consecutive records mostly share a
  // table, so the last one is kept at hand (a string comparison instead of a map search).
  TableMetrics& sink_table_metrics(std::string_view table);
  // Sampler.
  void sample_session_locked(std::int64_t now_ns) REQUIRES(view_mutex_);
  void sample_tables_locked(std::int64_t now_ns) REQUIRES(view_mutex_);
  void run_sampler() EXCLUDES(sampler_mutex_);  // the sampler thread

  const Config& config_;
  MetricRegistry registry_;
  Health health_;
  StatusReport status_report_;

  // Configured tables: built in the constructor, read-only afterwards (no lock needed).
  std::map<std::string, TableMetrics, std::less<>> tables_;
  std::string sink_last_table_;                // sink thread only
  TableMetrics* sink_last_metrics_ = nullptr;  // sink thread only
  Mutex extra_tables_mutex_;
  // Tables not in the config (unexpected).
  std::map<std::string, TableMetrics, std::less<>> extra_tables_ GUARDED_BY(extra_tables_mutex_);

  std::atomic<Lsn> sampled_server_wal_lsn_{0};
  std::atomic<bool> started_{false};
  std::atomic<std::uint64_t> delivered_total_{0};

  mutable Mutex server_mutex_;
  std::string last_server_error_ GUARDED_BY(server_mutex_);
  prometheus::Gauge* slot_safe_wal_ = nullptr;  // ServerSampler thread; present only when known
  SlotWalGuard slot_wal_guard_;                 // ServerSampler thread

  // Also keeps apart what the analysis cannot see: the "sampler only" counts of TableMetrics,
  // and the sampler's calls into health_ and status_report_.
  mutable Mutex view_mutex_;
  SessionView view_ GUARDED_BY(view_mutex_);
  // Sampler only: what each of kSourceCounters had reached at the last sample.
  std::array<std::uint64_t, kSourceCounters.size()> source_counters_seen_ GUARDED_BY(view_mutex_){};
  std::string status_ GUARDED_BY(view_mutex_);

  Mutex sampler_mutex_;
  std::condition_variable sampler_wake_;
  bool stop_sampler_ GUARDED_BY(sampler_mutex_) = false;
  std::thread sampler_;
};

// A session's view in the metrics for exactly as long as the objects it points to live: taken
// back on every way out of the scope, an exception included (the sampler thread would otherwise
// read a destroyed buffer). Main thread.
class AttachedSession {
 public:
  AttachedSession(Metrics& metrics, const SessionView& view) : metrics_(metrics) {
    metrics_.attach(view);
  }
  ~AttachedSession() { metrics_.detach(); }
  AttachedSession(const AttachedSession&) = delete;
  AttachedSession& operator=(const AttachedSession&) = delete;

 private:
  Metrics& metrics_;
};

}  // namespace pgcdc
