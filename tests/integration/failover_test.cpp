// Standby failover: two instances with the same configuration (here: same machine, separate
// working directories). One streams; the other stands by; when the active one dies, the standby
// takes over from the position committed in Kafka, losing nothing and (exactly-once) duplicating
// nothing.
#include <gtest/gtest.h>
#include <signal.h>

#include <set>
#include <thread>

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

}  // namespace
}  // namespace pgcdc::test
