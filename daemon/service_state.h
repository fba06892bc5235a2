#pragma once
// What the daemon is doing (phase). The liveness and readiness answers derived from it are in
// daemon/health.h.
#include <chrono>
#include <string>

#include "core/mutex.h"

namespace pgcdc {

enum class Phase {
  kStarting,  // before the first session
  kSession,   // a session runs: connecting, snapshotting or streaming (see SourceStats)
  kBackoff,   // between sessions, waiting to retry after a transient failure
  kStopping,  // stop requested (SIGTERM) or snapshot-only run done: draining
  kFailed,    // a problem a person must fix; the daemon is exiting with 1
};

const char* phase_name(Phase phase);

// Set by the main thread, read by any thread.
class ServiceState {
 public:
  using Clock = std::chrono::steady_clock;

  // Main thread. `detail` says why (the error being retried, ...).
  void set_phase(Phase phase, std::string detail = {});

  struct View {
    Phase phase = Phase::kStarting;
    std::string detail;
    Clock::time_point since;  // when the phase was entered
  };
  View view() const;  // any thread

 private:
  mutable Mutex mutex_;
  View view_ GUARDED_BY(mutex_){Phase::kStarting, {}, Clock::now()};
};

}  // namespace pgcdc
