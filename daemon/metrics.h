#pragma once
// Prometheus metrics (prometheus-cpp) and the HTTP endpoint that serves them.
//
// Counters are updated where things happen (delivery reports on the sink thread); gauges that
// describe state (buffer fill, positions, in flight) are sampled from the running session by a
// sampler thread once a second, so the hot path pays nothing for them.
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "connector/postgres_source.h"
#include "core/bounded_buffer.h"
#include "core/delivery.h"
#include "core/position_ledger.h"
#include "sinks/sink.h"

namespace pgcdc {

class Metrics {
 public:
  // `listen` "host:port" starts the HTTP endpoint (/metrics); empty: metrics are kept, not served.
  // Throws std::runtime_error when the address cannot be bound.
  explicit Metrics(const std::string& listen);
  ~Metrics();

  // What the sampler reads; pointers stay valid between attach() and detach().
  struct SessionView {
    const BoundedBuffer* buffer = nullptr;
    const PositionLedger* ledger = nullptr;
    const SourceStats* source = nullptr;
    const Sink* sink = nullptr;
  };
  void attach(const SessionView& view);  // main thread
  void detach();                         // main thread

  void record_delivery(const DeliveryReport& report);  // sink thread
  void count_restart();                                 // main thread
  void count_error(const std::string& stage);           // main thread

  // Samples the gauges now (the sampler thread calls this every second; tests call it directly).
  void sample();
  prometheus::Registry& registry() { return *registry_; }
  // The bound port (useful when listening on port 0), 0 without an endpoint.
  int port() const;

 private:
  prometheus::Counter& delivery_counter(const DeliveryReport& report);

  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;

  prometheus::Family<prometheus::Counter>& delivered_;
  prometheus::Family<prometheus::Counter>& failed_;
  prometheus::Counter& delivered_bytes_;
  prometheus::Histogram& latency_;
  prometheus::Counter& restarts_;
  prometheus::Family<prometheus::Counter>& errors_;
  prometheus::Gauge& buffer_records_;
  prometheus::Gauge& buffer_bytes_;
  prometheus::Gauge& buffer_max_records_;
  prometheus::Gauge& buffer_max_bytes_;
  prometheus::Gauge& buffer_fill_ratio_;
  prometheus::Gauge& in_flight_;
  prometheus::Gauge& sink_in_flight_;
  prometheus::Gauge& received_lsn_;
  prometheus::Gauge& flushed_lsn_;
  prometheus::Gauge& server_wal_end_;
  prometheus::Gauge& lag_bytes_;
  prometheus::Gauge& records_read_;
  prometheus::Gauge& snapshot_rows_;
  prometheus::Gauge& snapshot_chunks_;
  prometheus::Gauge& transactions_;
  prometheus::Gauge& unknown_types_;
  prometheus::Gauge& streaming_;
  prometheus::Gauge& snapshotting_;

  // Sink thread only: label lookup cache, so a report costs one hash lookup.
  std::unordered_map<std::string, prometheus::Counter*> delivery_counters_;

  std::mutex view_mutex_;  // guards view_
  SessionView view_;
  std::atomic<bool> stop_sampler_{false};
  std::thread sampler_;
};

}  // namespace pgcdc
