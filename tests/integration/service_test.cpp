// pgcdc as a service, against the real PostgreSQL 15 and Kafka: the Prometheus endpoint scraped
// while records flow, /healthz and /readyz, the systemd notify protocol (READY, STATUS, WATCHDOG
// only while the loop turns, STOPPING) through a NOTIFY_SOCKET of the test's own, SIGHUP and log
// files.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "tests/support/http_get.h"
#include "tests/support/pipeline_fixture.h"
#include "tests/support/waiting.h"

namespace pgcdc::test {
namespace {

using namespace std::chrono_literals;

class Service : public PipelineTest {
 protected:
  // A config for `tables` whose endpoint listens on a free port, with slot samples every second.
  std::string service_config(const std::vector<std::string>& tables,
                             const std::string& extra_source = "", const std::string& extra = "") {
    port_ = free_port();
    std::string text = toml_config(tables, extra_source, extra);
    const std::string off = "listen = ''\n";
    auto at = text.find(off);
    EXPECT_NE(at, std::string::npos) << text;
    text.replace(
        at, off.size(),
        "listen = '127.0.0.1:" + std::to_string(port_) + "'\nslot_sample_interval = '1s'\n");
    return text;
  }

  // Every series of one scrape: "name{a=\"x\",b=\"y\"}" -> value (labels in the order served,
  // which is by label name).
  std::map<std::string, double> scrape() {
    std::map<std::string, double> series;
    HttpResponse response = http_get(port_, "/metrics");
    if (response.status != 200) return series;
    std::istringstream lines(response.body);
    std::string line;
    while (std::getline(lines, line)) {
      if (line.empty() || line[0] == '#') continue;
      auto space = line.rfind(' ');
      if (space == std::string::npos) continue;
      series[line.substr(0, space)] = std::stod(line.substr(space + 1));
    }
    return series;
  }
  double metric(const std::string& series) {
    auto all = scrape();
    auto it = all.find(series);
    return it == all.end() ? -1 : it->second;
  }
  std::string by_table(const std::string& name, const std::string& op = "") const {
    std::string table = "public." + name_;
    if (op.empty()) return name + "{table=\"" + table + "\"}";
    return name + "{op=\"" + op + "\",table=\"" + table + "\"}";
  }
  bool wait_for_metric(const std::string& series, double at_least,
                       std::chrono::milliseconds timeout) {
    return wait_until([&] { return metric(series) >= at_least; }, timeout);
  }

