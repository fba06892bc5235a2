#pragma once
// Wires one source, the bounded buffer and one sink into sessions, and supervises them.
//
// A session: load the committed offset -> new ledger, buffer, sink (sink thread) and source
// (source thread = the caller's thread) -> run until stop, finish or failure -> drain the sink ->
// commit what was delivered. A delivery failure or a transient error ends the session and a new
// one starts from the last committed position after a backoff; nothing is skipped. A problem a
// person must fix (SetupError, bad Kafka property, decode error) ends the daemon with exit 1.
// daemon/session_outcome.h decides which failure does what.
#include <atomic>
#include <functional>
#include <mutex>

#include "config/config.h"
#include "connector/postgres_source.h"
#include "core/bounded_buffer.h"
#include "core/position_ledger.h"
#include "daemon/metrics.h"
#include "daemon/session_outcome.h"

namespace pgcdc {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;

class Pipeline {
 public:
  Pipeline(const Config& config, Metrics& metrics);

  // Main thread. Returns the process exit code. Keeps metrics.state() up to date (the phase that
  // /readyz, /healthz and systemd's notifications are derived from).
  int run(const std::atomic<bool>& stop);

 private:
  SessionOutcome run_session(const std::atomic<bool>& stop);
  bool sleep_unless_stopped(std::chrono::milliseconds duration, const std::atomic<bool>& stop);

  const Config& config_;
  Metrics& metrics_;
  SourceStats source_stats_;
};

}  // namespace pgcdc
