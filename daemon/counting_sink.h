#pragma once
// A Sink that passes everything to another one and counts what that one accepted ("produced":
// handed to Kafka's producer, not yet confirmed), by table and operation. Delivered and failed
// records are counted from the delivery reports (Metrics::record_delivery).
//
// Threads: like every Sink, called on the sink thread only; the counting runs there too.
#include <memory>

#include "daemon/metrics.h"
#include "sinks/sink.h"

namespace pgcdc {

class CountingSink : public Sink {
 public:
  CountingSink(std::unique_ptr<Sink> inner, Metrics& metrics)
      : inner_(std::move(inner)), metrics_(metrics) {}

  SendResult send(Record& record) override {
    SendResult result = inner_->send(record);
    if (result == SendResult::kAccepted) count(record);
    return result;
  }
  std::size_t send_batch(std::span<Record> records) override {
    const std::size_t taken = inner_->send_batch(records);
    for (std::size_t i = 0; i < taken; ++i) count(records[i]);
    return taken;
  }
  void poll(std::chrono::milliseconds timeout) override { inner_->poll(timeout); }
  bool set_report_wakeup(std::function<void()> wake) override {
    return inner_->set_report_wakeup(std::move(wake));
  }
  bool flush(std::chrono::milliseconds timeout) override { return inner_->flush(timeout); }
  std::size_t in_flight() const override { return inner_->in_flight(); }
  std::string name() const override { return inner_->name(); }
  bool ping(std::chrono::milliseconds timeout, std::string& error) override {
    return inner_->ping(timeout, error);
  }
  bool fatal() const override { return inner_->fatal(); }
  std::string fatal_error() const override { return inner_->fatal_error(); }

 private:
  void count(const Record& record) {
    Metrics::ProducedCounters counters = metrics_.produced_counters(record.table, record.op);
    counters.records->Increment();
    counters.bytes->Increment(static_cast<double>(record.payload_bytes()));
  }

  std::unique_ptr<Sink> inner_;
  Metrics& metrics_;
};

}  // namespace pgcdc
