#pragma once
// Whether the server at the other end of a replication connection is still there, judged from
// when its messages arrive. Driven by the source thread; no clock of its own (tests pass times).
//
// Silence alone proves nothing. The walsender speaks only when it has changes to send or when
// the client has not replied for half of wal_sender_timeout, and pgcdc replies every
// status_interval, so an idle stream may be silent for as long as it likes. A status update with
// replyRequested makes the walsender answer with a keepalive at once (ProcessStandbyReplyMessage)
// when it reads it, so after a third of the timeout without a message the watch asks for one.
// But a walsender replaying a large transaction whose changes it filters out reads no replies
// until the replay ends or half of wal_sender_timeout passed: after two thirds of the timeout the
// watch asks for a look from outside (the caller checks the walsender in pg_stat_activity over a
// second connection). Once the timeout has passed with no message and no sign of work, the
// connection is presumed dead.
//
// The asks and the look count from when the watch asked, not only from the last message: when the
// source thread was away (a full buffer, a long snapshot chunk), silence it did not listen to is
// not held against the server.
#include <chrono>

namespace pgcdc {

class SilenceWatch {
 public:
  using Clock = std::chrono::steady_clock;
  enum class Verdict {
    kFine,          // heard recently enough, or waiting for an answer
    kAskForReply,   // send a status update with replyRequested now
    kCheckServer,   // look whether the server is at work; heard() if it is
    kPresumedDead,  // nothing and no sign of work: close the connection, restart the session
  };

  SilenceWatch(std::chrono::milliseconds timeout, Clock::time_point now)
      : timeout_(timeout), last_heard_(now) {}

  // A message arrived (any: data or keepalive), or the server was seen at work.
  void heard(Clock::time_point now) {
    last_heard_ = now;
    asked_ = false;
    checked_ = false;
  }

  Verdict check(Clock::time_point now) {
    const auto third = timeout_ / 3;
    if (!asked_) {
      if (now - last_heard_ < third) return Verdict::kFine;
      asked_ = true;
      asked_at_ = now;
      return Verdict::kAskForReply;
    }
    if (!checked_) {
      if (now - last_heard_ < timeout_ - third || now - asked_at_ < third) return Verdict::kFine;
      checked_ = true;
      return Verdict::kCheckServer;
    }
    if (now - last_heard_ >= timeout_ && now - asked_at_ >= timeout_ - third) {
      return Verdict::kPresumedDead;
    }
    return Verdict::kFine;
  }

  // Asked for a reply and heard nothing since. Meanwhile the caller starts nothing that waits on
  // the server elsewhere: on a dead network such a wait would run its own timeout before this
  // watch could tell.
  bool awaiting_answer() const { return asked_; }

  // How long since the last message (for messages).
  Clock::duration silent_for(Clock::time_point now) const { return now - last_heard_; }
  // When kPresumedDead may come at the earliest, as things stand (a deadline for the look).
  Clock::time_point dead_at() const {
    const auto by_silence = last_heard_ + timeout_;
    const auto by_ask = asked_at_ + (timeout_ - timeout_ / 3);
    return asked_ && by_ask > by_silence ? by_ask : by_silence;
  }

 private:
  std::chrono::milliseconds timeout_;
  Clock::time_point last_heard_;
  bool asked_ = false;
  Clock::time_point asked_at_{};
  bool checked_ = false;
};

}  // namespace pgcdc
