// The torture harness (docs/torture.md): from a seed, draws tables, a configuration, a workload
// and faults; runs the real pgcdc against the dev environment's PostgreSQL and Kafka while writers
// change the tables and faults strike; then checks every table's topic against the oracle.
//
//   pgcdc_torture --seconds N --seed S [--mode at_least_once|exactly_once]
//
// Exit 0 only when the oracle holds. The last line:
//   torture: seed S, N faults, lost L, stale T, out-of-order O, duplicates D
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <thread>

#include "tests/support/black_hole_proxy.h"
#include "tests/support/daemon_process.h"
#include "tests/support/http_get.h"
#include "tests/support/kafka_consumer.h"
#include "tests/support/pipeline_fixture.h"
#include "tests/support/test_env.h"
#include "tests/torture/oracle.h"
#include "tests/torture/schema.h"
#include "tests/torture/workload.h"

namespace pgcdc::torture {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// How long pgcdc may take to catch up after a fault before the run fails.
constexpr auto kRecoveryBound = 120s;
// How long the snapshots may take to finish once the writer and the faults stop.
constexpr auto kSnapshotBound = 600s;

struct Options {
  int seconds = 60;
  std::uint64_t seed = 0;
  bool exactly_once = false;
  std::vector<std::string> faults;  // --faults a,b: only these kinds (all when empty)
};

[[noreturn]] void usage(const std::string& error) {
  std::cerr << "pgcdc_torture: " << error
            << "\nusage: pgcdc_torture --seconds N --seed S [--mode at_least_once|exactly_once] "
               "[--faults kind,...]\n";
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options options;
  bool seeded = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) usage("missing value after " + arg);
    const std::string value = argv[++i];
    if (arg == "--seconds") {
      options.seconds = std::stoi(value);
    } else if (arg == "--seed") {
      options.seed = std::stoull(value);
      seeded = true;
    } else if (arg == "--faults") {
      for (std::size_t start = 0; start <= value.size();) {
        const std::size_t comma = std::min(value.find(',', start), value.size());
        options.faults.push_back(value.substr(start, comma - start));
        start = comma + 1;
      }
    } else if (arg == "--mode") {
      if (value != "at_least_once" && value != "exactly_once") usage("bad --mode " + value);
      options.exactly_once = value == "exactly_once";
    } else {
      usage("unknown argument " + arg);
    }
  }
  if (!seeded) options.seed = std::random_device{}() % 1000000;
  return options;
}

std::string log_time() {
  char text[32];
  std::time_t now = std::time(nullptr);
  std::strftime(text, sizeof text, "%H:%M:%S", std::localtime(&now));
  return text;
}

void say(const std::string& text) {
  std::cout << "[" << log_time() << "] " << text << std::endl;
}

class Run {
 public:
  Run(Options options) : options_(options), random_(options.seed) {}
  int go();

 private:
  std::string config_text();
  // Writes the configuration to `path` with a fresh metrics port (returned in `metrics_port`).
  std::string write_config(const std::string& path, int& metrics_port);
  void start_daemon();
  // Every table streaming: its snapshot, and any reading again, done.
  bool snapshots_done(std::chrono::milliseconds timeout);
  bool caught_up(std::chrono::milliseconds timeout);
  void fault();
  std::string draw_fault();
  void publication_gap();
  void attach_partition();
  void detach_partition();
  PgConnection& db();
  std::string faults_option() const;
  void dev_env(const std::string& command);
  pid_t kafka_pid();
  bool daemon_alive();

