#include "sinks/kafka_sink.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <utility>

#include "sinks/kafka_record_error.h"

namespace pgcdc {
namespace {

constexpr int to_ms(std::chrono::milliseconds timeout) {
  return timeout.count() < 0 ? 0 : static_cast<int>(timeout.count());
}

void set_property(rd_kafka_conf_t* conf, const std::string& name, const std::string& value) {
  char errstr[512];
  if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr, sizeof(errstr)) !=
      RD_KAFKA_CONF_OK) {
    // librdkafka's text names the property ("No such configuration property: \"x\"",
    // "Invalid value \"y\" for configuration property \"x\""); say where it came from too.
    throw std::runtime_error("kafka property " + name + "=" + value + ": " + errstr);
  }
}

std::string conf_value(const rd_kafka_conf_t* conf, const char* name) {
  char value[512];
  size_t size = sizeof(value);
  if (rd_kafka_conf_get(conf, name, value, &size) != RD_KAFKA_CONF_OK) return "0";
  return value;
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

std::string KafkaSink::scram_compatibility_note(std::string_view security_protocol,
                                                std::string_view mechanisms, int version) {
  auto starts_with = [](std::string_view text, std::string_view prefix) {
    if (text.size() < prefix.size()) return false;
    for (std::size_t i = 0; i < prefix.size(); ++i) {
      if (std::tolower(static_cast<unsigned char>(text[i])) != prefix[i]) return false;
    }
    return true;
  };
  constexpr int kFixed = 0x02060100;  // 2.6.1 (0xMMmmrrpp; any 2.6.1 build has the fix)
  if (version >= kFixed || !starts_with(security_protocol, "sasl") ||
      !starts_with(mechanisms, "scram")) {
    return "";
  }
  const std::string release = std::to_string((version >> 24) & 0xff) + "." +
                              std::to_string((version >> 16) & 0xff) + "." +
                              std::to_string((version >> 8) & 0xff);
  return "librdkafka " + release + " (the one pgcdc runs with) cannot log in to Kafka 4.x " +
         "brokers with SCRAM: they refuse its login as invalid credentials (fixed in librdkafka "
         "2.6.1, confluentinc/librdkafka#4895). Kafka 3.x brokers accept it; for 4.x use "
         "SASL/PLAIN over TLS or build pgcdc against librdkafka 2.6.1 or later";
}

std::vector<std::pair<std::string, std::string>> KafkaSink::default_properties() {
  return {
      // "Delivered" must mean durable and in order, without duplicates from internal retries:
      // the idempotent producer (acks=all, at most 5 in flight per partition, retries kept in
      // order). acks=all is implied by idempotence; it is written out so an override of
      // enable.idempotence alone does not silently weaken what a delivery report means.
      {"enable.idempotence", "true"},
      {"acks", "all"},
      // A short linger builds batches under load at a small latency cost (librdkafka's own default
      // in 2.x, pinned so it does not drift with the library version).
      {"linger.ms", "5"},
      // CDC values are JSON with repeated field names: lz4 shrinks them well for little CPU, and
      // every supported broker and client decompresses it. zstd compresses better but costs more
      // CPU on the sink thread's machine; override with compression.type if the network is the
      // bottleneck.
      {"compression.type", "lz4"},
      // How long librdkafka retries a message before failing it (librdkafka's default, pinned):
      // a failure here stops positions and the session restarts from the last committed one.
      {"message.timeout.ms", "300000"},
      // Same key -> same partition as the Java client (murmur2), so Kafka Connect and Debezium
      // deployments see keys where they expect them. librdkafka's own default is crc32-based.
      {"partitioner", "murmur2_random"},
      // Bound what librdkafka itself holds (invariant 4): its default of 1 GiB would dwarf the
      // pgcdc buffer. A full queue is backpressure (ERR__QUEUE_FULL), never loss. 2 MiB (with
      // the buffer's 1 MiB) keeps streaming RSS flat near 28 MiB at full speed; 4 MiB with an
      // 8 MiB buffer held 10-20 MiB more, and 16 or 64 MiB only memory, not throughput
      // (docs/benchmarks.md, "How much to buffer"). It must also hold a message.max.bytes record.
      {"queue.buffering.max.kbytes", "2048"},
      {"client.id", "pgcdc"},
  };
}

KafkaSink::KafkaSink(const KafkaSinkConfig& config, DeliveryListener& listener,
                     std::shared_ptr<spdlog::logger> logger)
    : listener_(listener),
      logger_(logger ? std::move(logger) : spdlog::default_logger()),
      brokers_(config.brokers) {
  if (config.brokers.empty()) throw std::runtime_error("kafka: no brokers configured");
  RdKafkaConfPtr conf(rd_kafka_conf_new());
  for (const auto& [name, value] : default_properties()) set_property(conf.get(), name, value);
  set_property(conf.get(), "bootstrap.servers", config.brokers);
  for (const auto& [name, value] : config.properties) {
    if (name == "delivery.report.only.error" && value != "false") {
      // Without success reports no position would ever be committed.
      throw std::runtime_error("kafka property delivery.report.only.error=" + value +
                               ": pgcdc needs a delivery report for every message");
    }
    set_property(conf.get(), name, value);
  }
  if (config.delivery == KafkaSinkConfig::Delivery::kExactlyOnce) {
    // A fixed transactional.id per pipeline: a new producer with the same id fences a zombie
    // (an old instance still running) when it initializes its transactions.
    transactional_ = true;
    offsets_topic_ = config.offsets_topic;
    offsets_key_ = config.transactional_id;
    transaction_interval_ = config.transaction_interval;
    transaction_length_ = transaction_interval_;
    set_property(conf.get(), "transactional.id", config.transactional_id);
    // librdkafka requires message.timeout.ms <= transaction.timeout.ms (60 s by default).
    if (!config.properties.count("message.timeout.ms")) {
      auto timeout = config.properties.find("transaction.timeout.ms");
      set_property(conf.get(), "message.timeout.ms",
                   timeout != config.properties.end() ? timeout->second : "60000");
    }
  }
  // A record larger than librdkafka's queue can never be queued (it would be refused as "queue
  // full" forever: a wedged pipeline, not an error). Records up to message.max.bytes must fit.
  const long long max_message = std::stoll(conf_value(conf.get(), "message.max.bytes"));
  max_message_bytes_ = max_message;
  const long long queue_kbytes = std::stoll(conf_value(conf.get(), "queue.buffering.max.kbytes"));
  if (max_message > queue_kbytes * 1024) {
    throw std::runtime_error("kafka property message.max.bytes=" + std::to_string(max_message) +
                             " is larger than queue.buffering.max.kbytes=" +
                             std::to_string(queue_kbytes) + " KiB: such a record could never be "
                             "queued; raise queue.buffering.max.kbytes too");
  }
  rd_kafka_conf_set_opaque(conf.get(), this);
  rd_kafka_conf_set_dr_msg_cb(conf.get(), &KafkaSink::on_delivery_report);
  rd_kafka_conf_set_error_cb(conf.get(), &KafkaSink::on_error);
  rd_kafka_conf_set_log_cb(conf.get(), &KafkaSink::on_log);

  char errstr[512];
  producer_ = new_rd_kafka(RD_KAFKA_PRODUCER, std::move(conf), errstr, sizeof(errstr));
  if (!producer_) throw std::runtime_error(std::string("kafka: cannot create producer: ") + errstr);
  logger_->info("kafka producer {} created for {}", rd_kafka_name(producer_.get()), brokers_);
  scram_note_ = scram_compatibility_note(conf_value(rd_kafka_conf(producer_.get()), "security.protocol"),
                                         conf_value(rd_kafka_conf(producer_.get()), "sasl.mechanisms"),
                                         rd_kafka_version());
  if (!scram_note_.empty()) logger_->warn("{}", scram_note_);
  for (const char* name : {"acks", "request.required.acks"}) {
    auto it = config.properties.find(name);
    if (it != config.properties.end() && it->second != "all" && it->second != "-1") {
      logger_->warn(
          "kafka property {}={}: a delivery report no longer means every in-sync replica has the "
          "record, so committed positions may pass data a broker failure loses",
          name, it->second);
    }
  }
}

KafkaSink::~KafkaSink() {
  set_report_wakeup(nullptr);  // whoever set it may be gone; the polls below need no wake-ups
  if (transactional_ && txn_open_) abort_transaction("kafka sink closing");
  if (in_flight_.load() > 0) {
    logger_->warn(
        "kafka sink closing with {} record(s) not yet acknowledged; reporting them failed",
        in_flight_.load());
    // Purged messages come back as delivery reports (ERR__PURGE_QUEUE / ERR__PURGE_INFLIGHT),
    // served by the polls below, so each still gets exactly one (failed) report.
    rd_kafka_purge(producer_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (in_flight_.load() > 0 && std::chrono::steady_clock::now() < deadline) {
      rd_kafka_poll(producer_.get(), 50);
    }
    // Whatever librdkafka did not hand back: report it here. No report can follow, because nothing
    // polls this handle again and rd_kafka_destroy does not call the delivery callback.
    release_held_reports(DeliveryStatus::kFailed, "kafka sink destroyed");
    for (auto& slot : slots_) {
      if (slot->in_use) report(slot.get(), DeliveryStatus::kFailed, "kafka sink destroyed");
    }
  }
  last_topic_handle_ = nullptr;
  topics_.clear();  // topic handles go before the producer (member order also ensures it)
}

rd_kafka_topic_t* KafkaSink::topic_handle(const std::string& topic, std::string& error) {
  // Consecutive records mostly go to one topic: a string comparison instead of a hash lookup.
  if (last_topic_handle_ && topic == last_topic_) return last_topic_handle_;
  auto it = topics_.find(topic);
  if (it != topics_.end()) {
    last_topic_ = topic;
    last_topic_handle_ = it->second.get();
    return last_topic_handle_;
  }
  // nullptr conf: the topic uses the producer's default topic properties (acks, timeouts).
  RdKafkaTopicPtr handle(rd_kafka_topic_new(producer_.get(), topic.c_str(), nullptr));
  if (!handle) {
    error = "kafka topic " + topic + ": " + rd_kafka_err2str(rd_kafka_last_error());
    return nullptr;
  }
  last_topic_ = topic;
  last_topic_handle_ = handle.get();
  topics_.emplace(topic, std::move(handle));
  return last_topic_handle_;
}

KafkaSink::InFlight* KafkaSink::acquire_slot(const Record& record) {
  InFlight* slot;
  if (free_slots_.empty()) {
    slots_.push_back(std::make_unique<InFlight>());
    slot = slots_.back().get();
  } else {
    slot = free_slots_.back();
    free_slots_.pop_back();
  }
  slot->in_use = true;
  slot->token = record.token;
  slot->op = record.op;
  slot->table.assign(record.table);  // reuses the slot's capacity
  slot->payload_bytes = record.payload_bytes();
  slot->commit_time_us = record.commit_time_us;
  return slot;
}

void KafkaSink::release_slot(InFlight* slot) {
  slot->in_use = false;
  free_slots_.push_back(slot);
}

void KafkaSink::report(InFlight* slot, DeliveryStatus status, std::string_view error) {
  DeliveryReport report;
  report.token = slot->token;
  report.status = status;
  report.error = error;
  report.op = slot->op;
  report.table = slot->table;
  report.payload_bytes = slot->payload_bytes;
  report.commit_time_us = slot->commit_time_us;
  if (sharing_report_clock_) {  // inside poll(); elsewhere the listener reads the clock itself
    if (report_clock_us_ == 0) {
      report_clock_us_ = std::chrono::duration_cast<std::chrono::microseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
    }
    report.reported_at_us = report_clock_us_;
  }
  // Counted down before the call so a listener that reads in_flight() sees this one done.
  in_flight_.fetch_sub(1);
  listener_.on_delivery(report);
  release_slot(slot);
}

Sink::SendResult KafkaSink::send(Record& record) {
  if (record.op == Operation::kPosition) {
    // Only the exactly-once source sends markers; elsewhere there is nothing to do with one.
    if (transactional_) on_position_marker(record);
    return SendResult::kAccepted;
  }
  if (transactional_ && txn_poisoned_) {
    fail_at_once(record, *txn_poisoned_);
    return SendResult::kAccepted;
  }
  if (transactional_ && !txn_open_) {
    RdKafkaErrorPtr error(rd_kafka_begin_transaction(producer_.get()));
    if (error) {
      std::string text =
          std::string("kafka begin transaction: ") + rd_kafka_error_string(error.get());
      if (rd_kafka_error_is_fatal(error.get())) remember_fatal(text);
      logger_->error("{}", text);
      txn_poisoned_ = text;
      fail_at_once(record, text);
      return SendResult::kAccepted;
    }
    txn_open_ = true;
    txn_failed_ = false;
    txn_started_ = std::chrono::steady_clock::now();
  }
  InFlight* slot = acquire_slot(record);
  in_flight_.fetch_add(1);

  std::string error;
  rd_kafka_topic_t* topic = topic_handle(record.topic, error);
  if (!topic) {
    logger_->error("{}", error);
    report(slot, DeliveryStatus::kFailed, error);
    return SendResult::kAccepted;
  }
  // RD_KAFKA_MSG_F_COPY: librdkafka copies key and value, so the record's buffers are free again
  // when this returns. A null payload is a tombstone.
  void* value = record.value ? const_cast<char*>(record.value->data()) : nullptr;
  const std::size_t value_size = record.value ? record.value->size() : 0;
  if (rd_kafka_produce(topic, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, value, value_size,
                       record.key.data(), record.key.size(), slot) == 0) {
    if (transactional_) ++records_since_marker_;
    return SendResult::kAccepted;
  }

  const rd_kafka_resp_err_t err = rd_kafka_last_error();
  if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
    // Backpressure: nothing was taken, nothing will be reported.
    in_flight_.fetch_sub(1);
    release_slot(slot);
    return SendResult::kQueueFull;
  }
  refuse(slot, record, err);
  return SendResult::kAccepted;
}

DeliveryStatus KafkaSink::explain_failure(const FailedRecord& record, std::string& error) const {
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
    error = describe_refused_record(refused);
    return DeliveryStatus::kRejected;
  }
  error = std::string(record.local ? "kafka produce to " : "kafka delivery to ") +
          std::string(record.topic) + " failed: " + rd_kafka_err2str(record.err) + " (table " +
          std::string(record.table) + ")";
  return DeliveryStatus::kFailed;
}

