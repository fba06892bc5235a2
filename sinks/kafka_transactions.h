#pragma once
// Exactly-once delivery (sink.kafka.delivery = exactly_once): the Kafka sink's transactional layer,
// the DeliveryMode that keeps the transaction's state apart from the produce path.
//
// Records go into a Kafka transaction, begun by the first record after a commit. Their delivery
// reports are held (HeldReports) until the transaction's outcome is known, so "delivered" still
// means what the ledger needs: visible to read_committed consumers, for good. A transaction is
// committed only at a position marker (the end of a PostgreSQL transaction or snapshot chunk),
// with that position written to the offsets topic inside it, so records and position become
// visible together or not at all. A record that fails makes the transaction abort; after an abort
// the layer is poisoned: every later record fails at once and no transaction begins again (a later
// commit would put a newer position in the offsets topic above the aborted records, and the next
// session would resume past them). The session ends on the failed reports; the next has a new sink.
//
// Threads: every method runs on the sink thread (or its owner before the thread starts and after
// it stopped); see DeliveryMode. The rd_kafka_*_transaction calls block that thread: a commit
// flushes the transaction's records (serving, and holding, their reports) and waits for the
// coordinator.
#include <spdlog/logger.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"
#include "sinks/held_reports.h"
#include "sinks/kafka_delivery_mode.h"

namespace pgcdc {

class KafkaTransactions final : public DeliveryMode {
 public:
  KafkaTransactions(const KafkaSinkConfig& config, std::shared_ptr<spdlog::logger> logger);

  // transactional.id, and message.timeout.ms within transaction.timeout.ms (librdkafka requires
  // it) unless the user set it.
  KafkaProperties producer_properties() const override { return properties_; }
  // Registers the transactional.id (once) and fences any older producer that still uses it: its
  // open transaction is aborted, so read_committed consumers never see a zombie's records.
  std::optional<std::string> on_connected(KafkaProducer& producer,
                                          std::chrono::milliseconds timeout) override;
  // Remembers the position; commits once the transaction lasted transaction_length(), aborts
  // when a record of it failed.
  void on_marker(KafkaProducer& producer, const Record& marker) override;
  // Fails the record when poisoned; begins a transaction when none is open.
  std::optional<std::string> before_produce(KafkaProducer& producer) override;
  bool can_batch() const override { return open_ && !poisoned_; }
  // Aborts a transaction a record of which failed; commits one that ends at a marker and lasted
  // transaction_length().
  void after_poll(KafkaProducer& producer) override;
  // Commits what ends at a marker; a PostgreSQL transaction cut in the middle is aborted and read
  // again by the next session.
  void before_flush(KafkaProducer& producer, std::chrono::milliseconds timeout) override;
  void before_close(KafkaProducer& producer) override;
  void fail_held(KafkaProducer& producer, std::string_view why) override;
  void on_produced(std::size_t records) override { records_since_marker_ += records; }
  // Acknowledged is not yet committed: always held until the transaction's outcome.
  bool hold(const ReportedRecord& record) override;
  // The transaction can only abort now. The failed record is reported at once, with its own
  // reason; the acknowledged ones are held and fail with the abort.
  void on_failed(const std::string& error) override;
  // The position's report: only a failure matters (it fails the transaction).
  void on_own_report(const rd_kafka_message_t& message) override;

  // How long the open transaction lasts at least before a position marker may commit it:
  // transaction_interval, stretched while commits take long (next_length()).
  std::chrono::steady_clock::duration transaction_length() const { return length_; }
  // A commit stops the sink: librdkafka flushes every record of the transaction, then waits for
  // the coordinator to write its markers, and nothing is produced meanwhile. So the next
  // transaction lasts at least nine times as long as this commit took, and commits take at most a
  // tenth of the sink's time; at most ten times `interval`, which bounds how long a
  // read_committed consumer waits for a record while pgcdc catches up.
  static std::chrono::steady_clock::duration next_length(
      std::chrono::steady_clock::duration commit_took, std::chrono::milliseconds interval);

 private:
  // Produces the position, then commits; retriable errors are retried a few times, abortable
  // ones abort, fatal ones poison. True when committed.
  bool commit(KafkaProducer& producer, std::chrono::milliseconds timeout);
  // Aborts the open transaction and poisons this layer; every held report fails with `why`.
  void abort(KafkaProducer& producer, std::string why);
  void release_held(KafkaProducer& producer, DeliveryStatus status, std::string_view error);
  bool can_commit() const { return open_ && position_ && records_since_marker_ == 0; }
  bool lasted_long_enough() const { return std::chrono::steady_clock::now() - started_ >= length_; }

  std::shared_ptr<spdlog::logger> logger_;
  KafkaProperties properties_;
  std::string offsets_topic_;
  std::string offsets_key_;  // the transactional.id: one position per pipeline
  std::chrono::milliseconds interval_{100};
  std::chrono::steady_clock::duration length_ = interval_;

  bool ready_ = false;  // init_transactions done
  bool open_ = false;
  std::chrono::steady_clock::time_point started_{};
  std::size_t records_since_marker_ = 0;
  std::optional<std::string> position_;  // of the last marker in the open transaction
  HeldReports held_;
  bool failed_ = false;  // a record of the open transaction failed: it can only abort
  std::string error_;    // the first such failure
  // Set by the first transaction that does not commit (aborted, or never begun).
  std::optional<std::string> poisoned_;
};

}  // namespace pgcdc