  Options options_;
  std::mt19937_64 random_;
  const test::TestEnv& env_ = test::test_env();
  std::unique_ptr<PgConnection> db_;
  std::string name_, dir_, config_path_;
  std::string config_;    // the configuration but its [metrics] section
  int metrics_port_ = 0;  // daemon_'s
  std::vector<TableShape> tables_;
  std::unique_ptr<Writer> writer_;
  std::unique_ptr<test::DaemonProcess> daemon_, second_;
  int starts_ = 0;
  // pgcdc reaches PostgreSQL and Kafka only through these: a fault freezes one.
  std::unique_ptr<test::BlackHoleProxy> pg_proxy_, kafka_proxy_;
  int connection_timeout_s_ = 30;
  bool alter_publication_ = false;  // pgcdc adds a table back to its publication itself
  // Partitions the harness attached to a partitioned table (it detaches only those: the writer
  // never draws their partition values for new rows).
  struct Attached {
    std::size_t table;
    std::string name;
    int low;             // range: FROM (low) TO (low + 10); list: -1
    std::string region;  // list: the partition's value, as a SQL literal
  };
  std::vector<Attached> attached_;
  int partitions_made_ = 0;
  std::map<std::string, int> faults_;
  std::string failure_;
};

std::string Run::config_text() {
  std::string list;
  for (const auto& table : tables_) list += (list.empty() ? "" : ", ") + table.config_entry();
  // Chunks from 1 row to 100,000 (log-uniform), buffers from tiny to the default.
  const std::uint32_t chunk = static_cast<std::uint32_t>(
      std::exp(std::uniform_real_distribution<>(0, std::log(100000.0))(random_)));
  const int buffer = static_cast<int>(random_() % 3);
  const int timeouts[] = {3, 10, 30};
  connection_timeout_s_ = timeouts[random_() % std::size(timeouts)];
  alter_publication_ = random_() % 2 == 0;
  const char* records[] = {"16", "1000", "100000"};
  const char* bytes[] = {"65536", "262144", "1048576"};
  std::string text = "[source]\nurl = '" + pg_proxy_->url() + "'\ntables = [" + list + "]\n" +
                     "slot_name = '" + name_ + "'\npublication_name = '" + name_ + "'\n" +
                     "snapshot_chunk_rows = " + std::to_string(std::max<std::uint32_t>(chunk, 1)) +
                     "\nstandby_interval = '1s'\nconnection_timeout = '" +
                     std::to_string(connection_timeout_s_) +
                     "s'\nalter_publication = " + (alter_publication_ ? "true" : "false") + "\n" +
                     "\n[sink.kafka]\nbrokers = '" + env_.kafka_proxied_brokers +
                     "'\ntopic_prefix = '" + name_ + "'\n";
  if (options_.exactly_once) text += "delivery = 'exactly_once'\ntransaction_interval = '50ms'\n";
  text += "\n[buffer]\nmax_records = " + std::string(records[buffer]) +
          "\nmax_bytes = " + bytes[buffer] + "\n\n[offsets]\npath = '" + dir_ +
          "/offsets.json'\n\n[log]\nlevel = 'info'\n";
  say("config: snapshot_chunk_rows " + std::to_string(std::max<std::uint32_t>(chunk, 1)) +
      ", buffer " + records[buffer] + " records / " + bytes[buffer] +
      " bytes, connection_timeout " + std::to_string(connection_timeout_s_) +
      "s, alter_publication " + (alter_publication_ ? "true, " : "false, ") +
      (options_.exactly_once ? "exactly_once" : "at_least_once"));
  return text;
}

std::string Run::write_config(const std::string& path, int& metrics_port) {
  // Each process its own metrics port (a standby runs beside the first), else the same file.
  metrics_port = test::free_port();
  test::write_file(
      path, config_ + "\n[metrics]\nlisten = '127.0.0.1:" + std::to_string(metrics_port) + "'\n");
  return path;
}

void Run::start_daemon() {
  daemon_ = std::make_unique<test::DaemonProcess>(
      std::vector<std::string>{"run", "-c", write_config(config_path_, metrics_port_)},
      dir_ + "/pgcdc.log");
  daemon_->start();
  ++starts_;
}

