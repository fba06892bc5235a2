// Liveness (/healthz, systemd watchdog), readiness (/readyz) and the systemd notifications, decided
// from observations alone: no servers, no clocks (but for Health's own stamps).
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "daemon/health.h"
#include "daemon/service_state.h"
#include "daemon/snapshot_progress.h"
#include "daemon/systemd_notifier.h"

namespace pgcdc {
namespace {

using namespace std::chrono_literals;

HealthInputs streaming_session() {
  HealthInputs in;
  in.phase = Phase::kSession;
  in.session_attached = true;
  in.streaming = true;
  in.sink_name = "kafka";
  in.phase_age = 10s;
  in.since_loop_turn = 100ms;
  return in;
}

TEST(DaemonLiveness, AStreamingLoopThatTurnsIsAliveAndOneThatStoppedTurningIsNot) {
  HealthLimits limits;
  HealthInputs in = streaming_session();
  EXPECT_TRUE(evaluate_liveness(in, limits).ok);
  in.since_loop_turn = limits.loop_stall - 1ms;
  EXPECT_TRUE(evaluate_liveness(in, limits).ok);
  in.since_loop_turn = limits.loop_stall + 1s;
  HealthAnswer answer = evaluate_liveness(in, limits);
  EXPECT_FALSE(answer.ok);
  EXPECT_NE(answer.reason.find("has not turned"), std::string::npos) << answer.reason;
}

TEST(DaemonLiveness, ConnectingIsGivenTheSetupGraceThenCountsAsWedged) {
  HealthLimits limits;
  HealthInputs in = streaming_session();
  in.streaming = false;  // connect_and_prepare: the loop does not turn
  in.since_loop_turn = std::chrono::hours(1);
  in.phase_age = limits.setup_grace - 1s;
  EXPECT_TRUE(evaluate_liveness(in, limits).ok);
  in.phase_age = limits.setup_grace + 1s;
  EXPECT_FALSE(evaluate_liveness(in, limits).ok);
}

TEST(DaemonLiveness, BackoffStoppingAndFailedAreAlive) {
  HealthLimits limits;
  for (Phase phase : {Phase::kBackoff, Phase::kStopping, Phase::kFailed}) {
    HealthInputs in;
    in.phase = phase;
    in.since_loop_turn = std::chrono::hours(1);
    in.phase_age = std::chrono::hours(1);
    EXPECT_TRUE(evaluate_liveness(in, limits).ok) << phase_name(phase);
  }
}

TEST(DaemonReadiness, ReadyOnlyWhileStreamingOrSnapshottingWithDeliveriesMoving) {
  HealthLimits limits;
  HealthInputs in = streaming_session();
  HealthAnswer answer = evaluate_readiness(in, limits);
  EXPECT_TRUE(answer.ok);
  EXPECT_EQ(answer.reason, "streaming");

  in.snapshotting = true;
  EXPECT_EQ(evaluate_readiness(in, limits).reason, "snapshotting");

  // Records wait and nothing was confirmed for a while: the broker is gone.
  in.records_in_flight = 42;
  in.delivery_idle = limits.delivery_stall - 1s;
  EXPECT_TRUE(evaluate_readiness(in, limits).ok);
  in.delivery_idle = limits.delivery_stall + 1s;
  answer = evaluate_readiness(in, limits);
  EXPECT_FALSE(answer.ok);
  EXPECT_NE(answer.reason.find("42 record(s) waiting"), std::string::npos) << answer.reason;
  EXPECT_NE(answer.reason.find("kafka"), std::string::npos) << answer.reason;
  // Idle and nothing in flight: a quiet database is still ready.
  in.records_in_flight = 0;
  EXPECT_TRUE(evaluate_readiness(in, limits).ok);
}

TEST(DaemonReadiness, EveryOtherStateSaysWhyItIsNotReady) {
  HealthLimits limits;
  struct Case {
    HealthInputs in;
    std::string reason;
  };
  std::vector<Case> cases;
  HealthInputs in;
  in.phase = Phase::kStarting;
  cases.push_back({in, "starting"});
  in.phase = Phase::kBackoff;
  in.phase_detail = "sink not reachable: 127.0.0.1:1";
  cases.push_back({in, "waiting to retry after: sink not reachable: 127.0.0.1:1"});
  in.phase = Phase::kStopping;
  cases.push_back({in, "stopping"});
  in.phase = Phase::kFailed;
  in.phase_detail = "table public.x does not exist";
  cases.push_back({in, "failed: table public.x does not exist"});
  in = HealthInputs{};
  in.phase = Phase::kSession;
  cases.push_back({in, "starting a session"});
  in.session_attached = true;
  cases.push_back({in, "connecting to PostgreSQL"});
  in = streaming_session();
  in.sink_fatal = true;
  cases.push_back({in, "the kafka sink failed; restarting"});
  in = streaming_session();
  in.since_loop_turn = limits.loop_stall;
  cases.push_back({in, "the source loop has not turned for 30s"});
  for (const auto& c : cases) {
    HealthAnswer answer = evaluate_readiness(c.in, limits);
    EXPECT_FALSE(answer.ok) << c.reason;
    EXPECT_EQ(answer.reason, c.reason);
  }
}

TEST(DaemonReadiness, ASlotAboutToLoseWalDegradesTheAnswerWithoutFailingIt) {
  HealthLimits limits;
  HealthInputs in = streaming_session();
  in.slot_wal_risk = "replication slot s retains 900 MB of WAL";
  HealthAnswer answer = evaluate_readiness(in, limits);
  EXPECT_TRUE(answer.ok);
  EXPECT_EQ(answer.reason, "degraded: replication slot s retains 900 MB of WAL");
  // Not ready for another reason too: both are said.
  in.records_in_flight = 7;
  in.delivery_idle = limits.delivery_stall + 1s;
  answer = evaluate_readiness(in, limits);
  EXPECT_FALSE(answer.ok);
  EXPECT_NE(answer.reason.find("7 record(s) waiting"), std::string::npos) << answer.reason;
  EXPECT_NE(answer.reason.find("; degraded: replication slot s retains 900 MB of WAL"),
            std::string::npos)
      << answer.reason;
}

TEST(DaemonReadiness, HealthCarriesTheSlotWalRiskIntoItsObservations) {
  Health health(HealthLimits{});
  SessionView detached;
  EXPECT_EQ(health.observe(detached).slot_wal_risk, "");
  health.set_slot_wal_risk("replication slot s needs WAL beyond max_slot_wal_keep_size");
  EXPECT_EQ(health.observe(detached).slot_wal_risk,
            "replication slot s needs WAL beyond max_slot_wal_keep_size");
  EXPECT_NE(health.readiness(detached).reason.find("; degraded: replication slot s"),
            std::string::npos);
  health.set_slot_wal_risk("");
  EXPECT_EQ(health.readiness(detached).reason.find("degraded"), std::string::npos);
}

TEST(DaemonServiceState, KeepsThePhaseItsDetailAndWhenItWasEntered) {
  ServiceState state;
  EXPECT_EQ(state.view().phase, Phase::kStarting);
  auto before = ServiceState::Clock::now();
  state.set_phase(Phase::kBackoff, "connection refused");
  ServiceState::View view = state.view();
  EXPECT_EQ(view.phase, Phase::kBackoff);
  EXPECT_EQ(view.detail, "connection refused");
  EXPECT_GE(view.since, before);
}

// Health gathers the observations from the phase and the session it is shown.
TEST(DaemonHealth, ObservesThePhaseTheSessionAndWhenDeliveriesLastMoved) {
  HealthLimits limits;
  limits.delivery_stall = 50ms;
  Health health(limits);
  const SessionView detached;
  HealthInputs in = health.observe(detached);
  EXPECT_EQ(in.phase, Phase::kStarting);
  EXPECT_FALSE(in.session_attached);
  EXPECT_EQ(health.readiness(detached).reason, "starting");
  EXPECT_TRUE(health.liveness(detached).ok);

  health.state().set_phase(Phase::kSession, "");
  BoundedBuffer buffer(10, 1 << 20);
  PositionLedger ledger;
  SourceStats stats;
  const SessionView view{&buffer, &ledger, &stats, nullptr, "kafka"};
  stats.note_loop_turn();
  EXPECT_EQ(health.readiness(view).reason, "connecting to PostgreSQL");
  stats.streaming = true;
  health.note_idle(steady_now_ns());
  in = health.observe(view);
  EXPECT_TRUE(in.session_attached);
  EXPECT_TRUE(in.streaming);
  EXPECT_EQ(in.sink_name, "kafka");
  EXPECT_EQ(health.readiness(view).reason, "streaming");

  // A record waits and no delivery comes: after delivery_stall, not ready; a delivery moves it.
  const DeliveryToken token = ledger.open();
  ledger.add_record(token);
  ledger.seal(token, SourceOffset{});
  std::this_thread::sleep_for(100ms);
  stats.note_loop_turn();
  in = health.observe(view);
  EXPECT_EQ(in.records_in_flight, 1u);
  EXPECT_GE(in.delivery_idle, 100ms);
  HealthAnswer answer = health.readiness(view);
  EXPECT_FALSE(answer.ok);
  EXPECT_NE(answer.reason.find("1 record(s) waiting"), std::string::npos) << answer.reason;
  EXPECT_EQ(health.sample_readiness(in).reason, answer.reason);
  health.note_delivery();
  EXPECT_TRUE(health.readiness(view).ok);
  EXPECT_TRUE(health.sample_readiness(health.observe(view)).ok);

  // The loop stopped turning: neither alive nor ready.
  stats.loop_turn_ns = steady_now_ns() - std::chrono::nanoseconds(limits.loop_stall).count() -
                       std::chrono::nanoseconds(1s).count();
  EXPECT_FALSE(health.liveness(view).ok);
  EXPECT_FALSE(health.readiness(view).ok);
}

// ---------------------------------------------------------------------------------------------
// systemd notifications

struct Recorder {
  std::vector<std::string> sent;
  SystemdNotifier::Send send() {
    return [this](const std::string& message) { sent.push_back(message); };
  }
  int count(const std::string& prefix) const {
    int n = 0;
    for (const auto& m : sent) n += m.rfind(prefix, 0) == 0 ? 1 : 0;
    return n;
  }
};

TEST(DaemonSystemdNotifier, ReadyOnceWhenStartedThenThrottledStatusLines) {
  Recorder recorder;
  SystemdNotifier notifier(recorder.send(), 0us);
  auto t = SystemdNotifier::Clock::time_point{} + 1h;
  notifier.tick({false, true, false, "connecting"}, t);
  EXPECT_EQ(recorder.count("READY=1"), 0);
  notifier.tick({true, true, false, "streaming"}, t += 200ms);
  ASSERT_EQ(recorder.sent.size(), 2u);  // the first status line, then READY
  EXPECT_EQ(recorder.sent[0], "STATUS=connecting");
  EXPECT_EQ(recorder.sent[1], "READY=1\nSTATUS=streaming");
  notifier.tick({true, true, false, "streaming, lag 1 KiB"}, t += 200ms);  // throttled
  EXPECT_EQ(recorder.sent.size(), 2u);
  notifier.tick({true, true, false, "streaming, lag 2 KiB"}, t += 3s);
  EXPECT_EQ(recorder.sent.back(), "STATUS=streaming, lag 2 KiB");
  notifier.tick({true, true, false, "streaming, lag 2 KiB"}, t += 3s);  // unchanged: nothing
  EXPECT_EQ(recorder.count("READY=1"), 1);
  EXPECT_EQ(recorder.count("WATCHDOG=1"), 0);  // watchdog off
}

TEST(DaemonSystemdNotifier, WatchdogPingsOnlyWhileAlive) {
  Recorder recorder;
  SystemdNotifier notifier(recorder.send(), 4s);
  auto t = SystemdNotifier::Clock::time_point{} + 1h;
  for (int i = 0; i < 10; ++i) notifier.tick({true, true, false, "s"}, t += 500ms);
  int alive_pings = recorder.count("WATCHDOG=1");
  EXPECT_GE(alive_pings, 4);  // every second (a quarter of 4 s) over 5 s
  EXPECT_LE(alive_pings, 6);
  for (int i = 0; i < 20; ++i) notifier.tick({true, false, false, "s"}, t += 500ms);
  EXPECT_EQ(recorder.count("WATCHDOG=1"), alive_pings) << "pinged while wedged";
  notifier.tick({true, true, false, "s"}, t += 500ms);
  EXPECT_EQ(recorder.count("WATCHDOG=1"), alive_pings + 1);
}

TEST(DaemonSystemdNotifier, StoppingOnceAndReadyBeforeItForARunThatFinishedQuickly) {
  Recorder recorder;
  SystemdNotifier notifier(recorder.send(), 0us);
  auto t = SystemdNotifier::Clock::time_point{} + 1h;
  notifier.tick({true, true, true, "done"}, t);
  notifier.tick({true, true, true, "done"}, t += 1s);
  ASSERT_EQ(recorder.sent.size(), 2u);
  EXPECT_EQ(recorder.sent[0].rfind("READY=1", 0), 0u);
  EXPECT_EQ(recorder.sent[1].rfind("STOPPING=1", 0), 0u);
}

// ---------------------------------------------------------------------------------------------
// Snapshot progress in words

TEST(DaemonSnapshotProgress, PercentRateAndTimeLeft) {
  TableProgress p{"public.orders", 450000, 1000000, 15000};
  EXPECT_EQ(describe_snapshot_progress(p),
            "snapshot of public.orders: 45% (450000 of about 1000000 rows), 15000 rows/s, "
            "about 37s left");
  p.rows_per_second = 100;
  EXPECT_EQ(describe_snapshot_progress(p),
            "snapshot of public.orders: 45% (450000 of about 1000000 rows), 100 rows/s, "
            "about 1h31m left");
  p.rows_per_second = 0;
  EXPECT_NE(describe_snapshot_progress(p).find("stalled"), std::string::npos);
  p.rows = 1200000;  // more rows than the estimate: never 100% before it is done
  EXPECT_EQ(snapshot_percent(p), 99);
  EXPECT_NE(describe_snapshot_progress(p).find("past the estimate"), std::string::npos);
  p.estimated_rows = -1;  // never analyzed
  EXPECT_EQ(snapshot_percent(p), std::nullopt);
  EXPECT_EQ(describe_snapshot_progress(p),
            "snapshot of public.orders: 1200000 rows so far, 0 rows/s (no row estimate yet; "
            "ANALYZE the table for a percentage)");
  EXPECT_EQ(short_duration(59.4), "59s");
  EXPECT_EQ(short_duration(250), "4m10s");
  EXPECT_EQ(short_duration(7500), "2h05m");
}

}  // namespace
}  // namespace pgcdc
