// `pgcdc check` against broken set-ups on the real PostgreSQL 15 and Kafka: each failure names the
// object and the fix, the exit code says pass (0), fail (1) or bad configuration (2), and no
// password ever appears in the output.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/support/http_get.h"
#include "tests/support/pipeline_fixture.h"

namespace pgcdc::test {
namespace {

using namespace std::chrono_literals;

// The URL of the test server with another user (and password).
std::string url_as(const std::string& user, const std::string& password) {
  std::string url = test_env().pg_url;  // postgres://postgres@127.0.0.1:PORT/pgcdc
  auto at = url.find("postgres@");
  return url.substr(0, at) + user + (password.empty() ? "" : ":" + password) +
         url.substr(at + std::string("postgres").size());
}

class ServiceCheck : public PipelineTest {
 protected:
  void TearDown() override {
    if (!hba_role_.empty()) remove_hba_lines();
    for (const auto& role : roles_) {
      try {
        sql("DROP OWNED BY " + role);
        sql("DROP ROLE IF EXISTS " + role);
      } catch (const std::exception& e) {
        ADD_FAILURE() << "cannot drop role " << role << ": " << e.what();
      }
    }
    PipelineTest::TearDown();
  }

  // Runs `pgcdc check` on a config for `tables` with `url`, returns the exit code and output.
  int check(const std::vector<std::string>& tables, std::string& output,
            const std::string& url = "", const std::string& brokers = "") {
    std::string config = toml_config(tables);
    if (!url.empty()) replace(config, test_env().pg_url, url);
    if (!brokers.empty()) replace(config, test_env().kafka_brokers, brokers);
    return run_pgcdc({"check", "-c", write_config(config)}, output, 60s);
  }
  static void replace(std::string& text, const std::string& from, const std::string& to) {
    auto at = text.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    text.replace(at, from.size(), to);
  }
  std::string role(const std::string& attributes) {
    std::string name = name_ + "_role";
    sql("CREATE ROLE " + name + " " + attributes);
    roles_.push_back(name);
    return name;
  }
  static void expect_line(const std::string& output, const std::string& line) {
    EXPECT_NE(output.find(line), std::string::npos) << "missing: " << line << "\n" << output;
  }

  // pg_hba.conf lines that make `role` authenticate with a password over TCP (the dev server
  // trusts everyone otherwise). Only lines naming this role: the shared server's other users are
  // untouched. Needs a reload, not a restart.
  void require_password_for(const std::string& role_name) {
    auto result = db().exec("SHOW hba_file");
    hba_file_ = std::string(field(result.get(), 0, 0));
    std::ifstream in(hba_file_);
    std::stringstream rest;
    rest << in.rdbuf();
    ASSERT_FALSE(rest.str().empty()) << "cannot read " << hba_file_;
    hba_role_ = role_name;
    std::ofstream out(hba_file_, std::ios::trunc);
    out << "host all " << role_name << " 127.0.0.1/32 scram-sha-256\n"
        << "host replication " << role_name << " 127.0.0.1/32 scram-sha-256\n"
        << rest.str();
    out.close();
    reload();
  }
  void remove_hba_lines() {
    std::ifstream in(hba_file_);
    std::string line, kept;
    while (std::getline(in, line)) {
      if (line.find(" " + hba_role_ + " ") == std::string::npos) kept += line + "\n";
    }
    in.close();
    std::ofstream(hba_file_, std::ios::trunc) << kept;
    reload();
  }
  void reload() {
    sql("SELECT pg_reload_conf()");
    std::this_thread::sleep_for(500ms);  // the postmaster rereads pg_hba.conf asynchronously
  }