void KafkaSink::refuse(InFlight* slot, const Record& record, rd_kafka_resp_err_t err) {
  if (err == RD_KAFKA_RESP_ERR__FATAL) {
    char reason[512] = "";
    rd_kafka_fatal_error(producer_.get(), reason, sizeof(reason));
    remember_fatal(reason);
  }
  // Report it now so the "one report per accepted record" contract holds and positions stop
  // before it.
  std::string error;
  const DeliveryStatus status =
      explain_failure({record.table, record.topic, record.key,
                       record.value ? record.value->size() : 0, err, /*local=*/true},
                      error);
  logger_->error("{} (ledger entry {})", error, slot->token);
  if (transactional_) {
    // The transaction misses a record: it must never commit.
    if (!txn_failed_) txn_error_ = error;
    txn_failed_ = true;
  }
  report(slot, status, error);
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
    const std::size_t produced = produce_run(rest.first(run));
    taken += produced;
    if (produced < run) return taken;  // the queue is full
  }
  return taken;
}

std::size_t KafkaSink::batchable_run(std::span<const Record> records) const {
  if (transactional_ && (txn_poisoned_ || !txn_open_)) return 0;
  const std::string& topic = records.front().topic;
  std::size_t run = 0;
  while (run < records.size() && records[run].op != Operation::kPosition &&
         (run == 0 || records[run].topic == topic)) {
    ++run;
  }
  return run;
}