bool Run::snapshots_done(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (!daemon_alive()) return false;
    const std::string metrics = test::http_get(metrics_port_, "/metrics").body;
    bool done = !metrics.empty();
    for (const auto& table : tables_) {
      const std::string line =
          "pgcdc_table_state{state=\"streaming\",table=\"public." + table.name + "\"} 1";
      done = done && metrics.find(line) != std::string::npos;
    }
    if (done) return true;
    std::this_thread::sleep_for(500ms);
  }
  return false;
}

bool Run::daemon_alive() {
  if (daemon_ && daemon_->running()) return true;
  const int code = daemon_ ? daemon_->wait(0ms) : -1;
  failure_ = "pgcdc exited on its own (code " + std::to_string(code) + ")";
  return false;
}

bool Run::caught_up(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::string lsn;
  while (Clock::now() < deadline) {
    if (!daemon_alive()) return false;
    try {
      if (!db_)
        db_ = std::make_unique<PgConnection>(env_.pg_url, PgConnection::Kind::kQuery,
                                             test::kTestConnectionTimeout);
      if (lsn.empty()) {
        auto target = db_->exec("SELECT pg_current_wal_insert_lsn()::text");
        lsn = std::string(field(target.get(), 0, 0));
      }
      auto result = db_->exec_params(
          "SELECT confirmed_flush_lsn >= $2::pg_lsn FROM pg_replication_slots "
          "WHERE slot_name = $1",
          {name_, lsn});
      if (PQntuples(result.get()) == 1 && field(result.get(), 0, 0) == "t") return true;
    } catch (const PgError&) {
      db_.reset();  // PostgreSQL restarting: ask again
    }
    std::this_thread::sleep_for(200ms);
  }
  return false;
}

void Run::dev_env(const std::string& command) {
  const std::string line = "PGCDC_DEV_DIR='" + env_.dev_dir +
                           "' '" PGCDC_SOURCE_DIR "/scripts/dev-env' " + command + " >>'" + dir_ +
                           "/dev-env.log' 2>&1";
  if (std::system(line.c_str()) != 0)
    throw std::runtime_error("scripts/dev-env " + command + " failed");
}

pid_t Run::kafka_pid() {
  std::ifstream file(env_.dev_dir + "/kafka/kafka.pid");
  pid_t pid = 0;
  file >> pid;
  return pid;
}

PgConnection& Run::db() {
  if (!db_)
    db_ = std::make_unique<PgConnection>(env_.pg_url, PgConnection::Kind::kQuery,
                                         test::kTestConnectionTimeout);
  return *db_;
}

std::string Run::faults_option() const {
  std::string list;
  for (const auto& kind : options_.faults) list += (list.empty() ? "" : ",") + kind;
  return list.empty() ? "" : " --faults " + list;
}

std::string Run::draw_fault() {
  std::vector<std::string> kinds = {"sigkill",         "sigterm",         "broker-pause",
                                    "broker-restart",  "pg-restart-fast", "pg-restart-immediate",
                                    "second-instance", "pg-black-hole",   "kafka-black-hole",
                                    "publication-gap"};
  for (const auto& table : tables_) {
    if (table.partitioned()) {
      kinds.push_back(attached_.empty() ? "partition-attach" : "partition-detach");
      break;
    }
  }
  if (!options_.faults.empty()) {
    std::vector<std::string> chosen;
    for (const auto& kind : kinds) {
      if (std::find(options_.faults.begin(), options_.faults.end(), kind) != options_.faults.end())
        chosen.push_back(kind);
    }
    if (chosen.empty()) return "";
    kinds = std::move(chosen);
  }
  return kinds[random_() % kinds.size()];
}

