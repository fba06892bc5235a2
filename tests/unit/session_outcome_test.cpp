// The one mapping from what went wrong in a session to how the session ends (retry, stop, stand
// by), the message the daemon logs and the pgcdc_errors_total stage it counts. Messages are
// pinned byte for byte: the integration tests and operators' alerts read them.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "config/config.h"
#include "connector/catalog.h"
#include "connector/pg_connection.h"
#include "connector/pgoutput.h"
#include "connector/replication_setup.h"
#include "core/error.h"
#include "daemon/session_outcome.h"

namespace pgcdc {
namespace {

std::string stage(const SessionOutcome& outcome) {
  return outcome.count_as ? outcome.count_as : "(none)";
}

SessionOutcome ended(SessionEnd end, std::string error = {}) {
  SessionOutcome outcome;
  outcome.end = end;
  outcome.error = std::move(error);
  return outcome;
}

// What a session that nothing went wrong in so far is.
const SessionOutcome kClean;

TEST(ErrorKinds, EachErrorTypeSaysWhatWaitingCanDo) {
  EXPECT_EQ(PgError("connection lost", "", /*transient=*/true).kind(), ErrorKind::kTransient);
  EXPECT_TRUE(PgError("connection lost", "", true).transient());
  EXPECT_EQ(PgError("permission denied", "42501", false).kind(), ErrorKind::kNeedsPerson);
  EXPECT_FALSE(PgError("permission denied", "42501", false).transient());
  EXPECT_EQ(PgError("x", "42501", false).sqlstate(), "42501");
  EXPECT_EQ(SetupError("no table").kind(), ErrorKind::kNeedsPerson);
  EXPECT_EQ(ConfigError("source.url: missing").kind(), ErrorKind::kNeedsPerson);
  EXPECT_EQ(pgoutput::DecodeError("truncated").kind(), ErrorKind::kDecode);
  EXPECT_EQ(SlotInUse("slot s is in use").kind(), ErrorKind::kStandby);
  // Not pgcdc's own: nothing says that waiting mends it.
  EXPECT_EQ(kind_of(std::runtime_error("bad_alloc or a library's")), ErrorKind::kNeedsPerson);
  EXPECT_EQ(kind_of(Error(ErrorKind::kTransient, "x")), ErrorKind::kTransient);
}

TEST(SessionOutcome, EveryKindMapsToItsEnd) {
  struct Case {
    ErrorKind kind;
    SessionEnd end;
  };
  for (const Case& c : {Case{ErrorKind::kTransient, SessionEnd::kRetry},
                        Case{ErrorKind::kNeedsPerson, SessionEnd::kFatal},
                        Case{ErrorKind::kDecode, SessionEnd::kFatal},
                        Case{ErrorKind::kStandby, SessionEnd::kStandby}}) {
    for (SessionStep step :
         {SessionStep::kCheckSlot, SessionStep::kCreateSink, SessionStep::kPingSink,
          SessionStep::kReadPosition, SessionStep::kRunSource, SessionStep::kDeliver}) {
      const SessionOutcome outcome =
          session_outcome(kClean, {step, Error(c.kind, "what failed"), "Kafka"});
      EXPECT_EQ(outcome.end, c.end) << static_cast<int>(c.kind) << " " << static_cast<int>(step);
      EXPECT_NE(outcome.error.find("what failed"), std::string::npos) << outcome.error;
      // Standing by is not a failure; everything else is counted once.
      EXPECT_EQ(outcome.count_as == nullptr, c.end == SessionEnd::kStandby) << stage(outcome);
    }
  }
}

// What one failure of a session that nothing went wrong in before gives.
void expect_outcome(const SessionFailure& failure, SessionEnd end, const std::string& message,
                    const std::string& counted_stage) {
  const SessionOutcome outcome = session_outcome(kClean, failure);
  EXPECT_EQ(outcome.end, end) << message;
  EXPECT_EQ(outcome.error, message);
  EXPECT_EQ(stage(outcome), counted_stage) << message;
}

TEST(SessionOutcome, TheSourceStepsErrorsKeepTheirTextAndTheirStage) {
  const auto step = SessionStep::kRunSource;
  expect_outcome({step, PgError("server closed the connection", "", true)}, SessionEnd::kRetry,
                 "server closed the connection", "source");
  expect_outcome({step, PgError("permission denied", "42501", false)}, SessionEnd::kFatal,
                 "permission denied", "source");
  expect_outcome({step, SetupError("table public.t is missing")}, SessionEnd::kFatal,
                 "table public.t is missing", "setup");
  expect_outcome({step, pgoutput::DecodeError("I at byte 7: truncated")}, SessionEnd::kFatal,
                 "cannot decode the replication stream: I at byte 7: truncated", "decode");
  expect_outcome({step, SlotInUse("replication slot s is in use by process 42")},
                 SessionEnd::kStandby, "replication slot s is in use by process 42", "(none)");
  expect_outcome({step, std::runtime_error("offsets file: EIO")}, SessionEnd::kFatal,
                 "offsets file: EIO", "source");
}

TEST(SessionOutcome, TheStepsBeforeTheSourceNameThemselves) {
  expect_outcome({SessionStep::kCheckSlot, SlotInUse("replication slot s is in use by process 7")},
                 SessionEnd::kStandby, "replication slot s is in use by process 7", "(none)");
  expect_outcome(
      {SessionStep::kCreateSink, std::runtime_error("kafka property x=y: unknown"), "Kafka"},
      SessionEnd::kFatal, "cannot create the Kafka sink: kafka property x=y: unknown", "sink");
  expect_outcome(
      {SessionStep::kCreateSink, std::runtime_error("stdout sink: cannot open /x"), "stdout"},
      SessionEnd::kFatal, "cannot create the stdout sink: stdout sink: cannot open /x", "sink");
  expect_outcome({SessionStep::kPingSink, Error(ErrorKind::kTransient, "brokers b:9092 silent")},
                 SessionEnd::kRetry, "sink not reachable: brokers b:9092 silent", "sink");
  expect_outcome({SessionStep::kPingSink, Error(ErrorKind::kNeedsPerson, "b:9092 refused")},
                 SessionEnd::kFatal, "sink not reachable: b:9092 refused", "sink");
  // The offsets topic is read through the network (KafkaOffsetStore says kTransient); the
  // offsets file's errors are a person's to fix.
  expect_outcome({SessionStep::kReadPosition, Error(ErrorKind::kTransient, "topic o: timed out")},
                 SessionEnd::kRetry, "cannot read the committed position: topic o: timed out",
                 "offsets");
  expect_outcome({SessionStep::kReadPosition, std::runtime_error("offsets file is corrupt")},
                 SessionEnd::kFatal, "cannot read the committed position: offsets file is corrupt",
                 "offsets");
}

TEST(SessionOutcome, AFailedDeliveryIsRetriedUntilTheDrainShowsARejectedRecord) {
  SessionOutcome o = session_outcome(
      kClean, {SessionStep::kDeliver, Error(ErrorKind::kTransient, "kafka delivery to t failed")});
  EXPECT_EQ(o.end, SessionEnd::kRetry);
  EXPECT_EQ(o.error, "delivery failed: kafka delivery to t failed");
  EXPECT_EQ(stage(o), "sink");

  // Counted once, when the session ended; the drain only makes it graver.
  o = session_outcome(o, {SessionStep::kDrain, Error(ErrorKind::kNeedsPerson, "too large")});
  EXPECT_EQ(o.end, SessionEnd::kFatal);
  EXPECT_EQ(o.error, "a record cannot be delivered: too large");
  EXPECT_EQ(o.count_as, nullptr);

  // A transient PostgreSQL error ended it; the drain brought the rejection.
  o = session_outcome(kClean, {SessionStep::kRunSource, PgError("connection lost", "", true)});
  o = session_outcome(o, {SessionStep::kDrain, Error(ErrorKind::kNeedsPerson, "too large")});
  EXPECT_EQ(o.end, SessionEnd::kFatal);
  EXPECT_EQ(o.error, "a record cannot be delivered: too large");

  // A session that stopped, finished or already failed for good keeps its end.
  for (const SessionOutcome& so_far :
       {ended(SessionEnd::kStopped), ended(SessionEnd::kFinished),
        ended(SessionEnd::kFatal, "setup failed"), ended(SessionEnd::kStandby, "slot in use")}) {
    SessionOutcome counted = so_far;
    counted.count_as = "setup";  // a count of an earlier step is not repeated
    o = session_outcome(counted, {SessionStep::kDrain, Error(ErrorKind::kNeedsPerson, "big")});
    EXPECT_EQ(o.end, so_far.end);
    EXPECT_EQ(o.error, so_far.error);
    EXPECT_EQ(o.count_as, nullptr);
  }
}

TEST(SessionOutcome, AFailedSinkTurnsACleanEndIntoARetry) {
  const Error fenced(ErrorKind::kTransient, "OUT_OF_ORDER_SEQUENCE_NUMBER: fenced");
  for (SessionEnd clean : {SessionEnd::kStopped, SessionEnd::kFinished}) {
    const SessionOutcome o = session_outcome(ended(clean), {SessionStep::kSinkFailed, fenced});
    EXPECT_EQ(o.end, SessionEnd::kRetry);
    EXPECT_EQ(o.error, "sink failed: OUT_OF_ORDER_SEQUENCE_NUMBER: fenced");
    EXPECT_EQ(stage(o), "sink");
  }
  // A session that ended for another reason keeps the reason; a retry was counted already.
  SessionOutcome o = session_outcome(ended(SessionEnd::kRetry, "delivery failed: timed out"),
                                     {SessionStep::kSinkFailed, fenced});
  EXPECT_EQ(o.end, SessionEnd::kRetry);
  EXPECT_EQ(o.error, "delivery failed: timed out");
  EXPECT_EQ(o.count_as, nullptr);
  o = session_outcome(ended(SessionEnd::kStandby, "slot s is in use"),
                      {SessionStep::kSinkFailed, fenced});
  EXPECT_EQ(o.end, SessionEnd::kRetry);
  EXPECT_EQ(o.error, "slot s is in use");
  EXPECT_EQ(stage(o), "sink");
  // A stop stays a stop.
  o = session_outcome(ended(SessionEnd::kFatal, "a record cannot be delivered: big"),
                      {SessionStep::kSinkFailed, fenced});
  EXPECT_EQ(o.end, SessionEnd::kFatal);
  EXPECT_EQ(o.error, "a record cannot be delivered: big");
  EXPECT_EQ(o.count_as, nullptr);
}

}  // namespace
}  // namespace pgcdc