  int port_ = 0;
};

// Invariant 4 (memory bounded by configuration) for the snapshot: a chunk is bounded by
// snapshot_chunk_bytes as well as snapshot_chunk_rows, so wide rows make chunks of fewer rows.
// Without the byte bound these 60 rows of 200 KB would be one chunk of 12 MB.
TEST_F(Service, WideRowsAreReadInChunksBoundedByBytes) {
  sql("CREATE TABLE " + name_ + " (id int PRIMARY KEY, body text)");
  sql("INSERT INTO " + name_ + " SELECT g, repeat(md5(g::text), 6250) FROM generate_series(1, 60) g");
  start_daemon(write_config(service_config(
      {name_}, "snapshot_chunk_rows = 1000\nsnapshot_chunk_bytes = 1048576\n")));

  ASSERT_TRUE(wait_for_metric(by_table("pgcdc_records_delivered_total", "read"), 60, 90s))
      << daemon_->log();
  ASSERT_TRUE(wait_for_metric(
      "pgcdc_table_state{state=\"streaming\",table=\"public." + name_ + "\"}", 1, 30s))
      << daemon_->log();
  auto metrics = scrape();
  // 200,000-byte values: 5 rows fit in 1 MiB, so 12 full chunks and the empty one that ends the
  // table (the first chunk's width comes from a 16-row sample read before it).
  EXPECT_EQ(metrics[by_table("pgcdc_snapshot_chunks_total")], 13) << daemon_->log();
  EXPECT_EQ(metrics[by_table("pgcdc_records_read_total", "read")], 60);
  EXPECT_EQ(metrics[by_table("pgcdc_snapshot_rows")], 60);

  // Every row exactly once, whole.
  auto records = consume_all(test_env().kafka_brokers, topic(name_), 60, 60s);
  ASSERT_EQ(records.size(), 60u);
  std::set<std::string> keys;
  for (const auto& record : records) {
    keys.insert(record.key);
    ASSERT_TRUE(record.value.has_value());
    EXPECT_GT(record.value->size(), 200000u);
  }
  EXPECT_EQ(keys.size(), 60u);
}

TEST_F(Service, EveryMetricIsServedAndMovesAsRecordsFlow) {
  sql("CREATE TABLE " + name_ + " (id int PRIMARY KEY, v text)");
  sql("INSERT INTO " + name_ + " SELECT g, repeat('x', 50) FROM generate_series(1, 2000) g");
  sql("ANALYZE " + name_);
  start_daemon(write_config(service_config({name_}, "snapshot_chunk_rows = 200\n")));

  ASSERT_TRUE(wait_until([&] { return http_get(port_, "/healthz").status == 200; }, 30s))
      << daemon_->log();
  ASSERT_TRUE(wait_until([&] { return http_get(port_, "/readyz").status == 200; }, 60s))
      << http_get(port_, "/readyz").body << daemon_->log();
  ASSERT_TRUE(wait_for_metric(by_table("pgcdc_records_delivered_total", "read"), 2000, 60s))
      << daemon_->log();
  ASSERT_TRUE(wait_for_metric(by_table("pgcdc_snapshot_rows"), 2000, 30s));
  ASSERT_TRUE(wait_for_metric(by_table("pgcdc_snapshot_rows_estimated"), 2000, 30s));
  ASSERT_TRUE(wait_for_metric("pgcdc_confirmed_flush_lsn", 1, 30s));
  ASSERT_TRUE(wait_for_metric(R"(pgcdc_slot_wal_status{status="reserved"})", 1, 30s));
  ASSERT_TRUE(wait_for_metric(
      "pgcdc_table_state{state=\"streaming\",table=\"public." + name_ + "\"}", 1, 30s));

  auto before = scrape();
  const std::vector<std::string> names = {
      by_table("pgcdc_records_read_total", "read"),
      by_table("pgcdc_records_produced_total", "read"),
      by_table("pgcdc_records_delivered_total", "read"),
      by_table("pgcdc_records_failed_total", "insert"),
      by_table("pgcdc_produced_bytes_total"),
      by_table("pgcdc_delivered_bytes_total"),
      by_table("pgcdc_snapshot_chunks_total"),
      by_table("pgcdc_snapshot_rows"),
      by_table("pgcdc_snapshot_rows_estimated"),
      "pgcdc_table_state{state=\"snapshotting\",table=\"public." + name_ + "\"}",
      "pgcdc_buffer_records",
      "pgcdc_buffer_bytes",
      "pgcdc_buffer_capacity_records",
      "pgcdc_buffer_capacity_bytes",
      "pgcdc_buffer_fill_ratio",
      "pgcdc_records_in_flight",
      "pgcdc_sink_queue_records",
      "pgcdc_received_lsn",
      "pgcdc_confirmed_flush_lsn",
      "pgcdc_server_wal_lsn",
      "pgcdc_replication_lag_bytes",
      "pgcdc_end_to_end_latency_seconds_count",
      "pgcdc_end_to_end_latency_seconds_sum",
      R"(pgcdc_end_to_end_latency_seconds_bucket{le="+Inf"})",
      "pgcdc_slot_retained_wal_bytes",
      R"(pgcdc_slot_wal_status{status="lost"})",
      "pgcdc_slot_active",
      "pgcdc_slot_confirmed_flush_lsn",
      "pgcdc_slot_sample_errors_total",
      "pgcdc_reconnects_total",
      R"(pgcdc_errors_total{stage="source"})",
      R"(pgcdc_errors_total{stage="sink"})",
      "pgcdc_transactions_total",
      "pgcdc_replication_received_bytes_total",
      "pgcdc_replication_received_segments_total",
      "pgcdc_replication_reserve_naps_total",
      "pgcdc_snapshot_chunk_retries_total",
      "pgcdc_unknown_type_values_total",
      "pgcdc_streaming",
      "pgcdc_snapshotting",
      "pgcdc_ready",
      "pgcdc_start_time_seconds"};
  for (const auto& name : names) EXPECT_TRUE(before.count(name)) << "missing: " << name;
  bool build_info = false;
  for (const auto& [series, value] : before) {
    if (series.rfind("pgcdc_build_info{", 0) == 0 && value == 1) build_info = true;
  }
  EXPECT_TRUE(build_info);

  EXPECT_EQ(before[by_table("pgcdc_records_read_total", "read")], 2000);
  EXPECT_EQ(before[by_table("pgcdc_records_produced_total", "read")], 2000);
  EXPECT_EQ(before[by_table("pgcdc_records_failed_total", "read")], 0);
  EXPECT_EQ(before[by_table("pgcdc_snapshot_chunks_total")], 11);  // 10 full chunks + the empty end
  EXPECT_EQ(before[by_table("pgcdc_snapshot_rows_estimated")], 2000);
  EXPECT_GT(before[by_table("pgcdc_delivered_bytes_total")], 2000 * 50);
  EXPECT_EQ(before["pgcdc_streaming"], 1);
  EXPECT_EQ(before["pgcdc_ready"], 1);
  EXPECT_EQ(before["pgcdc_slot_active"], 1);
  EXPECT_GT(before["pgcdc_slot_retained_wal_bytes"], 0);
  EXPECT_EQ(before["pgcdc_buffer_capacity_records"], 100000);
  EXPECT_EQ(before["pgcdc_reconnects_total"], 0);

  // Changes: every counter of their operations moves, and so do positions and latency.
  sql("INSERT INTO " + name_ + " SELECT g, 'new' FROM generate_series(2001, 2100) g");
  sql("UPDATE " + name_ + " SET v = 'changed' WHERE id <= 10");
  sql("DELETE FROM " + name_ + " WHERE id BETWEEN 11 AND 15");
  ASSERT_TRUE(wait_for_metric(by_table("pgcdc_records_delivered_total", "tombstone"), 5, 60s));
  ASSERT_TRUE(wait_until(
      [&] { return metric("pgcdc_confirmed_flush_lsn") > before["pgcdc_confirmed_flush_lsn"]; },
      30s));
  // The socket counters are sampled once a second: wait for the sample that saw the changes'
  // bytes. (Not for segments: the server's pure ACKs of status updates count as segments, so a
  // sample can see segments move before the changes arrived.)
  ASSERT_TRUE(wait_until(
      [&] {
        return metric("pgcdc_replication_received_bytes_total") >
               before["pgcdc_replication_received_bytes_total"];
      },
      30s));
  auto after = scrape();
  EXPECT_GT(after["pgcdc_replication_received_segments_total"],
            before["pgcdc_replication_received_segments_total"]);
  // A segment carries at least one byte of payload; pure ACKs from the server count as segments
  // too, but the changes alone are thousands of bytes in a handful of segments.
  EXPECT_GT(after["pgcdc_replication_received_bytes_total"],
            after["pgcdc_replication_received_segments_total"]);
  for (const char* family : {"pgcdc_records_read_total", "pgcdc_records_produced_total",
                             "pgcdc_records_delivered_total"}) {
    EXPECT_EQ(after[by_table(family, "insert")], 100) << family;
    EXPECT_EQ(after[by_table(family, "update")], 10) << family;
    EXPECT_EQ(after[by_table(family, "delete")], 5) << family;
    EXPECT_EQ(after[by_table(family, "tombstone")], 5) << family;
  }
  for (const auto& name :
       {by_table("pgcdc_produced_bytes_total"), by_table("pgcdc_delivered_bytes_total"),
        std::string("pgcdc_end_to_end_latency_seconds_count"), std::string("pgcdc_received_lsn"),
        std::string("pgcdc_confirmed_flush_lsn"), std::string("pgcdc_server_wal_lsn"),
        std::string("pgcdc_transactions_total")}) {
    EXPECT_GT(after[name], before[name]) << name;
  }
  EXPECT_GE(after["pgcdc_transactions_total"] - before["pgcdc_transactions_total"], 3);
  EXPECT_EQ(after["pgcdc_records_in_flight"], 0);
  EXPECT_EQ(after["pgcdc_buffer_fill_ratio"], 0);

  HttpResponse ready = http_get(port_, "/readyz");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(ready.body, "ok: streaming\n");
  EXPECT_EQ(http_get(port_, "/healthz").body, "ok: streaming\n");
  stop_daemon();
  EXPECT_EQ(http_get(port_, "/healthz").status, 0) << "the endpoint outlived the daemon";
}

TEST_F(Service, ReadyzSaysWhyWhileKafkaIsUnreachable) {
  sql("CREATE TABLE " + name_ + " (id int PRIMARY KEY)");
  std::string config = service_config({name_});
  // A broker address where nothing listens: the session keeps retrying with backoff.
  auto at = config.find(test_env().kafka_brokers);
  config.replace(at, test_env().kafka_brokers.size(), "127.0.0.1:" + std::to_string(free_port()));
  start_daemon(write_config(config));
  HttpResponse ready;
  ASSERT_TRUE(wait_until(
      [&] {
        ready = http_get(port_, "/readyz");
        return ready.body.find("waiting to retry after: sink not reachable") != std::string::npos;
      },
      60s))
      << ready.status << " " << ready.body << daemon_->log();
  EXPECT_EQ(ready.status, 503);
  EXPECT_EQ(http_get(port_, "/healthz").status, 200);  // alive: backing off is not being stuck
  ASSERT_TRUE(wait_for_metric(R"(pgcdc_errors_total{stage="sink"})", 1, 30s));
  EXPECT_EQ(metric("pgcdc_ready"), 0);
  stop_daemon();
}

// A unix datagram socket standing in for systemd's NOTIFY_SOCKET.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path.c_str());
    ::unlink(path.c_str());
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      ADD_FAILURE() << "cannot bind " << path;
    }
    timeval timeout{0, 100000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  }
  ~NotifySocket() {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  // Every datagram that arrives within `duration`.
  std::vector<std::string> receive_for(std::chrono::milliseconds duration) {
    std::vector<std::string> messages;
    auto deadline = std::chrono::steady_clock::now() + duration;
    char buffer[4096];
    while (std::chrono::steady_clock::now() < deadline) {
      ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n > 0) messages.emplace_back(buffer, static_cast<std::size_t>(n));
    }
    return messages;
  }