// A table leaves the publication and comes back: pgcdc must see the gap and read the table again.
// With alter_publication it puts the table back itself, or the harness does first; without, it
// must stop (exit 1, naming the fix) and the harness, as a person would, adds the table back and
// starts it again. Meanwhile the writer keeps changing the table, without deletes or key changes
// (their absence could not be told from the table).
void Run::publication_gap() {
  const std::size_t index = random_() % tables_.size();
  const std::string& table = tables_[index].name;  // paused: no rename is open
  writer_->pause();
  writer_->set_unpublished(index, true);
  db().exec("ALTER PUBLICATION " + name_ + " DROP TABLE " + table);
  writer_->resume();
  if (alter_publication_) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500 + random_() % 7500));
  } else {
    // Within a check period (5 s) of the next streamed change; the writer's keep coming.
    if (const int code = daemon_->wait(60s); code != 1) {
      failure_ = "pgcdc did not stop with exit 1 when " + table +
                 " left its publication and alter_publication is false (" +
                 (code < 0 ? "still running after 60 s" : "code " + std::to_string(code)) + ")";
      return;
    }
  }
  writer_->pause();
  for (int attempt = 0;; ++attempt) {
    try {
      auto member = db().exec_params(
          "SELECT 1 FROM pg_publication_rel r JOIN pg_publication p ON p.oid = r.prpubid "
          "WHERE p.pubname = $1 AND r.prrelid = $2::regclass",
          {name_, table});
      if (PQntuples(member.get()) == 0)
        db().exec("ALTER PUBLICATION " + name_ + " ADD TABLE " + table);
      break;
    } catch (const PgError&) {
      if (attempt == 3) throw;  // pgcdc added it between the check and ours: look again
    }
  }
  writer_->set_unpublished(index, false);
  writer_->note_reread(table);
  writer_->resume();
  if (!alter_publication_) start_daemon();
}

// A table made beside a partitioned table, filled, then attached as a new partition: its rows
// were never streamed, so pgcdc must read the table again.
void Run::attach_partition() {
  std::vector<std::size_t> partitioned;
  for (std::size_t t = 0; t < tables_.size(); ++t) {
    if (tables_[t].partitioned()) partitioned.push_back(t);
  }
  const std::size_t index = partitioned[random_() % partitioned.size()];
  TableShape& table = tables_[index];
  Attached part{index, table.name + "_x" + std::to_string(partitions_made_), -1, ""};
  const bool range = table.kind == KeyKind::kRangePartitioned;
  if (range) {
    part.low = 30 + 10 * partitions_made_;
  } else {
    part.region = "'x" + std::to_string(partitions_made_) + "'";
  }
  ++partitions_made_;
  const int rows = random_() % 4 == 0 ? 0 : static_cast<int>(1 + random_() % 3000);
  writer_->pause();
  const std::uint64_t first = table.next_key;
  table.next_key += static_cast<std::uint64_t>(rows);
  db().exec("CREATE TABLE " + part.name + " (LIKE " + table.name + " INCLUDING DEFAULTS)");
  const std::string value = range ? std::to_string(part.low) + " + g % 10" : part.region;
  auto result =
      db().exec("INSERT INTO " + part.name + " (" + table.key_columns[0] + ", " +
                table.key_columns[1] + ", v, t) SELECT g, " + value + ", nextval('" + name_ +
                "_seq'), 'attached' FROM generate_series(" + std::to_string(first) + ", " +
                std::to_string(first + rows) + " - 1) g RETURNING " + table.key_columns[1] +
                ", v, " + table.key_columns[0]);
  db().exec("ALTER TABLE " + table.name + " ATTACH PARTITION " + part.name +
            (range ? " FOR VALUES FROM (" + std::to_string(part.low) + ") TO (" +
                         std::to_string(part.low + 10) + ")"
                   : " FOR VALUES IN (" + part.region + ")"));
  std::vector<std::vector<std::string>> keys;
  std::vector<std::int64_t> vs;
  for (int row = 0; row < PQntuples(result.get()); ++row) {
    const std::string second(field(result.get(), row, 0));
    keys.push_back({std::string(field(result.get(), row, 2)), range ? second : "'" + second + "'"});
    vs.push_back(std::stoll(std::string(field(result.get(), row, 1))));
  }
  if (!keys.empty()) {
    writer_->add_rows(index, keys, vs);
    writer_->note_reread(table.name);
  }
  writer_->resume();
  attached_.push_back(part);
  say("  " + part.name + " attached with " + std::to_string(rows) + " rows");
}

