#include "daemon/pipeline.h"

#include <random>
#include <thread>

#include <spdlog/spdlog.h>

#include "connector/catalog.h"
#include "connector/pgoutput.h"
#include "core/offset_store.h"
#include "sinks/sink_factory.h"
#include "sinks/sink_runner.h"

namespace pgcdc {
namespace {

// Forwards delivery reports to the ledger and counts them (sink thread).
class CountingListener : public DeliveryListener {
 public:
  CountingListener(PositionLedger& ledger, Metrics& metrics) : ledger_(ledger), metrics_(metrics) {}
  void on_delivery(const DeliveryReport& report) override {
    ledger_.on_delivery(report);
    metrics_.record_delivery(report);
  }

 private:
  PositionLedger& ledger_;
  Metrics& metrics_;
};

}  // namespace

Pipeline::Pipeline(const Config& config, Metrics& metrics) : config_(config), metrics_(metrics) {}

bool Pipeline::sleep_unless_stopped(std::chrono::milliseconds duration,
                                    const std::atomic<bool>& stop) {
  auto until = std::chrono::steady_clock::now() + duration;
  while (std::chrono::steady_clock::now() < until) {
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
  for (;;) {
    std::string error;
    auto started = std::chrono::steady_clock::now();
    SessionEnd end = run_session(stop, error);
    switch (end) {
      case SessionEnd::kStopped:
        spdlog::info("stopped");
        return kExitOk;
      case SessionEnd::kFinished:
        spdlog::info("snapshot finished and delivered; exiting (source.cdc is off)");
        return kExitOk;
      case SessionEnd::kFatal:
        spdlog::error("{}", error);
        if (on_status) on_status("failed: " + error);
        return kExitFailure;
      case SessionEnd::kRetry:
        break;
    }
    metrics_.count_restart();
    // A session that ran for a while resets the backoff: the failure is new, not persistent.
    if (std::chrono::steady_clock::now() - started > std::chrono::minutes(2)) {
      backoff = std::chrono::milliseconds(500);
    }
    std::uniform_int_distribution<long> jitter(backoff.count() / 2, backoff.count());
    auto wait = std::chrono::milliseconds(jitter(random));
    spdlog::warn("{}; restarting from the last committed position in {} ms", error, wait.count());
    if (on_status) on_status("retrying: " + error);
    if (!sleep_unless_stopped(wait, stop)) return kExitOk;
    backoff = std::min(max_backoff, backoff * 2);
  }
}

Pipeline::SessionEnd Pipeline::run_session(const std::atomic<bool>& stop, std::string& error) {
  FileOffsetStore offsets(config_.offsets.path);
  SourceOffset start;
  try {
    start = offsets.load().value_or(SourceOffset{});
  } catch (const std::exception& e) {
    error = e.what();
    return SessionEnd::kFatal;
  }
  PositionLedger ledger(start);
  BoundedBuffer buffer(config_.buffer.max_records, config_.buffer.max_bytes);
  CountingListener listener(ledger, metrics_);
  std::unique_ptr<Sink> sink;
  try {
    sink = make_sink(config_.sink, listener);
  } catch (const std::exception& e) {
    error = std::string("cannot create the ") +
            (config_.sink.kind == SinkConfig::Kind::kKafka ? "Kafka" : "stdout") +
            " sink: " + e.what();
    return SessionEnd::kFatal;
  }
  std::string ping_error;
  if (!sink->ping(std::chrono::milliseconds(10000), ping_error)) {
    error = "sink not reachable: " + ping_error;
    return SessionEnd::kRetry;
  }

  std::atomic<bool> sink_stop{false};
  SinkRunner runner(buffer, *sink);
  std::thread sink_thread([&] { runner.run(sink_stop); });
  Metrics::SessionView view{&buffer, &ledger, &source_stats_, sink.get()};
  metrics_.attach(view);

  PostgresSource source(config_, buffer, ledger, offsets, source_stats_);
  PostgresSource::Outcome outcome = PostgresSource::Outcome::kStopped;
  SessionEnd end = SessionEnd::kStopped;
  try {
    if (on_ready) on_ready();
    outcome = source.run(stop);
    switch (outcome) {
      case PostgresSource::Outcome::kStopped: end = SessionEnd::kStopped; break;
      case PostgresSource::Outcome::kFinished: end = SessionEnd::kFinished; break;
      case PostgresSource::Outcome::kDeliveryFailed:
        end = SessionEnd::kRetry;
        error = "delivery failed: " + ledger.failure();
        metrics_.count_error("sink");
        break;
    }
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

  // Drain: on a clean stop every buffered record is still sent and awaited (bounded by
  // shutdown_timeout); after a failure the buffer is dropped, it will be re-read.
  bool clean = end == SessionEnd::kStopped || end == SessionEnd::kFinished;
  if (!clean) buffer.clear();
  buffer.close();
  if (!clean) sink_stop = true;
  sink_thread.join();
  auto flush_for = clean ? config_.shutdown_timeout : std::chrono::milliseconds(5000);
  if (!sink->flush(flush_for)) {
    spdlog::warn("{} record(s) were not confirmed by the {} sink before the deadline; they will "
                 "be read again on restart", sink->in_flight(), sink->name());
  }
  source.commit_positions();
  if (end == SessionEnd::kStopped && config_.source.drop_slot_on_stop && config_.source.cdc) {
    try {
      source.drop_replication_objects();
    } catch (const std::exception& e) {
      spdlog::error("could not drop the slot and publication: {}", e.what());
    }
  }
  metrics_.detach();
  if (sink->fatal() && end != SessionEnd::kFatal) {
    end = SessionEnd::kRetry;
    if (error.empty()) error = "sink failed: " + sink->fatal_error();
  }
  return end;
}

}  // namespace pgcdc
