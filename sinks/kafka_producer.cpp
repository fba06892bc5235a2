#include "sinks/kafka_producer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "sinks/kafka_properties.h"
#include "sinks/kafka_record_error.h"

namespace pgcdc {
namespace {

constexpr int to_ms(std::chrono::milliseconds timeout) {
  return timeout.count() < 0 ? 0 : static_cast<int>(timeout.count());
}

std::int64_t unix_now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The broker ended the TLS session with an alert (OpenSSL appends "SSL alert number N" to the
// error). With TLS 1.3 the client learns that its certificate was refused only when it next
// reads, so librdkafka reports _TRANSPORT ("Receive failed: ... alert certificate unknown"), not
// _SSL; a broker that goes away ends the session without an alert.
bool refused_by_tls_alert(rd_kafka_resp_err_t cause, const std::string& reason) {
  return (cause == RD_KAFKA_RESP_ERR__TRANSPORT || cause == RD_KAFKA_RESP_ERR__SSL) &&
         reason.find("SSL alert number") != std::string::npos;
}

// Refused credentials, a certificate that cannot be verified, or a TLS alert from the broker: no
// retry mends these, a person must.
bool refused(rd_kafka_resp_err_t cause, const std::string& reason) {
  return cause == RD_KAFKA_RESP_ERR__AUTHENTICATION || cause == RD_KAFKA_RESP_ERR__SSL ||
         refused_by_tls_alert(cause, reason);
}

}  // namespace

KafkaProducer::KafkaProducer(const KafkaSinkConfig& config, DeliveryMode& mode,
                             DeliveryListener& listener, std::shared_ptr<spdlog::logger> logger)
    : mode_(mode), listener_(listener), logger_(std::move(logger)), brokers_(config.brokers) {
  RdKafkaConfPtr conf = make_producer_conf(config, mode_.producer_properties());
  max_message_bytes_ = std::stoll(kafka_property(conf.get(), "message.max.bytes"));
  rd_kafka_conf_set_opaque(conf.get(), this);
  rd_kafka_conf_set_dr_msg_cb(conf.get(), &KafkaProducer::on_delivery_report);
  rd_kafka_conf_set_error_cb(conf.get(), &KafkaProducer::on_error);
  rd_kafka_conf_set_log_cb(conf.get(), &KafkaProducer::on_log);

  producer_ = new_rd_kafka(RD_KAFKA_PRODUCER, std::move(conf), "kafka: cannot create producer");
  logger_->info("kafka producer {} created for {}", rd_kafka_name(producer_.get()), brokers_);
  const rd_kafka_conf_t* effective = rd_kafka_conf(producer_.get());
  scram_note_ =
      scram_compatibility_note(kafka_property(effective, "security.protocol"),
                               kafka_property(effective, "sasl.mechanisms"), rd_kafka_version());
  if (!scram_note_.empty()) logger_->warn("{}", scram_note_);
  for (const std::string& warning : kafka_property_warnings(config)) logger_->warn("{}", warning);
}

KafkaProducer::~KafkaProducer() {
  last_topic_handle_ = nullptr;
  topics_.clear();  // topic handles go before the producer (member order also ensures it)
}

KafkaProducer::TopicHandle KafkaProducer::topic_handle(const std::string& topic) {
  // Consecutive records mostly go to one topic: a string comparison instead of a hash lookup.
  if (last_topic_handle_ && topic == last_topic_) return {last_topic_handle_, {}};
  auto it = topics_.find(topic);
  if (it != topics_.end()) {
    last_topic_ = topic;
    last_topic_handle_ = it->second.get();
    return {last_topic_handle_, {}};
  }
  // nullptr conf: the topic uses the producer's default topic properties (acks, timeouts).
  RdKafkaTopicPtr handle(rd_kafka_topic_new(producer_.get(), topic.c_str(), nullptr));
  if (!handle) {
    return {nullptr, "kafka topic " + topic + ": " + rd_kafka_err2str(rd_kafka_last_error())};
  }
  last_topic_ = topic;
  last_topic_handle_ = handle.get();
  topics_.emplace(topic, std::move(handle));
  return {last_topic_handle_, {}};
}

KafkaProducer::InFlight* KafkaProducer::acquire_slot(const Record& record) {
  InFlight* slot;
  if (free_slots_.empty()) {
    slots_.push_back(std::make_unique<InFlight>());
    slot = slots_.back().get();
  } else {
    slot = free_slots_.back();
    free_slots_.pop_back();
  }
  slot->in_use = true;
  slot->record.assign(record);  // reuses the slot's capacity
  return slot;
}

void KafkaProducer::release_slot(InFlight* slot) {
  slot->in_use = false;
  free_slots_.push_back(slot);
}

void KafkaProducer::report(InFlight* slot, DeliveryStatus status, std::string_view error) {
  DeliveryReport report = slot->record.report(status, error);
  if (sharing_report_clock_) {  // inside poll(); elsewhere the listener reads the clock itself
    if (report_clock_us_ == 0) report_clock_us_ = unix_now_us();
    report.reported_at_us = report_clock_us_;
  }
  // Counted down before the call so a listener that reads in_flight() sees this one done.
  in_flight_.fetch_sub(1);
  listener_.on_delivery(report);
  release_slot(slot);
}

void KafkaProducer::report_released(const DeliveryReport& report) {
  in_flight_.fetch_sub(1);
  listener_.on_delivery(report);
}

Sink::SendResult KafkaProducer::produce(const Record& record) {
  InFlight* slot = acquire_slot(record);
  in_flight_.fetch_add(1);

  const TopicHandle found = topic_handle(record.topic);
  rd_kafka_topic_t* topic = found.handle;
  if (!topic) {
    logger_->error("{}", found.error);
    report(slot, DeliveryStatus::kFailed, found.error);
    return Sink::SendResult::kAccepted;
  }
  // RD_KAFKA_MSG_F_COPY: librdkafka copies key and value, so the record's buffers are free again
  // when this returns. A null payload is a tombstone.
  void* value = record.value ? const_cast<char*>(record.value->data()) : nullptr;
  const std::size_t value_size = record.value ? record.value->size() : 0;
  if (rd_kafka_produce(topic, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, value, value_size,
                       record.key.data(), record.key.size(), slot) == 0) {
    mode_.on_produced(1);
    return Sink::SendResult::kAccepted;
  }

  const rd_kafka_resp_err_t err = rd_kafka_last_error();
  if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
    // Backpressure: nothing was taken, nothing will be reported.
    in_flight_.fetch_sub(1);
    release_slot(slot);
    return Sink::SendResult::kQueueFull;
  }
  refuse(slot, record, err);
  return Sink::SendResult::kAccepted;
}

std::size_t KafkaProducer::produce_run(std::span<const Record> run) {
  rd_kafka_topic_t* topic = topic_handle(run.front().topic).handle;
  if (!topic) {  // each record is reported failed, with the reason
    for (const Record& record : run) produce(record);
    return run.size();
  }
  run_messages_.assign(run.size(), rd_kafka_message_t{});
  for (std::size_t i = 0; i < run.size(); ++i) {
    const Record& record = run[i];
    rd_kafka_message_t& message = run_messages_[i];
    // RD_KAFKA_MSG_F_COPY below: librdkafka copies key and value, as in produce().
    message.payload = record.value ? const_cast<char*>(record.value->data()) : nullptr;
    message.len = record.value ? record.value->size() : 0;  // null payload: a tombstone
    message.key = const_cast<char*>(record.key.data());
    message.key_len = record.key.size();
    message._private = acquire_slot(record);
  }
  in_flight_.fetch_add(run.size());
  rd_kafka_produce_batch(topic, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, run_messages_.data(),
                         static_cast<int>(run.size()));
  std::size_t taken = run.size();
  std::size_t produced = 0;
  for (std::size_t i = 0; i < run.size(); ++i) {
    const rd_kafka_resp_err_t err = run_messages_[i].err;
    auto* slot = static_cast<InFlight*>(run_messages_[i]._private);
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      // librdkafka stops at the first record that meets a full queue: it and every later one
      // were not taken (rd_kafka_produce_batch fails them all with the same error; the test
      // KafkaMockSinkTest.LibrdkafkaTakesNothingAfterAFullQueue holds the library to that), so
      // order is kept when they are offered again. Nothing will be reported for them.
      taken = std::min(taken, i);
      in_flight_.fetch_sub(1);
      release_slot(slot);
      continue;
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      refuse(slot, run[i], err);
    } else {
      ++produced;
    }
  }
  mode_.on_produced(produced);
  return taken;
}

