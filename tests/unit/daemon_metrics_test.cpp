// Metrics over a fake session (buffer, ledger, source stats, sink), served by the real HTTP
// endpoint on port 0; log file reopening. No servers.
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "daemon/counting_listener.h"
#include "daemon/counting_sink.h"
#include "daemon/http_endpoint.h"
#include "daemon/logging.h"
#include "daemon/metric_registry.h"
#include "daemon/metrics.h"
#include "tests/support/http_get.h"

namespace pgcdc {
namespace {

using namespace std::chrono_literals;

// The value of one series in the text exposition ("name{labels}"), or -1 when it is missing.
double series_value(const std::string& text, const std::string& series) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

class AcceptingSink : public Sink {
 public:
  SendResult send(Record& record) override {
    if (full || sent.size() >= room) return SendResult::kQueueFull;
    sent.push_back(record);  // a sink leaves the record as it was (Sink::send)
    return SendResult::kAccepted;
  }
  void poll(std::chrono::milliseconds) override {}
  bool flush(std::chrono::milliseconds) override { return true; }
  std::size_t in_flight() const override { return sent.size(); }
  std::string name() const override { return "fake"; }
  bool fatal() const override { return is_fatal; }
  bool full = false;
  std::size_t room = SIZE_MAX;  // records it takes before its queue is full
  bool is_fatal = false;
  std::vector<Record> sent;
};

Config one_table_config() {
  Config config;
  config.source.url = "postgres://localhost/app";
  TableConfig table;
  table.name = "orders";
  config.source.tables = {table};
  config.sink.kafka.brokers = "localhost:9092";
  return config;
}

Record record_of(Operation op, std::string value) {
  Record record;
  record.topic = "pgcdc.public.orders";
  record.key = "{\"id\":1}";
  record.value = std::move(value);
  record.op = op;
  record.table = "public.orders";
  return record;
}

class DaemonMetrics : public ::testing::Test {
 protected:
  Config config_ = one_table_config();
  Metrics metrics_{config_};
  BoundedBuffer buffer_{10, 1 << 20};
  PositionLedger ledger_;
  SourceStats stats_;
  AcceptingSink sink_;