// A partition the harness attached leaves its table. PostgreSQL writes no deletes for its rows,
// and pgcdc sends none (docs/configuration.md): their last records stay in the topic.
void Run::detach_partition() {
  const std::size_t pick = random_() % attached_.size();
  const Attached part = attached_[pick];
  attached_.erase(attached_.begin() + static_cast<std::ptrdiff_t>(pick));
  writer_->pause();
  db().exec("ALTER TABLE " + tables_[part.table].name + " DETACH PARTITION " + part.name);
  auto rows = db().exec("SELECT v FROM " + part.name);
  std::vector<std::int64_t> vs;
  for (int row = 0; row < PQntuples(rows.get()); ++row) {
    vs.push_back(std::stoll(std::string(field(rows.get(), row, 0))));
  }
  writer_->forget_rows(
      part.table,
      [&](const std::vector<std::string>& key) {
        if (part.low < 0) return key[1] == part.region;
        const int bucket = std::stoi(key[1]);
        return bucket >= part.low && bucket < part.low + 10;
      },
      vs);
  db().exec("DROP TABLE " + part.name);
  writer_->resume();
  say("  " + part.name + " detached with " + std::to_string(vs.size()) + " rows");
}

void Run::fault() {
  const std::string kind = draw_fault();
  if (kind.empty()) return;  // none of --faults applies to these tables
  ++faults_[kind];
  say("fault: " + kind);
  if (kind == "sigkill") {
    daemon_->signal(SIGKILL);
    daemon_->wait(10s);
    start_daemon();
  } else if (kind == "sigterm") {
    daemon_->signal(SIGTERM);
    const int code = daemon_->wait(90s);
    if (code != 0)
      failure_ = "pgcdc did not stop cleanly on SIGTERM (code " + std::to_string(code) + ")";
    start_daemon();
  } else if (kind == "broker-pause") {
    const pid_t pid = kafka_pid();
    ::kill(pid, SIGSTOP);
    std::this_thread::sleep_for(std::chrono::milliseconds(1000 + random_() % 8000));
    ::kill(pid, SIGCONT);
  } else if (kind == "broker-restart") {
    dev_env("kafka-stop");
    std::this_thread::sleep_for(std::chrono::milliseconds(random_() % 5000));
    dev_env("kafka-start");
  } else if (kind == "pg-restart-fast" || kind == "pg-restart-immediate") {
    // The writer pauses: a commit cut off by the restart has an unknown outcome.
    writer_->pause();
    db_.reset();
    dev_env(kind == "pg-restart-fast" ? "pg-restart fast" : "pg-restart immediate");
    writer_->resume();
  } else if (kind == "second-instance") {
    // Same configuration: it must stand by, then take over when the first dies.
    int second_port = 0;
    second_ = std::make_unique<test::DaemonProcess>(
        std::vector<std::string>{"run", "-c", write_config(config_path_ + ".second", second_port)},
        dir_ + "/pgcdc-second.log");
    second_->start();
    std::this_thread::sleep_for(std::chrono::milliseconds(1000 + random_() % 3000));
    if (!second_->running()) {
      failure_ = "a second instance exited instead of standing by (code " +
                 std::to_string(second_->wait(0ms)) + ")";
      return;
    }
    daemon_->signal(SIGKILL);
    daemon_->wait(10s);
    daemon_ = std::move(second_);
    metrics_port_ = second_port;
  } else if (kind == "pg-black-hole") {
    // Mostly shorter than source.connection_timeout, which pgcdc must wait out; sometimes up to
    // twice as long, which it must notice.
    const int timeout_ms = 1000 * connection_timeout_s_;
    pg_proxy_->freeze();
    std::this_thread::sleep_for(std::chrono::milliseconds(
        random_() % 3 ? 500 + random_() % timeout_ms : timeout_ms + random_() % timeout_ms));
    pg_proxy_->resume();
  } else if (kind == "kafka-black-hole") {
    // Mostly a stall; sometimes longer than librdkafka's socket timeout (60 s), so that it gives
    // up the connections and makes new ones.
    kafka_proxy_->freeze();
    std::this_thread::sleep_for(std::chrono::milliseconds(
        random_() % 5 ? 500 + random_() % 10000 : 60000 + random_() % 15000));
    kafka_proxy_->resume();
  } else if (kind == "publication-gap") {
    publication_gap();
  } else if (kind == "partition-attach") {
    attach_partition();
  } else if (kind == "partition-detach") {
    detach_partition();
  }
}