 private:
  std::string path_;
  int fd_ = -1;
};

int count_starting_with(const std::vector<std::string>& messages, const std::string& prefix) {
  int n = 0;
  for (const auto& m : messages) n += m.rfind(prefix, 0) == 0 ? 1 : 0;
  return n;
}

TEST_F(Service, TellsSystemdReadyStatusAndPingsTheWatchdogOnlyWhileTheLoopTurns) {
  // Enough small chunks that the snapshot is still running when the table is locked below.
  sql("CREATE TABLE " + name_ + " (id int PRIMARY KEY, v text)");
  sql("INSERT INTO " + name_ + " SELECT g, 'x' FROM generate_series(1, 200000) g");
  NotifySocket notify(dir_ + "/notify.sock");
  // The child inherits the environment at fork: systemd's variables for this one start only.
  ::setenv("NOTIFY_SOCKET", (dir_ + "/notify.sock").c_str(), 1);
  ::setenv("WATCHDOG_USEC", "2000000", 1);  // WatchdogSec=2s: the loop may stall for 1 s
  ::unsetenv("WATCHDOG_PID");
  start_daemon(write_config(service_config({name_}, "snapshot_chunk_rows = 20\n")));
  ::unsetenv("NOTIFY_SOCKET");
  ::unsetenv("WATCHDOG_USEC");

  std::vector<std::string> received;
  ASSERT_TRUE(wait_until(
      [&] {
        for (auto& m : notify.receive_for(200ms)) received.push_back(m);
        return count_starting_with(received, "READY=1") == 1;
      },
      60s))
      << daemon_->log();
  ASSERT_NE(http_get(port_, "/readyz").body.find("snapshotting"), std::string::npos)
      << "the snapshot ended too soon for this test";
  auto alive = notify.receive_for(3s);
  EXPECT_GE(count_starting_with(alive, "WATCHDOG=1"), 4);  // about every 0.5 s
  EXPECT_GE(count_starting_with(alive, "STATUS=snapshotting"), 1);

  // Wedge the source loop: the server process reading its chunks stops answering (SIGSTOP), so
  // the loop waits for the next chunk's rows. (A lock no longer does: a chunk that cannot have
  // its table's lock within a second is tried again later while the loop goes on.)
  // Its last statement names the table while it locks or reads it (not while it begins or
  // commits): look until it is caught doing so.
  std::vector<pid_t> frozen;
  ASSERT_TRUE(wait_until(
      [&] {
        auto readers = db().exec_params(
            "SELECT pid FROM pg_catalog.pg_stat_activity WHERE backend_type = 'client backend' "
            "AND pid <> pg_backend_pid() AND query LIKE '%' || $1 || '%'",
            {name_});
        for (int row = 0; row < PQntuples(readers.get()); ++row) {
          frozen.push_back(static_cast<pid_t>(std::stol(std::string(field(readers.get(), row, 0)))));
        }
        return !frozen.empty();
      },
      10s))
      << "no server process reads this test's chunks";
  for (pid_t pid : frozen) ::kill(pid, SIGSTOP);
  notify.receive_for(2s);  // the loop stops turning; pings may go on for the 1 s of grace
  auto wedged = notify.receive_for(3s);
  EXPECT_EQ(count_starting_with(wedged, "WATCHDOG=1"), 0) << "pinged while the loop was stuck";
  HttpResponse health = http_get(port_, "/healthz");
  EXPECT_EQ(health.status, 503);
  EXPECT_NE(health.body.find("has not turned"), std::string::npos) << health.body;
  for (pid_t pid : frozen) ::kill(pid, SIGCONT);

  auto recovered = notify.receive_for(3s);
  EXPECT_GE(count_starting_with(recovered, "WATCHDOG=1"), 3);
  EXPECT_EQ(http_get(port_, "/healthz").status, 200);

  daemon_->signal(SIGTERM);
  std::vector<std::string> stopping;
  wait_until(
      [&] {
        for (auto& m : notify.receive_for(200ms)) stopping.push_back(m);
        return count_starting_with(stopping, "STOPPING=1") == 1;
      },
      30s);
  EXPECT_EQ(count_starting_with(stopping, "STOPPING=1"), 1);
  EXPECT_EQ(daemon_->wait(60s), 0) << daemon_->log();
}

