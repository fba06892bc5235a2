#pragma once
// The Kafka sink's producer core, the same for every delivery mode: librdkafka's producer with
// pgcdc's configuration and callbacks, the topic handles, producing one record or a run of them,
// turning delivery reports into DeliveryReports, and the fatal state. What differs per mode
// (holding reports, transactions) it asks its DeliveryMode at fixed points; it never decides it.
//
// A record is reported kDelivered only from a delivery report without error (and only if the mode
// does not hold it); with enable.idempotence=true (which implies acks=all) that means every
// in-sync replica has it. A record Kafka refuses for good (too large, not authorized, an invalid
// topic: sinks/kafka_record_error.h decides) is reported kRejected, naming the table, key, size
// and the setting to change. Everything else (message timeout, brokers down, fatal producer
// error, purge at destruction) is reported kFailed. Either once, with the reason.
//
// Threads: every method runs on the sink thread (or, before it starts and after it stopped, on its
// owner) unless it says otherwise. Delivery reports and error events are served only by poll(),
// flush() and the mode's own rd_kafka_poll calls (librdkafka calls the callbacks on the thread that
// polls), so the listener and the mode's hooks are called on the sink thread. librdkafka's log
// lines come from its own threads and go to the (thread-safe) spdlog logger.
#include <librdkafka/rdkafka.h>
#include <spdlog/logger.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "core/delivery.h"
#include "core/mutex.h"
#include "sinks/kafka_delivery_mode.h"
#include "sinks/kafka_handles.h"
#include "sinks/sink.h"

namespace pgcdc {

class KafkaProducer {
 public:
  // Owner's thread. Creates the producer (it connects in the background; check_brokers() gives a
  // clear startup error). Throws std::runtime_error with librdkafka's message, which names the
  // property, when a property is unknown or invalid, or when the producer cannot be created.
  // `mode` and `listener` must outlive the producer; the listener is called from librdkafka's
  // callbacks (C frames): it must not throw.
  KafkaProducer(const KafkaSinkConfig& config, DeliveryMode& mode, DeliveryListener& listener,
                std::shared_ptr<spdlog::logger> logger);
  // Neither copyable nor movable: librdkafka holds `this` as the callbacks' opaque.
  KafkaProducer(const KafkaProducer&) = delete;
  KafkaProducer& operator=(const KafkaProducer&) = delete;
  // Owner's thread. Destroys the topic handles, then the producer. Reports nothing: the owner
  // purges and fails what is in flight first (purge_in_flight(), fail_unreported()).
  ~KafkaProducer();

  // Sink thread. Produces one row change (not a marker). kQueueFull: nothing taken, nothing will
  // be reported. kAccepted: taken by librdkafka (its report follows), or refused and already
  // reported failed.
  Sink::SendResult produce(const Record& record);
  // Sink thread. Produces row changes to one topic in one rd_kafka_produce_batch call; returns how
  // many librdkafka took (it stops at the first record that meets a full queue). A record it
  // refuses for good is reported at once and counts as taken.
  std::size_t produce_run(std::span<const Record> run);
  // Sink thread. Accepts `record` and reports it kFailed with `error` at once.
  void fail_at_once(const Record& record, const std::string& error);
  // Sink thread. Produces a message of the mode's own (exactly-once: the transaction's
  // position): no DeliveryReport; its delivery report goes to DeliveryMode::on_own_report. A full
  // queue is waited out, serving reports, up to `timeout`. The error when it was not taken.
  std::optional<std::string> produce_own(const std::string& topic, std::string_view key,
                                         std::string_view value, std::chrono::milliseconds timeout);
  // Sink thread. Issues one report the mode held back (and counts its record out of in_flight()).
  void report_released(const DeliveryReport& report);

  // Sink thread. Serves delivery reports, waiting up to `timeout` for one; they share one clock
  // reading and one listener batch.
  void poll(std::chrono::milliseconds timeout);
  // Sink thread. Serves reports until librdkafka's out-queue is empty or `timeout` passed.
  void flush(std::chrono::milliseconds timeout);
  // Sink thread. librdkafka calls `wake` from its own thread when its main queue (delivery
  // reports, errors) goes from empty to non-empty. An empty function turns it off; this returns
  // once no call of the previous function runs.
  void set_report_wakeup(std::function<void()> wake);
  // Owner's thread, closing: purges what is queued or in flight and serves the purged messages'
  // (failed) reports for up to two seconds.
  void purge_in_flight();
  // Owner's thread, closing, after purge_in_flight(): reports kFailed, with `why`, every record
  // librdkafka did not hand back (nothing polls this handle again, and rd_kafka_destroy does not
  // call the delivery callback).
  void fail_unreported(std::string_view why);

  // Sink thread (or the owner before it starts). Asks a broker for cluster metadata in steps of at
  // most a second. The error, naming the bootstrap servers, when none answers within `timeout` or
  // the brokers refuse the credentials or the certificate (then fatal() is true too).
  std::optional<std::string> check_brokers(std::chrono::milliseconds timeout);
  // Owner's thread. "N broker(s): id@host:port, ..."; throws std::runtime_error like
  // check_brokers() fails.
  std::string describe_metadata(std::chrono::milliseconds timeout);

