#include "daemon/systemd_notifier.h"

#include <systemd/sd-daemon.h>

namespace pgcdc {

SystemdNotifier::SystemdNotifier(Send send, std::chrono::microseconds watchdog_interval)
    : send_(std::move(send)), watchdog_interval_(watchdog_interval) {}

std::chrono::microseconds SystemdNotifier::watchdog_interval_from_environment() {
  std::uint64_t usec = 0;
  // > 0: enabled for this process; 0: not enabled; < 0: malformed environment (treated as off).
  if (sd_watchdog_enabled(/*unset_environment=*/0, &usec) > 0) {
    return std::chrono::microseconds(usec);
  }
  return std::chrono::microseconds(0);
}

void SystemdNotifier::tick(const NotifierInputs& inputs, Clock::time_point now) {
  // READY=1 first, even when stopping: a snapshot-only run may finish between two ticks, and
  // systemd counts an exit before READY=1 as a failed start.
  if (inputs.started && !ready_sent_) {
    send_("READY=1\nSTATUS=" + inputs.status);
    ready_sent_ = true;
    last_status_ = inputs.status;
    last_status_sent_ = now;
  }
  if (inputs.stopping && !stopping_sent_) {
    send_("STOPPING=1\nSTATUS=stopping: delivering what is in flight");
    stopping_sent_ = true;
    last_status_ = "stopping";
  }
  if (!stopping_sent_) {
    if (inputs.status != last_status_ && now - last_status_sent_ >= std::chrono::seconds(2)) {
      // Throttled: the line carries numbers that change all the time.
      send_("STATUS=" + inputs.status);
      last_status_ = inputs.status;
      last_status_sent_ = now;
    }
  }
  // Pings only while the main loop makes progress (or is stopping: TimeoutStopSec bounds that).
  // Four per interval, so one late tick never lets the watchdog fire.
  if (watchdog_interval_.count() > 0 && (inputs.alive || inputs.stopping) &&
      now - last_ping_ >= watchdog_interval_ / 4) {
    send_("WATCHDOG=1");
    last_ping_ = now;
  }
}

}  // namespace pgcdc
