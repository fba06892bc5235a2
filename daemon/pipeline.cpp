#include "daemon/pipeline.h"

#include <filesystem>
#include <random>
#include <thread>

#include <spdlog/spdlog.h>

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
    auto started = std::chrono::steady_clock::now();
    metrics_.state().set_phase(Phase::kSession);
    const SessionOutcome outcome = run_session(stop);
    const std::string& error = outcome.error;
    switch (outcome.end) {
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

SessionOutcome Pipeline::run_session(const std::atomic<bool>& stop) {
  // Every failure goes through session_outcome(); what it says to count is counted here, once.
  auto settle = [this](const SessionOutcome& so_far, const SessionFailure& failure) {
    SessionOutcome outcome = session_outcome(so_far, failure);
    if (outcome.count_as) metrics_.count_error(outcome.count_as);
    return outcome;
  };
  const SessionOutcome nothing_failed;
  if (config_.source.cdc) {
    if (auto holder = slot_holder(config_.source)) {
      return settle(nothing_failed, {SessionStep::kCheckSlot, SlotInUse(*holder)});
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
    const char* kind = config_.sink.kind == SinkConfig::Kind::kKafka ? "Kafka" : "stdout";
    return settle(nothing_failed, {SessionStep::kCreateSink, e, kind});
  }
  if (std::optional<Error> unreachable = sink->ping(std::chrono::milliseconds(10000))) {
    return settle(nothing_failed, {SessionStep::kPingSink, *unreachable});
  }
  try {
    ledger.reset(offsets->load().value_or(SourceOffset{}));
  } catch (const std::exception& e) {
    return settle(nothing_failed, {SessionStep::kReadPosition, e});
  }

  const std::string sink_name = sink->name();  // before the sink thread owns the sink
  SinkThread sink_thread(buffer, *sink, ledger);
  // Per-session source counters start from zero; the loop counts as alive from here.
  source_stats_.unknown_type_values = 0;
  source_stats_.note_loop_turn();
  AttachedSession attached(metrics_, {&buffer, &ledger, &source_stats_, sink.get(), sink_name});

  PostgresSource source(source_options(config_, exactly_once), buffer, ledger, *offsets,
                        source_stats_);
  SessionOutcome outcome;
  try {
    switch (source.run(stop)) {
      case PostgresSource::Outcome::kStopped:
        outcome.end = SessionEnd::kStopped;
        break;
      case PostgresSource::Outcome::kFinished:
        outcome.end = SessionEnd::kFinished;
        break;
      case PostgresSource::Outcome::kDeliveryFailed:
        // Retried: whether the record is refused for good is decided once the reports are
        // drained (kDrain, below).
        outcome = settle(outcome,
                         {SessionStep::kDeliver, Error(ErrorKind::kTransient, ledger.failure())});
        break;
    }
  } catch (const std::exception& e) {
    outcome = settle(outcome, {SessionStep::kRunSource, e});
  }

  // The source no longer runs (the flags stay set after a failure otherwise).
  source_stats_.streaming = false;
  source_stats_.snapshotting = false;
  if (outcome.end == SessionEnd::kStopped || outcome.end == SessionEnd::kFinished) {
    metrics_.state().set_phase(Phase::kStopping);
  } else if (outcome.end == SessionEnd::kStandby) {
    metrics_.state().set_phase(Phase::kBackoff, "standby: " + outcome.error);
  } else {
    metrics_.state().set_phase(outcome.end == SessionEnd::kFatal ? Phase::kFailed : Phase::kBackoff,
                               outcome.error);
  }

  // Drain: on a clean stop every buffered record is still sent and awaited (bounded by
  // shutdown_timeout); after a failure the buffer is dropped, it will be re-read.
  bool clean = outcome.end == SessionEnd::kStopped || outcome.end == SessionEnd::kFinished;
  sink_thread.finish(clean);
  auto flush_for = clean ? config_.shutdown_timeout : std::chrono::milliseconds(5000);
  if (!sink->flush(flush_for)) {
    spdlog::warn("{} record(s) were not confirmed by the {} sink before the deadline; they will "
                 "be read again on restart", sink->in_flight(), sink->name());
  }
  // A session that lost the slot read nothing, and the offsets file (shared by instances with the
  // same configuration) belongs to the instance that holds the slot.
  if (outcome.end != SessionEnd::kStandby) source.commit_positions();
  if (ledger.rejected()) {
    // A rejected record would be rejected again by every next session: a person must act.
    const SessionEnd before = outcome.end;
    outcome =
        settle(outcome, {SessionStep::kDrain, Error(ErrorKind::kNeedsPerson, ledger.failure())});
    if (outcome.end != before) metrics_.state().set_phase(Phase::kFailed, outcome.error);
  }
  if (outcome.end == SessionEnd::kStopped && config_.source.drop_slot_on_stop &&
      config_.source.cdc) {
    try {
      source.drop_replication_objects();
    } catch (const std::exception& e) {
      spdlog::error("could not drop the slot and publication: {}", e.what());
    }
  }
  if (std::optional<Error> failed = sink->fatal_error()) {
    outcome = settle(outcome, {SessionStep::kSinkFailed, *failed});
  }
  return outcome;
}

}  // namespace pgcdc
