#include "daemon/service_state.h"

namespace pgcdc {

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
  MutexLock lock(mutex_);
  view_ = View{phase, std::move(detail), Clock::now()};
}

ServiceState::View ServiceState::view() const {
  MutexLock lock(mutex_);
  return view_;
}

}  // namespace pgcdc
