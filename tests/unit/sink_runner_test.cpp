#include "sinks/sink_runner.h"

#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "core/position_ledger.h"

namespace pgcdc {
namespace {

using std::chrono::milliseconds;

// A sink that refuses some sends with kQueueFull and reports accepted records on poll()/flush().
// Every method must be called from one thread (checked), as the Sink contract says.
class FakeSink : public Sink {
 public:
  explicit FakeSink(DeliveryListener& listener) : listener_(listener) {}

  // Refuse every `period`-th attempt, `refusals` times in a row.
  int period = 0;
  int refusals = 0;
  bool always_full = false;
  bool fatal_after_first = false;

  SendResult send(Record& record) override {
    check_thread();
    ++attempts;
    if (always_full) return SendResult::kQueueFull;
    if (period > 0 && refused_in_a_row_ < refusals && attempts % period == 0) {
      ++refused_in_a_row_;
      return SendResult::kQueueFull;
    }
    if (refused_in_a_row_ > 0 && refused_in_a_row_ < refusals) {
      ++refused_in_a_row_;
      return SendResult::kQueueFull;
    }
    refused_in_a_row_ = 0;
    accepted.push_back(record);  // a sink leaves the record as it was (Sink::send)
    pending_.push_back(accepted.size() - 1);
    if (fatal_after_first) fatal_flag_ = true;
    return SendResult::kAccepted;
  }
  void poll(milliseconds) override {
    check_thread();
    ++polls;
    deliver_all();
  }
  bool flush(milliseconds) override {
    check_thread();
    deliver_all();
    return true;
  }
  std::size_t in_flight() const override { return pending_.size(); }
  std::string name() const override { return "fake"; }
  bool fatal() const override { return fatal_flag_; }

  std::vector<Record> accepted;
  int attempts = 0;
  int polls = 0;
  bool wrong_thread = false;

 private:
  void check_thread() {
    if (thread_ == std::thread::id()) thread_ = std::this_thread::get_id();
    if (thread_ != std::this_thread::get_id()) wrong_thread = true;
  }
  void deliver_all() {
    for (std::size_t index : pending_) {
      const Record& r = accepted[index];
      DeliveryReport report;
      report.token = r.token;
      report.op = r.op;
      report.table = r.table;
      listener_.on_delivery(report);
    }
    pending_.clear();
  }

  DeliveryListener& listener_;
  std::deque<std::size_t> pending_;
  int refused_in_a_row_ = 0;
  bool fatal_flag_ = false;
  std::thread::id thread_;
};

class CountingListener : public DeliveryListener {
 public:
  explicit CountingListener(PositionLedger& ledger) : ledger_(ledger) {}
  void on_delivery(const DeliveryReport& report) override {
    ++reports;
    ledger_.on_delivery(report);
  }
  int reports = 0;

