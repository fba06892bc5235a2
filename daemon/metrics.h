#pragma once
// Prometheus metrics (prometheus-cpp registry), the health answers, and the systemd status line:
// the daemon's one place that knows how the pipeline is doing. docs/metrics.md lists every metric.
//
// Counters are updated where things happen: produced records (CountingSink) and delivery reports
// on the sink thread, restarts and errors on the main thread. What the source counts (records read,
// chunks, transactions) and everything that describes state (buffer fill, positions, in flight,
// snapshot progress) is sampled from the running session once a second by the sampler thread, so
// the source loop pays nothing for it. What only PostgreSQL knows (slot health, row estimates)
// comes from the ServerSampler's thread through record_server_sample().
//
// Label values are bounded: `table` takes the configured tables, `op` the six operations, `stage`
// and `state` fixed lists.
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "config/config.h"
#include "core/bounded_buffer.h"
#include "core/delivery.h"
#include "core/position_ledger.h"
#include "core/source_stats.h"
#include "core/table_counters.h"
#include "daemon/health.h"
#include "daemon/server_sampler.h"
#include "daemon/session_view.h"
#include "daemon/status_report.h"
#include "daemon/table_state.h"
#include "sinks/sink.h"

namespace pgcdc {

class Metrics {
 public:
  // Starts the sampler thread. `limits` decide liveness and readiness (see health.h).
  explicit Metrics(const Config& config, HealthLimits limits = {});
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // What the sampler reads; pointers stay valid between attach() and detach().
  void attach(const SessionView& view);  // main thread
  void detach();                         // main thread; samples one last time first

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
  void count_error(const std::string& stage);  // one of kErrorStages

  // ServerSampler thread.
  void record_server_sample(const ServerSample& sample);

  // Any thread.
  HealthAnswer liveness() const;
  HealthAnswer readiness() const;
  bool started() const { return started_.load(); }  // snapshotting or streaming, at least once
  std::string status_line() const;                  // for systemd's STATUS=
  std::string text_exposition() const;              // GET /metrics
  prometheus::Registry& registry() { return *registry_; }

  // Samples the gauges now (the sampler thread calls this every second; tests call it directly).
  void sample();

  static constexpr std::array<const char*, 6> kErrorStages = {"source", "setup",   "decode",
                                                              "sink",   "offsets", "internal"};
  static constexpr std::array<const char*, 5> kSlotStatuses = {"reserved", "extended",
                                                               "unreserved", "lost", "missing"};

 private:
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
  TableMetrics& table_metrics(std::string_view table);
  TableMetrics make_table_metrics(const std::string& table);
  // table_metrics() for the sink thread's per-record calls: consecutive records mostly share a
  // table, so the last one is kept at hand (a string comparison instead of a map search).
  TableMetrics& sink_table_metrics(std::string_view table);
  void sample_tables_locked(std::int64_t now_ns);  // requires view_mutex_

  const Config& config_;
  Health health_;
  StatusReport status_report_;
  std::shared_ptr<prometheus::Registry> registry_;

  prometheus::Family<prometheus::Counter>& read_family_;
  prometheus::Family<prometheus::Counter>& produced_family_;
  prometheus::Family<prometheus::Counter>& delivered_family_;
  prometheus::Family<prometheus::Counter>& failed_family_;
  prometheus::Family<prometheus::Counter>& produced_bytes_family_;
  prometheus::Family<prometheus::Counter>& delivered_bytes_family_;
  prometheus::Family<prometheus::Counter>& chunks_family_;
  prometheus::Family<prometheus::Gauge>& snapshot_rows_family_;
  prometheus::Family<prometheus::Gauge>& estimated_rows_family_;
  prometheus::Family<prometheus::Gauge>& table_state_family_;
  prometheus::Histogram& latency_;
  prometheus::Counter& reconnects_;
  std::map<std::string, prometheus::Counter*, std::less<>> errors_;  // fixed after construction
  prometheus::Counter& transactions_;
  prometheus::Counter& replication_bytes_;
  prometheus::Counter& replication_segments_;
  prometheus::Counter& replication_reserve_naps_;
  prometheus::Counter& chunk_retries_;
  prometheus::Counter& publication_gaps_;
  prometheus::Gauge& tables_reread_;
  prometheus::Counter& unknown_types_;
  prometheus::Gauge& buffer_records_;
  prometheus::Gauge& buffer_bytes_;
  prometheus::Gauge& buffer_max_records_;
  prometheus::Gauge& buffer_max_bytes_;
  prometheus::Gauge& buffer_fill_ratio_;
  prometheus::Gauge& in_flight_;
  prometheus::Gauge& sink_queue_;
  prometheus::Gauge& received_lsn_;
  prometheus::Gauge& flushed_lsn_;
  prometheus::Gauge& server_wal_lsn_;
  prometheus::Gauge& lag_bytes_;
  prometheus::Gauge& streaming_;
  prometheus::Gauge& snapshotting_;
  prometheus::Gauge& ready_;
  prometheus::Gauge& slot_retained_;
  prometheus::Family<prometheus::Gauge>& slot_status_family_;
  std::array<prometheus::Gauge*, kSlotStatuses.size()> slot_status_{};
  prometheus::Gauge& slot_active_;
  prometheus::Family<prometheus::Gauge>& slot_safe_wal_family_;
  prometheus::Gauge* slot_safe_wal_ = nullptr;  // sampler thread; present only when known
  prometheus::Gauge& slot_confirmed_flush_;
  prometheus::Counter& slot_sample_errors_;

  // Configured tables: built in the constructor, read-only afterwards (no lock needed).
  std::map<std::string, TableMetrics, std::less<>> tables_;
  std::string sink_last_table_;             // sink thread only
  TableMetrics* sink_last_metrics_ = nullptr;  // sink thread only
  std::mutex extra_tables_mutex_;  // guards extra_tables_ (tables not in the config; unexpected)
  std::map<std::string, TableMetrics, std::less<>> extra_tables_;

  std::atomic<Lsn> sampled_server_wal_lsn_{0};
  std::atomic<bool> started_{false};
  std::atomic<std::uint64_t> delivered_total_{0};

  mutable std::mutex server_mutex_;  // guards last_server_error_
  std::string last_server_error_;

  mutable std::mutex view_mutex_;  // guards view_ and every "sampler only" member
  SessionView view_;
  std::uint64_t transactions_seen_ = 0;
  std::uint64_t replication_bytes_seen_ = 0;
  std::uint64_t replication_segments_seen_ = 0;
  std::uint64_t replication_reserve_naps_seen_ = 0;
  std::uint64_t chunk_retries_seen_ = 0;
  std::uint64_t publication_gaps_seen_ = 0;
  std::uint64_t unknown_types_seen_ = 0;
  std::string status_;

  std::mutex sampler_mutex_;  // guards stop_sampler_
  std::condition_variable sampler_wake_;
  bool stop_sampler_ = false;
  std::thread sampler_;
};

// A session's view in the metrics for exactly as long as the objects it points to live: taken
// back on every way out of the scope, an exception included (the sampler thread would otherwise
// read a destroyed buffer).
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