std::size_t KafkaSink::produce_run(std::span<Record> run) {
  std::string error;
  rd_kafka_topic_t* topic = topic_handle(run.front().topic, error);
  if (!topic) {  // each record is reported failed, with the reason
    for (Record& record : run) send(record);
    return run.size();
  }
  run_messages_.assign(run.size(), rd_kafka_message_t{});
  for (std::size_t i = 0; i < run.size(); ++i) {
    Record& record = run[i];
    rd_kafka_message_t& message = run_messages_[i];
    // RD_KAFKA_MSG_F_COPY below: librdkafka copies key and value, as in send().
    message.payload = record.value ? record.value->data() : nullptr;  // null: a tombstone
    message.len = record.value ? record.value->size() : 0;
    message.key = record.key.data();
    message.key_len = record.key.size();
    message._private = acquire_slot(record);
  }
  in_flight_.fetch_add(run.size());
  rd_kafka_produce_batch(topic, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, run_messages_.data(),
                         static_cast<int>(run.size()));
  std::size_t taken = run.size();
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
    } else if (transactional_) {
      ++records_since_marker_;
    }
  }
  return taken;
}

void KafkaSink::fail_at_once(const Record& record, const std::string& error) {
  // Accepted and reported failed in one step: "one report per accepted record" holds.
  InFlight* slot = acquire_slot(record);
  in_flight_.fetch_add(1);
  report(slot, DeliveryStatus::kFailed, error);
}

