// A network black hole between pgcdc and PostgreSQL: a proxy (tests/support/black_hole_proxy.h)
// stops forwarding without closing a socket, as a dead router or a failed-over address does.
// pgcdc must notice within source.connection_timeout on every connection, drop readiness, name
// the connection in its log, and resume from the committed position once the network is back.
// Timing-sensitive (detection within a few seconds): run alone with the fault tests.
#include <gtest/gtest.h>

#include <cstdio>
#include <set>
#include <thread>

#include "tests/support/black_hole_proxy.h"
#include "tests/support/http_get.h"
#include "tests/support/pipeline_fixture.h"

namespace pgcdc::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class BlackHole : public PipelineTest {
 protected:
  // The config with metrics on a free port and source.url (and, with `replication_too`,
  // source.replication_url) through `proxy`.
  std::string config_through(const BlackHoleProxy& proxy, bool replication_too,
                             const std::string& extra_source, const std::string& timeout = "3s") {
    const std::string& url = test_env().pg_url;
    std::string source =
        "connection_timeout = '" + timeout + "'\nstandby_interval = '1s'\n" + extra_source;
    source += "replication_url = '" + (replication_too ? proxy.url() : url) + "'\n";
    std::string text = toml_config({name_}, source);
    const std::string url_line = "url = '" + url + "'\n";
    text.replace(text.find(url_line), url_line.size(), "url = '" + proxy.url() + "'\n");
    port_ = free_port();
    text.replace(text.find("listen = ''"), 11,
                 "listen = '127.0.0.1:" + std::to_string(port_) + "'");
    return text;
  }

  // How long until a line of the daemon's log holds every one of `needles`; nullopt if none did
  // within `timeout`.
  std::optional<std::chrono::milliseconds> wait_for_log_line(
      const std::vector<std::string>& needles, std::chrono::milliseconds timeout,
      std::string* found = nullptr) {
    const auto start = Clock::now();
    while (Clock::now() - start < timeout) {
      std::string log = daemon_->log();
      std::size_t begin = 0;
      while (begin < log.size()) {
        std::size_t end = log.find('\n', begin);
        if (end == std::string::npos) end = log.size();
        std::string line = log.substr(begin, end - begin);
        bool all = true;
        for (const auto& needle : needles) all = all && line.find(needle) != std::string::npos;
        if (all) {
          if (found) *found = line;
          return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
        }
        begin = end + 1;
      }
      std::this_thread::sleep_for(50ms);
    }
    return std::nullopt;
  }

  // Waits until /readyz answers `ready` (200) or not; false on timeout.
  bool wait_for_readiness(bool ready, std::chrono::milliseconds timeout, std::string* body) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      HttpResponse response = http_get(port_, "/readyz");
      if (body) *body = response.body;
      if ((response.status == 200) == ready && response.status != 0) return true;
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }

  // Every id in [1, n] appears as a record key of the topic.
  void expect_all_ids(int n) {
    auto events = read_topic(topic(name_), static_cast<std::size_t>(n), 180s, 2s);
    std::set<std::string> keys;
    for (const auto& e : events) keys.insert(e.key);
    int missing = 0;
    for (int id = 1; id <= n; ++id) {
      if (!keys.count("{\"id\":" + std::to_string(id) + "}") && ++missing < 5) {
        ADD_FAILURE() << "id " << id << " never reached Kafka";
      }
    }
    EXPECT_EQ(missing, 0);
  }

  int port_ = 0;
};

TEST_F(BlackHole, OnTheReplicationConnectionIsDetectedWithinTheTimeoutAndLosesNothing) {
  sql("CREATE TABLE " + name_ + " (id int PRIMARY KEY, v text)");
  sql("INSERT INTO " + name_ + " SELECT g, 'before' FROM generate_series(1, 10) g");
  BlackHoleProxy proxy(test_env().pg_url);
  start_daemon(write_config(config_through(proxy, /*replication_too=*/true, "")));
  ASSERT_EQ(read_topic(topic(name_), 10).size(), 10u) << daemon_->log();
  ASSERT_TRUE(wait_for_slot_to_catch_up(60s)) << daemon_->log();
  std::string body;
  ASSERT_TRUE(wait_for_readiness(true, 30s, &body)) << body;

  // The stream is idle: the walsender would say nothing for wal_sender_timeout / 2 (30 s), so
  // only pgcdc asking for a reply can tell the silence of a dead network from a quiet database.
  proxy.freeze();
  const auto frozen_at = Clock::now();
  sql("INSERT INTO " + name_ + " SELECT g, 'during' FROM generate_series(11, 20) g");
  std::string line;
  auto found = wait_for_log_line(
      {"replication connection", "presumed dead", "restarting from the last committed position"},
      30s, &line);
  ASSERT_TRUE(found) << "a frozen replication connection was never noticed:\n" << daemon_->log();
  const auto detected = Clock::now() - frozen_at;
  std::printf("detected %lld ms after the freeze: %s\n",
              static_cast<long long>(
                  std::chrono::duration_cast<std::chrono::milliseconds>(detected).count()),
              line.c_str());
  // connection_timeout is 3 s; the log is read every 50 ms.
  EXPECT_LT(detected, 4500ms) << line;
  // The session restarts (Phase::kBackoff): not ready while PostgreSQL cannot be reached.
  EXPECT_TRUE(wait_for_readiness(false, 5s, &body)) << body;

  // Nothing is lost once the network is back: the rows written while it was dead and after.
  std::this_thread::sleep_for(4s);  // a few sessions fail to connect through the black hole
  EXPECT_TRUE(daemon_->running());
  proxy.resume();
  sql("INSERT INTO " + name_ + " SELECT g, 'after' FROM generate_series(21, 30) g");
  ASSERT_TRUE(wait_for_slot_to_catch_up(120s)) << daemon_->log();
  expect_all_ids(30);
  EXPECT_TRUE(wait_for_readiness(true, 30s, &body)) << body;
  stop_daemon();
}

