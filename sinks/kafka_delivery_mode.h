#pragma once
// The Kafka sink has one send loop (KafkaSink over KafkaProducer) and one DeliveryMode per value of
// sink.kafka.delivery, which it calls at fixed points of that loop, as Kafka Connect's
// AbstractWorkerSourceTask calls its exactly-once subclass:
//   at_least_once  AtLeastOnceDelivery (below): an acknowledged record is reported delivered at
//                  once; the hooks do nothing.
//   exactly_once   KafkaTransactions (sinks/kafka_transactions.h): records go into Kafka
//                  transactions, acknowledged ones are held until theirs commits.
//
// Threads: every hook runs on the sink thread, from a KafkaSink method or from a delivery report
// that KafkaProducer serves on that thread; except producer_properties(), which runs once in the
// constructor, on the owner's thread. No hook is called concurrently with another.
#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "core/delivery.h"
#include "core/record.h"
#include "sinks/kafka_properties.h"

namespace pgcdc {

class KafkaProducer;

class DeliveryMode {
 public:
  virtual ~DeliveryMode() = default;

  // Owner's thread, in the producer's constructor: properties set after the user's.
  virtual KafkaProperties producer_properties() const = 0;

  // --- Called by KafkaSink (sink thread, or its owner before the thread starts) ---

  // ping(), once a broker answered. The error when the mode cannot start.
  virtual std::optional<std::string> on_connected(KafkaProducer& producer,
                                                  std::chrono::milliseconds timeout) = 0;
  // A position marker (Operation::kPosition): the end of a PostgreSQL transaction or snapshot
  // chunk, whose value is the source position after it.
  virtual void on_marker(KafkaProducer& producer, const Record& marker) = 0;
  // Before a record goes to librdkafka one at a time: the reason to fail it at once instead
  // (it is then reported kFailed with that reason), or nothing.
  virtual std::optional<std::string> before_produce(KafkaProducer& producer) = 0;
  // Whether a run of records may go to librdkafka in one call without before_produce() first.
  virtual bool can_batch() const = 0;
  // After each poll() served reports: a moment to commit or abort.
  virtual void after_poll(KafkaProducer& producer) = 0;
  // flush() begins: nothing more will be produced before it returns.
  virtual void before_flush(KafkaProducer& producer, std::chrono::milliseconds timeout) = 0;
  // The sink is being destroyed, before the producer purges what is in flight.
  virtual void before_close(KafkaProducer& producer) = 0;
  // The sink is being destroyed, after the purge: report what the mode still holds as failed.
  virtual void fail_held(KafkaProducer& producer, std::string_view why) = 0;

  // --- Called by KafkaProducer (sink thread, inside produce calls and librdkafka's callbacks) ---

  // librdkafka took `records` records.
  virtual void on_produced(std::size_t records) = 0;
  // The broker acknowledged `record`. True when the mode holds its report (and reports it later);
  // false to have the producer report it delivered now.
  virtual bool hold(const ReportedRecord& record) = 0;
  // A record failed (refused when produced, or by its delivery report), with this error; the
  // producer reports it right after.
  virtual void on_failed(const std::string& error) = 0;
  // The delivery report of a message the mode produced itself (KafkaProducer::produce_own).
  virtual void on_own_report(const rd_kafka_message_t& message) = 0;
};

// sink.kafka.delivery = at_least_once: librdkafka's idempotent producer alone. A report without
// error is final (acks=all: every in-sync replica has the record), so nothing is held, begun or
// committed; positions are saved by the daemon's offset store.
class AtLeastOnceDelivery final : public DeliveryMode {
 public:
  KafkaProperties producer_properties() const override { return {}; }
  std::optional<std::string> on_connected(KafkaProducer&, std::chrono::milliseconds) override {
    return std::nullopt;
  }
  // Only the exactly-once source sends markers; here there is nothing to do with one.
  void on_marker(KafkaProducer&, const Record&) override {}
  std::optional<std::string> before_produce(KafkaProducer&) override { return std::nullopt; }
  bool can_batch() const override { return true; }
  void after_poll(KafkaProducer&) override {}
  void before_flush(KafkaProducer&, std::chrono::milliseconds) override {}
  void before_close(KafkaProducer&) override {}
  void fail_held(KafkaProducer&, std::string_view) override {}
  void on_produced(std::size_t) override {}
  bool hold(const ReportedRecord&) override { return false; }
  void on_failed(const std::string&) override {}
  void on_own_report(const rd_kafka_message_t&) override {}
};

}  // namespace pgcdc
