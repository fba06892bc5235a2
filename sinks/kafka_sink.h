#pragma once
// Sink that produces each record to Kafka through librdkafka's idempotent producer.
//
// A record is reported kDelivered only from a delivery report without error; with
// enable.idempotence=true (which implies acks=all) that means every in-sync replica has it.
// A record Kafka refuses for good (too large, not authorized, an invalid topic:
// sinks/kafka_record_error.h decides) is reported kRejected, naming the table, key, size and
// the setting to change. Everything else (message timeout, brokers down, fatal producer error,
// purge at destruction) is reported kFailed. Either once, with the reason.
//
// Threads: the constructor, send(), poll(), flush(), ping() and the destructor run on the sink
// thread (SinkRunner) or, before it starts and after it stopped, on its owner. Delivery reports and
// error events are served only by poll()/flush() (librdkafka calls the callbacks on the thread that
// polls), so the listener is called on the sink thread. librdkafka's log lines come from its own
// internal threads and go to the (thread-safe) spdlog logger. fatal(), fatal_error() and
// in_flight() may be read from any thread.
#include <librdkafka/rdkafka.h>
#include <spdlog/logger.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "core/delivery.h"
#include "sinks/kafka_handles.h"
#include "sinks/sink.h"

namespace pgcdc {

class KafkaSink : public Sink {
 public:
  // Creates the producer (it connects in the background; use ping() for a clear startup error).
  // Throws std::runtime_error with librdkafka's message, which names the property, when a
  // property is unknown or invalid, or when the producer cannot be created.
  // `logger` defaults to spdlog's default logger. The listener is called from librdkafka's
  // callbacks (C frames): it must not throw.
  KafkaSink(const KafkaSinkConfig& config, DeliveryListener& listener,
            std::shared_ptr<spdlog::logger> logger = nullptr);
  // Neither copyable nor movable: librdkafka holds `this` as the callbacks' opaque.
  KafkaSink(const KafkaSink&) = delete;
  KafkaSink& operator=(const KafkaSink&) = delete;
  // Purges what is still queued or in flight and reports it kFailed (the caller should flush()
  // first), then destroys the producer.
  ~KafkaSink() override;

  SendResult send(Record& record) override;
  // Runs of row changes to one topic go to librdkafka in one rd_kafka_produce_batch call (one
  // topic lock and one clock reading per run instead of per record); everything else through
  // send().
  std::size_t send_batch(std::span<Record> records) override;
  void poll(std::chrono::milliseconds timeout) override;
  // librdkafka calls `wake` from its own thread when its main queue (delivery reports, errors)
  // goes from empty to non-empty.
  bool set_report_wakeup(std::function<void()> wake) override;
  bool flush(std::chrono::milliseconds timeout) override;
  std::size_t in_flight() const override;
  std::string name() const override { return "kafka"; }

  // Asks a broker for cluster metadata (rd_kafka_metadata). False with a message naming the
  // bootstrap servers when none answers within `timeout`.
  bool ping(std::chrono::milliseconds timeout, std::string& error) override;
  // "N broker(s): id@host:port, ..." or throws std::runtime_error like ping() fails.
  std::string describe_metadata(std::chrono::milliseconds timeout);

  bool fatal() const override;
  std::string fatal_error() const override;

  // The underlying handle, for tests (e.g. rd_kafka_test_fatal_error) and diagnostics. Still
  // owned by the sink: never destroy it, never poll it from another thread.
  rd_kafka_t* native_handle() const { return producer_.get(); }

  // The properties the sink sets before the user's (which override them), for docs and tests.
  static std::vector<std::pair<std::string, std::string>> default_properties();

  // What to tell a user of SCRAM whose librdkafka predates 2.6.1: its client-final-message
  // repeats the client nonce, which Kafka 4.x brokers refuse as "invalid credentials"
  // (confluentinc/librdkafka#4895); Kafka 3.x brokers accept it. Empty when it does not apply
  // (no SASL, another mechanism, or a fixed librdkafka). `version` is rd_kafka_version()'s.
  static std::string scram_compatibility_note(std::string_view security_protocol,
                                              std::string_view mechanisms, int version);

  bool transactional() const { return transactional_; }
  // Exactly-once: how long the open transaction lasts at least before a position marker may
  // commit it. transaction_interval, stretched while commits take long (see stretch_transactions).
  std::chrono::steady_clock::duration transaction_length() const { return transaction_length_; }

 private:
  // Exactly-once (sink.kafka.delivery = exactly_once). Records go into a Kafka transaction;
  // their delivery reports are held back until the transaction commits, so "delivered" still
  // means what the ledger needs: visible to read_committed consumers, for good. A transaction is
  // committed only at a position marker (the end of a PostgreSQL transaction or snapshot chunk),
  // with that position written to the offsets topic inside it.
  void on_position_marker(const Record& marker);
  bool commit_transaction(std::chrono::milliseconds timeout);
  bool produce_position(std::chrono::milliseconds timeout, std::string& error);
  void fail_at_once(const Record& record, const std::string& error);
  void abort_transaction(const std::string& why);
  void release_held_reports(DeliveryStatus status, std::string_view error);
  bool can_commit() const { return txn_open_ && position_ && records_since_marker_ == 0; }
  // What a delivery report needs to know about its record, carried as the message opaque.
  // Owned by `slots_` for the sink's whole life (librdkafka only borrows the pointer), so nothing
  // leaks even if a report were never served; reused through `free_slots_` so a steady stream
  // does not allocate per message.
  struct InFlight {
    bool in_use = false;  // handed to librdkafka, report not yet issued
    DeliveryToken token = 0;
    Operation op = Operation::kRead;
    std::string table;
    std::size_t payload_bytes = 0;
    std::int64_t commit_time_us = 0;
  };