 private:
  PositionLedger& ledger_;
};

SourceOffset at(Lsn lsn) {
  SourceOffset offset;
  offset.lsn = lsn;
  return offset;
}

Record make_record(DeliveryToken token, int seq) {
  Record r;
  r.topic = "t";
  r.key = "{\"id\":" + std::to_string(seq % 7) + "}";
  r.value = "{\"seq\":" + std::to_string(seq) + "}";
  r.token = token;
  r.op = Operation::kCreate;
  r.table = "public.t";
  return r;
}

// The source side of the pipeline: `transactions` x `per_transaction` records through the ledger
// and a small buffer, then close.
void produce(BoundedBuffer& buffer, PositionLedger& ledger, int transactions, int per_transaction) {
  int seq = 0;
  for (int t = 0; t < transactions; ++t) {
    DeliveryToken token = ledger.open();
    for (int i = 0; i < per_transaction; ++i) {
      Record r = make_record(token, seq++);
      ledger.add_record(token);
      while (buffer.push(r, milliseconds(10)) == BoundedBuffer::PushResult::kTimedOut) {
      }
    }
    ledger.seal(token, at(static_cast<Lsn>(t + 1) * 100));
    buffer.hand_over();
  }
  buffer.close();
}

TEST(SinkRunner, QueueFullIsRetriedWithoutLossOrReordering) {
  PositionLedger ledger;
  CountingListener listener(ledger);
  FakeSink sink(listener);
  sink.period = 5;
  sink.refusals = 3;
  BoundedBuffer buffer(16, 1 << 20);
  SinkRunner runner(buffer, sink,
                    SinkRunnerOptions{8, milliseconds(20), milliseconds(1), milliseconds(1)});
  std::atomic<bool> stop{false};

  std::thread source([&] { produce(buffer, ledger, 50, 20); });
  std::thread sink_thread([&] {
    runner.run(stop);
    EXPECT_TRUE(sink.flush(milliseconds(1000)));  // the caller flushes on the sink thread
  });
  source.join();
  sink_thread.join();

  ASSERT_EQ(sink.accepted.size(), 1000u);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(*sink.accepted[i].value, "{\"seq\":" + std::to_string(i) + "}") << "at " << i;
  }
  EXPECT_EQ(listener.reports, 1000);
  EXPECT_EQ(runner.records_sent(), 1000u);
  EXPECT_GT(runner.queue_full_retries(), 0u);
  EXPECT_FALSE(sink.wrong_thread);
  EXPECT_FALSE(ledger.failed());
  EXPECT_EQ(ledger.committable().lsn, 5000u);
  EXPECT_EQ(ledger.records_in_flight(), 0u);
}

TEST(SinkRunner, ReturnsWhenStoppedWhileTheSinkStaysFull) {
  PositionLedger ledger;
  CountingListener listener(ledger);
  FakeSink sink(listener);
  sink.always_full = true;
  BoundedBuffer buffer(16, 1 << 20);
  DeliveryToken token = ledger.open();
  Record r = make_record(token, 0);
  ledger.add_record(token);
  ASSERT_EQ(buffer.push(r, milliseconds(0)), BoundedBuffer::PushResult::kPushed);
  ledger.seal(token, at(100));

  SinkRunner runner(buffer, sink,
                    SinkRunnerOptions{8, milliseconds(10), milliseconds(1), milliseconds(1)});
  std::atomic<bool> stop{false};
  std::thread sink_thread([&] { runner.run(stop); });
  std::this_thread::sleep_for(milliseconds(50));
  stop = true;
  sink_thread.join();

  EXPECT_GT(runner.queue_full_retries(), 0u);
  EXPECT_EQ(runner.records_sent(), 0u);
  EXPECT_EQ(listener.reports, 0);
  // The record never got a report, so its position is not committable.
  EXPECT_EQ(ledger.committable().lsn, 0u);
}

TEST(SinkRunner, ReturnsWhenTheSinkIsFatal) {
  PositionLedger ledger;
  CountingListener listener(ledger);
  FakeSink sink(listener);
  sink.fatal_after_first = true;
  BoundedBuffer buffer(16, 1 << 20);
  DeliveryToken token = ledger.open();
  for (int i = 0; i < 2; ++i) {
    Record r = make_record(token, i);
    ledger.add_record(token);
    ASSERT_EQ(buffer.push(r, milliseconds(0)), BoundedBuffer::PushResult::kPushed);
  }
  std::atomic<bool> stop{false};
  SinkRunner runner(buffer, sink,
                    SinkRunnerOptions{1, milliseconds(10), milliseconds(1), milliseconds(1)});
  runner.run(stop);  // would not return (buffer open, no stop) if fatal() were ignored
  EXPECT_EQ(sink.accepted.size(), 1u);
}

TEST(SinkRunner, IdleRunnerWaitsOnTheBufferAndStopsPromptly) {
  PositionLedger ledger;
  CountingListener listener(ledger);
  FakeSink sink(listener);
  BoundedBuffer buffer(16, 1 << 20);
  SinkRunner runner(buffer, sink);
  std::atomic<bool> stop{false};
  std::thread sink_thread([&] { runner.run(stop); });
  std::this_thread::sleep_for(milliseconds(300));
  stop = true;
  const auto stopped_at = std::chrono::steady_clock::now();
  sink_thread.join();
  EXPECT_LT(std::chrono::steady_clock::now() - stopped_at, milliseconds(500));
  // Idle: blocked in the buffer (100 ms waits), not spinning on poll().
  EXPECT_LT(sink.polls, 20);
}

// A sink whose reports become ready on another thread, as librdkafka's do: records stay in flight
// until the test "acknowledges" them, and the sink then calls the runner's wake-up.
class WakingSink : public Sink {
 public:
  explicit WakingSink(DeliveryListener& listener) : listener_(listener) {}
  SendResult send(Record& record) override {
    std::lock_guard lock(mutex_);
    pending_.push_back(record);
    ++accepted;
    return SendResult::kAccepted;
  }
  void poll(milliseconds) override {
    std::vector<Record> ready;
    {
      std::lock_guard lock(mutex_);
      if (!acknowledged_) return;
      ready.swap(pending_);
    }
    for (const Record& r : ready) {
      DeliveryReport report;
      report.token = r.token;
      report.table = r.table;
      listener_.on_delivery(report);
    }
  }
  bool flush(milliseconds timeout) override {
    poll(timeout);
    return in_flight() == 0;
  }
  std::size_t in_flight() const override {
    std::lock_guard lock(mutex_);
    return pending_.size();
  }
  std::string name() const override { return "waking"; }
  bool set_report_wakeup(std::function<void()> wake) override {
    std::lock_guard lock(mutex_);
    wake_ = std::move(wake);
    return true;
  }
  // The "broker" acknowledges everything sent so far, from the test's thread.
  void acknowledge_from_another_thread() {
    std::function<void()> wake;
    {
      std::lock_guard lock(mutex_);
      acknowledged_ = true;
      wake = wake_;
    }
    if (wake) wake();
  }
  bool wakeup_set() const {
    std::lock_guard lock(mutex_);
    return static_cast<bool>(wake_);
  }
  std::atomic<int> accepted{0};

