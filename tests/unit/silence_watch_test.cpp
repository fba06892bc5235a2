// The replication connection's liveness rule (connector/silence_watch.h), driven with explicit
// times.
#include "connector/silence_watch.h"

#include <gtest/gtest.h>

namespace pgcdc {
namespace {

using namespace std::chrono_literals;
using Verdict = SilenceWatch::Verdict;
const auto kStart = SilenceWatch::Clock::time_point{} + 1h;

TEST(SilenceWatch, AsksThenLooksThenPresumesDeathAtTheTimeout) {
  SilenceWatch watch(30s, kStart);
  EXPECT_EQ(watch.check(kStart + 9s), Verdict::kFine);
  EXPECT_FALSE(watch.awaiting_answer());
  EXPECT_EQ(watch.check(kStart + 10s), Verdict::kAskForReply);
  EXPECT_TRUE(watch.awaiting_answer());
  EXPECT_EQ(watch.check(kStart + 11s), Verdict::kFine);  // asked once, waiting
  EXPECT_EQ(watch.check(kStart + 19s), Verdict::kFine);
  EXPECT_EQ(watch.check(kStart + 20s), Verdict::kCheckServer);
  EXPECT_EQ(watch.dead_at(), kStart + 30s);
  EXPECT_EQ(watch.check(kStart + 29s), Verdict::kFine);  // looked once, no sign of work
  EXPECT_EQ(watch.check(kStart + 30s), Verdict::kPresumedDead);
  EXPECT_EQ(watch.silent_for(kStart + 30s), 30s);
}

TEST(SilenceWatch, AnAnswerOrASignOfWorkKeepsTheConnectionAlive) {
  SilenceWatch watch(30s, kStart);
  EXPECT_EQ(watch.check(kStart + 10s), Verdict::kAskForReply);
  watch.heard(kStart + 10s + 1ms);  // the walsender's keepalive
  EXPECT_FALSE(watch.awaiting_answer());
  EXPECT_EQ(watch.check(kStart + 20s), Verdict::kFine);
  EXPECT_EQ(watch.check(kStart + 20s + 1ms), Verdict::kAskForReply);
  EXPECT_EQ(watch.check(kStart + 30s + 1ms), Verdict::kCheckServer);
  watch.heard(kStart + 30s + 2ms);  // the walsender is busy replaying a large transaction
  EXPECT_EQ(watch.check(kStart + 40s + 1ms), Verdict::kFine);
  EXPECT_EQ(watch.check(kStart + 40s + 2ms), Verdict::kAskForReply);
  EXPECT_EQ(watch.check(kStart + 50s + 2ms), Verdict::kCheckServer);
  EXPECT_EQ(watch.check(kStart + 60s + 1ms), Verdict::kFine);
  EXPECT_EQ(watch.check(kStart + 60s + 2ms), Verdict::kPresumedDead);
}

TEST(SilenceWatch, SilenceNobodyListenedToIsNotHeldAgainstTheServer) {
  // The source thread was away (a full buffer) for a minute: it asks first, looks a third of the
  // timeout later, and presumes the connection dead only two thirds of the timeout after asking.
  SilenceWatch watch(30s, kStart);
  EXPECT_EQ(watch.check(kStart + 60s), Verdict::kAskForReply);
  EXPECT_EQ(watch.check(kStart + 69s), Verdict::kFine);
  EXPECT_EQ(watch.check(kStart + 70s), Verdict::kCheckServer);
  EXPECT_EQ(watch.dead_at(), kStart + 80s);
  EXPECT_EQ(watch.check(kStart + 79s), Verdict::kFine);
  EXPECT_EQ(watch.check(kStart + 80s), Verdict::kPresumedDead);
}

}  // namespace
}  // namespace pgcdc