bool KafkaSink::set_report_wakeup(std::function<void()> wake) {
  if (main_queue_) {
    // Returns once no callback runs: librdkafka calls it under the queue's lock, which this takes.
    rd_kafka_queue_cb_event_enable(main_queue_.get(), nullptr, nullptr);
    main_queue_.reset();
  }
  wakeup_ = std::move(wake);
  if (!wakeup_) return true;
  main_queue_.reset(rd_kafka_queue_get_main(producer_.get()));
  rd_kafka_queue_cb_event_enable(main_queue_.get(), &KafkaSink::on_queue_event, this);
  // Reports that were already queued did not trigger the callback (it fires on empty ->
  // non-empty): the first wait must not sleep through them.
  wakeup_();
  return true;
}

// A librdkafka thread, whenever the main queue stops being empty.
void KafkaSink::on_queue_event(rd_kafka_t*, void* opaque) {
  static_cast<KafkaSink*>(opaque)->wakeup_();
}

void KafkaSink::poll(std::chrono::milliseconds timeout) {
  // The reports served by this call share one clock reading (it was a clock read per record).
  report_clock_us_ = 0;
  sharing_report_clock_ = true;
  listener_.begin_report_batch();
  rd_kafka_poll(producer_.get(), to_ms(timeout));
  listener_.end_report_batch();
  sharing_report_clock_ = false;
  if (!transactional_ || !txn_open_) return;
  if (txn_failed_) {
    abort_transaction(txn_error_);
  } else if (can_commit() &&
             std::chrono::steady_clock::now() - txn_started_ >= transaction_length_) {
    commit_transaction(std::chrono::seconds(60));
  }
}