  void attach() {
    metrics_.state().set_phase(Phase::kSession);
    stats_.note_loop_turn();
    metrics_.attach({&buffer_, &ledger_, &stats_, &sink_, "fake"});
  }
  std::string text() {
    metrics_.sample();
    return metrics_.text_exposition();
  }
  // Metrics' sampler thread reads the attached session until detach(). The members it points to
  // are declared after metrics_, so they are destroyed first: detach before that, as Pipeline
  // does. (Without it, a sampler thread scheduled late read a destroyed buffer: a rare SIGSEGV.)
  void TearDown() override { metrics_.detach(); }
};

const char* type_name(MetricType type) {
  switch (type) {
    case MetricType::kCounter: return "counter";
    case MetricType::kGauge: return "gauge";
    case MetricType::kHistogram: return "histogram";
  }
  return "?";
}

TEST(DaemonMetricRegistry, BuildsEveryMetricOfTheTableAndRefusesTheWrongLabelsOrType) {
  MetricRegistry registry;
  std::string text = registry.text_exposition();
  for (const MetricSpec& spec : kMetricTable) {
    // Labelled series come with their values, the one only known sometimes when it is known.
    if (!spec.labels[0].empty() || spec.only_when_known) continue;
    EXPECT_NE(text.find("# TYPE " + std::string(spec.name) + " " + type_name(spec.type) + "\n"),
              std::string::npos)
        << spec.name;
  }
  registry.counter(MetricId::kRecordsRead, {"public.t", "insert"}).Increment(2);
  EXPECT_EQ(series_value(registry.text_exposition(),
                         R"(pgcdc_records_read_total{op="insert",table="public.t"})"),
            2);
  EXPECT_THROW(registry.counter(MetricId::kRecordsRead, {"public.t"}), std::logic_error);
  EXPECT_THROW(registry.counter(MetricId::kRecordsRead), std::logic_error);
  EXPECT_THROW(registry.gauge(MetricId::kReconnects), std::logic_error);
  EXPECT_THROW(registry.gauge(MetricId::kReady, {"x"}), std::logic_error);
  EXPECT_THROW(registry.gauge_family(MetricId::kReady), std::logic_error);
  registry.gauge_family(MetricId::kSlotSafeWalSize).Add({}).Set(5);
  EXPECT_EQ(series_value(registry.text_exposition(), "pgcdc_slot_safe_wal_size_bytes"), 5);
}

TEST_F(DaemonMetrics, EveryNamedMetricIsExposedBeforeAnythingHappens) {
  std::string text = metrics_.text_exposition();
  for (const char* name : {"pgcdc_records_read_total",
                           "pgcdc_records_produced_total",
                           "pgcdc_records_delivered_total",
                           "pgcdc_records_failed_total",
                           "pgcdc_produced_bytes_total",
                           "pgcdc_delivered_bytes_total",
                           "pgcdc_records_in_flight",
                           "pgcdc_buffer_records",
                           "pgcdc_buffer_bytes",
                           "pgcdc_buffer_capacity_records",
                           "pgcdc_buffer_capacity_bytes",
                           "pgcdc_buffer_fill_ratio",
                           "pgcdc_received_lsn",
                           "pgcdc_confirmed_flush_lsn",
                           "pgcdc_server_wal_lsn",
                           "pgcdc_replication_lag_bytes",
                           "pgcdc_end_to_end_latency_seconds_bucket",
                           "pgcdc_slot_retained_wal_bytes",
                           "pgcdc_slot_wal_status",
                           "pgcdc_slot_active",
                           "pgcdc_snapshot_rows",
                           "pgcdc_snapshot_rows_estimated",
                           "pgcdc_snapshot_chunks_total",
                           "pgcdc_table_state",
                           "pgcdc_reconnects_total",
                           "pgcdc_errors_total",
                           "pgcdc_sink_queue_records",
                           "pgcdc_build_info",
                           "pgcdc_ready",
                           "pgcdc_transactions_total",
                           "pgcdc_start_time_seconds"}) {
    EXPECT_NE(text.find("\n" + std::string(name)), std::string::npos) << name;
  }
  // Zero series exist from the start, so rate() and increase() see the first failure.
  EXPECT_EQ(series_value(text, R"(pgcdc_records_failed_total{op="insert",table="public.orders"})"),
            0);
  EXPECT_EQ(series_value(text, R"(pgcdc_errors_total{stage="sink"})"), 0);
}

TEST_F(DaemonMetrics, CountsReadProducedDeliveredAndFailedByTableAndOperation) {
  attach();
  for (int i = 0; i < 3; ++i) stats_.per_table.count_record("public.orders", Operation::kCreate);
  stats_.per_table.count_record("public.orders", Operation::kDelete);
  stats_.per_table.count_chunk("public.orders");
  ++stats_.transactions;

  CountingSink counting(std::make_unique<AcceptingSink>(), metrics_);
  Record r = record_of(Operation::kCreate, "{\"after\":{}}");
  std::size_t bytes = r.payload_bytes();
  ASSERT_EQ(counting.send(r), Sink::SendResult::kAccepted);

  DeliveryReport delivered;
  delivered.op = Operation::kCreate;
  delivered.table = "public.orders";
  delivered.payload_bytes = 100;
  delivered.commit_time_us = std::chrono::duration_cast<std::chrono::microseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count() -
                             20000;
  metrics_.record_delivery(delivered);
  DeliveryReport failed = delivered;
  failed.status = DeliveryStatus::kFailed;
  failed.op = Operation::kDelete;
  metrics_.record_delivery(failed);

  std::string t = text();
  EXPECT_EQ(series_value(t, R"(pgcdc_records_read_total{op="insert",table="public.orders"})"), 3);
  EXPECT_EQ(series_value(t, R"(pgcdc_records_read_total{op="delete",table="public.orders"})"), 1);
  EXPECT_EQ(series_value(t, R"(pgcdc_records_produced_total{op="insert",table="public.orders"})"),
            1);
  EXPECT_EQ(series_value(t, R"(pgcdc_produced_bytes_total{table="public.orders"})"),
            static_cast<double>(bytes));
  EXPECT_EQ(series_value(t, R"(pgcdc_records_delivered_total{op="insert",table="public.orders"})"),
            1);
  EXPECT_EQ(series_value(t, R"(pgcdc_delivered_bytes_total{table="public.orders"})"), 100);
  EXPECT_EQ(series_value(t, R"(pgcdc_records_failed_total{op="delete",table="public.orders"})"), 1);
  EXPECT_EQ(series_value(t, R"(pgcdc_snapshot_chunks_total{table="public.orders"})"), 1);
  EXPECT_EQ(series_value(t, "pgcdc_transactions_total"), 1);
  EXPECT_EQ(series_value(t, "pgcdc_end_to_end_latency_seconds_count"), 1);
  EXPECT_GE(series_value(t, "pgcdc_end_to_end_latency_seconds_sum"), 0.02);

  // Sampled counters add only what is new.
  stats_.per_table.count_record("public.orders", Operation::kCreate);
  t = text();
  t = text();
  EXPECT_EQ(series_value(t, R"(pgcdc_records_read_total{op="insert",table="public.orders"})"), 4);
}

// Batches are counted a run of one table and operation at a time, and only as far as the sink took
// them: runs that change table or operation mid-batch, and a queue that fills mid-run.
TEST_F(DaemonMetrics, CountingSinkCountsABatchByRunsAndOnlyWhatTheSinkTook) {
  auto inner = std::make_unique<AcceptingSink>();
  inner->room = 7;
  CountingSink counting(std::move(inner), metrics_);
  std::vector<Record> batch;
  for (int i = 0; i < 3; ++i) batch.push_back(record_of(Operation::kCreate, "{\"after\":{}}"));
  for (int i = 0; i < 2; ++i) batch.push_back(record_of(Operation::kDelete, "{\"before\":{}}"));
  Record items = record_of(Operation::kCreate, "{\"after\":{\"n\":1}}");
  items.table = "public.items";
  batch.push_back(items);
  for (int i = 0; i < 3; ++i) batch.push_back(record_of(Operation::kCreate, "{\"after\":{\"x\":2}}"));

  ASSERT_EQ(counting.send_batch(batch), 7u);  // the queue filled after the first of the last three
  std::size_t orders_bytes = 0;
  for (std::size_t i : {0, 1, 2, 3, 4, 6}) orders_bytes += batch[i].payload_bytes();

  std::string t = text();
  EXPECT_EQ(series_value(t, R"(pgcdc_records_produced_total{op="insert",table="public.orders"})"),
            4);
  EXPECT_EQ(series_value(t, R"(pgcdc_records_produced_total{op="delete",table="public.orders"})"),
            2);
  EXPECT_EQ(series_value(t, R"(pgcdc_records_produced_total{op="insert",table="public.items"})"), 1);
  EXPECT_EQ(series_value(t, R"(pgcdc_produced_bytes_total{table="public.orders"})"),
            static_cast<double>(orders_bytes));
  EXPECT_EQ(series_value(t, R"(pgcdc_produced_bytes_total{table="public.items"})"),
            static_cast<double>(batch[5].payload_bytes()));
}

TEST_F(DaemonMetrics, CountingListenerMergesAlikeReportsInsideABatchOnly) {
  PositionLedger ledger;
  const DeliveryToken a = ledger.open();
  ledger.add_records(a, 6);
  ledger.seal(a, SourceOffset{});
  const DeliveryToken b = ledger.open();
  ledger.add_records(b, 2);
  ledger.seal(b, SourceOffset{});
  CountingListener listener(ledger, metrics_);

  DeliveryReport row;
  row.token = a;
  row.op = Operation::kRead;
  row.payload_bytes = 10;
  row.reported_at_us = 1'700'000'000'000'000;
  row.commit_time_us = row.reported_at_us - 20'000;  // 20 ms: the (0.01, 0.025] bucket
  const std::string table = "public.orders";
  std::string sink_storage = table;  // a sink's report views storage valid only during the call
  row.table = sink_storage;
  listener.begin_report_batch();
  for (int i = 0; i < 4; ++i) listener.on_delivery(row);
  sink_storage.assign("public.reused!");  // same size, new content: the run kept its own copy
  row.table = table;
  // Held back inside the batch...
  EXPECT_EQ(ledger.records_in_flight(), 8u);
  DeliveryReport other = row;
  other.op = Operation::kCreate;  // not alike: the run so far goes on first
  listener.on_delivery(other);
  EXPECT_EQ(ledger.records_in_flight(), 4u);
  DeliveryReport next_entry = row;
  next_entry.token = b;
  listener.on_delivery(next_entry);
  listener.on_delivery(next_entry);
  listener.end_report_batch();  // ...and all applied by its end
  EXPECT_EQ(ledger.records_in_flight(), 1u);  // one record of `a` is still out

  // Outside a batch, and for failures, reports go on at once.
  listener.on_delivery(row);
  EXPECT_EQ(ledger.records_in_flight(), 0u);
  EXPECT_EQ(ledger.entries_in_flight(), 0u);
  EXPECT_FALSE(ledger.failed());

  std::string t = text();
  EXPECT_EQ(series_value(t, R"(pgcdc_records_delivered_total{op="read",table="public.orders"})"), 7);
  EXPECT_EQ(series_value(t, R"(pgcdc_records_delivered_total{op="insert",table="public.orders"})"), 1);
  EXPECT_EQ(series_value(t, R"(pgcdc_delivered_bytes_total{table="public.orders"})"), 80);
  // One latency per record, merged or not, in the bucket Observe() would pick.
  EXPECT_EQ(series_value(t, "pgcdc_end_to_end_latency_seconds_count"), 8);
  EXPECT_EQ(series_value(t, R"(pgcdc_end_to_end_latency_seconds_bucket{le="0.01"})"), 0);
  EXPECT_EQ(series_value(t, R"(pgcdc_end_to_end_latency_seconds_bucket{le="0.025"})"), 8);
  EXPECT_NEAR(series_value(t, "pgcdc_end_to_end_latency_seconds_sum"), 8 * 0.02, 1e-9);
}

TEST_F(DaemonMetrics, BufferPositionsAndSnapshotStateAreSampled) {
  attach();
  Record r = record_of(Operation::kRead, std::string(100, 'x'));
  for (int i = 0; i < 10; ++i) {
    Record copy = r;
    ASSERT_EQ(buffer_.push(copy, 10ms), BoundedBuffer::PushResult::kPushed);
  }
  stats_.received_lsn = 5000;
  stats_.flushed_lsn = 1000;
  stats_.server_wal_end = 6000;
  stats_.replication_bytes_received = 50000;
  stats_.replication_reserve_naps = 250;
  stats_.replication_segments_received = 400;
  stats_.streaming = true;
  stats_.snapshotting = true;
  ServerSample server;
  server.ok = true;
  server.server_wal_lsn = 7000;
  server.slot_exists = true;
  server.wal_status = "extended";
  server.slot_active = true;
  server.retained_wal_bytes = 123456;
  server.estimated_rows["public.orders"] = 400;
  metrics_.record_server_sample(server);

  std::string t = text();
  EXPECT_EQ(series_value(t, "pgcdc_buffer_records"), 10);
  EXPECT_EQ(series_value(t, "pgcdc_buffer_capacity_records"), 10);
  EXPECT_EQ(series_value(t, "pgcdc_buffer_fill_ratio"), 1);
  EXPECT_EQ(series_value(t, "pgcdc_received_lsn"), 5000);
  EXPECT_EQ(series_value(t, "pgcdc_confirmed_flush_lsn"), 1000);
  EXPECT_EQ(series_value(t, "pgcdc_server_wal_lsn"), 7000);  // the later of keepalive and sample
  EXPECT_EQ(series_value(t, "pgcdc_replication_lag_bytes"), 6000);
  EXPECT_EQ(series_value(t, "pgcdc_replication_received_bytes_total"), 50000);
  EXPECT_EQ(series_value(t, "pgcdc_replication_received_segments_total"), 400);
  EXPECT_EQ(series_value(t, "pgcdc_replication_reserve_naps_total"), 250);
  EXPECT_EQ(series_value(t, "pgcdc_slot_retained_wal_bytes"), 123456);
  EXPECT_EQ(series_value(t, R"(pgcdc_slot_wal_status{status="extended"})"), 1);
  EXPECT_EQ(series_value(t, R"(pgcdc_slot_wal_status{status="reserved"})"), 0);
  EXPECT_EQ(series_value(t, "pgcdc_slot_active"), 1);
  EXPECT_EQ(series_value(t, R"(pgcdc_snapshot_rows_estimated{table="public.orders"})"), 400);
  EXPECT_EQ(series_value(t, R"(pgcdc_table_state{state="snapshotting",table="public.orders"})"), 1);
  EXPECT_EQ(series_value(t, R"(pgcdc_table_state{state="streaming",table="public.orders"})"), 0);

  // A delivered chunk's progress (from the ledger) makes the rows and, once done, the state.
  DeliveryToken token = ledger_.open();
  ledger_.add_record(token);
  SourceOffset position;
  auto progress = std::make_shared<SnapshotProgress>();
  (*progress)["public.orders"] = TableSnapshotProgress{true, std::vector<std::string>{"9"}, 250, "", ""};
  position.snapshot = progress;
  position.lsn = 2000;
  ledger_.seal(token, position);
  DeliveryReport report;
  report.token = token;
  report.table = "public.orders";
  ledger_.on_delivery(report);
  stats_.snapshotting = false;
  t = text();
  EXPECT_EQ(series_value(t, R"(pgcdc_snapshot_rows{table="public.orders"})"), 250);
  EXPECT_EQ(series_value(t, R"(pgcdc_table_state{state="streaming",table="public.orders"})"), 1);
  EXPECT_EQ(series_value(t, R"(pgcdc_table_state{state="snapshotting",table="public.orders"})"), 0);

  ServerSample missing;
  missing.ok = true;
  metrics_.record_server_sample(missing);
  t = metrics_.text_exposition();
  EXPECT_EQ(series_value(t, R"(pgcdc_slot_wal_status{status="missing"})"), 1);
  EXPECT_EQ(series_value(t, R"(pgcdc_slot_wal_status{status="extended"})"), 0);
  ServerSample broken;
  broken.error = "connection refused";
  metrics_.record_server_sample(broken);
  EXPECT_EQ(series_value(metrics_.text_exposition(), "pgcdc_slot_sample_errors_total"), 1);
}

TEST_F(DaemonMetrics, ReadinessFollowsTheSessionAndTheStatusLineSaysWhatHappens) {
  EXPECT_FALSE(metrics_.readiness().ok);
  EXPECT_TRUE(metrics_.liveness().ok);
  attach();
  EXPECT_EQ(metrics_.readiness().reason, "connecting to PostgreSQL");
  stats_.streaming = true;
  stats_.note_loop_turn();
  EXPECT_TRUE(metrics_.readiness().ok);
  metrics_.sample();
  EXPECT_TRUE(metrics_.started());
  EXPECT_EQ(series_value(metrics_.text_exposition(), "pgcdc_ready"), 1);
  EXPECT_NE(metrics_.status_line().find("streaming"), std::string::npos) << metrics_.status_line();
  sink_.is_fatal = true;
  EXPECT_FALSE(metrics_.readiness().ok);
  metrics_.detach();
  metrics_.state().set_phase(Phase::kBackoff, "sink not reachable");
  metrics_.sample();
  EXPECT_EQ(metrics_.status_line(), "waiting to retry: sink not reachable");
  EXPECT_EQ(series_value(metrics_.text_exposition(), "pgcdc_ready"), 0);
}

TEST_F(DaemonMetrics, AnExceptionLeavingTheSessionTakesItsViewBack) {
  metrics_.state().set_phase(Phase::kSession);
  const std::string detached = metrics_.readiness().reason;
  try {
    stats_.note_loop_turn();
    AttachedSession attached(metrics_, {&buffer_, &ledger_, &stats_, &sink_, "fake"});
    EXPECT_EQ(metrics_.readiness().reason, "connecting to PostgreSQL");
    throw std::runtime_error("the session failed");
  } catch (const std::runtime_error&) {
  }
  // The sampler no longer reads the session's objects (they are gone when run_session unwinds).
  EXPECT_NE(detached, "connecting to PostgreSQL");
  EXPECT_EQ(metrics_.readiness().reason, detached);
}

TEST_F(DaemonMetrics, TheEndpointServesMetricsHealthAndReadiness) {
  HttpEndpoint::Handlers handlers;
  handlers.metrics = [this] { return metrics_.text_exposition(); };
  handlers.healthz = [this] {
    HealthAnswer a = metrics_.liveness();
    return HttpAnswer{a.ok ? 200 : 503, "text/plain", a.reason + "\n"};
  };
  handlers.readyz = [this] {
    HealthAnswer a = metrics_.readiness();
    return HttpAnswer{a.ok ? 200 : 503, "text/plain", a.reason + "\n"};
  };
  HttpEndpoint endpoint("127.0.0.1:0", handlers);
  int port = endpoint.port();
  ASSERT_GT(port, 0);

  auto metrics = test::http_get(port, "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("# TYPE pgcdc_records_delivered_total counter"), std::string::npos);
  EXPECT_EQ(test::http_get(port, "/healthz").status, 200);
  auto ready = test::http_get(port, "/readyz");
  EXPECT_EQ(ready.status, 503);
  EXPECT_EQ(ready.body, "starting\n");
  attach();
  stats_.streaming = true;
  EXPECT_EQ(test::http_get(port, "/readyz").status, 200);
  EXPECT_EQ(test::http_get(port, "/nothing-here").status, 404);
  metrics_.detach();

  // A second endpoint on the same port fails with civetweb's reason.
  try {
    HttpEndpoint second("127.0.0.1:" + std::to_string(port), handlers);
    ADD_FAILURE() << "bound a port in use";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(std::to_string(port)), std::string::npos) << e.what();
  }
}

// civetweb's master thread polls the listening socket for up to 2 s between looks at its stop
// flag; stopping used to wait that out (every daemon stop took 2 s longer). The endpoint wakes
// the poll, so a stop takes a fraction of that. The bound is a property of the stop, not a speed:
// without the wake-up every stop takes 1 to 2 s.
TEST(HttpEndpointStop, DoesNotWaitForCivetwebsPollOfThePort) {
  HttpEndpoint::Handlers handlers;
  handlers.metrics = [] { return std::string(); };
  handlers.healthz = [] { return HttpAnswer{}; };
  handlers.readyz = [] { return HttpAnswer{}; };
  for (const char* listen : {"127.0.0.1:0", "0.0.0.0:0"}) {
    SCOPED_TRACE(listen);
    std::chrono::steady_clock::duration longest{};
    for (int round = 0; round < 3; ++round) {
      auto endpoint = std::make_unique<HttpEndpoint>(listen, handlers);
      ASSERT_GT(endpoint->port(), 0);
      // Let the master thread settle into its poll.
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      const auto start = std::chrono::steady_clock::now();
      endpoint.reset();
      longest = std::max(longest, std::chrono::steady_clock::now() - start);
    }
    EXPECT_LT(longest, std::chrono::milliseconds(900));
  }
}

TEST(DaemonLogging, SighupReopensTheLogFileByName) {
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("pgcdc-log-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  LogConfig config;
  config.file = (dir / "pgcdc.log").string();
  LogOutput output = setup_logging(config);
  EXPECT_TRUE(output.to_file());
  spdlog::info("before rotation");
  std::filesystem::rename(dir / "pgcdc.log", dir / "pgcdc.log.1");  // what logrotate does
  spdlog::info("still into the renamed file");
  std::optional<std::string> error = output.reopen();
  ASSERT_FALSE(error) << *error;
  spdlog::info("after rotation");
  spdlog::default_logger()->flush();

  auto read = [](const std::filesystem::path& path) {
    std::ifstream file(path);
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
  };
  std::string old_file = read(dir / "pgcdc.log.1");
  std::string new_file = read(dir / "pgcdc.log");
  EXPECT_NE(old_file.find("before rotation"), std::string::npos);
  EXPECT_NE(old_file.find("still into the renamed file"), std::string::npos);
  EXPECT_EQ(new_file.find("before rotation"), std::string::npos);
  EXPECT_NE(new_file.find("after rotation"), std::string::npos);
  EXPECT_TRUE(std::regex_search(new_file, std::regex(R"(^\d{4}-\d\d-\d\dT[0-9:.]+Z info )")))
      << new_file;

  // A directory that cannot hold the file: a configuration error naming log.file.
  LogConfig bad;
  bad.file = "/proc/pgcdc/cannot.log";
  try {
    setup_logging(bad);
    ADD_FAILURE() << "opened " << bad.file;
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("log.file: cannot open /proc/pgcdc/cannot.log", 0), 0u)
        << e.what();
  }
  setup_logging(LogConfig{});  // back to stderr for the other tests
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace pgcdc

namespace pgcdc {
namespace {

// docs/metrics.md and the Grafana dashboard name exactly the metrics the daemon serves.
std::set<std::string> metric_names_in(const std::string& text) {
  std::set<std::string> names;
  std::regex name(R"(pgcdc_[a-z_]+)");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), name); it != std::sregex_iterator();
       ++it) {
    std::string n = it->str();
    for (const char* suffix : {"_bucket", "_count", "_sum"}) {
      if (n.size() > std::strlen(suffix) && n.ends_with(suffix) && n.find("latency") != n.npos) {
        n.resize(n.size() - std::strlen(suffix));
      }
    }
    names.insert(n);
  }
  return names;
}

std::set<std::string> served_metric_names() {
  Config config = one_table_config();
  Metrics metrics(config);
  ServerSample sample;  // makes the optional safe-size gauge appear
  sample.ok = true;
  sample.slot_exists = true;
  sample.safe_wal_size_bytes = 1;
  metrics.record_server_sample(sample);
  std::set<std::string> names;
  std::regex type_line(R"(# TYPE (pgcdc_[a-z_]+) )");
  std::string text = metrics.text_exposition();
  for (auto it = std::sregex_iterator(text.begin(), text.end(), type_line);
       it != std::sregex_iterator(); ++it) {
    names.insert((*it)[1].str());
  }
  return names;
}

std::string read_source_file(const std::string& relative) {
  std::ifstream file(std::string(PGCDC_SOURCE_DIR) + "/" + relative);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

TEST(DaemonMetricsDocs, MetricsMdDocumentsEveryServedMetricAndNothingElse) {
  std::set<std::string> served = served_metric_names();
  std::set<std::string> documented = metric_names_in(read_source_file("docs/metrics.md"));
  ASSERT_GT(served.size(), 30u);
  for (const auto& name : served) EXPECT_TRUE(documented.count(name)) << "undocumented: " << name;
  for (const auto& name : documented) EXPECT_TRUE(served.count(name)) << "not served: " << name;
}

TEST(DaemonMetricsDocs, TheGrafanaDashboardQueriesOnlyServedMetrics) {
  std::string dashboard = read_source_file("packaging/grafana-dashboard.json");
  ASSERT_FALSE(dashboard.empty());
  std::set<std::string> served = served_metric_names();
  std::set<std::string> used = metric_names_in(dashboard);
  EXPECT_GT(used.size(), 25u);
  for (const auto& name : used) EXPECT_TRUE(served.count(name)) << "not served: " << name;
}

TEST(DaemonMetricsDocs, TheAlertRulesQueryOnlyServedMetrics) {
  std::string rules = read_source_file("packaging/prometheus/alerts.yml");
  ASSERT_FALSE(rules.empty());
  std::set<std::string> served = served_metric_names();
  std::set<std::string> used = metric_names_in(rules);
  EXPECT_GT(used.size(), 10u);
  for (const auto& name : used) EXPECT_TRUE(served.count(name)) << "not served: " << name;
}

}  // namespace
}  // namespace pgcdc
