// PgConnection against the real PostgreSQL: every wait for the server ends after the connection
// timeout of silence when the network is gone (a black-hole proxy, tests/support), but not while
// the server is working on the command (a lock wait, a slot creation waiting for a transaction).
#include <gtest/gtest.h>

#include <thread>

#include "connector/pg_connection.h"
#include "tests/support/black_hole_proxy.h"
#include "tests/support/test_env.h"

namespace pgcdc::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string option(PGconn* conn, const std::string& keyword) {
  std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> options(PQconninfo(conn),
                                                                       &PQconninfoFree);
  for (PQconninfoOption* o = options.get(); o->keyword != nullptr; ++o) {
    if (keyword == o->keyword) return o->val ? o->val : "";
  }
  return "?";
}

TEST(ConnectionTimeout, SetsKeepalivesAndTimeoutsUnlessTheUrlSetsThem) {
  PgConnection db(test_env().pg_url, PgConnection::Kind::kQuery, 30s);
  EXPECT_EQ(option(db.raw(), "connect_timeout"), "30");
  EXPECT_EQ(option(db.raw(), "keepalives"), "1");
  EXPECT_EQ(option(db.raw(), "keepalives_idle"), "10");
  EXPECT_EQ(option(db.raw(), "keepalives_interval"), "5");
  EXPECT_EQ(option(db.raw(), "keepalives_count"), "4");
  EXPECT_EQ(option(db.raw(), "tcp_user_timeout"), "30000");
  // The user's URL wins over the derived values (not over pgcdc's session settings).
  PgConnection custom(test_env().pg_url + "?keepalives_idle=7&application_name=mine",
                      PgConnection::Kind::kQuery, 30s);
  EXPECT_EQ(option(custom.raw(), "keepalives_idle"), "7");
  EXPECT_EQ(option(custom.raw(), "application_name"), "pgcdc");
}

TEST(ConnectionTimeout, AQueryIntoABlackHoleFailsAfterTheTimeoutNamingTheConnection) {
  BlackHoleProxy proxy(test_env().pg_url);
  PgConnection db(proxy.url(), PgConnection::Kind::kQuery, 2s);
  EXPECT_EQ(db.name(), "query connection to 127.0.0.1:" + std::to_string(proxy.port()));
  db.exec("SELECT 1");
  proxy.freeze();
  const auto start = Clock::now();
  try {
    db.exec("SELECT 1");
    FAIL() << "a query into a black hole returned";
  } catch (const PgError& e) {
    const auto waited = Clock::now() - start;
    EXPECT_TRUE(e.transient());
    const std::string message = e.what();
    EXPECT_NE(message.find(db.name() + ": SELECT 1: no answer from the server for 2 s"),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("presumed dead"), std::string::npos) << message;
    EXPECT_GE(waited, 2s) << message;
    EXPECT_LT(waited, 4s) << message;
  }
  // Closed: the next call fails at once instead of waiting again.
  const auto again = Clock::now();
  try {
    db.exec("SELECT 1");
    FAIL() << "a closed connection ran a query";
  } catch (const PgError& e) {
    EXPECT_LT(Clock::now() - again, 500ms) << e.what();
    EXPECT_TRUE(e.transient()) << e.what();
  }
  proxy.resume();
}

TEST(ConnectionTimeout, ACopyIntoABlackHoleFailsAfterTheTimeout) {
  BlackHoleProxy proxy(test_env().pg_url);
  PgConnection db(proxy.url(), PgConnection::Kind::kQuery, 2s);
  ASSERT_EQ(PQsendQuery(db.raw(),
                        "COPY (SELECT g, repeat('x', 1000) FROM "
                        "generate_series(1, 1000000) g) TO STDOUT"),
            1);
  PgResult copying = db.get_result("copying");
  ASSERT_EQ(PQresultStatus(copying.get()), PGRES_COPY_OUT);
  char* row = nullptr;
  ASSERT_GT(db.get_copy_data(&row, "copying"), 0);
  PQfreemem(row);
  proxy.freeze();
  // What was on its way still arrives; then nothing.
  auto last_row = Clock::now();
  try {
    for (;;) {
      const int length = db.get_copy_data(&row, "copying");
      ASSERT_GT(length, 0) << "the COPY ended through a frozen proxy";
      PQfreemem(row);
      last_row = Clock::now();
    }
  } catch (const PgError& e) {
    const auto waited = Clock::now() - last_row;
    EXPECT_NE(std::string(e.what()).find("copying: no answer from the server"), std::string::npos)
        << e.what();
    EXPECT_GE(waited, 2s) << e.what();
    EXPECT_LT(waited, 4s) << e.what();
  }
  proxy.resume();
}

TEST(ConnectionTimeout, ALockWaitLongerThanTheTimeoutIsNotTakenForADeadConnection) {
  PgConnection setup(test_env().pg_url, PgConnection::Kind::kQuery, kTestConnectionTimeout);
  const std::string table = unique_name("lock_wait");
  setup.exec("CREATE TABLE " + table + " (id int PRIMARY KEY)");
  PgConnection locker(test_env().pg_url, PgConnection::Kind::kQuery, kTestConnectionTimeout);
  locker.exec("BEGIN");
  locker.exec("LOCK TABLE " + table + " IN ACCESS EXCLUSIVE MODE");
  std::thread release([&] {
    std::this_thread::sleep_for(5s);
    locker.exec("COMMIT");
  });
  PgConnection db(test_env().pg_url, PgConnection::Kind::kQuery, 2s);
  const auto start = Clock::now();
  EXPECT_NO_THROW(db.exec("SELECT count(*) FROM " + table));
  EXPECT_GE(Clock::now() - start, 4s) << "the query did not wait for the lock";
  release.join();
  setup.exec("DROP TABLE " + table);
}

TEST(ConnectionTimeout, ASlotCreationWaitingForATransactionIsNotTakenForADeadConnection) {
  // CREATE_REPLICATION_SLOT waits until every transaction with an xid that was running has ended.
  PgConnection setup(test_env().pg_url, PgConnection::Kind::kQuery, kTestConnectionTimeout);
  PgConnection blocker(test_env().pg_url, PgConnection::Kind::kQuery, kTestConnectionTimeout);
  blocker.exec("BEGIN");
  blocker.exec("SELECT pg_catalog.txid_current()");
  std::thread release([&] {
    std::this_thread::sleep_for(5s);
    blocker.exec("COMMIT");
  });
  const std::string slot = unique_name("slot_wait");
  {
    PgConnection replication(test_env().pg_url, PgConnection::Kind::kReplication, 2s);
    const auto start = Clock::now();
    EXPECT_NO_THROW(replication.exec("CREATE_REPLICATION_SLOT " + slot +
                                     " LOGICAL pgoutput (SNAPSHOT 'nothing')"));
    EXPECT_GE(Clock::now() - start, 4s) << "the slot creation did not wait for the transaction";
  }
  release.join();
  setup.exec_params("SELECT pg_catalog.pg_drop_replication_slot($1)", {slot});
}

}  // namespace
}  // namespace pgcdc::test
