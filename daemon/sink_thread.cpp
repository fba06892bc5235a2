#include "daemon/sink_thread.h"

#include <exception>

#include <spdlog/spdlog.h>

#include "core/thread_name.h"

namespace pgcdc {

SinkThread::SinkThread(BoundedBuffer& buffer, Sink& sink, PositionLedger& ledger)
    : buffer_(buffer), ledger_(ledger), runner_(buffer, sink), thread_([this] { run(); }) {}

SinkThread::~SinkThread() {
  if (thread_.joinable()) finish(false);
}

void SinkThread::finish(bool drain) {
  if (!drain) buffer_.clear();
  buffer_.close();
  if (!drain) stop_ = true;
  thread_.join();
}

void SinkThread::run() {
  name_this_thread("pgcdc-sink");
  std::string reason;
  try {
    runner_.run(stop_);
    return;
  } catch (const std::exception& e) {
    reason = e.what();
  } catch (...) {
    reason = "an exception that is not a std::exception";
  }
  // The ledger commits nothing more this session: what was not confirmed is read again by the
  // next one. The source sees the failure at its next look (a full buffer's push waits at most
  // a moment between looks).
  const std::string failure = "the sink thread stopped: " + reason;
  spdlog::error("{}", failure);
  ledger_.fail(failure);
}

}  // namespace pgcdc
