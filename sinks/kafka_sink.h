#pragma once
// The Kafka Sink: one send loop for both delivery modes. It hands row changes to the producer core
// (KafkaProducer: configuration, callbacks, topics, produce runs, fatal state) and calls the
// delivery mode (sinks/kafka_delivery_mode.h) where the modes differ: AtLeastOnceDelivery reports
// each record when the broker acknowledges it; KafkaTransactions (exactly-once) puts records in
// Kafka transactions and reports them when theirs commits.
//
// A record is reported kDelivered only when a broker confirmed it for good (acks=all; with
// exactly-once, its transaction committed); kRejected when Kafka refuses it for good; kFailed
// otherwise. Either once, with the reason (sinks/kafka_producer.h says which errors are which).
//
// Threads: the constructor, every Sink method and the destructor run on the sink thread
// (SinkRunner) or, before it starts and after it stopped, on its owner. Delivery reports are served
// only by poll() and flush() (and by the commits they make), so the listener is called on the sink
// thread. fatal(), fatal_error() and in_flight() may be read from any thread.
#include <spdlog/logger.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "config/config.h"
#include "core/delivery.h"
#include "core/error.h"
#include "sinks/kafka_delivery_mode.h"
#include "sinks/kafka_producer.h"
#include "sinks/sink.h"

namespace pgcdc {

class KafkaTransactions;

class KafkaSink : public Sink {
 public:
  // Owner's thread. Creates the producer, in the mode config.delivery names (it connects in the
  // background; use ping() for a clear startup error). Throws std::runtime_error with
  // librdkafka's message, which names the property, when a property is unknown or invalid, or
  // when the producer cannot be created. `logger` defaults to spdlog's default logger. The
  // listener is called from librdkafka's callbacks (C frames): it must not throw.
  KafkaSink(const KafkaSinkConfig& config, DeliveryListener& listener,
            std::shared_ptr<spdlog::logger> logger = nullptr);
  KafkaSink(const KafkaSink&) = delete;
  KafkaSink& operator=(const KafkaSink&) = delete;
  // Owner's thread. Aborts an open transaction, purges what is still queued or in flight and
  // reports it kFailed (the caller should flush() first), then destroys the producer.
  ~KafkaSink() override;

  // Sink thread. A position marker goes to the mode; a row change to librdkafka, unless the mode
  // fails it at once (exactly-once after an abort).
  SendResult send(Record& record) override;
  // Sink thread. Runs of row changes to one topic go to librdkafka in one rd_kafka_produce_batch
  // call (one topic lock and one clock reading per run instead of per record); markers, and
  // records the mode must see one at a time (a transaction's first), through send().
  std::size_t send_batch(std::span<Record> records) override;
  // Sink thread. Serves delivery reports, then lets the mode commit or abort.
  void poll(std::chrono::milliseconds timeout) override;
  // Sink thread. librdkafka calls `wake` from its own thread when its main queue (delivery
  // reports, errors) goes from empty to non-empty.
  bool set_report_wakeup(std::function<void()> wake) override;
  // Sink thread. Lets the mode finish (exactly-once: commit at a marker, abort otherwise), then
  // serves reports until nothing is in flight or `timeout` passed.
  bool flush(std::chrono::milliseconds timeout) override;
  // Any thread.
  std::size_t in_flight() const override { return producer_.in_flight(); }
  std::string name() const override { return "kafka"; }

  // Sink thread or owner, at startup. Asks a broker for cluster metadata (rd_kafka_metadata),
  // then lets the mode start (exactly-once: init_transactions, which fences older producers).
  // The error names the bootstrap servers: kTransient when none answers within `timeout`,
  // kNeedsPerson when the producer went fatal meanwhile (refused credentials, a transactional id
  // it may not use), since a new one would meet the same at its start.
  std::optional<Error> ping(std::chrono::milliseconds timeout) override;
  // Owner's thread. "N broker(s): id@host:port, ..." or throws std::runtime_error like ping()
  // fails.
  std::string describe_metadata(std::chrono::milliseconds timeout);

  // Any thread. kTransient: a fatal producer cannot be used again, but a new one starts afresh.
  bool fatal() const override { return producer_.fatal(); }
  std::optional<Error> fatal_error() const override;

  // The underlying handle, for tests (e.g. rd_kafka_test_fatal_error) and diagnostics. Still
  // owned by the sink: never destroy it, never poll it from another thread.
  rd_kafka_t* native_handle() const { return producer_.handle(); }
  // The exactly-once layer, for tests and diagnostics; null in at-least-once mode.
  const KafkaTransactions* transactions() const;

 private:
  // How many records from the front of `records` send_batch() may produce in one call: row
  // changes (no position marker) to the first one's topic, none while the mode wants them one at
  // a time.
  std::size_t batchable_run(std::span<const Record> records) const;

  // Declared before producer_: the producer's callbacks call the mode until it is destroyed.
  std::unique_ptr<DeliveryMode> mode_;
  KafkaProducer producer_;
};

}  // namespace pgcdc
