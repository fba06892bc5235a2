// SIGKILL of pgcdc at random moments during snapshot and stream, many times in a row, with writers
// running; then a verifier reads the topic from the start: lost and out-of-order must be 0 (and
// duplicated too with exactly-once). Bounded by default; PGCDC_FAULT_ROUNDS=N for a longer run.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdlib>
#include <random>
#include <thread>

#include "tests/support/change_verifier.h"
#include "tests/support/pipeline_fixture.h"

namespace pgcdc::test {
namespace {

using namespace std::chrono_literals;

int rounds() {
  const char* text = std::getenv("PGCDC_FAULT_ROUNDS");
  return text ? std::max(1, std::atoi(text)) : 6;
}

class RandomKills : public PipelineTest {
 protected:
  void run(bool exactly_once) {
    const int rows = 20000;
    create_verifier_table(db(), name_, rows);
    std::string text = toml_config({name_}, "snapshot_chunk_rows = 100\n");
    std::string config = write_config(exactly_once ? with_exactly_once(text, "50ms") : text);
    start_daemon(config);
    ASSERT_TRUE(wait_for_slot(60s)) << daemon_->log();

    std::atomic<bool> stop_writers{false};
    Writer even(name_, 0, 1000000, rows + 1), odd(name_, 1, 1000000, rows + 1);
    std::thread a([&] { even.run(rows, &stop_writers); });
    std::thread b([&] { odd.run(rows, &stop_writers); });
    std::mt19937 random(static_cast<unsigned>(std::random_device{}()));
    std::uniform_int_distribution<int> pause_ms(200, 2500);
    const int n = rounds();
    for (int round = 0; round < n; ++round) {
      std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms(random)));
      daemon_->signal(SIGKILL);
      daemon_->wait(10s);
      start_daemon(config);
    }
    std::this_thread::sleep_for(1s);
    stop_writers = true;
    a.join();
    b.join();
    ASSERT_TRUE(wait_for_slot_to_catch_up(180s)) << daemon_->log();
    std::vector<Write> writes = even.writes();
    writes.insert(writes.end(), odd.writes().begin(), odd.writes().end());
    auto events = read_topic(topic(name_), static_cast<std::size_t>(rows) + minimum_records(writes),
                             180s, 3s);
    VerifyReport report = verify_changes(db(), name_, events, writes);
    std::cout << n << " kills, " << writes.size() << " committed changes, " << events.size()
              << " records: " << report.summary() << "\n";
    EXPECT_EQ(report.lost, 0) << report.summary();
    EXPECT_EQ(report.out_of_order, 0) << report.summary();
    EXPECT_EQ(report.wrong_final, 0) << report.summary();
    if (exactly_once) {
      EXPECT_EQ(report.duplicated, 0) << report.summary();
    }
    stop_daemon();
  }
};

TEST_F(RandomKills, AtLeastOnceLosesNothing) { run(false); }
TEST_F(RandomKills, ExactlyOnceLosesAndDuplicatesNothing) { run(true); }

}  // namespace
}  // namespace pgcdc::test