TEST_F(Service, SighupReopensTheLogFile) {
  sql("CREATE TABLE " + name_ + " (id int PRIMARY KEY)");
  std::string log = dir_ + "/logs/pgcdc.log";
  std::string config = service_config({name_}, "", "file = '" + log + "'\n");
  start_daemon(write_config(config));
  ASSERT_TRUE(wait_until([&] { return http_get(port_, "/readyz").status == 200; }, 60s))
      << read_file(log);
  // The sampler logs the change within a second.
  EXPECT_TRUE(
      wait_until([&] { return read_file(log).find("ready: streaming") != std::string::npos; }, 5s));
  std::filesystem::rename(log, log + ".1");  // what logrotate does
  daemon_->signal(SIGHUP);
  ASSERT_TRUE(wait_until(
      [&] {
        return read_file(log).find("SIGHUP: log file " + log + " reopened") != std::string::npos;
      },
      10s))
      << read_file(log + ".1");
  stop_daemon();
  EXPECT_NE(read_file(log).find("stopped"), std::string::npos);
  EXPECT_EQ(read_file(log + ".1").find("stopped"), std::string::npos);
}

// Stops the shared Kafka broker: run alone. ctest runs it through its own entry
// (integration.ServiceOutage, RUN_SERIAL) with PGCDC_ALLOW_BROKER_STOP=1; elsewhere it skips.
class ServiceOutage : public Service {
 protected:
  void SetUp() override {
    if (!std::getenv("PGCDC_ALLOW_BROKER_STOP")) {
      GTEST_SKIP() << "stops the shared broker; runs as ctest's integration.ServiceOutage";
    }
    Service::SetUp();
  }
  void TearDown() override {
    if (stopped_broker_ &&
        std::system((std::string(PGCDC_SOURCE_DIR) + "/scripts/dev-env kafka-start").c_str()) !=
            0) {
      ADD_FAILURE() << "could not start kafka again";
    }
    Service::TearDown();
  }
  void dev_env(const std::string& command) {
    std::string line = std::string(PGCDC_SOURCE_DIR) + "/scripts/dev-env " + command;
    ASSERT_EQ(std::system(line.c_str()), 0) << line;
  }
  bool stopped_broker_ = false;
};