  // Any thread. Records accepted and not yet reported.
  std::size_t in_flight() const { return in_flight_.load(); }
  // Any thread. True once this producer can deliver nothing more (a fatal librdkafka error,
  // refused credentials); fatal_error() says why, empty otherwise.
  bool fatal() const { return fatal_.load(); }
  std::string fatal_error() const;
  // Sink thread (or librdkafka's callbacks on it). Keeps the first fatal error; logs it when `log`.
  void remember_fatal(const std::string& message, bool log = true);

  // The librdkafka handle, still owned here: never destroy it, never poll it from another thread.
  rd_kafka_t* handle() const { return producer_.get(); }
  spdlog::logger& logger() const { return *logger_; }

 private:
  // A record handed to librdkafka, as its delivery report will need it: the message's opaque.
  // Owned here for the producer's whole life (librdkafka only borrows the pointer).
  struct InFlight {
    bool in_use = false;  // handed to librdkafka, report not yet issued
    ReportedRecord record;
  };
  // A record that failed, as its report describes it.
  struct FailedRecord {
    std::string_view table;
    std::string_view topic;
    std::string_view key;
    std::size_t value_bytes = 0;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    bool local = false;  // refused by librdkafka when produced, not by a broker
  };
  struct Failure {
    DeliveryStatus status = DeliveryStatus::kFailed;
    std::string error;
  };
  // kRejected, naming the table, key, size and the setting to change, when no retry can deliver
  // the record (is_permanent_record_error); kFailed otherwise.
  Failure explain_failure(const FailedRecord& record) const;
  // Reports a record librdkafka refused when it was produced (too large, fatal state...).
  void refuse(InFlight* slot, const Record& record, rd_kafka_resp_err_t err);
  // A topic's handle (owned by topics_), or why librdkafka would not make one.
  struct TopicHandle {
    rd_kafka_topic_t* handle = nullptr;
    std::string error;  // set when handle is null
  };
  TopicHandle topic_handle(const std::string& topic);
  InFlight* acquire_slot(const Record& record);
  void release_slot(InFlight* slot);
  void report(InFlight* slot, DeliveryStatus status, std::string_view error);

  // librdkafka callbacks; `opaque` is this producer. Threads: on each definition.
  static void on_delivery_report(rd_kafka_t* rk, const rd_kafka_message_t* message, void* opaque);
  static void on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque);
  static void on_log(const rd_kafka_t* rk, int level, const char* facility, const char* buf);
  static void on_queue_event(rd_kafka_t* rk, void* opaque);

  DeliveryMode& mode_;
  DeliveryListener& listener_;
  // Declared before producer_ so it outlives it: librdkafka logs while being destroyed.
  std::shared_ptr<spdlog::logger> logger_;
  std::string brokers_;
  long long max_message_bytes_ = 0;  // the producer's message.max.bytes, for error messages
  std::string scram_note_;           // scram_compatibility_note() for this producer's settings

  // Sink thread only. Slots are reused through free_slots_ so a steady stream does not allocate
  // per message; owned here for the producer's whole life, so nothing leaks even if a report were
  // never served.
  std::vector<std::unique_ptr<InFlight>> slots_;
  std::vector<InFlight*> free_slots_;
  std::vector<rd_kafka_message_t> run_messages_;  // produce_run()'s, kept for its capacity

  // Records accepted and not yet reported. Counted here rather than read from
  // rd_kafka_outq_len(), which also counts protocol requests and unserved events and so is not
  // "records awaiting a report"; written on the sink thread, read anywhere.
  std::atomic<std::size_t> in_flight_{0};
  // Sink thread: the time of the first report served by the current poll() (0: none yet).
  std::int64_t report_clock_us_ = 0;
  bool sharing_report_clock_ = false;  // inside poll()'s rd_kafka_poll

  std::atomic<bool> fatal_{false};
  mutable Mutex fatal_mutex_;
  std::string fatal_error_ GUARDED_BY(fatal_mutex_);
  // The last error librdkafka raised about the brokers (error events), so that a failed
  // check_brokers() says why: refused credentials, an unverifiable certificate, a refused
  // connection.
  rd_kafka_resp_err_t last_broker_error_code_ GUARDED_BY(fatal_mutex_) = RD_KAFKA_RESP_ERR_NO_ERROR;
  std::string last_broker_error_ GUARDED_BY(fatal_mutex_);

  // Destroyed in reverse order: topic handles and the queue before the producer they belong to.
  RdKafkaPtr producer_;
  std::unordered_map<std::string, RdKafkaTopicPtr> topics_;  // sink thread only
  std::string last_topic_;                                   // sink thread only: the last lookup
  rd_kafka_topic_t* last_topic_handle_ = nullptr;            // owned by topics_
  RdKafkaQueuePtr main_queue_;                               // held while a report wake-up is set
  std::function<void()> wakeup_;  // called by librdkafka's threads while set
};

}  // namespace pgcdc
