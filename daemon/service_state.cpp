#include "daemon/service_state.h"

namespace pgcdc {
namespace {

std::string seconds_text(std::chrono::nanoseconds duration) {
  return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(duration).count()) + "s";
}

}  // namespace

const char* phase_name(Phase phase) {
  switch (phase) {
    case Phase::kStarting:
      return "starting";
    case Phase::kSession:
      return "session";
    case Phase::kBackoff:
      return "backoff";
    case Phase::kStopping:
      return "stopping";
    case Phase::kFailed:
      return "failed";
  }
  return "unknown";
}

void ServiceState::set_phase(Phase phase, std::string detail) {
  std::lock_guard lock(mutex_);
  view_ = View{phase, std::move(detail), Clock::now()};
}

ServiceState::View ServiceState::view() const {
  std::lock_guard lock(mutex_);
  return view_;
}

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

HealthAnswer evaluate_readiness(const HealthInputs& in, const HealthLimits& limits) {
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
    return {false, "reading " + std::to_string(in.tables_reread_after_gap) +
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

}  // namespace pgcdc