TEST_F(ServiceOutage, TheBufferFillsWhileTheBrokerIsDownAndDrainsAfter) {
  sql("CREATE TABLE " + name_ + " (id int PRIMARY KEY, v text)");
  // A small buffer and a small producer queue, so that backpressure reaches the buffer quickly;
  // the default message timeout (5 min) outlasts the outage, so nothing fails.
  std::string config = service_config({name_}, "",
                                      "\n[buffer]\nmax_records = 50\n\n[sink.kafka.properties]\n"
                                      "\"queue.buffering.max.messages\" = \"20\"\n");
  start_daemon(write_config(config));
  ASSERT_TRUE(wait_until([&] { return http_get(port_, "/readyz").status == 200; }, 60s))
      << daemon_->log();
  EXPECT_TRUE(wait_until([&] { return metric("pgcdc_buffer_capacity_records") == 50; }, 5s));
  // One record first, so the topic exists before the broker goes away.
  sql("INSERT INTO " + name_ + " VALUES (0, 'first')");
  ASSERT_TRUE(wait_for_metric(by_table("pgcdc_records_delivered_total", "insert"), 1, 60s));

  stopped_broker_ = true;
  dev_env("kafka-stop");
  for (int i = 0; i < 10; ++i) {
    sql("INSERT INTO " + name_ + " SELECT g, 'x' FROM generate_series(" +
        std::to_string(i * 50 + 1) + ", " + std::to_string(i * 50 + 50) + ") g");
  }
  ASSERT_TRUE(wait_until([&] { return metric("pgcdc_buffer_fill_ratio") == 1.0; }, 60s))
      << "fill ratio " << metric("pgcdc_buffer_fill_ratio") << "\n"
      << daemon_->log();
  EXPECT_GT(metric("pgcdc_records_in_flight"), 50);
  HttpResponse ready;
  ASSERT_TRUE(wait_until(
      [&] {
        ready = http_get(port_, "/readyz");
        return ready.status == 503;
      },
      60s))
      << ready.body;
  EXPECT_NE(ready.body.find("no delivery confirmed by the kafka sink"), std::string::npos)
      << ready.body;
  EXPECT_EQ(http_get(port_, "/healthz").status, 200);  // waiting for room is not being stuck

  dev_env("kafka-start");
  stopped_broker_ = false;
  ASSERT_TRUE(wait_for_metric(by_table("pgcdc_records_delivered_total", "insert"), 501, 180s))
      << daemon_->log();
  EXPECT_TRUE(wait_until([&] { return metric("pgcdc_buffer_fill_ratio") == 0.0; }, 30s));
  EXPECT_TRUE(wait_until([&] { return http_get(port_, "/readyz").status == 200; }, 30s));
  EXPECT_EQ(metric(by_table("pgcdc_records_failed_total", "insert")), 0);
  stop_daemon();
}

}  // namespace
}  // namespace pgcdc::test