bool KafkaSink::flush(std::chrono::milliseconds timeout) {
  if (transactional_ && txn_open_) {
    // Commit what ends at a marker; a PostgreSQL transaction cut in the middle is aborted and
    // read again by the next session.
    if (can_commit() && !txn_failed_) {
      commit_transaction(timeout);
    } else {
      abort_transaction(txn_failed_ ? txn_error_ : "stopped inside a PostgreSQL transaction");
    }
  }
  // rd_kafka_flush serves delivery reports (callbacks run here, on this thread) until librdkafka's
  // out-queue is empty or the timeout passes.
  rd_kafka_flush(producer_.get(), to_ms(timeout));
  return in_flight_.load() == 0;
}

void KafkaSink::on_position_marker(const Record& marker) {
  // A marker while no transaction is open ends an entry without records (a transaction that
  // touched nothing published): nothing to commit in Kafka; the ledger moves past it anyway once
  // everything before it is delivered.
  if (!txn_open_) return;
  position_ = marker.value;
  records_since_marker_ = 0;
  if (txn_failed_) {
    abort_transaction(txn_error_);
    return;
  }
  if (std::chrono::steady_clock::now() - txn_started_ >= transaction_length_) {
    commit_transaction(std::chrono::seconds(60));
  }
}

bool KafkaSink::commit_transaction(std::chrono::milliseconds timeout) {
  const auto began = std::chrono::steady_clock::now();
  // The source position travels in the same transaction as the records it covers: both become
  // visible together, or neither does.
  std::string error;
  if (!produce_position(timeout, error)) {
    abort_transaction("kafka produce to offsets topic " + offsets_topic_ + ": " + error);
    return false;
  }
  // Flushes the transaction's messages (their delivery reports are served here and held), then
  // commits. Retriable errors are retried a few times; abortable ones abort.
  for (int attempt = 0;; ++attempt) {
    RdKafkaErrorPtr result(rd_kafka_commit_transaction(producer_.get(), to_ms(timeout)));
    if (!result && !txn_failed_) {
      txn_open_ = false;
      position_.reset();
      release_held_reports(DeliveryStatus::kDelivered, {});
      stretch_transactions(std::chrono::steady_clock::now() - began);
      return true;
    }
    if (!result) {
      // Committed, yet a report said a record failed: impossible by the protocol; never treat
      // those records as delivered.
      txn_open_ = false;
      position_.reset();
      txn_poisoned_ = txn_error_;
      release_held_reports(DeliveryStatus::kFailed, txn_error_);
      return false;
    }
    std::string text =
        std::string("kafka commit transaction: ") + rd_kafka_error_string(result.get());
    bool fatal = rd_kafka_error_is_fatal(result.get());
    bool retriable = rd_kafka_error_is_retriable(result.get());
    if (fatal) {
      remember_fatal(text);
      txn_open_ = false;
      txn_poisoned_ = text;
      release_held_reports(DeliveryStatus::kFailed, text);
      return false;
    }
    if (retriable && attempt < 3) {
      logger_->warn("{}; retrying", text);
      continue;
    }
    abort_transaction(text);
    return false;
  }
}

