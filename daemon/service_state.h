#pragma once
// What the daemon is doing (phase), and the two questions asked of it from outside:
//   alive  (/healthz, systemd's watchdog): the main loop is not wedged;
//   ready  (/readyz, READY=1's spirit):    connected to PostgreSQL and the sink, records move,
//                                          not waiting in backoff.
// The decisions are pure functions of a few observations, so unit tests can try every case without
// servers or clocks (tests/unit/daemon_service_state_test.cpp).
#include <atomic>
#include <chrono>
#include <mutex>
#include <string>

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
  mutable std::mutex mutex_;  // guards view_
  View view_{Phase::kStarting, {}, Clock::now()};
};

// How long things may take before the answers change. Defaults suit production; tests shrink them.
struct HealthLimits {
  // The source loop turns at least every 100 ms when healthy; a turn older than this means it
  // is wedged (a query that never returns). Half of systemd's WatchdogSec when it is set.
  std::chrono::milliseconds loop_stall{30000};
  // Connecting and preparing (publication, slot creation, which waits for running transactions)
  // do not turn the loop; they are given this long.
  std::chrono::milliseconds setup_grace{std::chrono::minutes(15)};
  // Records waiting for the sink with no delivery confirmed for this long: the sink is not
  // connected (Kafka down), so not ready.
  std::chrono::milliseconds delivery_stall{30000};
};

// Everything the answers depend on, observed at one moment.
struct HealthInputs {
  Phase phase = Phase::kStarting;
  std::string phase_detail;
  std::chrono::nanoseconds phase_age{0};
  bool session_attached = false;  // a session's buffer, ledger and sink are visible
  bool streaming = false;
  bool snapshotting = false;
  std::uint32_t tables_reread_after_gap = 0;  // after a publication gap: Kafka is incomplete
  bool sink_fatal = false;
  std::string sink_name;
  std::uint64_t records_in_flight = 0;
  // Since the last delivery report or the last moment nothing was in flight, whichever is later.
  std::chrono::nanoseconds delivery_idle{0};
  // Since the source loop last turned; negative or huge when it never did in this session.
  std::chrono::nanoseconds since_loop_turn{0};
};

struct HealthAnswer {
  bool ok = false;
  std::string reason;  // one line, for the HTTP body and logs
};

HealthAnswer evaluate_liveness(const HealthInputs& in, const HealthLimits& limits);
HealthAnswer evaluate_readiness(const HealthInputs& in, const HealthLimits& limits);

}  // namespace pgcdc
