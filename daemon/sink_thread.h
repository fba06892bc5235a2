#pragma once
// The sink thread of one session: runs SinkRunner over the session's buffer and sink.
//
// finish() ends it, draining the buffer or dropping it; the destructor drops it if an exception
// leaves the session first (a joinable std::thread would terminate the process). An exception
// inside the thread (a sink that throws, memory running out) must not end the process without a
// word either: it is logged and fails the session's ledger, so the source sees failed(), ends the
// session, and the next one starts from the last committed position.
#include <atomic>
#include <string>
#include <thread>

#include "core/bounded_buffer.h"
#include "core/position_ledger.h"
#include "sinks/sink.h"
#include "sinks/sink_runner.h"

namespace pgcdc {

class SinkThread {
 public:
  SinkThread(BoundedBuffer& buffer, Sink& sink, PositionLedger& ledger);
  ~SinkThread();
  SinkThread(const SinkThread&) = delete;
  SinkThread& operator=(const SinkThread&) = delete;

  // drain: every buffered record is still sent; otherwise they are dropped (read again later).
  void finish(bool drain);

 private:
  void run();

  BoundedBuffer& buffer_;
  PositionLedger& ledger_;
  SinkRunner runner_;
  std::atomic<bool> stop_{false};
  std::thread thread_;  // last: it starts once the members it uses exist
};

}  // namespace pgcdc