  rd_kafka_topic_t* topic_handle(const std::string& topic, std::string& error);
  // How many records from the front of `records` send_batch() may produce in one call: row
  // changes (no position marker) to the first one's topic, none if a transaction must begin first.
  std::size_t batchable_run(std::span<const Record> records) const;
  // Produces `run` (batchable_run()) in one call; returns how many librdkafka took (it stops at the
  // first record that meets a full queue). A record it refuses for good is reported failed.
  std::size_t produce_run(std::span<Record> run);
  // Reports a record librdkafka refused when it was produced (too large, fatal state...).
  void refuse(InFlight* slot, const Record& record, rd_kafka_resp_err_t err);
  // A record that failed, as its report describes it.
  struct FailedRecord {
    std::string_view table;
    std::string_view topic;
    std::string_view key;
    std::size_t value_bytes = 0;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    bool local = false;  // refused by librdkafka when produced, not by a broker
  };
  // The report's status and error for a failed record: kRejected, naming the table, key, size
  // and the setting to change, when no retry can deliver it (is_permanent_record_error);
  // kFailed otherwise.
  DeliveryStatus explain_failure(const FailedRecord& record, std::string& error) const;
  InFlight* acquire_slot(const Record& record);
  void release_slot(InFlight* slot);
  void report(InFlight* slot, DeliveryStatus status, std::string_view error);
  void remember_fatal(const std::string& message, bool log = true);

  // librdkafka callbacks; `opaque` is this sink.
  static void on_delivery_report(rd_kafka_t* rk, const rd_kafka_message_t* message, void* opaque);
  static void on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque);
  static void on_log(const rd_kafka_t* rk, int level, const char* facility, const char* buf);
  static void on_queue_event(rd_kafka_t* rk, void* opaque);

  DeliveryListener& listener_;
  // Declared before producer_ so it outlives it: librdkafka logs while being destroyed.
  std::shared_ptr<spdlog::logger> logger_;
  std::string brokers_;
  long long max_message_bytes_ = 0;  // the producer's message.max.bytes, for error messages
  std::string scram_note_;  // scram_compatibility_note() for this producer's settings

  // Sink thread only.
  std::vector<std::unique_ptr<InFlight>> slots_;
  std::vector<InFlight*> free_slots_;
  std::vector<rd_kafka_message_t> run_messages_;  // produce_run()'s, kept for its capacity

  // Records accepted and not yet reported. Counted by the sink rather than read from
  // rd_kafka_outq_len(), which also counts protocol requests and unserved events and so is not
  // "records awaiting a report"; written on the sink thread, read anywhere.
  std::atomic<std::size_t> in_flight_{0};
  // Sink thread: the time of the first report served by the current poll() (0: none yet).
  std::int64_t report_clock_us_ = 0;
  bool sharing_report_clock_ = false;  // inside poll()'s rd_kafka_poll

  std::atomic<bool> fatal_{false};
  mutable std::mutex fatal_mutex_;  // guards fatal_error_ and the last broker error
  std::string fatal_error_;
  // The last error librdkafka raised about the brokers (error events), so that a failed ping says
  // why: refused credentials, an unverifiable certificate, a refused connection.
  rd_kafka_resp_err_t last_broker_error_code_ = RD_KAFKA_RESP_ERR_NO_ERROR;
  std::string last_broker_error_;

  // Exactly-once state, sink thread only.
  bool transactional_ = false;
  bool transactions_ready_ = false;  // init_transactions done (in ping())
  std::string offsets_topic_;
  std::string offsets_key_;
  std::chrono::milliseconds transaction_interval_{100};
  std::chrono::steady_clock::duration transaction_length_ = transaction_interval_;
  void stretch_transactions(std::chrono::steady_clock::duration commit_took);
  bool txn_open_ = false;
  std::chrono::steady_clock::time_point txn_started_{};
  std::size_t records_since_marker_ = 0;
  std::optional<std::string> position_;   // of the last marker in the open transaction
  // Acknowledged records waiting for the transaction's outcome, counted by (ledger entry,
  // operation, table) rather than kept one by one: a PostgreSQL transaction of a million rows is
  // one Kafka transaction, and holding a slot per record made memory grow with it (invariant 4).
  struct HeldGroup {
    DeliveryToken token = 0;
    Operation op = Operation::kRead;
    std::string table;
    std::int64_t commit_time_us = 0;
    std::uint64_t records = 0;
    std::size_t payload_bytes = 0;
  };
  // A failed record is never held: it is reported at once (on_delivery_report).
  void hold(const InFlight& slot);
  std::vector<HeldGroup> held_;
  bool txn_failed_ = false;
  std::string txn_error_;
  // Set by the first transaction that does not commit (aborted, or never begun). Every later
  // record of this sink fails at once and no later transaction begins: a later commit would put
  // a newer position in the offsets topic above records that were aborted, and the next session
  // would resume past them. The session ends on the failed reports; the next one has a new sink.
  std::optional<std::string> txn_poisoned_;

  // Destroyed in reverse order: topic handles and the queue before the producer they belong to.
  RdKafkaPtr producer_;
  std::unordered_map<std::string, RdKafkaTopicPtr> topics_;  // sink thread only
  std::string last_topic_;                          // sink thread only: the last lookup
  rd_kafka_topic_t* last_topic_handle_ = nullptr;   // owned by topics_
  RdKafkaQueuePtr main_queue_;      // held while a report wake-up is set
  std::function<void()> wakeup_;    // called by librdkafka's threads while set
};

}  // namespace pgcdc
