#include "daemon/metrics.h"

#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "core/thread_name.h"

namespace pgcdc {
namespace {

constexpr auto kSampleInterval = std::chrono::seconds(1);

// Sampler: adds to `counter` what a cumulative source value gained since `seen`. A value below
// `seen` started again from zero (a new session's counter): all of it is new.
void advance(prometheus::Counter& counter, std::uint64_t& seen, std::uint64_t current) {
  std::uint64_t gained = current >= seen ? current - seen : current;
  if (gained > 0) counter.Increment(static_cast<double>(gained));
  seen = current;
}

std::string libpq_version() {
  int version = PQlibVersion();  // e.g. 150010
  return std::to_string(version / 10000) + "." + std::to_string(version % 10000);
}

}  // namespace

Metrics::Metrics(const Config& config, HealthLimits limits)
    : config_(config),
      health_(limits),
      status_report_(config.source.tables),
      slot_wal_guard_(config.source.slot_name, config.source.wal_retention_warn) {
  for (const char* stage : kErrorStages) registry_.counter(MetricId::kErrors, {stage});
  for (const char* status : kSlotStatuses) registry_.gauge(MetricId::kSlotWalStatus, {status});
  for (const auto& table : config_.source.tables) {
    tables_.emplace(table.qualified(), make_table_metrics(table.qualified()));
  }
  registry_.gauge(MetricId::kBuildInfo, {PGCDC_VERSION, rd_kafka_version_str(), libpq_version()})
      .Set(1);
  registry_.gauge(MetricId::kStartTime)
      .Set(static_cast<double>(std::chrono::duration_cast<std::chrono::seconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count()));
  sampler_ = std::thread([this] { run_sampler(); });
}

Metrics::~Metrics() {
  {
    MutexLock lock(sampler_mutex_);
    stop_sampler_ = true;
  }
  sampler_wake_.notify_all();
  if (sampler_.joinable()) sampler_.join();
}

void Metrics::run_sampler() {
  name_this_thread("pgcdc-metrics");
  MutexLock lock(sampler_mutex_);
  while (!stop_sampler_) {
    lock.unlock();
    sample();
    lock.lock();
    sampler_wake_.wait_for(lock.native(), kSampleInterval,
                           [this]() REQUIRES(sampler_mutex_) { return stop_sampler_; });
  }
}

Metrics::TableMetrics Metrics::make_table_metrics(const std::string& table) {
  TableMetrics m;
  for (std::size_t i = 0; i < TableCounters::kOperations.size(); ++i) {
    const char* op = operation_name(TableCounters::kOperations[i]);
    m.read[i] = &registry_.counter(MetricId::kRecordsRead, {table, op});
    m.produced[i] = &registry_.counter(MetricId::kRecordsProduced, {table, op});
    m.delivered[i] = &registry_.counter(MetricId::kRecordsDelivered, {table, op});
    m.failed[i] = &registry_.counter(MetricId::kRecordsFailed, {table, op});
  }
  m.produced_bytes = &registry_.counter(MetricId::kProducedBytes, {table});
  m.delivered_bytes = &registry_.counter(MetricId::kDeliveredBytes, {table});
  m.snapshot_chunks = &registry_.counter(MetricId::kSnapshotChunks, {table});
  m.snapshot_rows = &registry_.gauge(MetricId::kSnapshotRows, {table});
  m.snapshot_rows_estimated = &registry_.gauge(MetricId::kSnapshotRowsEstimated, {table});
  m.snapshot_rows_estimated->Set(-1);
  for (std::size_t i = 0; i < kTableStateNames.size(); ++i) {
    m.state_gauges[i] = &registry_.gauge(MetricId::kTableState, {table, kTableStateNames[i]});
  }
  return m;
}

Metrics::TableMetrics& Metrics::table_metrics(std::string_view table) {
  if (auto it = tables_.find(table); it != tables_.end()) return it->second;
  // Not a configured name (should not happen): counted anyway, under a lock.
  MutexLock lock(extra_tables_mutex_);
  auto it = extra_tables_.find(table);
  if (it == extra_tables_.end()) {
    std::string name(table);
    it = extra_tables_.emplace(name, make_table_metrics(name)).first;
  }
  return it->second;
}

void Metrics::attach(const SessionView& view) {
  MutexLock lock(view_mutex_);
  view_ = view;
  // Some of the source's counters start again from zero for each session (Pipeline resets them).
  for (std::size_t i = 0; i < kSourceCounters.size(); ++i) {
    if (kSourceCounters[i].per_session) source_counters_seen_[i] = 0;
  }
  health_.note_idle(steady_now_ns());
}

void Metrics::detach() {
  sample();
  MutexLock lock(view_mutex_);
  view_ = SessionView{};
}

Metrics::TableMetrics& Metrics::sink_table_metrics(std::string_view table) {
  if (sink_last_metrics_ && table == sink_last_table_) return *sink_last_metrics_;
  sink_last_metrics_ = &table_metrics(table);  // map nodes never move
  sink_last_table_.assign(table);
  return *sink_last_metrics_;
}

void Metrics::record_delivery(const DeliveryReport& report) {
  TableMetrics& table = sink_table_metrics(report.table);
  std::size_t op = TableCounters::index_of(report.op);
  const auto records = static_cast<double>(report.records);
  if (report.status != DeliveryStatus::kDelivered) {
    table.failed[op]->Increment(records);
    return;
  }
  table.delivered[op]->Increment(records);
  table.delivered_bytes->Increment(static_cast<double>(report.payload_bytes));
  delivered_total_ += report.records;
  health_.note_delivery();
  if (report.commit_time_us > 0) {
    auto now_us = report.reported_at_us > 0
                      ? report.reported_at_us
                      : std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    const double latency_s = static_cast<double>(now_us - report.commit_time_us) / 1e6;
    prometheus::Histogram& latency = registry_.histogram(MetricId::kEndToEndLatency);
    if (report.records == 1) {
      latency.Observe(latency_s);
    } else {
      // Merged reports share their commit and report times: one latency for all their records,
      // put in its bucket the way Observe() does (the first bound not below it, else +Inf).
      std::vector<double> increments(kLatencyBuckets.size() + 1, 0.0);
      const auto bucket = std::find_if(kLatencyBuckets.begin(), kLatencyBuckets.end(),
                                       [&](double bound) { return bound >= latency_s; });
      increments[static_cast<std::size_t>(bucket - kLatencyBuckets.begin())] = records;
      latency.ObserveMultiple(increments, latency_s * records);
    }
  }
}

Metrics::ProducedCounters Metrics::produced_counters(std::string_view table, Operation op) {
  TableMetrics& metrics = sink_table_metrics(table);
  return {metrics.produced[TableCounters::index_of(op)], metrics.produced_bytes};
}

void Metrics::count_reconnect() {
  registry_.counter(MetricId::kReconnects).Increment();
}

void Metrics::count_error(const std::string& stage) {
  bool known = std::find(kErrorStages.begin(), kErrorStages.end(), stage) != kErrorStages.end();
  registry_.counter(MetricId::kErrors, {known ? stage : "internal"}).Increment();
}

void Metrics::record_server_sample(const ServerSample& sample) {
  {
    MutexLock lock(server_mutex_);
    if (!sample.ok) {
      registry_.counter(MetricId::kSlotSampleErrors).Increment();
      if (sample.error != last_server_error_) {
        spdlog::warn("cannot read slot health and row estimates from PostgreSQL: {}", sample.error);
        last_server_error_ = sample.error;
      }
      return;
    }
    if (!last_server_error_.empty()) {
      spdlog::info("reading slot health and row estimates from PostgreSQL again");
      last_server_error_.clear();
    }
    status_report_.set_estimates(sample.estimated_rows);
  }
  sampled_server_wal_lsn_ = sample.server_wal_lsn;
  for (const auto& [table, estimate] : sample.estimated_rows) {
    table_metrics(table).snapshot_rows_estimated->Set(estimate < 0 ? -1 : estimate);
  }
  if (!config_.source.cdc) return;  // no slot
  std::string status = sample.slot_exists ? sample.wal_status : "missing";
  for (const char* known : kSlotStatuses) {
    registry_.gauge(MetricId::kSlotWalStatus, {known}).Set(status == known ? 1 : 0);
  }
  registry_.gauge(MetricId::kSlotActive).Set(sample.slot_active ? 1 : 0);
  registry_.gauge(MetricId::kSlotRetainedWalBytes)
      .Set(static_cast<double>(sample.retained_wal_bytes.value_or(0)));
  registry_.gauge(MetricId::kSlotConfirmedFlushLsn)
      .Set(static_cast<double>(sample.slot_confirmed_flush_lsn));
  registry_.gauge(MetricId::kSlotFailoverReady).Set(sample.slot_failover_ready ? 1 : 0);
  const SlotWalRisk& risk = slot_wal_guard_.update(sample);
  registry_.gauge(MetricId::kSlotWalAtRisk).Set(risk.at_risk() ? 1 : 0);
  health_.set_slot_wal_risk(risk.reason);
  // Only this thread adds or removes the safe-size gauge.
  auto& safe_wal = registry_.gauge_family(MetricId::kSlotSafeWalSize);
  if (sample.safe_wal_size_bytes) {
    if (!slot_safe_wal_) slot_safe_wal_ = &safe_wal.Add({});
    slot_safe_wal_->Set(static_cast<double>(*sample.safe_wal_size_bytes));
  } else if (slot_safe_wal_) {
    safe_wal.Remove(slot_safe_wal_);
    slot_safe_wal_ = nullptr;
  }
}

HealthAnswer Metrics::liveness() const {
  MutexLock lock(view_mutex_);
  return health_.liveness(view_);
}

HealthAnswer Metrics::readiness() const {
  MutexLock lock(view_mutex_);
  return health_.readiness(view_);
}

std::string Metrics::status_line() const {
  MutexLock lock(view_mutex_);
  return status_;
}

std::string Metrics::text_exposition() const {
  return registry_.text_exposition();
}

void Metrics::sample() {
  MutexLock lock(view_mutex_);
  std::int64_t now = steady_now_ns();
  sample_session_locked(now);
  sample_tables_locked(now);
  HealthInputs inputs = health_.observe(view_);
  HealthAnswer ready = health_.sample_readiness(inputs);
  registry_.gauge(MetricId::kReady).Set(ready.ok ? 1 : 0);
  status_ =
      status_report_.line(inputs, ready, registry_.gauge(MetricId::kReplicationLagBytes).Value(),
                          delivered_total_.load());
}

void Metrics::sample_session_locked(std::int64_t now_ns) {
  if (view_.buffer) {
    BufferStats stats = view_.buffer->stats();
    registry_.gauge(MetricId::kBufferRecords).Set(static_cast<double>(stats.records));
    registry_.gauge(MetricId::kBufferBytes).Set(static_cast<double>(stats.bytes));
    registry_.gauge(MetricId::kBufferCapacityRecords).Set(static_cast<double>(stats.max_records));
    registry_.gauge(MetricId::kBufferCapacityBytes).Set(static_cast<double>(stats.max_bytes));
    registry_.gauge(MetricId::kBufferFillRatio).Set(stats.fill_ratio());
  }
  if (view_.ledger) {
    std::uint64_t in_flight = view_.ledger->records_in_flight();
    registry_.gauge(MetricId::kRecordsInFlight).Set(static_cast<double>(in_flight));
    if (in_flight == 0) health_.note_idle(now_ns);
  }
  if (view_.sink) {
    registry_.gauge(MetricId::kSinkQueueRecords).Set(static_cast<double>(view_.sink->in_flight()));
  }
  Lsn server = sampled_server_wal_lsn_.load();
  prometheus::Gauge& streaming = registry_.gauge(MetricId::kStreaming);
  prometheus::Gauge& snapshotting = registry_.gauge(MetricId::kSnapshotting);
  if (view_.source) {
    const SourceStats& s = *view_.source;
    registry_.gauge(MetricId::kReceivedLsn).Set(static_cast<double>(s.received_lsn.load()));
    registry_.gauge(MetricId::kConfirmedFlushLsn).Set(static_cast<double>(s.flushed_lsn.load()));
    server = std::max(server, s.server_wal_end.load());
    Lsn flushed = s.flushed_lsn.load();
    // Before the first commit there is no position to measure from.
    registry_.gauge(MetricId::kReplicationLagBytes)
        .Set(flushed != 0 && server > flushed ? static_cast<double>(server - flushed) : 0.0);
    for (std::size_t i = 0; i < kSourceCounters.size(); ++i) {
      advance(registry_.counter(kSourceCounters[i].metric), source_counters_seen_[i],
              (s.*kSourceCounters[i].value).load());
    }
    registry_.gauge(MetricId::kTablesRereadAfterGap).Set(s.tables_reread_after_gap.load());
    streaming.Set(s.streaming ? 1 : 0);
    snapshotting.Set(s.snapshotting ? 1 : 0);
    // A snapshot-only run can finish between two samples: having read anything counts too.
    if (s.streaming || s.snapshotting || s.snapshot_chunks > 0 || s.transactions > 0) {
      started_ = true;
    }
  } else {
    streaming.Set(0);
    snapshotting.Set(0);
  }
  if (server != 0) registry_.gauge(MetricId::kServerWalLsn).Set(static_cast<double>(server));
}

void Metrics::sample_tables_locked(std::int64_t now_ns) {
  const SourceStats* source = view_.source;
  if (source) {
    for (const TableCounters::Row& row : source->per_table.rows()) {
      TableMetrics& table = table_metrics(row.table);
      for (std::size_t i = 0; i < row.records.size(); ++i) {
        advance(*table.read[i], table.read_seen[i], row.records[i]);
      }
      advance(*table.snapshot_chunks, table.chunks_seen, row.chunks);
    }
  }
  if (!view_.ledger) return;
  bool snapshotting = source && source->snapshotting.load();
  std::vector<TableStatus> statuses =
      table_statuses(config_.source, view_.ledger->committable(), snapshotting);
  for (const TableStatus& status : statuses) {
    TableMetrics& table = table_metrics(status.table);
    table.snapshot_rows->Set(static_cast<double>(status.rows));
    for (std::size_t i = 0; i < kTableStateNames.size(); ++i) {
      table.state_gauges[i]->Set(i == index_of(status.state) ? 1 : 0);
    }
  }
  for (const std::string& line : status_report_.update(statuses, snapshotting, now_ns)) {
    spdlog::info("{}", line);
  }
}

}  // namespace pgcdc
