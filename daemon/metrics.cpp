#include "daemon/metrics.h"

#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <prometheus/text_serializer.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "core/thread_name.h"

namespace pgcdc {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

namespace {

// pgcdc_end_to_end_latency_seconds: from a millisecond to a minute.
const prometheus::Histogram::BucketBoundaries kLatencyBuckets{
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

constexpr auto kSampleInterval = std::chrono::seconds(1);

prometheus::Gauge& gauge(prometheus::Registry& registry, const std::string& name,
                         const std::string& help) {
  return BuildGauge().Name(name).Help(help).Register(registry).Add({});
}

prometheus::Counter& counter(prometheus::Registry& registry, const std::string& name,
                             const std::string& help) {
  return BuildCounter().Name(name).Help(help).Register(registry).Add({});
}

prometheus::Family<prometheus::Counter>& counter_family(prometheus::Registry& registry,
                                                        const std::string& name,
                                                        const std::string& help) {
  return BuildCounter().Name(name).Help(help).Register(registry);
}

prometheus::Family<prometheus::Gauge>& gauge_family(prometheus::Registry& registry,
                                                    const std::string& name,
                                                    const std::string& help) {
  return BuildGauge().Name(name).Help(help).Register(registry);
}

// Adds to `counter` what a cumulative source value gained since `seen`. A value below `seen`
// started again from zero (a new session's counter): all of it is new.
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
      registry_(std::make_shared<prometheus::Registry>()),
      read_family_(counter_family(*registry_, "pgcdc_records_read_total",
                                  "Records read from PostgreSQL (snapshot rows and changes) and "
                                  "handed to the buffer, by table and operation")),
      produced_family_(counter_family(*registry_, "pgcdc_records_produced_total",
                                      "Records the sink accepted (handed to the Kafka producer), "
                                      "by table and operation")),
      delivered_family_(counter_family(*registry_, "pgcdc_records_delivered_total",
                                       "Records the sink confirmed (Kafka: acknowledged by all "
                                       "in-sync replicas), by table and operation")),
      failed_family_(counter_family(*registry_, "pgcdc_records_failed_total",
                                    "Records whose delivery failed (they are read again by the "
                                    "next session), by table and operation")),
      produced_bytes_family_(counter_family(*registry_, "pgcdc_produced_bytes_total",
                                            "Payload bytes (topic, key, value) the sink accepted, "
                                            "by table")),
      delivered_bytes_family_(counter_family(*registry_, "pgcdc_delivered_bytes_total",
                                             "Payload bytes (topic, key, value) the sink "
                                             "confirmed, by table")),
      chunks_family_(counter_family(*registry_, "pgcdc_snapshot_chunks_total",
                                    "Snapshot chunks read and published, by table")),
      snapshot_rows_family_(gauge_family(*registry_, "pgcdc_snapshot_rows",
                                         "Snapshot rows delivered and committed so far (all "
                                         "sessions, from the offsets), by table")),
      estimated_rows_family_(gauge_family(*registry_, "pgcdc_snapshot_rows_estimated",
                                          "Estimated rows in the table (pg_class.reltuples; -1 "
                                          "when PostgreSQL has no estimate yet), by table")),
      table_state_family_(gauge_family(*registry_, "pgcdc_table_state",
                                       "1 for the table's current state: snapshot_pending, "
                                       "snapshotting, streaming (snapshot done or not wanted) "
                                       "or done (snapshot-only run)")),
      latency_(BuildHistogram()
                   .Name("pgcdc_end_to_end_latency_seconds")
                   .Help("From the PostgreSQL commit to the sink's delivery report")
                   .Register(*registry_)
                   .Add({}, kLatencyBuckets)),
      reconnects_(counter(*registry_, "pgcdc_reconnects_total",
                          "Sessions started again (new PostgreSQL connections and Kafka "
                          "producer) from the last committed position after a transient failure")),
      transactions_(counter(*registry_, "pgcdc_transactions_total",
                            "Transactions decoded from the replication stream")),
      replication_bytes_(counter(*registry_, "pgcdc_replication_received_bytes_total",
                                 "Bytes the replication connection's socket received (TCP "
                                 "payload, TLS included), sampled about once a second")),
      replication_segments_(counter(*registry_, "pgcdc_replication_received_segments_total",
                                    "TCP segments the replication connection's socket received; "
                                    "bytes per segment near one message's size mean the "
                                    "walsender sends each message on its own")),
      replication_reserve_naps_(counter(*registry_, "pgcdc_replication_reserve_naps_total",
                                        "Naps of 1 ms the replication stream took holding back a "
                                        "reserve of its socket while small changes arrive fast; "
                                        "the rate times 0.001 is the share of time it held")),
      chunk_retries_(counter(*registry_, "pgcdc_snapshot_chunk_retries_total",
                             "Snapshot chunks read again because a concurrent commit raced them")),
      publication_gaps_(counter(*registry_, "pgcdc_publication_gaps_total",
                                "Captured tables found to have left the publication (changes "
                                "were missed; see source.on_publication_gap)")),
      tables_reread_(gauge(*registry_, "pgcdc_tables_reread_after_gap",
                           "Tables being read again after a publication gap")),
      unknown_types_(counter(*registry_, "pgcdc_unknown_type_values_total",
                             "Values of types without a specific JSON mapping, written as their "
                             "PostgreSQL text form")),
      buffer_records_(gauge(*registry_, "pgcdc_buffer_records", "Records in the bounded buffer")),
      buffer_bytes_(gauge(*registry_, "pgcdc_buffer_bytes", "Bytes held by the records in the bounded buffer")),
      buffer_max_records_(
          gauge(*registry_, "pgcdc_buffer_capacity_records", "Buffer capacity in records")),
      buffer_max_bytes_(gauge(*registry_, "pgcdc_buffer_capacity_bytes", "Buffer capacity in bytes")),
      buffer_fill_ratio_(gauge(*registry_, "pgcdc_buffer_fill_ratio",
                               "Buffer fill level, the larger of records and bytes, 0..1")),
      in_flight_(gauge(*registry_, "pgcdc_records_in_flight",
                       "Records read and not yet confirmed by the sink (in the buffer or the "
                       "producer)")),
      sink_queue_(gauge(*registry_, "pgcdc_sink_queue_records",
                        "Records the sink accepted and has not yet reported (Kafka producer queue "
                        "depth)")),
      received_lsn_(gauge(*registry_, "pgcdc_received_lsn", "Last WAL position received")),
      flushed_lsn_(gauge(*registry_, "pgcdc_confirmed_flush_lsn",
                         "Last position committed (offsets saved, flush sent to PostgreSQL)")),
      server_wal_lsn_(gauge(*registry_, "pgcdc_server_wal_lsn",
                            "The server's WAL position (keepalives and periodic samples)")),
      lag_bytes_(gauge(*registry_, "pgcdc_replication_lag_bytes",
                       "Server WAL position minus the confirmed flush position")),
      streaming_(gauge(*registry_, "pgcdc_streaming", "1 while the replication stream runs")),
      snapshotting_(gauge(*registry_, "pgcdc_snapshotting", "1 while a snapshot is in progress")),
      ready_(gauge(*registry_, "pgcdc_ready", "1 when /readyz answers 200")),
      slot_retained_(gauge(*registry_, "pgcdc_slot_retained_wal_bytes",
                           "WAL the replication slot keeps on the server (WAL position minus "
                           "restart_lsn)")),
      slot_status_family_(gauge_family(*registry_, "pgcdc_slot_wal_status",
                                       "1 for the slot's pg_replication_slots.wal_status "
                                       "(reserved, extended, unreserved, lost) or missing")),
      slot_active_(gauge(*registry_, "pgcdc_slot_active",
                         "1 when a walsender streams from the slot")),
      slot_safe_wal_family_(gauge_family(*registry_, "pgcdc_slot_safe_wal_size_bytes",
                                         "WAL that can still be written before the slot is lost "
                                         "(only with max_slot_wal_keep_size)")),
      slot_confirmed_flush_(gauge(*registry_, "pgcdc_slot_confirmed_flush_lsn",
                                  "The slot's confirmed_flush_lsn as the server sees it")),
      slot_sample_errors_(counter(*registry_, "pgcdc_slot_sample_errors_total",
                                  "Failed attempts to read slot health and row estimates")) {
  auto& errors = counter_family(*registry_, "pgcdc_errors_total",
                                "Errors that ended a session (retried) or the daemon, by stage");
  for (const char* stage : kErrorStages) errors_[stage] = &errors.Add({{"stage", stage}});
  for (std::size_t i = 0; i < kSlotStatuses.size(); ++i) {
    slot_status_[i] = &slot_status_family_.Add({{"status", kSlotStatuses[i]}});
  }
  for (const auto& table : config_.source.tables) {
    tables_.emplace(table.qualified(), make_table_metrics(table.qualified()));
  }
  BuildGauge()
      .Name("pgcdc_build_info")
      .Help("Build information: pgcdc, librdkafka and libpq versions")
      .Register(*registry_)
      .Add({{"version", PGCDC_VERSION},
            {"librdkafka", rd_kafka_version_str()},
            {"libpq", libpq_version()}})
      .Set(1);
  gauge(*registry_, "pgcdc_start_time_seconds", "Start time of the process, Unix seconds")
      .Set(static_cast<double>(std::chrono::duration_cast<std::chrono::seconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count()));
  sampler_ = std::thread([this] {
    name_this_thread("pgcdc-metrics");
    std::unique_lock lock(sampler_mutex_);
    while (!stop_sampler_) {
      lock.unlock();
      sample();
      lock.lock();
      sampler_wake_.wait_for(lock, kSampleInterval, [this] { return stop_sampler_; });
    }
  });
}

Metrics::~Metrics() {
  {
    std::lock_guard lock(sampler_mutex_);
    stop_sampler_ = true;
  }
  sampler_wake_.notify_all();
  if (sampler_.joinable()) sampler_.join();
}

Metrics::TableMetrics Metrics::make_table_metrics(const std::string& table) {
  TableMetrics m;
  for (std::size_t i = 0; i < TableCounters::kOperations.size(); ++i) {
    prometheus::Labels labels{{"table", table},
                              {"op", operation_name(TableCounters::kOperations[i])}};
    m.read[i] = &read_family_.Add(labels);
    m.produced[i] = &produced_family_.Add(labels);
    m.delivered[i] = &delivered_family_.Add(labels);
    m.failed[i] = &failed_family_.Add(labels);
  }
  m.produced_bytes = &produced_bytes_family_.Add({{"table", table}});
  m.delivered_bytes = &delivered_bytes_family_.Add({{"table", table}});
  m.snapshot_chunks = &chunks_family_.Add({{"table", table}});
  m.snapshot_rows = &snapshot_rows_family_.Add({{"table", table}});
  m.snapshot_rows_estimated = &estimated_rows_family_.Add({{"table", table}});
  m.snapshot_rows_estimated->Set(-1);
  for (std::size_t i = 0; i < kTableStateNames.size(); ++i) {
    m.state_gauges[i] =
        &table_state_family_.Add({{"table", table}, {"state", kTableStateNames[i]}});
  }
  return m;
}

Metrics::TableMetrics& Metrics::table_metrics(std::string_view table) {
  if (auto it = tables_.find(table); it != tables_.end()) return it->second;
  // Not a configured name (should not happen): counted anyway, under a lock.
  std::lock_guard lock(extra_tables_mutex_);
  auto it = extra_tables_.find(table);
  if (it == extra_tables_.end()) {
    std::string name(table);
    it = extra_tables_.emplace(name, make_table_metrics(name)).first;
  }
  return it->second;
}

void Metrics::attach(const SessionView& view) {
  std::lock_guard lock(view_mutex_);
  view_ = view;
  // The source's per-session counters start again from zero (Pipeline resets them).
  unknown_types_seen_ = 0;
  health_.note_idle(steady_now_ns());
}

void Metrics::detach() {
  sample();
  std::lock_guard lock(view_mutex_);
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
    if (report.records == 1) {
      latency_.Observe(latency_s);
    } else {
      // Merged reports share their commit and report times: one latency for all their records,
      // put in its bucket the way Observe() does (the first bound not below it, else +Inf).
      std::vector<double> increments(kLatencyBuckets.size() + 1, 0.0);
      const auto bucket = std::find_if(kLatencyBuckets.begin(), kLatencyBuckets.end(),
                                       [&](double bound) { return bound >= latency_s; });
      increments[static_cast<std::size_t>(bucket - kLatencyBuckets.begin())] = records;
      latency_.ObserveMultiple(increments, latency_s * records);
    }
  }
}

Metrics::ProducedCounters Metrics::produced_counters(std::string_view table, Operation op) {
  TableMetrics& metrics = sink_table_metrics(table);
  return {metrics.produced[TableCounters::index_of(op)], metrics.produced_bytes};
}

void Metrics::count_reconnect() { reconnects_.Increment(); }

void Metrics::count_error(const std::string& stage) {
  auto it = errors_.find(stage);
  if (it == errors_.end()) it = errors_.find("internal");
  it->second->Increment();
}

void Metrics::record_server_sample(const ServerSample& sample) {
  {
    std::lock_guard lock(server_mutex_);
    if (!sample.ok) {
      slot_sample_errors_.Increment();
      if (sample.error != last_server_error_) {
        spdlog::warn("cannot read slot health and row estimates from PostgreSQL: {}",
                     sample.error);
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
  for (std::size_t i = 0; i < kSlotStatuses.size(); ++i) {
    slot_status_[i]->Set(status == kSlotStatuses[i] ? 1 : 0);
  }
  slot_active_.Set(sample.slot_active ? 1 : 0);
  slot_retained_.Set(static_cast<double>(sample.retained_wal_bytes.value_or(0)));
  slot_confirmed_flush_.Set(static_cast<double>(sample.slot_confirmed_flush_lsn));
  // Only this thread adds or removes the safe-size gauge.
  if (sample.safe_wal_size_bytes) {
    if (!slot_safe_wal_) slot_safe_wal_ = &slot_safe_wal_family_.Add({});
    slot_safe_wal_->Set(static_cast<double>(*sample.safe_wal_size_bytes));
  } else if (slot_safe_wal_) {
    slot_safe_wal_family_.Remove(slot_safe_wal_);
    slot_safe_wal_ = nullptr;
  }
}

HealthAnswer Metrics::liveness() const {
  std::lock_guard lock(view_mutex_);
  return health_.liveness(view_);
}

HealthAnswer Metrics::readiness() const {
  std::lock_guard lock(view_mutex_);
  return health_.readiness(view_);
}

std::string Metrics::status_line() const {
  std::lock_guard lock(view_mutex_);
  return status_;
}

std::string Metrics::text_exposition() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
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

void Metrics::sample() {
  std::lock_guard lock(view_mutex_);
  std::int64_t now = steady_now_ns();
  if (view_.buffer) {
    BufferStats stats = view_.buffer->stats();
    buffer_records_.Set(static_cast<double>(stats.records));
    buffer_bytes_.Set(static_cast<double>(stats.bytes));
    buffer_max_records_.Set(static_cast<double>(stats.max_records));
    buffer_max_bytes_.Set(static_cast<double>(stats.max_bytes));
    buffer_fill_ratio_.Set(stats.fill_ratio());
  }
  if (view_.ledger) {
    std::uint64_t in_flight = view_.ledger->records_in_flight();
    in_flight_.Set(static_cast<double>(in_flight));
    if (in_flight == 0) health_.note_idle(now);
  }
  if (view_.sink) sink_queue_.Set(static_cast<double>(view_.sink->in_flight()));
  Lsn server = sampled_server_wal_lsn_.load();
  if (view_.source) {
    const SourceStats& s = *view_.source;
    received_lsn_.Set(static_cast<double>(s.received_lsn.load()));
    flushed_lsn_.Set(static_cast<double>(s.flushed_lsn.load()));
    server = std::max(server, s.server_wal_end.load());
    Lsn flushed = s.flushed_lsn.load();
    // Before the first commit there is no position to measure from.
    lag_bytes_.Set(flushed != 0 && server > flushed ? static_cast<double>(server - flushed) : 0.0);
    advance(transactions_, transactions_seen_, s.transactions.load());
    advance(replication_bytes_, replication_bytes_seen_, s.replication_bytes_received.load());
    advance(replication_segments_, replication_segments_seen_,
            s.replication_segments_received.load());
    advance(replication_reserve_naps_, replication_reserve_naps_seen_,
            s.replication_reserve_naps.load());
    advance(chunk_retries_, chunk_retries_seen_, s.snapshot_chunk_retries.load());
    advance(publication_gaps_, publication_gaps_seen_, s.publication_gaps.load());
    tables_reread_.Set(s.tables_reread_after_gap.load());
    advance(unknown_types_, unknown_types_seen_, s.unknown_type_values.load());
    streaming_.Set(s.streaming ? 1 : 0);
    snapshotting_.Set(s.snapshotting ? 1 : 0);
    // A snapshot-only run can finish between two samples: having read anything counts too.
    if (s.streaming || s.snapshotting || s.snapshot_chunks > 0 || s.transactions > 0) {
      started_ = true;
    }
  } else {
    streaming_.Set(0);
    snapshotting_.Set(0);
  }
  if (server != 0) server_wal_lsn_.Set(static_cast<double>(server));
  sample_tables_locked(now);

  HealthInputs inputs = health_.observe(view_);
  HealthAnswer ready = health_.sample_readiness(inputs);
  ready_.Set(ready.ok ? 1 : 0);
  status_ = status_report_.line(inputs, ready, lag_bytes_.Value(), delivered_total_.load());
}

}  // namespace pgcdc
