#include "sinks/kafka_transactions.h"

#include <algorithm>
#include <utility>

#include "sinks/kafka_producer.h"

namespace pgcdc {
namespace {

constexpr int to_ms(std::chrono::milliseconds timeout) {
  return timeout.count() < 0 ? 0 : static_cast<int>(timeout.count());
}

// How long a commit or an abort started by the sink's own rhythm (not by flush()) may take.
constexpr std::chrono::milliseconds kCommitTimeout = std::chrono::seconds(60);
constexpr int kAbortTimeoutMs = 30000;

std::string error_text(const char* what, const rd_kafka_error_t* error) {
  return std::string(what) + ": " + rd_kafka_error_string(error);
}

}  // namespace

KafkaTransactions::KafkaTransactions(const KafkaSinkConfig& config,
                                     std::shared_ptr<spdlog::logger> logger)
    : logger_(std::move(logger)),
      offsets_topic_(config.offsets_topic),
      offsets_key_(config.transactional_id),
      interval_(config.transaction_interval),
      length_(interval_) {
  // A fixed transactional.id per pipeline: a new producer with the same id fences a zombie (an
  // old instance still running) when it initializes its transactions.
  properties_.emplace_back("transactional.id", config.transactional_id);
  // librdkafka requires message.timeout.ms <= transaction.timeout.ms (60 s by default).
  if (!config.properties.count("message.timeout.ms")) {
    auto timeout = config.properties.find("transaction.timeout.ms");
    properties_.emplace_back("message.timeout.ms",
                             timeout != config.properties.end() ? timeout->second : "60000");
  }
}

std::optional<std::string> KafkaTransactions::on_connected(KafkaProducer& producer,
                                                           std::chrono::milliseconds timeout) {
  if (ready_) return std::nullopt;
  RdKafkaErrorPtr result(rd_kafka_init_transactions(producer.handle(), to_ms(timeout)));
  if (result) {
    std::string error = error_text("kafka init transactions", result.get());
    if (rd_kafka_error_is_fatal(result.get())) producer.remember_fatal(error);
    return error;
  }
  ready_ = true;
  return std::nullopt;
}

std::optional<std::string> KafkaTransactions::before_produce(KafkaProducer& producer) {
  if (poisoned_) return *poisoned_;
  if (open_) return std::nullopt;
  RdKafkaErrorPtr error(rd_kafka_begin_transaction(producer.handle()));
  if (error) {
    std::string text = error_text("kafka begin transaction", error.get());
    if (rd_kafka_error_is_fatal(error.get())) producer.remember_fatal(text);
    logger_->error("{}", text);
    poisoned_ = text;
    return text;
  }
  open_ = true;
  failed_ = false;
  started_ = std::chrono::steady_clock::now();
  return std::nullopt;
}

void KafkaTransactions::on_marker(KafkaProducer& producer, const Record& marker) {
  // A marker while no transaction is open ends an entry without records (a transaction that
  // touched nothing published): nothing to commit in Kafka; the ledger moves past it anyway once
  // everything before it is delivered.
  if (!open_) return;
  position_ = marker.value;
  records_since_marker_ = 0;
  if (failed_) {
    abort(producer, error_);
    return;
  }
  if (lasted_long_enough()) commit(producer, kCommitTimeout);
}

void KafkaTransactions::after_poll(KafkaProducer& producer) {
  if (!open_) return;
  if (failed_) {
    abort(producer, error_);
  } else if (can_commit() && lasted_long_enough()) {
    commit(producer, kCommitTimeout);
  }
}

void KafkaTransactions::before_flush(KafkaProducer& producer, std::chrono::milliseconds timeout) {
  if (!open_) return;
  if (can_commit() && !failed_) {
    commit(producer, timeout);
  } else {
    abort(producer, failed_ ? error_ : "stopped inside a PostgreSQL transaction");
  }
}

void KafkaTransactions::before_close(KafkaProducer& producer) {
  if (open_) abort(producer, "kafka sink closing");
}

void KafkaTransactions::fail_held(KafkaProducer& producer, std::string_view why) {
  release_held(producer, DeliveryStatus::kFailed, why);
}

bool KafkaTransactions::hold(const ReportedRecord& record) {
  held_.hold(record);
  return true;
}

void KafkaTransactions::on_failed(const std::string& error) {
  if (!failed_) error_ = error;
  failed_ = true;
}

void KafkaTransactions::on_own_report(const rd_kafka_message_t& message) {
  if (message.err == RD_KAFKA_RESP_ERR_NO_ERROR) return;
  const std::string error = "kafka delivery to offsets topic " +
                            std::string(rd_kafka_topic_name(message.rkt)) +
                            " failed: " + rd_kafka_err2str(message.err);
  logger_->error("{}", error);
  on_failed(error);
}

bool KafkaTransactions::commit(KafkaProducer& producer, std::chrono::milliseconds timeout) {
  const auto began = std::chrono::steady_clock::now();
  // The source position travels in the same transaction as the records it covers: both become
  // visible together, or neither does.
  if (std::optional<std::string> error =
          producer.produce_own(offsets_topic_, offsets_key_, *position_, timeout)) {
    abort(producer, "kafka produce to offsets topic " + offsets_topic_ + ": " + *error);
    return false;
  }
  // Flushes the transaction's messages (their delivery reports are served here and held), then
  // commits.
  for (int attempt = 0;; ++attempt) {
    RdKafkaErrorPtr result(rd_kafka_commit_transaction(producer.handle(), to_ms(timeout)));
    if (!result && !failed_) {
      open_ = false;
      position_.reset();
      release_held(producer, DeliveryStatus::kDelivered, {});
      const auto took = std::chrono::steady_clock::now() - began;
      length_ = next_length(took, interval_);
      logger_->debug("kafka transaction committed in {:.1f} ms; the next lasts at least {:.0f} ms",
                     std::chrono::duration<double, std::milli>(took).count(),
                     std::chrono::duration<double, std::milli>(length_).count());
      return true;
    }
    if (!result) {
      // Committed, yet a report said a record failed: impossible by the protocol; never treat
      // those records as delivered.
      open_ = false;
      position_.reset();
      poisoned_ = error_;
      release_held(producer, DeliveryStatus::kFailed, error_);
      return false;
    }
    std::string text = error_text("kafka commit transaction", result.get());
    if (rd_kafka_error_is_fatal(result.get())) {
      producer.remember_fatal(text);
      open_ = false;
      poisoned_ = text;
      release_held(producer, DeliveryStatus::kFailed, text);
      return false;
    }
    if (rd_kafka_error_is_retriable(result.get()) && attempt < 3) {
      logger_->warn("{}; retrying", text);
      continue;
    }
    abort(producer, text);
    return false;
  }
}

std::chrono::steady_clock::duration KafkaTransactions::next_length(
    std::chrono::steady_clock::duration commit_took, std::chrono::milliseconds interval) {
  const std::chrono::steady_clock::duration base = interval;
  return std::clamp<std::chrono::steady_clock::duration>(commit_took * 9, base, base * 10);
}

void KafkaTransactions::abort(KafkaProducer& producer, std::string why) {
  logger_->warn("aborting kafka transaction: {}", why);
  if (!poisoned_) poisoned_ = "an earlier kafka transaction was aborted (" + why + ")";
  RdKafkaErrorPtr result(rd_kafka_abort_transaction(producer.handle(), kAbortTimeoutMs));
  if (result) {
    std::string text = error_text("kafka abort transaction", result.get());
    if (rd_kafka_error_is_fatal(result.get())) producer.remember_fatal(text);
    logger_->warn("{}", text);
  }
  // Purged messages report here (held, as failed); then every held report fails.
  rd_kafka_poll(producer.handle(), 0);
  open_ = false;
  position_.reset();
  records_since_marker_ = 0;
  release_held(producer, DeliveryStatus::kFailed, "kafka transaction aborted: " + why);
  failed_ = false;
}

void KafkaTransactions::release_held(KafkaProducer& producer, DeliveryStatus status,
                                     std::string_view error) {
  // The outcome is known now, for every held record alike.
  const std::int64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();
  held_.release(status, error, now_us,
                [&producer](const DeliveryReport& report) { producer.report_released(report); });
}

}  // namespace pgcdc
