// Retained WAL stays bounded on a quiet slot while other databases write: the slot follows the
// server's WAL position (keepalives with nothing in flight, and heartbeat messages).
#include <gtest/gtest.h>

#include <thread>

#include "tests/support/pipeline_fixture.h"

namespace pgcdc::test {
namespace {

using namespace std::chrono_literals;

class Heartbeat : public PipelineTest {};

TEST_F(Heartbeat, RetainedWalStaysBoundedWhileOtherDatabasesWrite) {
  sql("CREATE TABLE " + name_ + " (id int PRIMARY KEY)");  // published, and quiet
  start_daemon(write_config(toml_config({name_}, "heartbeat_interval = '500ms'\n")));
  ASSERT_TRUE(wait_for_slot(60s));
  const std::string other = name_ + "_other";
  sql("CREATE DATABASE " + other);
  {
    std::string url = test_env().pg_url;
    url.replace(url.rfind('/') + 1, std::string::npos, other);
    PgConnection other_db(url, PgConnection::Kind::kQuery, kTestConnectionTimeout);
    other_db.exec("CREATE TABLE busy (id int, v text)");
    for (int round = 0; round < 4; ++round) {  // about 100 MB of WAL the slot must not keep
      other_db.exec("INSERT INTO busy SELECT g, repeat('x', 200) FROM generate_series(1, 100000) g");
    }
  }
  auto retained = [&] {
    auto r = db().exec_params(
        "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint "
        "FROM pg_replication_slots WHERE slot_name = $1",
        {name_});
    return std::stoll(std::string(field(r.get(), 0, 0)));
  };
  long long bytes = retained();
  for (int i = 0; i < 100 && bytes > 1024 * 1024; ++i) {
    std::this_thread::sleep_for(100ms);
    bytes = retained();
  }
  EXPECT_LT(bytes, 1024 * 1024) << "the quiet slot keeps " << bytes << " bytes of WAL";
  stop_daemon();
  sql("DROP DATABASE " + other);
}

}  // namespace
}  // namespace pgcdc::test
