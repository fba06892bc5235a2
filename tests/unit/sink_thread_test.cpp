#include "daemon/sink_thread.h"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <new>
#include <stdexcept>
#include <thread>
#include <vector>

namespace pgcdc {
namespace {

using std::chrono::milliseconds;

// Accepts records and reports them delivered on poll(), until its `throw_at`-th send, which throws
// what `thrower` throws.
class ThrowingSink : public Sink {
 public:
  ThrowingSink(DeliveryListener& listener, int throw_at, void (*thrower)())
      : listener_(listener), throw_at_(throw_at), thrower_(thrower) {}

  SendResult send(Record& record) override {
    if (++sends_ == throw_at_) thrower_();
    pending_.push_back(record.token);
    return SendResult::kAccepted;
  }
  void poll(milliseconds) override { deliver(); }
  bool flush(milliseconds) override {
    deliver();
    return true;
  }
  std::size_t in_flight() const override { return pending_.size(); }
  std::string name() const override { return "throwing"; }
  bool fatal() const override { return false; }

 private:
  void deliver() {
    for (DeliveryToken token : pending_) {
      DeliveryReport report;
      report.token = token;
      listener_.on_delivery(report);
    }
    pending_.clear();
  }

  DeliveryListener& listener_;
  int throw_at_;
  void (*thrower_)();
  int sends_ = 0;
  std::vector<DeliveryToken> pending_;
};

SourceOffset at(Lsn lsn) {
  SourceOffset offset;
  offset.lsn = lsn;
  return offset;
}

// One sealed ledger entry per record, pushed one after the other, each delivered before the next
// is pushed (so the committed position says how far the sink got).
bool push_one(BoundedBuffer& buffer, PositionLedger& ledger, Lsn lsn) {
  DeliveryToken token = ledger.open();
  ledger.add_record(token);
  ledger.seal(token, at(lsn));
  Record record;
  record.topic = "t";
  record.key = "k";
  record.value = "v";
  record.token = token;
  // As the source does: push with a timeout, and look at the ledger between tries.
  while (buffer.push(record, milliseconds(10)) == BoundedBuffer::PushResult::kTimedOut) {
    if (ledger.failed()) return false;
  }
  buffer.hand_over();
  return true;
}

bool wait_for(const std::function<bool()>& condition) {
  for (int i = 0; i < 500; ++i) {  // at most 5 s
    if (condition()) return true;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return condition();
}

void throw_runtime_error() { throw std::runtime_error("boom"); }
void throw_bad_alloc() { throw std::bad_alloc(); }
void throw_an_int() { throw 42; }

TEST(SinkThread, AnExceptionInTheSinkFailsTheSessionWithItsReasonInsteadOfEndingTheProcess) {
  PositionLedger ledger;
  BoundedBuffer buffer(4, 1 << 20);
  ThrowingSink sink(ledger, 3, &throw_runtime_error);
  SinkThread thread(buffer, sink, ledger);
  ASSERT_TRUE(push_one(buffer, ledger, 10));
  ASSERT_TRUE(wait_for([&] { return ledger.committable().lsn == 10; }));
  ASSERT_TRUE(push_one(buffer, ledger, 20));
  ASSERT_TRUE(wait_for([&] { return ledger.committable().lsn == 20; }));
  EXPECT_FALSE(ledger.failed());

  // The third send throws: the ledger fails with the reason and commits nothing more.
  push_one(buffer, ledger, 30);
  ASSERT_TRUE(wait_for([&] { return ledger.failed(); }));
  EXPECT_EQ(ledger.failure(), "the sink thread stopped: boom");
  EXPECT_EQ(ledger.committable().lsn, 20u);

  // A source that keeps pushing fills the buffer, and sees the failure instead of waiting forever.
  bool all_pushed = true;
  for (Lsn lsn = 40; lsn < 100 && all_pushed; lsn += 10) all_pushed = push_one(buffer, ledger, lsn);
  EXPECT_FALSE(all_pushed);
  thread.finish(true);  // the thread has ended: joining returns
  EXPECT_EQ(ledger.committable().lsn, 20u);
}

TEST(SinkThread, AnyExceptionIsCaughtAndNamed) {
  struct Case {
    void (*thrower)();
    const char* failure;
  };
  for (const Case& c : {Case{&throw_bad_alloc, "the sink thread stopped: std::bad_alloc"},
                        Case{&throw_an_int, "the sink thread stopped: an exception that is not "
                                            "a std::exception"}}) {
    PositionLedger ledger;
    BoundedBuffer buffer(4, 1 << 20);
    ThrowingSink sink(ledger, 1, c.thrower);
    SinkThread thread(buffer, sink, ledger);
    push_one(buffer, ledger, 10);
    ASSERT_TRUE(wait_for([&] { return ledger.failed(); })) << c.failure;
    EXPECT_EQ(ledger.failure(), c.failure);
    EXPECT_EQ(ledger.committable().lsn, 0u);
  }
}

TEST(SinkThread, AnExceptionLeavingTheSessionDropsTheBufferAndJoinsTheThread) {
  PositionLedger ledger;
  BoundedBuffer buffer(4, 1 << 20);
  ThrowingSink sink(ledger, 1000, &throw_runtime_error);
  try {
    SinkThread thread(buffer, sink, ledger);
    ASSERT_TRUE(push_one(buffer, ledger, 10));
    ASSERT_TRUE(wait_for([&] { return ledger.committable().lsn == 10; }));
    // The session's source fails while the sink thread runs: the destructor must stop and join
    // it (a joinable std::thread's destructor would end the process).
    throw std::runtime_error("the source failed");
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "the source failed");
  }
  Record late;
  EXPECT_EQ(buffer.push(late, milliseconds(10)), BoundedBuffer::PushResult::kClosed);
  EXPECT_FALSE(ledger.failed());
}

}  // namespace
}  // namespace pgcdc
