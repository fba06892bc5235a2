#pragma once
// The sink thread's DeliveryListener: every delivery report goes to the position ledger (which
// positions may be committed) and to the metrics (delivered and failed records, latency).
#include <string>

#include "core/delivery.h"
#include "core/position_ledger.h"
#include "daemon/metrics.h"

namespace pgcdc {

// Forwards delivery reports to the ledger and counts them (sink thread). Inside a batch of reports
// (begin_report_batch .. end_report_batch, one poll of the Kafka client) a run of alike delivered
// reports (same entry, operation, table and times) goes on as one report for all of them: one
// ledger lock and one set of metric updates per run instead of per record. A snapshot chunk's
// records are one run. Failures and anything outside a batch go on at once.
class CountingListener : public DeliveryListener {
 public:
  CountingListener(PositionLedger& ledger, Metrics& metrics) : ledger_(ledger), metrics_(metrics) {}

  void on_delivery(const DeliveryReport& report) override {
    if (!batching_ || report.status != DeliveryStatus::kDelivered) {
      apply_run();
      apply(report);
      return;
    }
    if (run_.records > 0 && alike(report)) {
      run_.records += report.records;
      run_.payload_bytes += report.payload_bytes;
      return;
    }
    apply_run();
    run_ = report;
    run_table_.assign(report.table);  // the sink's view is valid only during this call
    run_.table = run_table_;
  }
  void begin_report_batch() override { batching_ = true; }
  void end_report_batch() override {
    apply_run();
    batching_ = false;
  }

 private:
  bool alike(const DeliveryReport& report) const {
    return report.token == run_.token && report.op == run_.op &&
           report.commit_time_us == run_.commit_time_us &&
           report.reported_at_us == run_.reported_at_us && report.table == run_table_;
  }
  void apply(const DeliveryReport& report) {
    ledger_.on_delivery(report);
    metrics_.record_delivery(report);
  }
  void apply_run() {
    if (run_.records == 0) return;
    apply(run_);
    run_.records = 0;
  }

  PositionLedger& ledger_;
  Metrics& metrics_;
  bool batching_ = false;
  DeliveryReport run_ = no_run();  // records == 0: no run held
  static DeliveryReport no_run() {
    DeliveryReport none;
    none.records = 0;
    return none;
  }
  std::string run_table_;
};

}  // namespace pgcdc
