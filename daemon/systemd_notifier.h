#pragma once
// The systemd notify protocol for Type=notify: READY=1 once the pipeline is snapshotting or
// streaming, STATUS= lines, WATCHDOG=1 while the main loop is alive, STOPPING=1 on a stop.
//
// Threads: tick() runs on the service thread (main.cpp), a few times a second. The decisions live
// here and the socket write is a function passed in, so unit tests record what would be sent.
// Outside systemd (NOTIFY_SOCKET unset) sd_notify does nothing.
#include <chrono>
#include <functional>
#include <string>

namespace pgcdc {

struct NotifierInputs {
  bool started = false;   // snapshotting or streaming (at least once): READY=1
  bool alive = false;     // evaluate_liveness(): the watchdog may be pinged
  bool stopping = false;  // a stop was requested
  std::string status;     // one line for `systemctl status`
};

class SystemdNotifier {
 public:
  using Clock = std::chrono::steady_clock;
  using Send = std::function<void(const std::string&)>;

  // `watchdog_interval`: systemd's WatchdogSec (WATCHDOG_USEC); zero when the watchdog is off.
  SystemdNotifier(Send send, std::chrono::microseconds watchdog_interval);

  // Reads WATCHDOG_USEC/WATCHDOG_PID through sd_watchdog_enabled(); zero when off.
  static std::chrono::microseconds watchdog_interval_from_environment();

  // Service thread.
  void tick(const NotifierInputs& inputs, Clock::time_point now);

 private:
  Send send_;
  const std::chrono::microseconds watchdog_interval_;
  bool ready_sent_ = false;
  bool stopping_sent_ = false;
  std::string last_status_;
  Clock::time_point last_status_sent_{};
  Clock::time_point last_ping_{};
};

}  // namespace pgcdc