void KafkaSink::stretch_transactions(std::chrono::steady_clock::duration commit_took) {
  // A commit stops the sink: librdkafka flushes every record of the transaction, then waits for
  // the coordinator to write its markers, and nothing is produced meanwhile. Caught up, there is
  // little to flush; behind, with librdkafka's queue full of records, a snapshot's commits took
  // 16-54 ms of each 100 ms transaction (docs/benchmarks.md, "Exactly-once transactions"). So
  // the next transaction lasts at least nine times as long as this commit took, and commits take
  // at most a tenth of the sink's time; at most ten times transaction_interval, which bounds how
  // long a read_committed consumer waits for a record while pgcdc catches up.
  const std::chrono::steady_clock::duration interval = transaction_interval_;
  transaction_length_ = std::clamp<std::chrono::steady_clock::duration>(commit_took * 9, interval,
                                                                         interval * 10);
  logger_->debug("kafka transaction committed in {:.1f} ms; the next lasts at least {:.0f} ms",
                 std::chrono::duration<double, std::milli>(commit_took).count(),
                 std::chrono::duration<double, std::milli>(transaction_length_).count());
}

bool KafkaSink::produce_position(std::chrono::milliseconds timeout, std::string& error) {
  rd_kafka_topic_t* topic = topic_handle(offsets_topic_, error);
  if (!topic) return false;
  // The position follows a transaction's records, so librdkafka's queue may be full of them:
  // serve reports (they are held) until it has room. A full queue is no reason to abort.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (rd_kafka_produce(topic, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, position_->data(),
                         position_->size(), offsets_key_.data(), offsets_key_.size(),
                         nullptr) == 0) {
      return true;
    }
    const rd_kafka_resp_err_t err = rd_kafka_last_error();
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || std::chrono::steady_clock::now() >= deadline) {
      error = rd_kafka_err2str(err);
      return false;
    }
    rd_kafka_poll(producer_.get(), 10);
  }
}

