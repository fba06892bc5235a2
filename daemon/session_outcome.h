#pragma once
// How a session ends, decided in one place. session_outcome() maps what went wrong in a session
// (an exception and its kind, core/error.h; a record that failed delivery; a sink that can deliver
// nothing more) to what the daemon does next and to the stage counted in
// pgcdc_errors_total{stage}. Pipeline gathers the facts and acts on the outcome; it decides nothing
// itself. Pure: no thread, no clock, no metrics.
#include <exception>
#include <string>
#include <string_view>

namespace pgcdc {

enum class SessionEnd {
  kStopped,   // asked to stop: exit 0
  kFinished,  // a snapshot-only run (source.cdc off) delivered everything: exit 0
  kRetry,     // a new session from the last committed position, after a backoff
  kFatal,     // a person must act: exit 1 with the message
  kStandby,   // another instance streams from the slot: wait source.standby_interval, look again
};

struct SessionOutcome {
  SessionEnd end = SessionEnd::kStopped;
  // What to log and show as the phase's reason; empty only when nothing went wrong.
  std::string error;
  // The pgcdc_errors_total stage (daemon/metric_table.h kErrorStages) to count for the failure
  // just mapped, once; nullptr when it adds no count.
  const char* count_as = nullptr;
};

// The step of a session that went wrong, in the order a session takes them.
enum class SessionStep {
  kCheckSlot,     // before anything else: is the slot free? (SlotInUse when it is not)
  kCreateSink,    // building the sink from its configuration
  kPingSink,      // the sink's startup check (the error Sink::ping returned)
  kReadPosition,  // reading the committed position from the offsets store
  kRunSource,     // the source: setup, snapshot, stream
  kDeliver,       // the source stopped on a record that failed delivery (the ledger's failure)
  // After the drain, the ledger holds a record the destination refuses for good (kRejected):
  // decided only then, as the drain may bring the rejection or a report that says more.
  kDrain,
  kSinkFailed,  // after the drain, the sink can deliver nothing more (Sink::fatal_error)
};

struct SessionFailure {
  SessionStep step;
  const std::exception& error;
  std::string_view sink = {};  // kCreateSink: which sink, as messages name it ("Kafka", "stdout")
};

// `so_far`: the session's outcome before this failure (a clean end, kStopped or kFinished, while
// nothing failed). The kind of `failure.error` decides, as core/error.h says: kTransient retries,
// kNeedsPerson and kDecode stop the daemon, kStandby stands by; any other exception needs a person.
// The message is the error's text, with a prefix naming the step where the error's own text does
// not. After the drain, a failure only ever makes the outcome graver: a rejected record turns a
// retry into a stop; a failed sink turns a clean end into a retry and leaves a stop a stop.
SessionOutcome session_outcome(const SessionOutcome& so_far, const SessionFailure& failure);

}  // namespace pgcdc