  std::vector<std::string> roles_;
  std::string hba_file_;
  std::string hba_role_;
};

TEST_F(ServiceCheck, AllChecksPassOnAGoodSetUp) {
  sql("CREATE TABLE " + name_ + " (id int PRIMARY KEY, v text)");
  std::string output;
  EXPECT_EQ(check({name_}, output), 0) << output;
  expect_line(output, "ok    postgresql connection (source.url): server " +
                          std::to_string(db().server_version() / 10000));
  expect_line(output, "ok    server settings and privileges");
  expect_line(output, "ok    table public." + name_ + ": key (id), 2 column(s)");
  expect_line(output, "ok    publication " + name_ + ": does not exist; it will be created");
  expect_line(output, "ok    replication slot " + name_ + ": does not exist; it will be created");
  expect_line(output, "ok    kafka (sink.kafka.brokers): reachable");
  expect_line(output, "all checks passed");
  // check changes nothing.
  EXPECT_FALSE(slot_exists());
  EXPECT_FALSE(publication_exists());
}

TEST_F(ServiceCheck, AWrongPasswordFailsWithTheFixAndNoPasswordIsPrinted) {
  const std::string right = "Right-Pw-" + name_;
  const std::string wrong = "Wrong-Pw-" + name_;
  std::string user = role("LOGIN REPLICATION PASSWORD '" + right + "'");
  sql("CREATE TABLE " + name_ + " (id int PRIMARY KEY)");
  sql("GRANT SELECT ON " + name_ + " TO " + user);
  require_password_for(user);

  std::string output;
  EXPECT_EQ(check({name_}, output, url_as(user, wrong)), 1) << output;
  expect_line(output, "FAIL  postgresql connection (source.url): cannot connect to PostgreSQL: ");
  expect_line(output, "password authentication failed for user \"" + user + "\"");
  expect_line(output, "check the user and password in source.url (or source.url_file)");
  expect_line(output, "FAIL  replication connection (source.replication_url)");
  expect_line(output, "url = \"postgres://" + user + ":***@");
  expect_line(output, "some checks failed");
  EXPECT_EQ(output.find(wrong), std::string::npos) << "the password was printed:\n" << output;

  // The right password passes, and is not printed either. (The publication is made by the
  // table's owner, as for any least-privilege role: check verifies this role could not.)
  sql("CREATE PUBLICATION " + name_ + " FOR TABLE " + name_);
  EXPECT_EQ(check({name_}, output, url_as(user, right)), 0) << output;
  expect_line(output, "ok    postgresql connection (source.url)");
  EXPECT_EQ(output.find(right), std::string::npos) << "the password was printed:\n" << output;
}

TEST_F(ServiceCheck, ARoleWithoutReplicationFailsWithTheFix) {
  std::string user = role("LOGIN NOREPLICATION");
  sql("CREATE TABLE " + name_ + " (id int PRIMARY KEY)");
  sql("GRANT SELECT ON " + name_ + " TO " + user);
  std::string output;
  EXPECT_EQ(check({name_}, output, url_as(user, "")), 1) << output;
  expect_line(output, "FAIL  server settings and privileges: role " + user +
                          " lacks the REPLICATION attribute needed to stream changes: ALTER ROLE");
  expect_line(output, "FAIL  replication connection (source.replication_url)");
  expect_line(output, "ALTER ROLE <user> REPLICATION");
  expect_line(output, "ok    table public." + name_);  // what can be checked still is
}

TEST_F(ServiceCheck, AMissingTableAndAKeylessTableAreNamedWithTheFix) {
  sql("CREATE TABLE " + name_ + "_nokey (a int, b text)");
  std::string output;
  EXPECT_EQ(check({name_ + "_missing", name_ + "_nokey"}, output), 1) << output;
  expect_line(output, "FAIL  table public." + name_ + "_missing: table public." + name_ +
                          "_missing does not exist (source.tables); create it or fix the name");
  expect_line(output, "FAIL  table public." + name_ + "_nokey: ");
  auto keyless = output.substr(output.find("FAIL  table public." + name_ + "_nokey: "));
  keyless = keyless.substr(0, keyless.find('\n'));
  // The fix: a primary key, a replica identity index, or REPLICA IDENTITY FULL with source.key.
  EXPECT_NE(keyless.find("add a primary key"), std::string::npos) << keyless;
  EXPECT_NE(keyless.find("REPLICA IDENTITY FULL"), std::string::npos) << keyless;
}

TEST_F(ServiceCheck, AnUnreachableBrokerFailsWithTheFix) {
  sql("CREATE TABLE " + name_ + " (id int PRIMARY KEY)");
  std::string output;
  std::string brokers = "127.0.0.1:" + std::to_string(free_port());
  EXPECT_EQ(check({name_}, output, "", brokers), 1) << output;
  expect_line(output, "FAIL  kafka (sink.kafka.brokers): kafka brokers " + brokers +
                          " not reachable within 10000 ms");
  expect_line(output, "check sink.kafka.brokers: are the brokers running");
  expect_line(output, "ok    postgresql connection (source.url)");
}

TEST_F(ServiceCheck, AnUnreachablePostgresqlFailsWithTheFix) {
  std::string output;
  std::string url = "postgres://postgres@127.0.0.1:" + std::to_string(free_port()) + "/pgcdc";
  EXPECT_EQ(check({name_}, output, url), 1) << output;
  expect_line(output, "FAIL  postgresql connection (source.url): cannot connect to PostgreSQL: ");
  expect_line(output, "Connection refused");
  expect_line(output,
              "is PostgreSQL running and listening on that host and port? check source.url");
}

TEST_F(ServiceCheck, AConfigurationErrorExitsTwoBeforeConnecting) {
  std::string config = toml_config({name_});
  replace(config, "slot_name = '" + name_ + "'", "slot_nme = '" + name_ + "'");
  std::string output;
  EXPECT_EQ(run_pgcdc({"check", "-c", write_config(config)}, output), 2) << output;
  expect_line(output, "source.slot_nme: unknown key (did you mean source.slot_name?)");
  EXPECT_EQ(output.find("postgresql connection"), std::string::npos) << output;
}

// wal_level = replica needs a server of its own (changing it needs a restart): a throw-away
// PostgreSQL 15 cluster in a temporary directory, when its binaries are installed.
class PrivateServer {
 public:
  PrivateServer() {
    const char* bin_env = std::getenv("PGCDC_PG_BIN");
    bin_ = bin_env ? bin_env : "/usr/lib/postgresql/15/bin";
    if (::access((bin_ + "/initdb").c_str(), X_OK) != 0) return;
    dir_ = make_temp_dir("pgcdc-walreplica");
    port_ = free_port();
    // initdb and postgres refuse to run as root: run them as the postgres user then.
    as_user_ = ::geteuid() == 0 ? "runuser -u postgres -- " : "";
    if (::geteuid() == 0 && std::system(("chown postgres " + dir_).c_str()) != 0) return;
    std::string data = dir_ + "/data";
    if (run(bin_ + "/initdb -D " + data + " -U postgres -A trust --no-sync") != 0) return;
    started_ = run(bin_ + "/pg_ctl -D " + data + " -l " + dir_ +
                   "/log -w -t 30 -o \"-c wal_level=replica "
                   "-c listen_addresses=127.0.0.1 -c unix_socket_directories=" +
                   dir_ + " -p " + std::to_string(port_) + "\" start") == 0;
  }
  ~PrivateServer() {
    if (started_) run(bin_ + "/pg_ctl -D " + dir_ + "/data -m immediate -w stop");
    if (!dir_.empty()) std::system(("rm -rf " + dir_).c_str());
  }
  bool started() const { return started_; }
  std::string url() const {
    return "postgres://postgres@127.0.0.1:" + std::to_string(port_) + "/postgres";
  }

 private:
  int run(const std::string& command) const {
    return std::system(
        ("cd / && " + as_user_ + command + " >>" + dir_ + "/setup.log 2>&1").c_str());
  }
  std::string bin_, dir_, as_user_;
  int port_ = 0;
  bool started_ = false;
};

TEST_F(ServiceCheck, WalLevelReplicaFailsWithTheSettingToChange) {
  PrivateServer server;
  if (!server.started()) GTEST_SKIP() << "could not start a private PostgreSQL 15 cluster";
  {
    PgConnection db(server.url(), PgConnection::Kind::kQuery, kTestConnectionTimeout);
    db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  }
  std::string output;
  EXPECT_EQ(check({"t"}, output, server.url()), 1) << output;
  expect_line(output, "FAIL  server settings and privileges: ");
  auto line = output.substr(output.find("FAIL  server settings and privileges: "));
  line = line.substr(0, line.find('\n'));
  EXPECT_NE(line.find("wal_level"), std::string::npos) << line;
  EXPECT_NE(line.find("logical"), std::string::npos) << line;
}

}  // namespace
}  // namespace pgcdc::test