void KafkaSink::abort_transaction(const std::string& why) {
  logger_->warn("aborting kafka transaction: {}", why);
  // No later transaction of this sink may commit (see txn_poisoned_).
  if (!txn_poisoned_) txn_poisoned_ = "an earlier kafka transaction was aborted (" + why + ")";
  RdKafkaErrorPtr result(rd_kafka_abort_transaction(producer_.get(), 30000));
  if (result) {
    std::string text =
        std::string("kafka abort transaction: ") + rd_kafka_error_string(result.get());
    if (rd_kafka_error_is_fatal(result.get())) remember_fatal(text);
    logger_->warn("{}", text);
  }
  // Purged messages report here (held, as failed); then every held report fails.
  rd_kafka_poll(producer_.get(), 0);
  txn_open_ = false;
  position_.reset();
  records_since_marker_ = 0;
  release_held_reports(DeliveryStatus::kFailed, "kafka transaction aborted: " + why);
  txn_failed_ = false;
}

void KafkaSink::hold(const InFlight& slot) {
  // The records of one PostgreSQL transaction arrive together: look back over the last few
  // groups of the same entry only (a miss just starts another group).
  HeldGroup* group = nullptr;
  for (std::size_t i = held_.size(), looked = 0; i > 0 && looked < 16; --i, ++looked) {
    HeldGroup& candidate = held_[i - 1];
    if (candidate.token != slot.token) break;
    if (candidate.op == slot.op && candidate.table == slot.table &&
        candidate.commit_time_us == slot.commit_time_us) {
      group = &candidate;
      break;
    }
  }
  if (!group) {
    group = &held_.emplace_back();
    group->token = slot.token;
    group->op = slot.op;
    group->table = slot.table;
    group->commit_time_us = slot.commit_time_us;
  }
  ++group->records;
  group->payload_bytes += slot.payload_bytes;
}

void KafkaSink::release_held_reports(DeliveryStatus status, std::string_view error) {
  std::vector<HeldGroup> held;
  held.swap(held_);
  // The outcome is known now, for every held record alike.
  const std::int64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();
  for (const HeldGroup& group : held) {
    // One report per record, as the listener expects; the bytes are spread evenly.
    DeliveryReport report;
    report.token = group.token;
    report.op = group.op;
    report.table = group.table;
    report.commit_time_us = group.commit_time_us;
    report.payload_bytes = group.payload_bytes / group.records;
    report.reported_at_us = now_us;
    report.status = status;
    report.error = error;
    for (std::uint64_t i = 0; i < group.records; ++i) {
      in_flight_.fetch_sub(1);
      listener_.on_delivery(report);
    }
  }
}

std::size_t KafkaSink::in_flight() const {
  return in_flight_.load();
}

bool KafkaSink::ping(std::chrono::milliseconds timeout, std::string& error) {
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
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
    rd_kafka_poll(producer_.get(), 0);  // serves the error events that say why
    std::lock_guard lock(fatal_mutex_);
    cause = last_broker_error_code_;
    reason = last_broker_error_;
    if (refused(cause, reason)) break;
  }
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (refused(cause, reason)) {
      // The daemon exits 1 with this message.
      error = "kafka brokers " + brokers_ + " refused the connection: " + reason;
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
      return false;
    }
    error = "kafka brokers " + brokers_ + " not reachable within " +
            std::to_string(timeout.count()) + " ms: " + rd_kafka_err2str(err);
    if (!reason.empty()) error += " (" + reason + ")";
    return false;
  }
  if (transactional_ && !transactions_ready_) {
    // Registers the transactional.id and fences any older producer that still uses it; its open
    // transaction is aborted, so read_committed consumers never see a zombie's records.
    RdKafkaErrorPtr result(rd_kafka_init_transactions(producer_.get(), to_ms(timeout)));
    if (result) {
      error = std::string("kafka init transactions: ") + rd_kafka_error_string(result.get());
      if (rd_kafka_error_is_fatal(result.get())) remember_fatal(error);
      return false;
    }
    transactions_ready_ = true;
  }
  return true;
}

