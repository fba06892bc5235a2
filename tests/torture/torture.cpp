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

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <thread>

#include "tests/support/daemon_process.h"
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

struct Options {
  int seconds = 60;
  std::uint64_t seed = 0;
  bool exactly_once = false;
};

[[noreturn]] void usage(const std::string& error) {
  std::cerr << "pgcdc_torture: " << error
            << "\nusage: pgcdc_torture --seconds N --seed S [--mode at_least_once|exactly_once]\n";
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
  void start_daemon();
  bool caught_up(std::chrono::milliseconds timeout);
  void fault();
  void dev_env(const std::string& command);
  pid_t kafka_pid();
  bool daemon_alive();

  Options options_;
  std::mt19937_64 random_;
  const test::TestEnv& env_ = test::test_env();
  std::unique_ptr<PgConnection> db_;
  std::string name_, dir_, config_path_;
  std::vector<TableShape> tables_;
  std::unique_ptr<Writer> writer_;
  std::unique_ptr<test::DaemonProcess> daemon_, second_;
  int starts_ = 0;
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
  const char* records[] = {"16", "1000", "100000"};
  const char* bytes[] = {"65536", "262144", "1048576"};
  std::string text = "[source]\nurl = '" + env_.pg_url + "'\ntables = [" + list + "]\n" +
                     "slot_name = '" + name_ + "'\npublication_name = '" + name_ + "'\n" +
                     "snapshot_chunk_rows = " + std::to_string(std::max<std::uint32_t>(chunk, 1)) +
                     "\nstandby_interval = '1s'\n" + "\n[sink.kafka]\nbrokers = '" +
                     env_.kafka_brokers + "'\ntopic_prefix = '" + name_ + "'\n";
  if (options_.exactly_once) text += "delivery = 'exactly_once'\ntransaction_interval = '50ms'\n";
  text += "\n[buffer]\nmax_records = " + std::string(records[buffer]) +
          "\nmax_bytes = " + bytes[buffer] + "\n\n[offsets]\npath = '" + dir_ +
          "/offsets.json'\n\n[metrics]\n"
          "listen = ''\n\n[log]\nlevel = 'info'\n";
  say("config: snapshot_chunk_rows " + std::to_string(std::max<std::uint32_t>(chunk, 1)) +
      ", buffer " + records[buffer] + " records / " + bytes[buffer] + " bytes, " +
      (options_.exactly_once ? "exactly_once" : "at_least_once"));
  return text;
}

void Run::start_daemon() {
  daemon_ = std::make_unique<test::DaemonProcess>(
      std::vector<std::string>{"run", "-c", config_path_}, dir_ + "/pgcdc.log");
  daemon_->start();
  ++starts_;
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

void Run::fault() {
  static const char* const kFaults[] = {"sigkill",        "sigterm",         "broker-pause",
                                        "broker-restart", "pg-restart-fast", "pg-restart-immediate",
                                        "second-instance"};
  const std::string kind = kFaults[random_() % std::size(kFaults)];
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
    db_ = std::make_unique<PgConnection>(env_.pg_url, PgConnection::Kind::kQuery,
                                         test::kTestConnectionTimeout);
    writer_->resume();
  } else if (kind == "second-instance") {
    // Same configuration: it must stand by, then take over when the first dies.
    second_ = std::make_unique<test::DaemonProcess>(
        std::vector<std::string>{"run", "-c", config_path_}, dir_ + "/pgcdc-second.log");
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
  }
}

int Run::go() {
  name_ = "tt" + std::to_string(options_.seed) + "_" + std::to_string(::getpid());
  dir_ = test::make_temp_dir("pgcdc-torture");
  config_path_ = dir_ + "/pgcdc.toml";
  const std::string mode = options_.exactly_once ? "exactly_once" : "at_least_once";
  say("seed " + std::to_string(options_.seed) + "; replay: tests/torture/run --seconds " +
      std::to_string(options_.seconds) + " --seed " + std::to_string(options_.seed) + " --mode " +
      mode + "; files in " + dir_);
  db_ = std::make_unique<PgConnection>(env_.pg_url, PgConnection::Kind::kQuery,
                                       test::kTestConnectionTimeout);
  const std::string sequence = name_ + "_seq";
  db_->exec("CREATE SEQUENCE " + sequence);
  tables_ = draw_schema(random_, name_);
  std::vector<std::vector<std::vector<std::string>>> keys;
  for (auto& table : tables_) {
    const int rows = static_cast<int>(random_() % 8000);
    keys.push_back(create_table(*db_, table, sequence, rows, random_));
    say("table " + table.name + ": " + kind_name(table.kind) + " key, " + std::to_string(rows) +
        " rows" + (table.toast ? ", TOAST" : "") + (table.nullable ? ", nullable columns" : ""));
  }
  test::write_file(config_path_, config_text());
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
      std::this_thread::sleep_for(std::chrono::milliseconds(1000 + random_() % 5000));
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
        check_table(*db_, table.name, table.sql_name, events, log, verdict);
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
