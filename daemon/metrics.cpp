#include "daemon/metrics.h"

#include <chrono>

namespace pgcdc {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

namespace {

prometheus::Gauge& gauge(prometheus::Registry& registry, const std::string& name,
                         const std::string& help) {
  return BuildGauge().Name(name).Help(help).Register(registry).Add({});
}

}  // namespace

Metrics::Metrics(const std::string& listen)
    : registry_(std::make_shared<prometheus::Registry>()),
      delivered_(BuildCounter()
                     .Name("pgcdc_records_delivered_total")
                     .Help("Records the sink confirmed, by table and operation")
                     .Register(*registry_)),
      failed_(BuildCounter()
                  .Name("pgcdc_records_failed_total")
                  .Help("Records whose delivery failed, by table and operation")
                  .Register(*registry_)),
      delivered_bytes_(BuildCounter()
                           .Name("pgcdc_delivered_bytes_total")
                           .Help("Payload bytes (topic, key, value) the sink confirmed")
                           .Register(*registry_)
                           .Add({})),
      latency_(BuildHistogram()
                   .Name("pgcdc_end_to_end_latency_seconds")
                   .Help("From the PostgreSQL commit to the delivery report")
                   .Register(*registry_)
                   .Add({}, prometheus::Histogram::BucketBoundaries{
                                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
                                5, 10, 30, 60})),
      restarts_(BuildCounter()
                    .Name("pgcdc_session_restarts_total")
                    .Help("Sessions restarted from the last committed position after a failure")
                    .Register(*registry_)
                    .Add({})),
      errors_(BuildCounter()
                  .Name("pgcdc_errors_total")
                  .Help("Errors that ended a session, by stage")
                  .Register(*registry_)),
      buffer_records_(gauge(*registry_, "pgcdc_buffer_records", "Records in the bounded buffer")),
      buffer_bytes_(gauge(*registry_, "pgcdc_buffer_bytes", "Payload bytes in the bounded buffer")),
      buffer_max_records_(
          gauge(*registry_, "pgcdc_buffer_capacity_records", "Buffer capacity in records")),
      buffer_max_bytes_(gauge(*registry_, "pgcdc_buffer_capacity_bytes", "Buffer capacity in bytes")),
      buffer_fill_ratio_(gauge(*registry_, "pgcdc_buffer_fill_ratio",
                               "Buffer fill level, the larger of records and bytes, 0..1")),
      in_flight_(gauge(*registry_, "pgcdc_records_in_flight",
                       "Records handed to the buffer or sink and not yet confirmed")),
      sink_in_flight_(gauge(*registry_, "pgcdc_sink_queue_records",
                            "Records in the sink's own queue (Kafka producer queue depth)")),
      received_lsn_(gauge(*registry_, "pgcdc_received_lsn", "Last WAL position received")),
      flushed_lsn_(gauge(*registry_, "pgcdc_confirmed_flush_lsn",
                         "Last position committed (offsets saved, flush sent to PostgreSQL)")),
      server_wal_end_(
          gauge(*registry_, "pgcdc_server_wal_end_lsn", "Server WAL position from keepalives")),
      lag_bytes_(gauge(*registry_, "pgcdc_replication_lag_bytes",
                       "Server WAL position minus the confirmed flush position")),
      records_read_(gauge(*registry_, "pgcdc_records_read", "Records read from PostgreSQL in this session")),
      snapshot_rows_(gauge(*registry_, "pgcdc_snapshot_rows", "Snapshot rows published in this session")),
      snapshot_chunks_(
          gauge(*registry_, "pgcdc_snapshot_chunks", "Snapshot chunks published in this session")),
      transactions_(gauge(*registry_, "pgcdc_transactions", "Transactions decoded in this session")),
      unknown_types_(gauge(*registry_, "pgcdc_unknown_type_values",
                           "Values of types without a specific JSON mapping, written as strings")),
      streaming_(gauge(*registry_, "pgcdc_streaming", "1 while the replication stream runs")),
      snapshotting_(gauge(*registry_, "pgcdc_snapshotting", "1 while a snapshot is in progress")) {
  BuildGauge()
      .Name("pgcdc_build_info")
      .Help("Build information")
      .Register(*registry_)
      .Add({{"version", PGCDC_VERSION}})
      .Set(1);
  if (!listen.empty()) {
    exposer_ = std::make_unique<prometheus::Exposer>(listen);
    exposer_->RegisterCollectable(registry_);
  }
  sampler_ = std::thread([this] {
    while (!stop_sampler_) {
      sample();
      for (int i = 0; i < 10 && !stop_sampler_; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
  });
}

Metrics::~Metrics() {
  stop_sampler_ = true;
  if (sampler_.joinable()) sampler_.join();
}

int Metrics::port() const {
  if (!exposer_) return 0;
  auto ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

void Metrics::attach(const SessionView& view) {
  std::lock_guard lock(view_mutex_);
  view_ = view;
}

void Metrics::detach() {
  sample();
  std::lock_guard lock(view_mutex_);
  view_ = SessionView{};
}

prometheus::Counter& Metrics::delivery_counter(const DeliveryReport& report) {
  std::string key(report.table);
  key += '\0';
  key += operation_name(report.op);
  key += report.status == DeliveryStatus::kDelivered ? 'd' : 'f';
  auto it = delivery_counters_.find(key);
  if (it != delivery_counters_.end()) return *it->second;
  auto& family = report.status == DeliveryStatus::kDelivered ? delivered_ : failed_;
  auto& counter =
      family.Add({{"table", std::string(report.table)}, {"op", operation_name(report.op)}});
  delivery_counters_.emplace(std::move(key), &counter);
  return counter;
}

void Metrics::record_delivery(const DeliveryReport& report) {
  delivery_counter(report).Increment();
  if (report.status != DeliveryStatus::kDelivered) return;
  delivered_bytes_.Increment(static_cast<double>(report.payload_bytes));
  if (report.commit_time_us > 0) {
    auto now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
    latency_.Observe(static_cast<double>(now_us - report.commit_time_us) / 1e6);
  }
}

void Metrics::count_restart() { restarts_.Increment(); }

void Metrics::count_error(const std::string& stage) { errors_.Add({{"stage", stage}}).Increment(); }

void Metrics::sample() {
  std::lock_guard lock(view_mutex_);
  if (view_.buffer) {
    BufferStats stats = view_.buffer->stats();
    buffer_records_.Set(static_cast<double>(stats.records));
    buffer_bytes_.Set(static_cast<double>(stats.bytes));
    buffer_max_records_.Set(static_cast<double>(stats.max_records));
    buffer_max_bytes_.Set(static_cast<double>(stats.max_bytes));
    buffer_fill_ratio_.Set(stats.fill_ratio());
  }
  if (view_.ledger) in_flight_.Set(static_cast<double>(view_.ledger->records_in_flight()));
  if (view_.sink) sink_in_flight_.Set(static_cast<double>(view_.sink->in_flight()));
  if (view_.source) {
    const SourceStats& s = *view_.source;
    received_lsn_.Set(static_cast<double>(s.received_lsn.load()));
    flushed_lsn_.Set(static_cast<double>(s.flushed_lsn.load()));
    server_wal_end_.Set(static_cast<double>(s.server_wal_end.load()));
    Lsn end = s.server_wal_end.load(), flushed = s.flushed_lsn.load();
    lag_bytes_.Set(end > flushed ? static_cast<double>(end - flushed) : 0.0);
    records_read_.Set(static_cast<double>(s.records_read.load()));
    snapshot_rows_.Set(static_cast<double>(s.snapshot_rows.load()));
    snapshot_chunks_.Set(static_cast<double>(s.snapshot_chunks.load()));
    transactions_.Set(static_cast<double>(s.transactions.load()));
    unknown_types_.Set(static_cast<double>(s.unknown_type_values.load()));
    streaming_.Set(s.streaming ? 1 : 0);
    snapshotting_.Set(s.snapshotting ? 1 : 0);
  }
}

}  // namespace pgcdc
