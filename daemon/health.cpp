#include "daemon/health.h"

#include <spdlog/spdlog.h>
#include <time.h>

#include <algorithm>

namespace pgcdc {
namespace {

std::string seconds_text(std::chrono::nanoseconds duration) {
  return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(duration).count()) + "s";
}

// The same clock (CLOCK_MONOTONIC) to within one kernel tick, without reading the hardware
// clock: for the per-record "last delivery" stamp, which is only compared over seconds.
std::int64_t coarse_steady_now_ns() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
  return static_cast<std::int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec;
}

}  // namespace

HealthAnswer evaluate_liveness(const HealthInputs& in, const HealthLimits& limits) {
  switch (in.phase) {
    case Phase::kStarting:
      if (in.phase_age < limits.setup_grace) return {true, "starting"};
      return {false, "still starting after " + seconds_text(in.phase_age)};
    case Phase::kSession:
      if (in.streaming || in.snapshotting) {
        if (in.since_loop_turn < limits.loop_stall) {
          return {true, in.snapshotting ? "snapshotting" : "streaming"};
        }
        return {false, "the source loop has not turned for " + seconds_text(in.since_loop_turn) +
                           " (a PostgreSQL call does not return)"};
      }
      // Connecting, checking, creating the publication or slot, or draining after the source
      // returned: calls that do not turn the loop.
      if (in.phase_age < limits.setup_grace) return {true, "connecting"};
      return {false, "still connecting or preparing after " + seconds_text(in.phase_age)};
    case Phase::kBackoff:
      return {true, "waiting to retry: " + in.phase_detail};
    case Phase::kStopping:
      return {true, "stopping"};
    case Phase::kFailed:
      return {true, "failed: " + in.phase_detail};
  }
  return {false, "unknown phase"};
}

namespace {

// Readiness without the slot's WAL risk.
HealthAnswer pipeline_readiness(const HealthInputs& in, const HealthLimits& limits) {
  switch (in.phase) {
    case Phase::kStarting:
      return {false, "starting"};
    case Phase::kBackoff:
      return {false, "waiting to retry after: " + in.phase_detail};
    case Phase::kStopping:
      return {false, "stopping"};
    case Phase::kFailed:
      return {false, "failed: " + in.phase_detail};
    case Phase::kSession:
      break;
  }
  if (!in.session_attached) return {false, "starting a session"};
  if (!in.streaming && !in.snapshotting) return {false, "connecting to PostgreSQL"};
  if (in.sink_fatal) return {false, "the " + in.sink_name + " sink failed; restarting"};
  if (in.tables_reread_after_gap > 0) {
    return {false,
            "reading " + std::to_string(in.tables_reread_after_gap) +
                " table(s) again after a publication gap (changes were missed; see the log)"};
  }
  if (in.since_loop_turn >= limits.loop_stall) {
    return {false, "the source loop has not turned for " + seconds_text(in.since_loop_turn)};
  }
  if (in.records_in_flight > 0 && in.delivery_idle >= limits.delivery_stall) {
    return {false, std::to_string(in.records_in_flight) + " record(s) waiting and no delivery " +
                       "confirmed by the " + in.sink_name + " sink for " +
                       seconds_text(in.delivery_idle)};
  }
  return {true, in.snapshotting ? "snapshotting" : "streaming"};
}

}  // namespace

HealthAnswer evaluate_readiness(const HealthInputs& in, const HealthLimits& limits) {
  HealthAnswer answer = pipeline_readiness(in, limits);
  // A slot about to lose WAL degrades the answer without failing it: pgcdc is doing its job,
  // and an orchestrator restarting it on a 503 would only delay its catching up.
  if (!in.slot_wal_risk.empty()) {
    answer.reason = answer.ok ? "degraded: " + in.slot_wal_risk
                              : answer.reason + "; degraded: " + in.slot_wal_risk;
  }
  return answer;
}

std::int64_t steady_now_ns() {
  return std::chrono::steady_clock::now().time_since_epoch().count();
}

Health::Health(HealthLimits limits) : limits_(limits), last_idle_ns_(steady_now_ns()) {}

void Health::note_delivery() {
  last_delivery_ns_.store(coarse_steady_now_ns(), std::memory_order_relaxed);
}

void Health::note_idle(std::int64_t now_ns) {
  last_idle_ns_ = now_ns;
}

void Health::set_slot_wal_risk(std::string reason) {
  MutexLock lock(slot_wal_risk_mutex_);
  slot_wal_risk_ = std::move(reason);
}

HealthInputs Health::observe(const SessionView& session) const {
  HealthInputs in;
  {
    MutexLock lock(slot_wal_risk_mutex_);
    in.slot_wal_risk = slot_wal_risk_;
  }
  std::int64_t now = steady_now_ns();
  ServiceState::View phase = state_.view();
  in.phase = phase.phase;
  in.phase_detail = phase.detail;
  in.phase_age = std::chrono::steady_clock::now() - phase.since;
  in.session_attached = session.buffer != nullptr;
  in.sink_name = session.sink_name;
  if (session.source) {
    in.streaming = session.source->streaming.load();
    in.snapshotting = session.source->snapshotting.load();
    in.tables_reread_after_gap = session.source->tables_reread_after_gap.load();
    in.since_loop_turn = std::chrono::nanoseconds(now - session.source->loop_turn_ns.load());
  }
  if (session.sink) in.sink_fatal = session.sink->fatal();
  if (session.ledger) {
    in.records_in_flight = session.ledger->records_in_flight();
    std::int64_t moved = std::max(last_delivery_ns_.load(), last_idle_ns_.load());
    in.delivery_idle = std::chrono::nanoseconds(now - moved);
  }
  return in;
}

HealthAnswer Health::liveness(const SessionView& session) const {
  return evaluate_liveness(observe(session), limits_);
}

HealthAnswer Health::readiness(const SessionView& session) const {
  return evaluate_readiness(observe(session), limits_);
}

HealthAnswer Health::sample_readiness(const HealthInputs& in) {
  HealthAnswer ready = evaluate_readiness(in, limits_);
  if (ready.ok != last_ready_) {
    // Stops, failures and restarts are logged where they happen; this adds what only readiness
    // sees (a stalled sink, a wedged loop).
    bool expected = !in.session_attached || in.phase != Phase::kSession;
    if (ready.ok) {
      spdlog::info("ready: {}", ready.reason);
    } else if (last_ready_ && !expected) {
      spdlog::warn("not ready: {}", ready.reason);
    } else {
      spdlog::debug("not ready: {}", ready.reason);
    }
    last_ready_ = ready.ok;
  }
  return ready;
}

}  // namespace pgcdc