void KafkaProducer::fail_at_once(const Record& record, const std::string& error) {
  // Accepted and reported failed in one step: "one report per accepted record" holds.
  InFlight* slot = acquire_slot(record);
  in_flight_.fetch_add(1);
  report(slot, DeliveryStatus::kFailed, error);
}

std::optional<std::string> KafkaProducer::produce_own(const std::string& topic,
                                                      std::string_view key, std::string_view value,
                                                      std::chrono::milliseconds timeout) {
  const TopicHandle found = topic_handle(topic);
  rd_kafka_topic_t* handle = found.handle;
  if (!handle) return found.error;
  // The mode's message follows records of its own, so librdkafka's queue may be full of them:
  // serve reports until it has room. A full queue is no reason to give up.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (rd_kafka_produce(handle, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY,
                         const_cast<char*>(value.data()), value.size(), key.data(), key.size(),
                         nullptr) == 0) {
      return std::nullopt;
    }
    const rd_kafka_resp_err_t err = rd_kafka_last_error();
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || std::chrono::steady_clock::now() >= deadline) {
      return rd_kafka_err2str(err);
    }
    rd_kafka_poll(producer_.get(), 10);
  }
}

KafkaProducer::Failure KafkaProducer::explain_failure(const FailedRecord& record) const {
  if (is_permanent_record_error(record.err)) {
    RefusedRecord refused;
    refused.table = record.table;
    refused.topic = record.topic;
    refused.key = record.key;
    refused.key_bytes = record.key.size();
    refused.value_bytes = record.value_bytes;
    refused.err = record.err;
    refused.local = record.local;
    refused.producer_max_bytes = max_message_bytes_;
    return {DeliveryStatus::kRejected, describe_refused_record(refused)};
  }
  return {DeliveryStatus::kFailed,
          std::string(record.local ? "kafka produce to " : "kafka delivery to ") +
              std::string(record.topic) + " failed: " + rd_kafka_err2str(record.err) + " (table " +
              std::string(record.table) + ")"};
}

