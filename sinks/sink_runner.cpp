#include "sinks/sink_runner.h"

#include <vector>

namespace pgcdc {

SinkRunner::SinkRunner(BoundedBuffer& buffer, Sink& sink, SinkRunnerOptions options)
    : buffer_(buffer), sink_(sink), options_(options) {}

bool SinkRunner::send_with_retry(std::span<Record> batch, const std::atomic<bool>& stop) {
  std::size_t sent = 0;
  for (;;) {
    const std::size_t taken = sink_.send_batch(batch.subspan(sent));
    sent += taken;
    records_sent_.fetch_add(taken, std::memory_order_relaxed);
    if (sent == batch.size()) return true;
    // Backpressure, never loss: serve reports so the sink frees room, then offer the rest again,
    // in order. Meanwhile the buffer fills and the source slows down (it keeps answering the
    // walsender while its pushes time out).
    queue_full_retries_.fetch_add(1, std::memory_order_relaxed);
    if (stop.load() || sink_.fatal()) return false;
    sink_.poll(options_.queue_full_poll_timeout);
  }
}

void SinkRunner::run(const std::atomic<bool>& stop) {
  // One place to sleep: the buffer, woken by a push or by the sink when reports are ready. A
  // record pushed while the runner waited for reports used to wait for that poll to time out.
  const bool woken_by_reports = sink_.set_report_wakeup([this] { buffer_.wake_consumer(); });
  struct WakeupOff {  // the buffer may be gone before the sink: never call it after run()
    Sink& sink;
    bool on;
    ~WakeupOff() {
      if (on) sink.set_report_wakeup(nullptr);
    }
  } wakeup_off{sink_, woken_by_reports};

  std::vector<Record> batch;
  batch.reserve(options_.max_batch);
  while (!stop.load() && !sink_.fatal()) {
    buffer_.recycle(batch);  // the sink copied them (or dropped them): their storage goes back
    const bool waiting_for_reports = sink_.in_flight() > 0;
    std::chrono::milliseconds pop_timeout = options_.idle_pop_timeout;
    if (waiting_for_reports) {
      // Without wake-ups, do not block on the buffer: take what is there and wait in the sink.
      pop_timeout = woken_by_reports ? options_.report_wait_timeout : std::chrono::milliseconds(0);
    }
    const bool open = buffer_.pop_batch(batch, options_.max_batch, pop_timeout,
                                        waiting_for_reports && woken_by_reports);

    // Records popped but not sent when stopping are simply dropped: they never reached the
    // ledger as delivered, so their positions are not committed and they are read again.
    if (!send_with_retry(batch, stop)) return;
    if (!batch.empty()) batches_.fetch_add(1, std::memory_order_relaxed);

    if (!open) return;  // closed and drained; the caller flushes what is in flight
    if (batch.empty() && waiting_for_reports && !woken_by_reports) {
      sink_.poll(options_.report_poll_timeout);
    } else {
      sink_.poll(std::chrono::milliseconds(0));  // let reports flow between batches
    }
  }
}

}  // namespace pgcdc
