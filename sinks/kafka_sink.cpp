#include "sinks/kafka_sink.h"

#include <spdlog/spdlog.h>

#include <optional>
#include <utility>

#include "sinks/kafka_transactions.h"

namespace pgcdc {
namespace {

std::shared_ptr<spdlog::logger> or_default(std::shared_ptr<spdlog::logger> logger) {
  return logger ? std::move(logger) : spdlog::default_logger();
}

std::unique_ptr<DeliveryMode> make_mode(const KafkaSinkConfig& config,
                                        std::shared_ptr<spdlog::logger> logger) {
  switch (config.delivery) {
    case KafkaSinkConfig::Delivery::kAtLeastOnce:
      return std::make_unique<AtLeastOnceDelivery>();
    case KafkaSinkConfig::Delivery::kExactlyOnce:
      return std::make_unique<KafkaTransactions>(config, std::move(logger));
  }
  throw std::runtime_error("kafka: unknown delivery mode");
}

}  // namespace

KafkaSink::KafkaSink(const KafkaSinkConfig& config, DeliveryListener& listener,
                     std::shared_ptr<spdlog::logger> logger)
    : mode_(make_mode(config, or_default(logger))),
      producer_(config, *mode_, listener, or_default(logger)) {}

KafkaSink::~KafkaSink() {
  producer_.set_report_wakeup(nullptr);  // whoever set it may be gone; no wake-ups needed now
  mode_->before_close(producer_);
  if (producer_.in_flight() == 0) return;
  producer_.purge_in_flight();
  // Whatever librdkafka did not hand back is reported here: nothing polls the handle again.
  mode_->fail_held(producer_, "kafka sink destroyed");
  producer_.fail_unreported("kafka sink destroyed");
}

const KafkaTransactions* KafkaSink::transactions() const {
  return dynamic_cast<const KafkaTransactions*>(mode_.get());
}

Sink::SendResult KafkaSink::send(Record& record) {
  if (record.op == Operation::kPosition) {
    mode_->on_marker(producer_, record);
    return SendResult::kAccepted;
  }
  if (std::optional<std::string> refusal = mode_->before_produce(producer_)) {
    producer_.fail_at_once(record, *refusal);
    return SendResult::kAccepted;
  }
  return producer_.produce(record);
}

std::size_t KafkaSink::send_batch(std::span<Record> records) {
  std::size_t taken = 0;
  while (taken < records.size()) {
    const std::span<Record> rest = records.subspan(taken);
    const std::size_t run = batchable_run(rest);
    if (run < 2) {  // a marker, a transaction to begin, a lone record: the one-record path
      if (send(rest.front()) == SendResult::kQueueFull) return taken;
      ++taken;
      continue;
    }
    const std::size_t produced = producer_.produce_run(rest.first(run));
    taken += produced;
    if (produced < run) return taken;  // the queue is full
  }
  return taken;
}

std::size_t KafkaSink::batchable_run(std::span<const Record> records) const {
  if (!mode_->can_batch()) return 0;
  const std::string& topic = records.front().topic;
  std::size_t run = 0;
  while (run < records.size() && records[run].op != Operation::kPosition &&
         (run == 0 || records[run].topic == topic)) {
    ++run;
  }
  return run;
}

bool KafkaSink::set_report_wakeup(std::function<void()> wake) {
  producer_.set_report_wakeup(std::move(wake));
  return true;
}

void KafkaSink::poll(std::chrono::milliseconds timeout) {
  producer_.poll(timeout);
  mode_->after_poll(producer_);
}

bool KafkaSink::flush(std::chrono::milliseconds timeout) {
  mode_->before_flush(producer_, timeout);
  producer_.flush(timeout);
  return producer_.in_flight() == 0;
}

std::optional<Error> KafkaSink::ping(std::chrono::milliseconds timeout) {
  std::optional<std::string> problem = producer_.check_brokers(timeout);
  if (!problem) problem = mode_->on_connected(producer_, timeout);
  if (!problem) return std::nullopt;
  return Error(producer_.fatal() ? ErrorKind::kNeedsPerson : ErrorKind::kTransient, *problem);
}

std::optional<Error> KafkaSink::fatal_error() const {
  if (!producer_.fatal()) return std::nullopt;
  return Error(ErrorKind::kTransient, producer_.fatal_error());
}

std::string KafkaSink::describe_metadata(std::chrono::milliseconds timeout) {
  return producer_.describe_metadata(timeout);
}

}  // namespace pgcdc