void KafkaProducer::refuse(InFlight* slot, const Record& record, rd_kafka_resp_err_t err) {
  if (err == RD_KAFKA_RESP_ERR__FATAL) {
    char reason[512] = "";
    rd_kafka_fatal_error(producer_.get(), reason, sizeof(reason));
    remember_fatal(reason);
  }
  // Report it now so the "one report per accepted record" contract holds and positions stop
  // before it.
  const Failure failure =
      explain_failure({record.table, record.topic, record.key,
                       record.value ? record.value->size() : 0, err, /*local=*/true});
  logger_->error("{} (ledger entry {})", failure.error, slot->record.token);
  mode_.on_failed(failure.error);
  report(slot, failure.status, failure.error);
}

void KafkaProducer::poll(std::chrono::milliseconds timeout) {
  // The reports served by this call share one clock reading (not one per record).
  report_clock_us_ = 0;
  sharing_report_clock_ = true;
  listener_.begin_report_batch();
  rd_kafka_poll(producer_.get(), to_ms(timeout));
  listener_.end_report_batch();
  sharing_report_clock_ = false;
}

void KafkaProducer::flush(std::chrono::milliseconds timeout) {
  // rd_kafka_flush serves delivery reports (callbacks run here, on this thread) until librdkafka's
  // out-queue is empty or the timeout passes.
  rd_kafka_flush(producer_.get(), to_ms(timeout));
}

