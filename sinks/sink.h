#pragma once
// The contract every destination implements.
//
// A sink takes serialized records and, for each one it accepted, later reports exactly once to its
// DeliveryListener whether the destination confirmed it. "Delivered" means durable at the
// destination (Kafka: acknowledged by all in-sync replicas; file: written and flushed), never
// merely queued. All methods run on the sink thread (see SinkRunner) unless they say otherwise;
// reports are issued from send() (a record refused at once is reported kFailed or kRejected
// there), poll() or flush() on that same thread. kRejected is for a record the destination will
// never take (see DeliveryStatus): the daemon then stops rather than retrying it forever. The
// listener must outlive the sink: a sink destroyed with records still in flight reports them
// kFailed from its destructor.
#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <span>
#include <string>

#include "core/delivery.h"
#include "core/error.h"
#include "core/record.h"

namespace pgcdc {

class Sink {
 public:
  enum class SendResult {
    kAccepted,   // taken: a report will follow (possibly kFailed or kRejected)
    kQueueFull,  // not taken, nothing will be reported: poll() and send it again (backpressure)
  };

  virtual ~Sink() = default;

  // Takes the record on kAccepted. The sink copies what it needs: the record is left as it was,
  // for the caller to count and then reuse.
  virtual SendResult send(Record& record) = 0;
  // Takes records from the front, in order, until one meets a full queue (kQueueFull); returns
  // how many it took, each as send() would. The rest must be offered again, in the same order,
  // after poll(). A sink that can hand its destination several records in one call overrides
  // this.
  virtual std::size_t send_batch(std::span<Record> records) {
    std::size_t taken = 0;
    while (taken < records.size() && send(records[taken]) == SendResult::kAccepted) ++taken;
    return taken;
  }
  // Serves delivery reports, waiting up to `timeout` for one.
  virtual void poll(std::chrono::milliseconds timeout) = 0;
  // Asks the sink to call `wake` whenever poll() has reports to serve, so the sink thread can sleep
  // on one thing (the buffer) and still serve reports at once. `wake` may run on any thread (a
  // library's own) and must be quick and never call the sink. An empty function turns it off; the
  // sink never calls a function once that call returned. False when the sink cannot do this (the
  // runner then alternates between the buffer and short timed polls).
  virtual bool set_report_wakeup(std::function<void()> wake) {
    (void)wake;
    return false;
  }
  // Waits until every accepted record has been reported, up to `timeout`. True when none is left.
  virtual bool flush(std::chrono::milliseconds timeout) = 0;
  // Records accepted and not yet reported. Any thread (a gauge may read it).
  virtual std::size_t in_flight() const = 0;
  // Short name for logs and metric labels ("kafka", "stdout").
  virtual std::string name() const = 0;

  // Startup check, before the pipeline runs: nullopt when the destination is reachable within
  // `timeout`; otherwise the error saying why (naming the address), kTransient when waiting may
  // mend it (no answer), kNeedsPerson when not (refused credentials). Default: nothing to check.
  virtual std::optional<Error> ping(std::chrono::milliseconds timeout) {
    (void)timeout;
    return std::nullopt;
  }
  // Any thread. True once the sink can deliver nothing more in this session (Kafka: a fatal
  // producer error such as a fenced idempotent producer). Every record accepted from then on is
  // reported kFailed; the owner must recreate the sink and resume from the last committed position.
  virtual bool fatal() const { return false; }
  // Any thread. Why fatal() is true, as an error whose kind says whether a new sink can mend it;
  // nullopt otherwise.
  virtual std::optional<Error> fatal_error() const { return std::nullopt; }
};

}  // namespace pgcdc
