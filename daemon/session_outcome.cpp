#include "daemon/session_outcome.h"

#include <string>
#include <utility>

#include "connector/catalog.h"
#include "core/error.h"

namespace pgcdc {
namespace {

SessionEnd end_for(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kTransient:
      return SessionEnd::kRetry;
    case ErrorKind::kNeedsPerson:
      return SessionEnd::kFatal;
    case ErrorKind::kDecode:
      return SessionEnd::kFatal;
    case ErrorKind::kStandby:
      return SessionEnd::kStandby;
  }
  return SessionEnd::kFatal;
}

// The outcome an error of `kind` gives, counted under `stage` unless it is a standby (not a
// failure).
SessionOutcome counted(ErrorKind kind, std::string error, const char* stage) {
  const SessionEnd end = end_for(kind);
  return {end, std::move(error), end == SessionEnd::kStandby ? nullptr : stage};
}

}  // namespace

SessionOutcome session_outcome(const SessionOutcome& so_far, const SessionFailure& failure) {
  const ErrorKind kind = kind_of(failure.error);
  const std::string what = failure.error.what();
  switch (failure.step) {
    case SessionStep::kCheckSlot:
      return counted(kind, what, "source");
    case SessionStep::kCreateSink:
      return counted(kind, "cannot create the " + std::string(failure.sink) + " sink: " + what,
                     "sink");
    case SessionStep::kPingSink:
      return counted(kind, "sink not reachable: " + what, "sink");
    case SessionStep::kReadPosition:
      return counted(kind, "cannot read the committed position: " + what, "offsets");
    case SessionStep::kRunSource:
      if (kind == ErrorKind::kDecode) {
        return counted(kind, "cannot decode the replication stream: " + what, "decode");
      }
      return counted(kind, what,
                     dynamic_cast<const SetupError*>(&failure.error) ? "setup" : "source");
    case SessionStep::kDeliver:
      return counted(kind, "delivery failed: " + what, "sink");
    case SessionStep::kDrain:
      // Only a session that would be retried meets the record again; the step that ended it was
      // counted already.
      if (so_far.end != SessionEnd::kRetry) return {so_far.end, so_far.error, nullptr};
      return {end_for(kind), "a record cannot be delivered: " + what, nullptr};
    case SessionStep::kSinkFailed: {
      if (so_far.end == SessionEnd::kFatal) return {so_far.end, so_far.error, nullptr};
      // A session ended by something else keeps that reason; a retry was counted already.
      std::string error = so_far.error.empty() ? "sink failed: " + what : so_far.error;
      return {end_for(kind), std::move(error), so_far.end == SessionEnd::kRetry ? nullptr : "sink"};
    }
  }
  return counted(kind, what, "internal");
}

}  // namespace pgcdc
