// Invariant 2, no gap and no stale overwrite: writers change the table while pgcdc snapshots it;
// Kafka must end up holding every committed change, in commit order per key, with no snapshot row
// published after a newer change of its key, and the last record per key equal to the table.
#include <gtest/gtest.h>
#include <signal.h>

#include <functional>

#include <thread>

#include "tests/support/change_verifier.h"
#include "tests/support/pipeline_fixture.h"

namespace pgcdc::test {
namespace {

using namespace std::chrono_literals;

class Consistency : public PipelineTest {
 protected:
  // Runs two writers while `during` kills and restarts the daemon as it likes, then verifies.
  void run_and_verify(int rows, const std::string& config, bool duplicates_allowed,
                      const std::function<void()>& during) {
    start_daemon(config);
    ASSERT_TRUE(wait_for_slot(60s)) << daemon_->log();
    Writer even(name_, 0, 1500, rows + 1), odd(name_, 1, 1500, rows + 1);
    std::thread a([&] { even.run(rows); });
    std::thread b([&] { odd.run(rows); });
    during();
    a.join();
    b.join();
    ASSERT_TRUE(wait_for_slot_to_catch_up(120s)) << daemon_->log();
    std::vector<Write> writes = even.writes();
    writes.insert(writes.end(), odd.writes().begin(), odd.writes().end());
    auto events = read_topic(topic(name_), static_cast<std::size_t>(rows) + minimum_records(writes),
                             120s, 3s);
    VerifyReport report = verify_changes(db(), name_, events, writes);
    EXPECT_EQ(report.lost, 0) << report.summary();
    EXPECT_EQ(report.out_of_order, 0) << report.summary();
    EXPECT_EQ(report.wrong_final, 0) << report.summary();
    if (!duplicates_allowed) {
      EXPECT_EQ(report.duplicated, 0) << report.summary();
    }
    stop_daemon();
  }

  void kill_and_restart(const std::string& config) {
    daemon_->signal(SIGKILL);
    daemon_->wait(10s);
    start_daemon(config);
  }
};

TEST_F(Consistency, WritersDuringTheSnapshotLoseNothingAndOverwriteNothing) {
  const int rows = 100000;
  create_verifier_table(db(), name_, rows);
  run_and_verify(rows, write_config(toml_config({name_}, "snapshot_chunk_rows = 1000\n")),
                 /*duplicates_allowed=*/false, [] {});
}

TEST_F(Consistency, KilledMidSnapshotAndMidStreamLosesNothing) {
  const int rows = 50000;
  create_verifier_table(db(), name_, rows);
  std::string config = write_config(toml_config({name_}, "snapshot_chunk_rows = 200\n"));
  run_and_verify(rows, config, /*duplicates_allowed=*/true, [&] {
    read_topic(topic(name_), 3000, 60s);  // mid-snapshot
    kill_and_restart(config);
    read_topic(topic(name_), rows + 3000, 120s);  // snapshot done: mid-stream
    std::this_thread::sleep_for(500ms);
    kill_and_restart(config);
  });
}

// Exactly-once: the same kills; a read_committed reader must see every committed change exactly
// once: no loss, no duplicate, no stale overwrite.
TEST_F(Consistency, ExactlyOnceKilledMidSnapshotAndMidStreamNeitherLosesNorDuplicates) {
  const int rows = 30000;
  create_verifier_table(db(), name_, rows);
  std::string config =
      write_config(with_exactly_once(toml_config({name_}, "snapshot_chunk_rows = 300\n"), "50ms"));
  run_and_verify(rows, config, /*duplicates_allowed=*/false, [&] {
    read_topic(topic(name_), 2000, 60s);
    kill_and_restart(config);
    read_topic(topic(name_), rows + 1000, 120s);
    std::this_thread::sleep_for(300ms);
    kill_and_restart(config);
  });
}

}  // namespace
}  // namespace pgcdc::test
