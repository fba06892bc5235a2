#include "daemon/pipeline.h"

#include <filesystem>
#include <random>
#include <thread>

#include <spdlog/spdlog.h>

#include "connector/catalog.h"
#include "connector/pgoutput.h"
#include "connector/replication_setup.h"
#include "core/offset_store.h"
#include "daemon/counting_listener.h"
#include "daemon/counting_sink.h"
#include "daemon/sink_thread.h"
#include "sinks/kafka_offset_store.h"
#include "sinks/sink_factory.h"

namespace pgcdc {

Pipeline::Pipeline(const Config& config, Metrics& metrics) : config_(config), metrics_(metrics) {}

bool Pipeline::sleep_unless_stopped(std::chrono::milliseconds duration,
                                    const std::atomic<bool>& stop) {
  auto until = std::chrono::steady_clock::now() + duration;
  while (std::chrono::steady_clock::now() < until) {
    source_stats_.note_loop_turn();  // the main loop is alive while it waits
    if (stop) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return !stop;
}

int Pipeline::run(const std::atomic<bool>& stop) {
  // Exponential backoff with full jitter between failed sessions: 0.5 s, 1 s, ... up to 30 s.
  std::mt19937_64 random(std::random_device{}());
  auto backoff = std::chrono::milliseconds(500);
  const auto max_backoff = std::chrono::milliseconds(30000);
  bool standing_by = false;
  for (;;) {
    std::string error;
    auto started = std::chrono::steady_clock::now();
    metrics_.state().set_phase(Phase::kSession);
    SessionEnd end = run_session(stop, error);
    switch (end) {
      case SessionEnd::kStopped:
        metrics_.state().set_phase(Phase::kStopping);
        spdlog::info("stopped");
        return kExitOk;
      case SessionEnd::kFinished:
        metrics_.state().set_phase(Phase::kStopping);
        spdlog::info("snapshot finished and delivered; exiting (source.cdc is off)");
        return kExitOk;
      case SessionEnd::kFatal:
        metrics_.state().set_phase(Phase::kFailed, error);
        spdlog::error("{}", error);
        return kExitFailure;
      case SessionEnd::kRetry:
        break;
      case SessionEnd::kStandby:
        if (!standing_by) {
          spdlog::info("standing by: {}; checking every {} ms", error,
                       config_.source.standby_interval.count());
        }
        standing_by = true;
        metrics_.state().set_phase(Phase::kBackoff, "standby: " + error);
        if (!sleep_unless_stopped(config_.source.standby_interval, stop)) {
          metrics_.state().set_phase(Phase::kStopping);
          return kExitOk;
        }
        continue;
    }
    standing_by = false;
    metrics_.count_reconnect();
    // A session that ran for a while resets the backoff: the failure is new, not persistent.
    if (std::chrono::steady_clock::now() - started > std::chrono::minutes(2)) {
      backoff = std::chrono::milliseconds(500);
    }
    std::uniform_int_distribution<long> jitter(backoff.count() / 2, backoff.count());
    auto wait = std::chrono::milliseconds(jitter(random));
    spdlog::warn("{}; restarting from the last committed position in {} ms", error, wait.count());
    metrics_.state().set_phase(Phase::kBackoff, error);
    if (!sleep_unless_stopped(wait, stop)) {
      metrics_.state().set_phase(Phase::kStopping);
      return kExitOk;
    }
    backoff = std::min(max_backoff, backoff * 2);
  }
}

namespace {

// Another instance with this configuration streams from the slot: say which process, or nullopt.
// Checked before the sink is created, so a standby never touches Kafka (with exactly-once it
// would fence the active instance's producer). Errors are left to the session to report.
// Two instances that start at the same moment both find the slot free here; PostgreSQL then
// gives the slot to one of them and the other's session ends with SlotInUse (standby as well).
std::optional<std::string> slot_holder(const SourceConfig& source) {
  try {
    PgConnection connection(source.url, PgConnection::Kind::kQuery, source.connection_timeout);
    auto result = connection.exec_params(
        "SELECT active_pid FROM pg_catalog.pg_replication_slots WHERE slot_name = $1 AND active",
        {source.slot_name});
    if (PQntuples(result.get()) == 1) {
      return "replication slot " + source.slot_name + " is in use by process " +
             std::string(field(result.get(), 0, 0));
    }
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

// The one place that says whether positions travel with the records: exactly-once keeps them in
// Kafka (written inside each transaction), at-least-once in the offsets file.
bool delivers_exactly_once(const Config& config) {
  return config.sink.kind == SinkConfig::Kind::kKafka &&
         config.sink.kafka.delivery == KafkaSinkConfig::Delivery::kExactlyOnce;
}

// What the source needs to know of the whole configuration. Built per session, after the offsets
// store was read: `no_position` says how the store was found.
SourceOptions source_options(const Config& config, bool exactly_once) {
  SourceOptions options;
  options.source = config.source;
  options.format = config.format;
  options.topic_prefix = config.sink.kafka.topic_prefix;
  options.tombstones = config.sink.kafka.tombstones;
  options.position_markers = exactly_once;
  if (exactly_once) {
    options.offsets_store = "the offsets topic " + config.sink.kafka.offsets_topic;
    options.no_position = options.offsets_store + " holds no position for this pipeline";
    // KafkaOffsetStore takes a record without a value as "no position" (compaction removes it).
    options.forget_position = "write a record with key " + config.sink.kafka.transactional_id +
                              " and no value (a tombstone) to " + options.offsets_store;
  } else {
    options.offsets_store = "the offsets file " + config.offsets.path;
    options.no_position =
        options.offsets_store +
        (std::filesystem::exists(config.offsets.path) ? " holds no position" : " is missing");
    options.forget_position = "delete " + options.offsets_store;
  }
  return options;
}

}  // namespace

Pipeline::SessionEnd Pipeline::run_session(const std::atomic<bool>& stop, std::string& error) {
  if (config_.source.cdc) {
    if (auto holder = slot_holder(config_.source)) {
      error = *holder;
      return SessionEnd::kStandby;
    }
  }
  const bool exactly_once = delivers_exactly_once(config_);
  std::unique_ptr<OffsetStore> offsets;
  if (exactly_once) {
    offsets = std::make_unique<KafkaOffsetStore>(config_.sink.kafka);
  } else {
    offsets = std::make_unique<FileOffsetStore>(config_.offsets.path);
  }
  // The ledger receives the sink's reports, so it exists first; its start position is set once
  // the store is read (for Kafka, only after the sink fenced older producers in ping()).
  PositionLedger ledger;
  BoundedBuffer buffer(config_.buffer.max_records, config_.buffer.max_bytes);
  CountingListener listener(ledger, metrics_);
  std::unique_ptr<Sink> sink;
  try {
    // CountingSink: records produced, by table and operation (metrics).
    sink = std::make_unique<CountingSink>(make_sink(config_.sink, listener), metrics_);
  } catch (const std::exception& e) {
    error = std::string("cannot create the ") +
            (config_.sink.kind == SinkConfig::Kind::kKafka ? "Kafka" : "stdout") +
            " sink: " + e.what();
    metrics_.count_error("sink");
    return SessionEnd::kFatal;
  }
  std::string ping_error;
  if (!sink->ping(std::chrono::milliseconds(10000), ping_error)) {
    error = "sink not reachable: " + ping_error;
    metrics_.count_error("sink");
    return sink->fatal() ? SessionEnd::kFatal : SessionEnd::kRetry;
  }
  try {
    ledger.reset(offsets->load().value_or(SourceOffset{}));
  } catch (const std::exception& e) {
    error = std::string("cannot read the committed position: ") + e.what();
    metrics_.count_error("offsets");
    return exactly_once ? SessionEnd::kRetry : SessionEnd::kFatal;
  }

  const std::string sink_name = sink->name();  // before the sink thread owns the sink
  SinkThread sink_thread(buffer, *sink, ledger);
  // Per-session source counters start from zero; the loop counts as alive from here.
  source_stats_.unknown_type_values = 0;
  source_stats_.note_loop_turn();
  AttachedSession attached(metrics_, {&buffer, &ledger, &source_stats_, sink.get(), sink_name});

  PostgresSource source(source_options(config_, exactly_once), buffer, ledger, *offsets,
                        source_stats_);
  PostgresSource::Outcome outcome = PostgresSource::Outcome::kStopped;
  SessionEnd end = SessionEnd::kStopped;
  try {
    outcome = source.run(stop);
    switch (outcome) {
      case PostgresSource::Outcome::kStopped: end = SessionEnd::kStopped; break;
      case PostgresSource::Outcome::kFinished: end = SessionEnd::kFinished; break;
      case PostgresSource::Outcome::kDeliveryFailed:
        // A rejected record would be rejected again by every next session: a person must act
        // (decided once the reports are drained, below).
        end = SessionEnd::kRetry;
        error = "delivery failed: " + ledger.failure();
        metrics_.count_error("sink");
        break;
    }
  } catch (const SlotInUse& e) {
    // Two instances started together: the other one won the slot after slot_holder() found it
    // free. Not an error.
    error = e.what();
    end = SessionEnd::kStandby;
  } catch (const PgError& e) {
    error = e.what();
    end = e.transient() ? SessionEnd::kRetry : SessionEnd::kFatal;
    metrics_.count_error("source");
  } catch (const SetupError& e) {
    error = e.what();
    end = SessionEnd::kFatal;
    metrics_.count_error("setup");
  } catch (const pgoutput::DecodeError& e) {
    error = std::string("cannot decode the replication stream: ") + e.what();
    end = SessionEnd::kFatal;
    metrics_.count_error("decode");
  } catch (const std::exception& e) {
    error = e.what();
    end = SessionEnd::kFatal;
    metrics_.count_error("source");
  }

  // The source no longer runs (the flags stay set after a failure otherwise).
  source_stats_.streaming = false;
  source_stats_.snapshotting = false;
  if (end == SessionEnd::kStopped || end == SessionEnd::kFinished) {
    metrics_.state().set_phase(Phase::kStopping);
  } else if (end == SessionEnd::kStandby) {
    metrics_.state().set_phase(Phase::kBackoff, "standby: " + error);
  } else {
    metrics_.state().set_phase(end == SessionEnd::kFatal ? Phase::kFailed : Phase::kBackoff, error);
  }

  // Drain: on a clean stop every buffered record is still sent and awaited (bounded by
  // shutdown_timeout); after a failure the buffer is dropped, it will be re-read.
  bool clean = end == SessionEnd::kStopped || end == SessionEnd::kFinished;
  sink_thread.finish(clean);
  auto flush_for = clean ? config_.shutdown_timeout : std::chrono::milliseconds(5000);
  if (!sink->flush(flush_for)) {
    spdlog::warn("{} record(s) were not confirmed by the {} sink before the deadline; they will "
                 "be read again on restart", sink->in_flight(), sink->name());
  }
  // A session that lost the slot read nothing, and the offsets file (shared by instances with the
  // same configuration) belongs to the instance that holds the slot.
  if (end != SessionEnd::kStandby) source.commit_positions();
  if (end == SessionEnd::kRetry && ledger.rejected()) {
    // Decided now that every report is in: the drain may have brought the rejection (after an
    // earlier, transient failure ended the session), or a larger record of the refused batch
    // whose error says more. Retrying would meet the record again.
    end = SessionEnd::kFatal;
    error = "a record cannot be delivered: " + ledger.failure();
    metrics_.state().set_phase(Phase::kFailed, error);
  }
  if (end == SessionEnd::kStopped && config_.source.drop_slot_on_stop && config_.source.cdc) {
    try {
      source.drop_replication_objects();
    } catch (const std::exception& e) {
      spdlog::error("could not drop the slot and publication: {}", e.what());
    }
  }
  if (sink->fatal() && end != SessionEnd::kFatal) {
    if (end != SessionEnd::kRetry) metrics_.count_error("sink");
    end = SessionEnd::kRetry;
    if (error.empty()) error = "sink failed: " + sink->fatal_error();
  }
  return end;
}

}  // namespace pgcdc
