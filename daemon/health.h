#pragma once
// The two questions asked of the daemon from outside:
//   alive  (/healthz, systemd's watchdog): the main loop is not wedged;
//   ready  (/readyz, READY=1's spirit):    connected to PostgreSQL and the sink, records move,
//                                          not waiting in backoff.
// The decisions are pure functions of a few observations (HealthInputs), so unit tests can try
// every case without servers or clocks (tests/unit/daemon_health_test.cpp). Health gathers the
// observations from the phase (ServiceState) and the running session (SessionView).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "core/mutex.h"
#include "daemon/service_state.h"
#include "daemon/session_view.h"

namespace pgcdc {

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
  // Why the slot may soon lose WAL (SlotWalGuard); empty when it is safe. Readiness stays as it
  // is and says "degraded: <this>": restarting pgcdc would not help it catch up.
  std::string slot_wal_risk;
};

struct HealthAnswer {
  bool ok = false;
  std::string reason;  // one line, for the HTTP body and logs
};

// Pure: any thread.
HealthAnswer evaluate_liveness(const HealthInputs& in, const HealthLimits& limits);
HealthAnswer evaluate_readiness(const HealthInputs& in, const HealthLimits& limits);

// steady_clock now, in nanoseconds since its epoch: the unit of SourceStats::loop_turn_ns and of
// Health's stamps.
std::int64_t steady_now_ns();

// The phase, the moments deliveries last moved, and the answers for a session.
class Health {
 public:
  explicit Health(HealthLimits limits);  // main thread
  Health(const Health&) = delete;
  Health& operator=(const Health&) = delete;

  // Main thread sets the phase (Pipeline); any thread reads it.
  ServiceState& state() { return state_; }
  const HealthLimits& limits() const { return limits_; }

  // Sink thread, for each delivered report: deliveries move.
  void note_delivery();
  // Metrics sampler thread, and the main thread when a session is attached: nothing is in
  // flight at `now_ns` (steady_now_ns()), so no delivery is owed since then.
  void note_idle(std::int64_t now_ns);

  // ServerSampler thread, after each slot sample: the slot's WAL risk ("" = safe).
  void set_slot_wal_risk(std::string reason);

  // Any thread, while `session`'s objects stay alive for the call (Metrics holds its view lock).
  HealthInputs observe(const SessionView& session) const;
  HealthAnswer liveness(const SessionView& session) const;
  HealthAnswer readiness(const SessionView& session) const;

  // Metrics sampler, once a sample (Metrics' view lock keeps the calls apart): the readiness for
  // `in`, logged when it changes.
  HealthAnswer sample_readiness(const HealthInputs& in);

 private:
  const HealthLimits limits_;
  ServiceState state_;
  // steady_now_ns() of the last delivery report (sink thread) and of the last moment nothing
  // was in flight (sampler).
  std::atomic<std::int64_t> last_delivery_ns_{0};
  std::atomic<std::int64_t> last_idle_ns_{0};
  bool last_ready_ = false;                 // sample_readiness() only
  mutable Mutex slot_wal_risk_mutex_;
  std::string slot_wal_risk_ GUARDED_BY(slot_wal_risk_mutex_);
};

}  // namespace pgcdc