void KafkaProducer::set_report_wakeup(std::function<void()> wake) {
  if (main_queue_) {
    // Returns once no callback runs: librdkafka calls it under the queue's lock, which this takes.
    rd_kafka_queue_cb_event_enable(main_queue_.get(), nullptr, nullptr);
    main_queue_.reset();
  }
  wakeup_ = std::move(wake);
  if (!wakeup_) return;
  main_queue_.reset(rd_kafka_queue_get_main(producer_.get()));
  rd_kafka_queue_cb_event_enable(main_queue_.get(), &KafkaProducer::on_queue_event, this);
  // Reports that were already queued did not trigger the callback (it fires on empty ->
  // non-empty): the first wait must not sleep through them.
  wakeup_();
}

// A librdkafka thread, whenever the main queue stops being empty.
void KafkaProducer::on_queue_event(rd_kafka_t*, void* opaque) {
  static_cast<KafkaProducer*>(opaque)->wakeup_();
}

void KafkaProducer::purge_in_flight() {
  logger_->warn("kafka sink closing with {} record(s) not yet acknowledged; reporting them failed",
                in_flight_.load());
  // Purged messages come back as delivery reports (ERR__PURGE_QUEUE / ERR__PURGE_INFLIGHT),
  // served by the polls below, so each still gets exactly one (failed) report.
  rd_kafka_purge(producer_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (in_flight_.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    rd_kafka_poll(producer_.get(), 50);
  }
}

void KafkaProducer::fail_unreported(std::string_view why) {
  for (auto& slot : slots_) {
    if (slot->in_use) report(slot.get(), DeliveryStatus::kFailed, why);
  }
}

std::optional<std::string> KafkaProducer::check_brokers(std::chrono::milliseconds timeout) {
  // Asked in steps of at most a second, serving librdkafka's error events in between: refused
  // credentials end the wait at once instead of after the whole timeout.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__TIMED_OUT;
  rd_kafka_resp_err_t cause = RD_KAFKA_RESP_ERR_NO_ERROR;
  std::string reason;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    RdKafkaMetadataPtr metadata;
    err = fetch_metadata(producer_.get(), false, nullptr,
                         to_ms(std::min(left, std::chrono::milliseconds(1000))), metadata);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return std::nullopt;
    rd_kafka_poll(producer_.get(), 0);  // serves the error events that say why
    MutexLock lock(fatal_mutex_);
    cause = last_broker_error_code_;
    reason = last_broker_error_;
    if (refused(cause, reason)) break;
  }
  if (refused(cause, reason)) {
    // The daemon exits 1 with this message.
    std::string error = "kafka brokers " + brokers_ + " refused the connection: " + reason;
    if (refused_by_tls_alert(cause, reason)) {
      error +=
          "; the broker refused the TLS handshake: if it requires client certificates "
          "(mutual TLS), ssl.certificate.location is not set or its certificate is not "
          "signed by a CA the broker trusts";
    }
    error += "; check the TLS (ssl.*) and SASL (sasl.*) settings in [sink.kafka.properties]";
    if (cause == RD_KAFKA_RESP_ERR__AUTHENTICATION && !scram_note_.empty()) {
      error += ". Note: " + scram_note_;
    }
    remember_fatal(error, /*log=*/false);
    return error;
  }
  std::string error = "kafka brokers " + brokers_ + " not reachable within " +
                      std::to_string(timeout.count()) + " ms: " + rd_kafka_err2str(err);
  if (!reason.empty()) error += " (" + reason + ")";
  return error;
}

std::string KafkaProducer::describe_metadata(std::chrono::milliseconds timeout) {
  RdKafkaMetadataPtr metadata;
  const rd_kafka_resp_err_t err =
      fetch_metadata(producer_.get(), false, nullptr, to_ms(timeout), metadata);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw std::runtime_error("kafka brokers " + brokers_ + " not reachable within " +
                             std::to_string(timeout.count()) + " ms: " + rd_kafka_err2str(err));
  }
  std::string text = std::to_string(metadata->broker_cnt) + " broker(s):";
  for (int i = 0; i < metadata->broker_cnt; ++i) {
    const rd_kafka_metadata_broker_t& broker = metadata->brokers[i];
    text += (i == 0 ? " " : ", ") + std::to_string(broker.id) + "@" + broker.host + ":" +
            std::to_string(broker.port);
  }
  return text;
}