int Run::go() {
  name_ = "tt" + std::to_string(options_.seed) + "_" + std::to_string(::getpid());
  dir_ = test::make_temp_dir("pgcdc-torture");
  config_path_ = dir_ + "/pgcdc.toml";
  const std::string mode = options_.exactly_once ? "exactly_once" : "at_least_once";
  say("seed " + std::to_string(options_.seed) + "; replay: tests/torture/run --seconds " +
      std::to_string(options_.seconds) + " --seed " + std::to_string(options_.seed) + " --mode " +
      mode + faults_option() + "; files in " + dir_);
  if (env_.kafka_proxied_brokers.empty() || env_.kafka_proxied_upstream.empty()) {
    throw std::runtime_error(
        "the dev environment has no proxied Kafka listener (PGCDC_KAFKA_PROXIED_BROKERS): it "
        "predates it; restart it with scripts/dev-env kafka-stop, then scripts/dev-env up");
  }
  pg_proxy_ = std::make_unique<test::BlackHoleProxy>(env_.pg_url);
  {
    const std::string& upstream = env_.kafka_proxied_upstream;
    const std::string& advertised = env_.kafka_proxied_brokers;
    const auto colon = upstream.rfind(':');
    kafka_proxy_ = std::make_unique<test::BlackHoleProxy>(
        upstream.substr(0, colon), std::stoi(upstream.substr(colon + 1)),
        std::stoi(advertised.substr(advertised.rfind(':') + 1)));
  }
  const std::string sequence = name_ + "_seq";
  db().exec("CREATE SEQUENCE " + sequence);
  tables_ = draw_schema(random_, name_);
  std::vector<std::vector<std::vector<std::string>>> keys;
  for (auto& table : tables_) {
    const int rows = static_cast<int>(random_() % 8000);
    keys.push_back(create_table(db(), table, sequence, rows, random_));
    say("table " + table.name + ": " + kind_name(table.kind) + " key, " + std::to_string(rows) +
        " rows" + (table.toast ? ", TOAST" : "") + (table.nullable ? ", nullable columns" : ""));
  }
  config_ = config_text();
  start_daemon();
  // Changes from here on are streamed; the snapshot reads what came before.
  const auto slot_deadline = Clock::now() + 60s;
  for (;;) {
    auto result = db_->exec_params(
        "SELECT 1 FROM pg_replication_slots s JOIN pg_stat_replication r ON r.pid = s.active_pid "
        "WHERE s.slot_name = $1",
        {name_});
    if (PQntuples(result.get()) == 1) break;
    if (!daemon_alive() || Clock::now() > slot_deadline) {
      if (failure_.empty()) failure_ = "pgcdc did not start streaming within 60 s";
      break;
    }
    std::this_thread::sleep_for(50ms);
  }
  writer_ = std::make_unique<Writer>(env_.pg_url, tables_, std::move(keys), sequence, random_(),
                                     options_.seconds >= 600);
  std::thread writing([&] { writer_->run(); });

  const auto end = Clock::now() + std::chrono::seconds(options_.seconds);
  try {
    while (failure_.empty() && Clock::now() < end) {
      std::this_thread::sleep_for(std::chrono::milliseconds(500 + random_() % 4000));
      if (Clock::now() >= end || !daemon_alive()) break;
      fault();
      if (failure_.empty() && !caught_up(kRecoveryBound) && failure_.empty()) {
        failure_ = "pgcdc did not catch up within 120 s after the fault";
      }
    }
  } catch (const std::exception& e) {
    failure_ = std::string("the harness failed: ") + e.what();
  }
  writer_->stop();
  writer_->resume();
  writing.join();
  int faults = 0;
  for (const auto& [kind, count] : faults_) faults += count;
  Verdict verdict;
  try {
    // Every table's snapshot (and any reading again) delivered, then the stream caught up.
    if (failure_.empty() && !snapshots_done(kSnapshotBound))
      failure_ = "pgcdc did not finish its snapshots within 600 s at the end";
    if (failure_.empty() && !caught_up(kRecoveryBound))
      failure_ = "pgcdc did not catch up at the end";
    if (failure_.empty()) {
      daemon_->signal(SIGTERM);
      if (const int code = daemon_->wait(90s); code != 0) {
        failure_ = "pgcdc did not stop cleanly at the end (code " + std::to_string(code) + ")";
      }
    }
    if (failure_.empty()) {
      const WriteLog log = writer_->log();
      for (const auto& table : tables_) {
        std::vector<test::ChangeEvent> events;
        for (const auto& message :
             test::consume_to_end(env_.kafka_brokers, name_ + ".public." + table.name, 300s)) {
          events.push_back(test::parse_event(message));
        }
        check_table(db(), table.name, table.sql_name, events, log, verdict);
      }
      std::string kinds;
      for (const auto& [kind, count] : faults_) kinds += " " + kind + "=" + std::to_string(count);
      say(std::to_string(log.transactions) + " transactions committed, " +
          std::to_string(verdict.records) + " records, " + std::to_string(starts_) +
          " starts; faults:" + kinds);
      for (const auto& example : verdict.examples) say("  " + example);
    }
  } catch (const std::exception& e) {
    failure_ = std::string("the harness failed: ") + e.what();
  }
  if (!failure_.empty()) say("FAILED: " + failure_ + " (log: " + dir_ + "/pgcdc.log)");
  if (daemon_ && daemon_->running()) {
    daemon_->signal(SIGKILL);
    daemon_->wait(10s);
  }
  try {  // the slot holds WAL while it exists
    if (!db_)
      db_ = std::make_unique<PgConnection>(env_.pg_url, PgConnection::Kind::kQuery,
                                           test::kTestConnectionTimeout);
    db_->exec_params(
        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
        "WHERE slot_name = $1 AND NOT active",
        {name_});
  } catch (const std::exception&) {
  }
  const std::uint64_t duplicates = options_.exactly_once ? verdict.duplicates : 0;
  std::cout << "torture: seed " << options_.seed << ", " << faults << " faults, lost "
            << verdict.lost << ", stale " << verdict.stale << ", out-of-order "
            << verdict.out_of_order << ", duplicates " << duplicates << std::endl;
  const bool ok = failure_.empty() && verdict.lost == 0 && verdict.stale == 0 &&
                  verdict.out_of_order == 0 && duplicates == 0;
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace pgcdc::torture

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  pgcdc::torture::Options options = pgcdc::torture::parse(argc, argv);
  try {
    return pgcdc::torture::Run(options).go();
  } catch (const std::exception& e) {
    std::cout << "torture: seed " << options.seed << ", FAILED: " << e.what() << std::endl;
    return 1;
  }
}
