#pragma once
// The sink thread's loop: moves records from the bounded buffer into a Sink and keeps its delivery
// reports flowing.
//
// Threads: run() is the body of the sink thread; every Sink method is called from it, so the
// sink's delivery reports (and the DeliveryListener) run on that thread too. The counters may be
// read from any thread (metrics). `stop` is set by the owner (any thread).
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/bounded_buffer.h"
#include "sinks/sink.h"

namespace pgcdc {

struct SinkRunnerOptions {
  std::size_t max_batch = 500;  // records popped from the buffer at once
  // Wait for the buffer when the sink has nothing in flight: a new record wakes it at once.
  std::chrono::milliseconds idle_pop_timeout{100};
  // Records in flight, sink able to wake the runner when reports arrive (Kafka): the runner waits
  // on the buffer, so a new record or a report ends the wait at once; this only bounds it.
  std::chrono::milliseconds report_wait_timeout{50};
  // Records in flight, sink unable to wake the runner: wait for reports in the sink this long; also
  // the longest a new record waits in that state.
  std::chrono::milliseconds report_poll_timeout{5};
  // Wait for the sink to make room after kQueueFull before sending the same record again.
  std::chrono::milliseconds queue_full_poll_timeout{50};
};

class SinkRunner {
 public:
  SinkRunner(BoundedBuffer& buffer, Sink& sink, SinkRunnerOptions options = {});
  SinkRunner(const SinkRunner&) = delete;
  SinkRunner& operator=(const SinkRunner&) = delete;

  // Sink thread. Returns when the buffer is closed and drained, when `stop` is set, or when the
  // sink reports fatal() (it can deliver nothing more). Records never sent stay unreported, so the
  // ledger keeps positions before them. The caller then calls sink.flush(deadline) on this same
  // thread (or after joining it) to collect the outstanding reports.
  void run(const std::atomic<bool>& stop);

  // Any thread.
  std::uint64_t records_sent() const { return records_sent_.load(); }  // accepted
  std::uint64_t queue_full_retries() const { return queue_full_retries_.load(); }
  std::uint64_t batches() const { return batches_.load(); }

 private:
  // Sends the batch in order, retrying from the first record the sink could not take while it
  // is full. False when `stop` (or a fatal sink) ended the retries before every record was taken.
  bool send_with_retry(std::span<Record> batch, const std::atomic<bool>& stop);

  BoundedBuffer& buffer_;
  Sink& sink_;
  const SinkRunnerOptions options_;
  std::atomic<std::uint64_t> records_sent_{0};
  std::atomic<std::uint64_t> queue_full_retries_{0};
  std::atomic<std::uint64_t> batches_{0};
};

}  // namespace pgcdc