std::string KafkaSink::describe_metadata(std::chrono::milliseconds timeout) {
  RdKafkaMetadataPtr metadata;
  rd_kafka_resp_err_t err =
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

bool KafkaSink::fatal() const {
  return fatal_.load();
}

std::string KafkaSink::fatal_error() const {
  std::lock_guard lock(fatal_mutex_);
  return fatal_error_;
}

void KafkaSink::remember_fatal(const std::string& message, bool log) {
  // librdkafka fills the reason only while a fatal error is set: never report an empty one.
  const std::string reason =
      message.empty() ? "librdkafka reported a fatal error without a reason" : message;
  {
    std::lock_guard lock(fatal_mutex_);
    if (!fatal_error_.empty()) return;  // keep the first: later ones are its consequences
    fatal_error_ = reason;
  }
  fatal_.store(true);
  if (!log) return;
  logger_->error("kafka producer fatal error: {}; nothing more can be delivered by this producer",
                 reason);
}

// Sink thread (inside rd_kafka_poll / rd_kafka_flush).
void KafkaSink::on_delivery_report(rd_kafka_t* rk, const rd_kafka_message_t* message,
                                   void* opaque) {
  auto* sink = static_cast<KafkaSink*>(opaque);
  auto* slot = static_cast<InFlight*>(message->_private);
  const bool failed = message->err != RD_KAFKA_RESP_ERR_NO_ERROR;
  if (failed && message->err == RD_KAFKA_RESP_ERR__FATAL) {
    char reason[512] = "";
    rd_kafka_fatal_error(rk, reason, sizeof(reason));
    sink->remember_fatal(reason);
  }
  if (!failed) {
    if (sink->transactional_) {
      // Acknowledged is not yet committed: hold the report until the transaction's outcome.
      if (slot) {  // null: the offsets record
        sink->hold(*slot);
        sink->release_slot(slot);
      }
      return;
    }
    // With idempotence and acks=all, no error means every in-sync replica has the message.
    sink->report(slot, DeliveryStatus::kDelivered, {});
    return;
  }
  // librdkafka still holds the key and the payload's length here (its copies are freed after
  // this callback), so the report can name the record.
  const std::string_view topic = rd_kafka_topic_name(message->rkt);
  std::string error;
  DeliveryStatus status = DeliveryStatus::kFailed;
  if (slot) {
    const std::string_view key(static_cast<const char*>(message->key),
                               message->key ? message->key_len : 0);
    status = sink->explain_failure({slot->table, topic, key, message->len, message->err,
                                    /*local=*/false},
                                   error);
    sink->logger_->error("{} (ledger entry {})", error, slot->token);
  } else {
    error = "kafka delivery to offsets topic " + std::string(topic) +
            " failed: " + rd_kafka_err2str(message->err);
    sink->logger_->error("{}", error);
  }
  if (sink->transactional_) {
    // The transaction can only abort now. The failed record is reported at once, with its own
    // reason; the acknowledged ones are held and fail with the abort.
    if (!sink->txn_failed_) sink->txn_error_ = error;
    sink->txn_failed_ = true;
  }
  if (slot) sink->report(slot, status, error);
}

// Sink thread (error events are served by rd_kafka_poll).
void KafkaSink::on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  auto* sink = static_cast<KafkaSink*>(opaque);
  if (err == RD_KAFKA_RESP_ERR__FATAL) {
    char fatal_reason[512] = "";
    rd_kafka_resp_err_t original = rd_kafka_fatal_error(rk, fatal_reason, sizeof(fatal_reason));
    sink->remember_fatal(std::string(rd_kafka_err2name(original)) + ": " + fatal_reason);
    return;
  }
  if (err != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {  // a consequence: keep the cause
    std::lock_guard lock(sink->fatal_mutex_);
    sink->last_broker_error_code_ = static_cast<rd_kafka_resp_err_t>(err);
    sink->last_broker_error_ = reason;
  }
  // Transient (a broker went away, all brokers down...): librdkafka keeps retrying on its own;
  // messages that cannot make it within message.timeout.ms come back as failed reports.
  sink->logger_->warn("kafka: {}: {}", rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)),
                      reason);
}

// librdkafka's internal threads: only the logger (thread-safe) is touched.
void KafkaSink::on_log(const rd_kafka_t* rk, int level, const char* facility, const char* buf) {
  auto* sink = static_cast<KafkaSink*>(rd_kafka_opaque(rk));
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
  sink->logger_->log(spd_level, "librdkafka {}: {}", facility, buf);
}

}  // namespace pgcdc