TEST_F(BlackHole, DuringASnapshotChunkCopyIsDetectedWithinTheTimeoutAndLosesNothing) {
  constexpr int kRows = 60000;
  sql("CREATE TABLE " + name_ + " (id int PRIMARY KEY, pad text)");
  sql("INSERT INTO " + name_ + " SELECT g, repeat('p', 200) FROM generate_series(1, " +
      std::to_string(kRows) + ") g");
  // Only the query connections pass the proxy: what is frozen is a snapshot chunk's COPY (each
  // chunk is about 1 MB of rows; the freeze comes 4 MB into the snapshot), while the replication
  // connection stays healthy.
  BlackHoleProxy proxy(test_env().pg_url);
  proxy.freeze_after_server_bytes(4u << 20);
  start_daemon(write_config(
      config_through(proxy, /*replication_too=*/false, "snapshot_chunk_rows = 5000\n")));
  const auto started = Clock::now();
  while (!proxy.frozen() && Clock::now() - started < 120s) std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(proxy.frozen()) << "the snapshot never read 4 MB:\n" << daemon_->log();
  const auto frozen_at = Clock::now();

  std::string line;
  auto found = wait_for_log_line(
      {"query connection", "presumed dead", "restarting from the last committed position"}, 30s,
      &line);
  ASSERT_TRUE(found) << "a frozen snapshot chunk COPY was never noticed:\n" << daemon_->log();
  const auto detected = Clock::now() - frozen_at;
  std::printf("detected %lld ms after the freeze: %s\n",
              static_cast<long long>(
                  std::chrono::duration_cast<std::chrono::milliseconds>(detected).count()),
              line.c_str());
  EXPECT_LT(detected, 4500ms) << line;
  EXPECT_NE(line.find("snapshot chunk"), std::string::npos) << line;
  std::string body;
  EXPECT_TRUE(wait_for_readiness(false, 5s, &body)) << body;

  std::this_thread::sleep_for(4s);
  EXPECT_TRUE(daemon_->running());
  proxy.resume();
  expect_all_ids(kRows);
  stop_daemon();
}

TEST_F(BlackHole, AWalsenderSilentlyReplayingALargeTransactionIsNotTakenForOne) {
  // A transaction on a table that is not published: the walsender replays its changes at the
  // commit, filters every one out, and reads no replies meanwhile, so requests for a reply go
  // unanswered for as long as the replay takes (seconds here, much longer than the timeout).
  sql("CREATE TABLE " + name_ + " (id int PRIMARY KEY, v text)");
  sql("CREATE TABLE " + name_ + "_other (id int PRIMARY KEY, v text)");
  BlackHoleProxy proxy(test_env().pg_url);  // only for the config: it never freezes here
  // The shortest timeout: the walsender is looked at after 1.3 s of silence.
  start_daemon(write_config(config_through(proxy, /*replication_too=*/true, "", "2s")));
  ASSERT_TRUE(wait_for_slot(60s)) << daemon_->log();
  sql("INSERT INTO " + name_ +
      "_other SELECT g, repeat('x', 50) FROM generate_series(1, 3000000) g");
  sql("INSERT INTO " + name_ + " VALUES (1, 'after')");
  ASSERT_EQ(read_topic(topic(name_), 1, 180s).size(), 1u) << daemon_->log();
  const std::string log = daemon_->log();
  EXPECT_EQ(log.find("presumed dead"), std::string::npos) << log;
  EXPECT_NE(log.find("the walsender is at work"), std::string::npos)
      << "the replay was too short to test anything:\n"
      << log;
  stop_daemon();
  sql("DROP TABLE " + name_ + "_other");
}

}  // namespace
}  // namespace pgcdc::test
