#pragma once
// A Sink that passes everything to another one and counts what that one accepted ("produced":
// handed to Kafka's producer, not yet confirmed), by table and operation. Delivered and failed
// records are counted from the delivery reports (Metrics::record_delivery).
//
// Threads: like every Sink, called on the sink thread only; the counting runs there too.
#include <cstddef>
#include <memory>
#include <span>

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
    count_runs(records.first(taken));
    return taken;
  }
  void poll(std::chrono::milliseconds timeout) override { inner_->poll(timeout); }
  bool set_report_wakeup(std::function<void()> wake) override {
    return inner_->set_report_wakeup(std::move(wake));
  }
  bool flush(std::chrono::milliseconds timeout) override { return inner_->flush(timeout); }
  std::size_t in_flight() const override { return inner_->in_flight(); }
  std::string name() const override { return inner_->name(); }
  std::optional<Error> ping(std::chrono::milliseconds timeout) override {
    return inner_->ping(timeout);
  }
  bool fatal() const override { return inner_->fatal(); }
  std::optional<Error> fatal_error() const override { return inner_->fatal_error(); }

 private:
  void count(const Record& record) { count_runs(std::span<const Record>(&record, 1)); }

  // A snapshot chunk or a large transaction arrives as runs of one table and operation: each run
  // is counted with one add per counter, not one per record (two atomic adds per record were a
  // percent of a snapshot's CPU).
  void count_runs(std::span<const Record> records) {
    std::size_t i = 0;
    while (i < records.size()) {
      const Record& first = records[i];
      std::size_t count = 0;
      std::size_t bytes = 0;
      for (; i < records.size() && records[i].op == first.op && records[i].table == first.table;
           ++i) {
        ++count;
        bytes += records[i].payload_bytes();
      }
      Metrics::ProducedCounters counters = metrics_.produced_counters(first.table, first.op);
      counters.records->Increment(static_cast<double>(count));
      counters.bytes->Increment(static_cast<double>(bytes));
    }
  }

  std::unique_ptr<Sink> inner_;
  Metrics& metrics_;
};

}  // namespace pgcdc
