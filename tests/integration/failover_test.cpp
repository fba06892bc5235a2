// Standby failover: two instances with the same configuration (here: same machine, separate
// working directories). One streams; the other stands by; when the active one dies, the standby
// takes over from the position committed in Kafka, losing nothing and (exactly-once) duplicating
// nothing.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <set>
#include <thread>

#include "tests/support/change_verifier.h"
#include "tests/support/pipeline_fixture.h"

namespace pgcdc::test {
namespace {

using namespace std::chrono_literals;

class Failover : public PipelineTest {};

TEST_F(Failover, TheStandbyTakesOverWhenTheActiveInstanceDiesAndLosesNothing) {
  sql("CREATE TABLE " + name_ + " (id int PRIMARY KEY, v text)");
  sql("INSERT INTO " + name_ + " SELECT g, 'snapshot' FROM generate_series(1, 1000) g");
  std::string text = with_exactly_once(toml_config({name_}, "standby_interval = '500ms'\n"));
  std::string config_a = write_config(text);
  // The standby's own directory: offsets live in Kafka, visible to both.
  std::string dir_b = make_temp_dir("pgcdc-standby");
  std::string text_b = text;
  text_b.replace(text_b.find(dir_ + "/offsets.json"), dir_.size() + 13, dir_b + "/offsets.json");
  std::string config_b = dir_b + "/pgcdc.toml";
  write_file(config_b, text_b);

  start_daemon(config_a);  // A
  ASSERT_TRUE(wait_for_slot(60s)) << daemon_->log();
  DaemonProcess standby({"run", "-c", config_b}, dir_b + "/pgcdc.log");
  standby.start();
  // B must find the slot busy and stand by, without fencing A's producer.
  for (int i = 0; i < 100 && standby.log().find("standing by") == std::string::npos; ++i) {
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_NE(standby.log().find("standing by: replication slot " + name_ + " is in use"),
            std::string::npos) << standby.log();

  sql("INSERT INTO " + name_ + " SELECT g, 'while A runs' FROM generate_series(1001, 2000) g");
  ASSERT_GE(read_topic(topic(name_), 2000, 60s).size(), 2000u);
  EXPECT_TRUE(daemon_->running()) << "the standby disturbed the active instance: " << daemon_->log();

  daemon_->signal(SIGKILL);  // A dies
  daemon_->wait(10s);
  auto killed_at = std::chrono::steady_clock::now();
  sql("INSERT INTO " + name_ + " SELECT g, 'after A died' FROM generate_series(2001, 3000) g");
  bool took_over = false;
  while (std::chrono::steady_clock::now() - killed_at < 30s) {
    auto active = db().exec_params(
        "SELECT 1 FROM pg_replication_slots WHERE slot_name = $1 AND active", {name_});
    if (PQntuples(active.get()) == 1) {
      took_over = true;
      break;
    }
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(took_over) << standby.log();
  auto takeover = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - killed_at);
  std::cout << "standby took over after " << takeover.count() << " ms\n";

  ASSERT_TRUE(wait_for_slot_to_catch_up(120s)) << standby.log();
  auto events = read_topic(topic(name_), 3000, 60s, 2s);
  std::multiset<std::string> keys;
  for (const auto& e : events) keys.insert(e.key);
  for (int id = 1; id <= 3000; ++id) {
    std::string key = "{\"id\":" + std::to_string(id) + "}";
    ASSERT_EQ(keys.count(key), 1u) << key << " (read_committed: exactly once)";
  }
  standby.signal(SIGTERM);
  EXPECT_EQ(standby.wait(60s), 0) << standby.log();
}

// Two instances with one configuration (the offsets file included) started at the same moment:
// PostgreSQL gives the slot to one of them whichever way the race goes (CREATE_REPLICATION_SLOT
// for a new slot, START_REPLICATION for an existing one); the other stands by, leaves the
// publication alone, and takes over when the first dies, losing nothing.
class StartedTogether : public PipelineTest {
 protected:
  // Starts two instances of `config` at once; returns once one streams and the other stands by.
  void start_together(const std::string& config, int round) {
    const std::string tag = dir_ + "/round" + std::to_string(round);
    first_ = std::make_unique<DaemonProcess>(std::vector<std::string>{"run", "-c", config},
                                             tag + "-first.log");
    second_ = std::make_unique<DaemonProcess>(std::vector<std::string>{"run", "-c", config},
                                              tag + "-second.log");
    first_->start();
    second_->start();
    auto deadline = std::chrono::steady_clock::now() + 60s;
    for (;;) {
      ASSERT_TRUE(first_->running()) << "round " << round << ": " << logs();
      ASSERT_TRUE(second_->running()) << "round " << round << ": " << logs();
      const bool first_streams = streams(*first_), second_streams = streams(*second_);
      ASSERT_FALSE(first_streams && second_streams) << "round " << round << ": " << logs();
      if (first_streams && stands_by(*second_)) {
        active_ = first_.get();
        standby_ = second_.get();
        break;
      }
      if (second_streams && stands_by(*first_)) {
        active_ = second_.get();
        standby_ = first_.get();
        break;
      }
      ASSERT_LT(std::chrono::steady_clock::now(), deadline)
          << "round " << round << ": no instance streams, or none stands by: " << logs();
      std::this_thread::sleep_for(20ms);
    }
    std::string standing_by = standby_->log().substr(standby_->log().find("standing by"));
    std::printf("round %d: %s\n", round, standing_by.substr(0, standing_by.find('\n')).c_str());
  }

  static bool streams(DaemonProcess& daemon) {
    return daemon.log().find("streaming from slot") != std::string::npos;
  }
  static bool stands_by(DaemonProcess& daemon) {
    return daemon.log().find("standing by: replication slot") != std::string::npos;
  }
  std::string logs() const {
    return "\n---- first ----\n" + (first_ ? first_->log() : "") + "\n---- second ----\n" +
           (second_ ? second_->log() : "");
  }

  void kill_both() {
    for (auto* daemon : {first_.get(), second_.get()}) {
      if (daemon && daemon->running()) {
        daemon->signal(SIGKILL);
        daemon->wait(10s);
      }
    }
  }

  void TearDown() override {
    if (HasFailure()) std::cerr << logs() << "\n";
    kill_both();
    PipelineTest::TearDown();
  }

  std::unique_ptr<DaemonProcess> first_, second_;
  DaemonProcess* active_ = nullptr;
  DaemonProcess* standby_ = nullptr;
};

TEST_F(StartedTogether, OneStreamsTheOtherStandsByAndTakesOverLosingNothing) {
  const int rows = 2000;
  create_verifier_table(db(), name_, rows);
  const std::string config = write_config(toml_config({name_}, "standby_interval = '200ms'\n"));
  const std::string offsets = dir_ + "/offsets.json";
  std::vector<Write> writes;
  const int rounds = 8;  // the first half on a new slot, the second half on the existing one
  for (int round = 0; round < rounds; ++round) {
    const bool new_slot = round < rounds / 2;
    if (new_slot) {
      // Everything the last round wrote was delivered (caught up below) before the slot goes.
      for (int attempt = 0; attempt < 100 && slot_exists(); ++attempt) {
        try {
          db().exec_params("SELECT pg_drop_replication_slot($1)", {name_});
        } catch (const std::exception&) {
          std::this_thread::sleep_for(100ms);  // its walsender is still exiting
        }
      }
      ASSERT_FALSE(slot_exists());
      sql("DROP PUBLICATION IF EXISTS " + name_);
      std::remove(offsets.c_str());
    }
    start_together(config, round);
    if (HasFatalFailure()) return;
    // The loser left the publication that the winner streams with.
    EXPECT_TRUE(publication_exists()) << "round " << round << ": " << logs();

    // Changes while the active instance streams, while it is killed, and after the standby took
    // over from the committed position (the offsets file both share).
    Writer even(name_, 0, 200, rows + 1 + round * 10000);
    Writer odd(name_, 1, 200, rows + 1 + round * 10000);
    std::thread a([&] { even.run(rows); });
    std::thread b([&] { odd.run(rows); });
    std::this_thread::sleep_for(300ms);
    EXPECT_TRUE(standby_->running()) << "round " << round << ": " << logs();
    EXPECT_FALSE(streams(*standby_)) << "round " << round << ": both stream: " << logs();
    active_->signal(SIGKILL);
    active_->wait(10s);
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (!streams(*standby_) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(20ms);
    }
    a.join();
    b.join();
    ASSERT_TRUE(streams(*standby_)) << "round " << round << ": no takeover: " << logs();
    ASSERT_TRUE(wait_for_slot_to_catch_up(120s)) << "round " << round << ": " << logs();
    EXPECT_TRUE(standby_->running()) << "round " << round << ": " << logs();
    writes.insert(writes.end(), even.writes().begin(), even.writes().end());
    writes.insert(writes.end(), odd.writes().begin(), odd.writes().end());
    kill_both();
  }

  auto events =
      read_topic(topic(name_), static_cast<std::size_t>(rows) + minimum_records(writes), 120s, 3s);
  VerifyReport report = verify_changes(db(), name_, events, writes);
  EXPECT_EQ(report.lost, 0) << report.summary();
  EXPECT_EQ(report.out_of_order, 0) << report.summary();
  EXPECT_EQ(report.wrong_final, 0) << report.summary();
}

}  // namespace
}  // namespace pgcdc::test