 private:
  DeliveryListener& listener_;
  mutable std::mutex mutex_;
  std::vector<Record> pending_;
  bool acknowledged_ = false;
  std::function<void()> wake_;
};

template <typename Condition>
bool eventually(Condition condition) {
  for (int i = 0; i < 1000 && !condition(); ++i) std::this_thread::sleep_for(milliseconds(10));
  return condition();
}

// The runner sleeps on the buffer. With nothing in flight, the source's hand-over wakes it for a
// lone record; with records in flight, their reports wake it and it takes what was handed over
// meanwhile (waking it per hand-over cost a thread wake-up per few records). Every timed wait here
// is 60 s, so only the wake-ups can explain progress.
TEST(SinkRunner, AHandOverWakesAnIdleRunnerAndReportsWakeABusyOne) {
  PositionLedger ledger;
  std::atomic<int> reports{0};
  struct Listener : DeliveryListener {
    explicit Listener(std::atomic<int>& n) : n(n) {}
    void on_delivery(const DeliveryReport&) override { ++n; }
    std::atomic<int>& n;
  } listener(reports);
  WakingSink sink(listener);
  BoundedBuffer buffer(16, 1 << 20);
  SinkRunnerOptions options;
  options.idle_pop_timeout = std::chrono::seconds(60);
  options.report_wait_timeout = std::chrono::seconds(60);
  SinkRunner runner(buffer, sink, options);
  std::atomic<bool> stop{false};
  std::thread sink_thread([&] { runner.run(stop); });

  // As the source does: push, then hand over (a push alone wakes the runner only for a batch).
  std::this_thread::sleep_for(milliseconds(50));  // the runner waits, nothing in flight
  Record first = make_record(1, 1);
  ASSERT_EQ(buffer.push(first, milliseconds(0)), BoundedBuffer::PushResult::kPushed);
  buffer.hand_over();
  ASSERT_TRUE(eventually([&] { return sink.accepted == 1; })) << "a hand-over did not wake the idle runner";

  // The first record is in flight: the runner waits for its report.
  std::this_thread::sleep_for(milliseconds(50));
  Record second = make_record(1, 2);
  ASSERT_EQ(buffer.push(second, milliseconds(0)), BoundedBuffer::PushResult::kPushed);
  buffer.hand_over();
  std::this_thread::sleep_for(milliseconds(200));
  EXPECT_EQ(sink.accepted, 1) << "a runner waiting for reports is left alone by a hand-over";

  sink.acknowledge_from_another_thread();
  EXPECT_TRUE(eventually([&] { return sink.accepted == 2 && reports == 2; }))
      << "ready reports did not wake the runner (accepted " << sink.accepted << ", reports "
      << reports << ")";

  stop = true;
  buffer.close();
  sink_thread.join();
  EXPECT_FALSE(sink.wakeup_set()) << "the runner must turn the wake-up off when it returns";
}

}  // namespace
}  // namespace pgcdc