std::string KafkaProducer::fatal_error() const {
  MutexLock lock(fatal_mutex_);
  return fatal_error_;
}

void KafkaProducer::remember_fatal(const std::string& message, bool log) {
  // librdkafka fills the reason only while a fatal error is set: never report an empty one.
  const std::string reason =
      message.empty() ? "librdkafka reported a fatal error without a reason" : message;
  {
    MutexLock lock(fatal_mutex_);
    if (!fatal_error_.empty()) return;  // keep the first: later ones are its consequences
    fatal_error_ = reason;
  }
  fatal_.store(true);
  if (!log) return;
  logger_->error("kafka producer fatal error: {}; nothing more can be delivered by this producer",
                 reason);
}

// Sink thread (inside rd_kafka_poll / rd_kafka_flush).
void KafkaProducer::on_delivery_report(rd_kafka_t* rk, const rd_kafka_message_t* message,
                                       void* opaque) {
  auto* producer = static_cast<KafkaProducer*>(opaque);
  auto* slot = static_cast<InFlight*>(message->_private);
  const bool failed = message->err != RD_KAFKA_RESP_ERR_NO_ERROR;
  if (failed && message->err == RD_KAFKA_RESP_ERR__FATAL) {
    char reason[512] = "";
    rd_kafka_fatal_error(rk, reason, sizeof(reason));
    producer->remember_fatal(reason);
  }
  if (!slot) {  // a message the mode produced itself
    producer->mode_.on_own_report(*message);
    return;
  }
  if (!failed) {
    // With idempotence and acks=all, no error means every in-sync replica has the message.
    if (producer->mode_.hold(slot->record)) {
      producer->release_slot(slot);
      return;
    }
    producer->report(slot, DeliveryStatus::kDelivered, {});
    return;
  }
  // librdkafka still holds the key and the payload's length here (its copies are freed after
  // this callback), so the report can name the record.
  const std::string_view key(static_cast<const char*>(message->key),
                             message->key ? message->key_len : 0);
  const Failure failure = producer->explain_failure(
      {slot->record.table, rd_kafka_topic_name(message->rkt), key, message->len, message->err,
       /*local=*/false});
  producer->logger_->error("{} (ledger entry {})", failure.error, slot->record.token);
  producer->mode_.on_failed(failure.error);
  producer->report(slot, failure.status, failure.error);
}

// Sink thread (error events are served by rd_kafka_poll).
void KafkaProducer::on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  auto* producer = static_cast<KafkaProducer*>(opaque);
  if (err == RD_KAFKA_RESP_ERR__FATAL) {
    char fatal_reason[512] = "";
    rd_kafka_resp_err_t original = rd_kafka_fatal_error(rk, fatal_reason, sizeof(fatal_reason));
    producer->remember_fatal(std::string(rd_kafka_err2name(original)) + ": " + fatal_reason);
    return;
  }
  if (err != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {  // a consequence: keep the cause
    MutexLock lock(producer->fatal_mutex_);
    producer->last_broker_error_code_ = static_cast<rd_kafka_resp_err_t>(err);
    producer->last_broker_error_ = reason;
  }
  // Transient (a broker went away, all brokers down...): librdkafka keeps retrying on its own;
  // messages that cannot make it within message.timeout.ms come back as failed reports.
  producer->logger_->warn("kafka: {}: {}", rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)),
                          reason);
}

// librdkafka's internal threads: only the logger (thread-safe) is touched.
void KafkaProducer::on_log(const rd_kafka_t* rk, int level, const char* facility, const char* buf) {
  auto* producer = static_cast<KafkaProducer*>(rd_kafka_opaque(rk));
  spdlog::level::level_enum spd_level;
  if (level <= 3) {
    spd_level = spdlog::level::err;
  } else if (level == 4) {
    spd_level = spdlog::level::warn;
  } else if (level <= 6) {
    spd_level = spdlog::level::info;
  } else {
    spd_level = spdlog::level::debug;
  }
  producer->logger_->log(spd_level, "librdkafka {}: {}", facility, buf);
}

}  // namespace pgcdc
