// Security end to end, with the real pgcdc binary, PostgreSQL 15 and Kafka:
// - TLS to PostgreSQL through the URL (sslmode=verify-ca with the dev server's self-signed
//   certificate, sslmode=require), proven by pg_stat_ssl for every connection pgcdc opens;
// - a least-privilege role (LOGIN REPLICATION, SELECT on the table, a publication made by an
//   administrator), as docs/security.md describes;
// - the password in the URL never shows: not in the daemon's log, not in /metrics, not in
//   `pgcdc check`, not in the message of a failed start;
// - SASL/PLAIN over TLS to Kafka (the dev broker's SASL_SSL listener), the password read from a
//   file: records arrive, and a wrong password or an unknown certificate stops the start clearly,
//   before any slot or publication exists;
// - SCRAM-SHA-256/512 to the same listener: records arrive where librdkafka can log in to Kafka
//   4.x that way (2.6.1 and later), and the start says why it cannot where it cannot;
// - mutual TLS to Kafka (the dev broker's SSL listener, which requires a client certificate):
//   records arrive with a certificate from the CA the broker trusts, and a certificate from
//   another CA, or none, stops the start clearly, before any slot or publication exists.
// scripts/dev-env makes the certificates (server.crt in the data directory; kafka/tls/broker.crt,
// and kafka/tls/client*.crt for mutual TLS) and turns ssl on.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <thread>

#include "tests/support/http_get.h"
#include "tests/support/pipeline_fixture.h"

namespace pgcdc::test {
namespace {

using namespace std::chrono_literals;

// A TCP port nothing listens on right now (for the metrics endpoint).
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  ::close(fd);
  return port;
}

class Security : public PipelineTest {
 protected:
  void SetUp() override {
    PipelineTest::SetUp();
    if (HasFatalFailure()) return;
    role_ = name_ + "_role";
    password_ = "Pw-" + name_ + "-n0t-in-logs";
    certificate_ = test_env().dev_dir + "/pg/data/server.crt";
    ASSERT_TRUE(std::filesystem::exists(certificate_))
        << certificate_ << " missing: scripts/dev-env up makes it";
  }

  void TearDown() override {
    PipelineTest::TearDown();  // stops the daemon, drops the slot and the publication
    if (!db_) return;
    db_->exec("DROP TABLE IF EXISTS " + db_->quote_identifier(name_));
    // The killed daemon's backends may still be leaving: retry a moment.
    for (int attempt = 0; attempt < 50; ++attempt) {
      try {
        db_->exec("DROP ROLE IF EXISTS " + db_->quote_identifier(role_));
        break;
      } catch (const std::exception&) {
        std::this_thread::sleep_for(100ms);
      }
    }
  }

  // The least-privilege set-up of docs/security.md: the role may log in and replicate and read the
  // table; an administrator made the publication (creating one needs ownership of the tables).
  void create_role_and_table() {
    sql("CREATE ROLE " + db().quote_identifier(role_) + " LOGIN REPLICATION PASSWORD " +
        db().quote_literal(password_));
    sql("CREATE TABLE " + name_ + " (id int PRIMARY KEY, v text)");
    sql("INSERT INTO " + name_ + " SELECT g, 'row ' || g FROM generate_series(1, 10) g");
    sql("GRANT SELECT ON " + name_ + " TO " + db().quote_identifier(role_));
    sql("CREATE PUBLICATION " + name_ + " FOR TABLE " + name_);
  }

  // The dev server's URL (postgres://postgres@127.0.0.1:PORT/pgcdc) as role_ with its password,
  // plus `query` parameters.
  std::string role_url(const std::string& query) const {
    std::string url = test_env().pg_url;
    const std::string user = "postgres@";
    auto at = url.find(user);
    EXPECT_NE(at, std::string::npos) << url;
    url.replace(at, user.size(), role_ + ":" + password_ + "@");
    return url + "?" + query;
  }

  std::string config_with(const std::string& url, const std::string& replication_url,
                          int metrics_port) const {
    std::string config = toml_config({name_}, "replication_url = '" + replication_url + "'\n");
    config.replace(config.find(test_env().pg_url), test_env().pg_url.size(), url);
    std::string listen = "listen = ''";
    config.replace(config.find(listen), listen.size(),
                   "listen = '127.0.0.1:" + std::to_string(metrics_port) + "'");
    return config;
  }

  void expect_no_password(const std::string& where, const std::string& text) const {
    EXPECT_EQ(text.find(password_), std::string::npos) << "the password shows in " << where << ":\n"
                                                       << text;
  }

  std::string role_;
  std::string password_;
  std::string certificate_;
};

TEST_F(Security, TlsToPostgresAsALeastPrivilegeRoleAndThePasswordNeverShows) {
  create_role_and_table();
  // The query connection verifies the server's certificate; the replication connection only
  // requires TLS. Both must end up encrypted.
  const std::string url = role_url("sslmode=verify-ca&sslrootcert=" + certificate_);
  const std::string replication_url = role_url("sslmode=require");
  const int metrics_port = free_port();
  ASSERT_NE(metrics_port, 0);
  const std::string config = write_config(config_with(url, replication_url, metrics_port));

  std::string check_output;
  int check_code = run_pgcdc({"check", "-c", config}, check_output);
  expect_no_password("`pgcdc check`", check_output);
  EXPECT_NE(check_output.find("***"), std::string::npos) << check_output;  // redacted, not dropped
  EXPECT_EQ(check_code, 0) << check_output;

  start_daemon(config);
  auto events = read_topic(topic(name_), 10);
  ASSERT_EQ(events.size(), 10u);
  EXPECT_EQ(events[0].after, R"({"id":1,"v":"row 1"})");
  ASSERT_TRUE(wait_for_slot(60s));
  sql("INSERT INTO " + name_ + " VALUES (11, 'streamed')");
  events = read_topic(topic(name_), 11);
  ASSERT_EQ(events.size(), 11u);
  EXPECT_EQ(events[10].op, "c");

  // Every backend of the role is pgcdc's, and every one is encrypted: the walsender of the slot
  // and the query connection at least.
  auto connections = db().exec_params(
      "SELECT count(*), count(*) FILTER (WHERE s.ssl), "
      "       count(*) FILTER (WHERE a.backend_type = 'walsender' AND s.ssl) "
      "FROM pg_catalog.pg_stat_activity a JOIN pg_catalog.pg_stat_ssl s USING (pid) "
      "WHERE a.usename = $1",
      {role_});
  ASSERT_EQ(PQntuples(connections.get()), 1);
  EXPECT_GE(std::stoi(std::string(field(connections.get(), 0, 0))), 2);
  EXPECT_EQ(field(connections.get(), 0, 0), field(connections.get(), 0, 1))
      << "some connection of " << role_ << " is not encrypted";
  EXPECT_EQ(field(connections.get(), 0, 2), "1");
  auto slot = db().exec_params(
      "SELECT s.ssl, s.version FROM pg_catalog.pg_replication_slots r "
      "JOIN pg_catalog.pg_stat_ssl s ON s.pid = r.active_pid WHERE r.slot_name = $1",
      {name_});
  ASSERT_EQ(PQntuples(slot.get()), 1);
  EXPECT_EQ(field(slot.get(), 0, 0), "t");
  EXPECT_TRUE(field(slot.get(), 0, 1).starts_with("TLS")) << field(slot.get(), 0, 1);

  HttpResponse metrics = http_get(metrics_port, "/metrics");
  EXPECT_EQ(metrics.status, 200);
  expect_no_password("/metrics", metrics.body);
  stop_daemon();
  expect_no_password("the daemon's log", daemon_->log());
  EXPECT_NE(daemon_->log().find("snapshot of public." + name_ + " complete"), std::string::npos)
      << "debug log expected";
}

TEST_F(Security, FailedStartsDoNotShowThePassword) {
  create_role_and_table();
  const int metrics_port = free_port();
  // A missing table: the daemon stops with exit 1 and a message.
  std::string config =
      config_with(role_url("sslmode=require"), role_url("sslmode=require"), metrics_port);
  config.replace(config.find("tables = ['" + name_ + "']"),
                 std::string("tables = ['" + name_ + "']").size(),
                 "tables = ['" + name_ + "_missing']");
  std::string output;
  EXPECT_EQ(run_pgcdc({"run", "-c", write_config(config)}, output), 1) << output;
  EXPECT_NE(output.find("does not exist"), std::string::npos) << output;
  expect_no_password("a failed start", output);

  // A certificate that does not sign the server's: TLS verification fails, clearly.
  const std::string other_certificate = dir_ + "/other.crt";
  std::string command = "openssl req -new -x509 -days 1 -nodes -subj /CN=other -keyout '" + dir_ +
                        "/other.key' -out '" + other_certificate + "' >/dev/null 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  const std::string wrong = role_url("sslmode=verify-ca&sslrootcert=" + other_certificate);
  config = write_config(config_with(wrong, wrong, metrics_port));
  EXPECT_EQ(run_pgcdc({"check", "-c", config}, output), 1) << output;
  EXPECT_NE(output.find("certificate verify failed"), std::string::npos) << output;
  expect_no_password("`pgcdc check` of a failed TLS connection", output);
}

// The configuration of the plain tests, with Kafka reached through the SASL_SSL listener:
// librdkafka's security properties, the password from a file.
class KafkaSecurity : public PipelineTest {
 protected:
  void SetUp() override {
    PipelineTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_FALSE(test_env().kafka_secure_brokers.empty())
        << "no SASL_SSL listener: scripts/dev-env up makes one (PGCDC_KAFKA_SECURE_BROKERS)";
    sql("CREATE TABLE " + name_ + " (id int PRIMARY KEY, v text)");
    sql("INSERT INTO " + name_ + " SELECT g, 'row ' || g FROM generate_series(1, 10) g");
  }
  void TearDown() override {
    PipelineTest::TearDown();
    if (db_) db_->exec("DROP TABLE IF EXISTS " + db_->quote_identifier(name_));
  }

  std::string config(const std::string& password, const std::string& ca,
                     const std::string& mechanism = "PLAIN") {
    const TestEnv& env = test_env();
    write_file(dir_ + "/kafka_password", password);
    std::string text = toml_config({name_}, "",
                                   "\n[sink.kafka.properties]\n"
                                   "'security.protocol' = 'SASL_SSL'\n"
                                   "'sasl.mechanisms' = '" + mechanism + "'\n"
                                   "'sasl.username' = '" + env.kafka_sasl_user + "'\n"
                                   "'sasl.password_file' = '" + dir_ + "/kafka_password'\n"
                                   "'ssl.ca.location' = '" + ca + "'\n");
    const std::string plain = "brokers = '" + env.kafka_brokers + "'";
    text.replace(text.find(plain), plain.size(), "brokers = '" + env.kafka_secure_brokers + "'");
    return write_config(text);
  }

  void require_mtls_listener() {
    ASSERT_FALSE(test_env().kafka_mtls_brokers.empty())
        << "no SSL (mutual TLS) listener: scripts/dev-env up makes one (PGCDC_KAFKA_MTLS_BROKERS); "
           "a broker started by an older dev-env gets it after `scripts/dev-env kafka-stop` and "
           "`scripts/dev-env up`";
  }

  // The configuration of the plain tests, with Kafka reached through the SSL listener (mutual
  // TLS): the broker's certificate checked with its CA, and pgcdc's client certificate and key
  // (none when `certificate` is empty).
  std::string mtls_config(const std::string& certificate, const std::string& key) {
    const TestEnv& env = test_env();
    std::string properties = "\n[sink.kafka.properties]\n"
                             "'security.protocol' = 'SSL'\n"
                             "'ssl.ca.location' = '" + env.kafka_ca + "'\n";
    if (!certificate.empty()) {
      properties += "'ssl.certificate.location' = '" + certificate + "'\n"
                    "'ssl.key.location' = '" + key + "'\n";
    }
    std::string text = toml_config({name_}, "", properties);
    const std::string plain = "brokers = '" + env.kafka_brokers + "'";
    text.replace(text.find(plain), plain.size(), "brokers = '" + env.kafka_mtls_brokers + "'");
    return write_config(text);
  }

  // A start over mutual TLS that the broker refuses: exit 1, a message that names the broker and
  // says the TLS handshake was refused, nothing made.
  void expect_refused_client_certificate(const std::string& certificate, const std::string& key) {
    std::string output;
    EXPECT_EQ(run_pgcdc({"run", "-c", mtls_config(certificate, key)}, output), 1) << output;
    const std::string refused =
        "kafka brokers " + test_env().kafka_mtls_brokers + " refused the connection";
    EXPECT_NE(output.find(refused), std::string::npos) << output;
    EXPECT_NE(output.find("the broker refused the TLS handshake"), std::string::npos) << output;
    EXPECT_NE(output.find("ssl.certificate.location"), std::string::npos) << output;
    expect_no_slot_nor_publication();
  }

  // Nothing made by a start that failed.
  // Runs the daemon with `path`: the 10 snapshot rows and one streamed change arrive (read back
  // through the plain listener: the same broker, the same topic), then it stops.
  void expect_snapshot_and_a_streamed_change(const std::string& path) {
    start_daemon(path);
    auto events = read_topic(topic(name_), 10);
    ASSERT_EQ(events.size(), 10u) << daemon_->log();
    ASSERT_TRUE(wait_for_slot(60s));
    sql("INSERT INTO " + name_ + " VALUES (11, 'streamed')");
    events = read_topic(topic(name_), 11);
    ASSERT_EQ(events.size(), 11u) << daemon_->log();
    EXPECT_EQ(events[10].after, R"({"id":11,"v":"streamed"})");
    stop_daemon();
  }

  void expect_no_slot_nor_publication() {
    auto made = db().exec_params(
        "SELECT (SELECT count(*) FROM pg_catalog.pg_replication_slots WHERE slot_name = $1) + "
        "       (SELECT count(*) FROM pg_catalog.pg_publication WHERE pubname = $1)",
        {name_});
    EXPECT_EQ(field(made.get(), 0, 0), "0") << "a failed start left a slot or a publication";
  }
};

TEST_F(KafkaSecurity, RecordsArriveOverSaslSslAndThePasswordNeverShows) {
  const TestEnv& env = test_env();
  const std::string path = config(env.kafka_sasl_password, env.kafka_ca);
  std::string output;
  EXPECT_EQ(run_pgcdc({"check", "-c", path}, output), 0) << output;
  EXPECT_EQ(output.find(env.kafka_sasl_password), std::string::npos) << output;

  ASSERT_NO_FATAL_FAILURE(expect_snapshot_and_a_streamed_change(path));
  const std::string log = daemon_->log();
  EXPECT_NE(log.find("created for " + env.kafka_secure_brokers), std::string::npos) << log;
  EXPECT_EQ(log.find(env.kafka_sasl_password), std::string::npos) << log;
}

TEST_F(KafkaSecurity, AWrongPasswordStopsTheStartClearlyAndMakesNothing) {
  const std::string wrong = "not-the-" + test_env().kafka_sasl_password;
  std::string output;
  EXPECT_EQ(run_pgcdc({"run", "-c", config(wrong, test_env().kafka_ca)}, output), 1) << output;
  EXPECT_NE(output.find("Authentication failed"), std::string::npos) << output;
  EXPECT_EQ(output.find(wrong), std::string::npos) << output;
  expect_no_slot_nor_publication();
}

// SCRAM against the dev broker (Kafka 4.x), which has the user's SCRAM-SHA-256/512 credentials.
// librdkafka before 2.6.1 repeats the client nonce in its final SCRAM message, and Kafka 4.x
// refuses that as invalid credentials (confluentinc/librdkafka#4895; Debian 12 ships 2.0.2).
// With such a librdkafka the start must stop and say so; with a fixed one, records must arrive.
TEST_F(KafkaSecurity, ScramLogsInWhereLibrdkafkaCanAndTheStartSaysWhyWhereItCannot) {
  const TestEnv& env = test_env();
  for (const char* mechanism : {"SCRAM-SHA-256", "SCRAM-SHA-512"}) {
    SCOPED_TRACE(mechanism);
    const std::string path = config(env.kafka_sasl_password, env.kafka_ca, mechanism);
    std::string output;
    if (rd_kafka_version() >= 0x02060100) {
      EXPECT_EQ(run_pgcdc({"check", "-c", path}, output), 0) << output;
      continue;
    }
    EXPECT_EQ(run_pgcdc({"run", "-c", path}, output), 1) << output;
    EXPECT_NE(output.find("cannot log in to Kafka 4.x brokers with SCRAM"), std::string::npos)
        << output;
    EXPECT_NE(output.find("librdkafka 2.6.1"), std::string::npos) << output;
    EXPECT_EQ(output.find(env.kafka_sasl_password), std::string::npos) << output;
    expect_no_slot_nor_publication();
  }
  if (rd_kafka_version() >= 0x02060100) {
    start_daemon(config(env.kafka_sasl_password, env.kafka_ca, "SCRAM-SHA-512"));
    auto events = read_topic(topic(name_), 10);
    ASSERT_EQ(events.size(), 10u) << daemon_->log();
    stop_daemon();
  }
}

TEST_F(KafkaSecurity, AnUnknownBrokerCertificateStopsTheStartClearlyAndMakesNothing) {
  const std::string other = dir_ + "/other.crt";
  std::string command = "openssl req -new -x509 -days 1 -nodes -subj /CN=other -keyout '" + dir_ +
                        "/other.key' -out '" + other + "' >/dev/null 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  std::string output;
  EXPECT_EQ(run_pgcdc({"run", "-c", config(test_env().kafka_sasl_password, other)}, output), 1)
      << output;
  EXPECT_NE(output.find("certificate verify failed"), std::string::npos) << output;
  expect_no_slot_nor_publication();
}

// The SSL listener requires a client certificate signed by its client CA (client.crt, CN=pgcdc):
// the start, the snapshot and a streamed change go through it.
TEST_F(KafkaSecurity, RecordsArriveOverMutualTls) {
  ASSERT_NO_FATAL_FAILURE(require_mtls_listener());
  const TestEnv& env = test_env();
  const std::string path = mtls_config(env.kafka_client_cert, env.kafka_client_key);
  std::string output;
  EXPECT_EQ(run_pgcdc({"check", "-c", path}, output), 0) << output;

  ASSERT_NO_FATAL_FAILURE(expect_snapshot_and_a_streamed_change(path));
  const std::string log = daemon_->log();
  EXPECT_NE(log.find("created for " + env.kafka_mtls_brokers), std::string::npos) << log;
}

// The broker ends the TLS session with an alert; with TLS 1.3 librdkafka reports it as a
// transport failure ("Receive failed: ... alert certificate unknown"), which must not be retried
// as an unreachable broker.
TEST_F(KafkaSecurity, AClientCertificateFromAnUntrustedCaStopsTheStartClearlyAndMakesNothing) {
  ASSERT_NO_FATAL_FAILURE(require_mtls_listener());
  expect_refused_client_certificate(test_env().kafka_untrusted_client_cert,
                                    test_env().kafka_untrusted_client_key);
}

TEST_F(KafkaSecurity, NoClientCertificateStopsTheStartClearlyAndMakesNothing) {
  ASSERT_NO_FATAL_FAILURE(require_mtls_listener());
  expect_refused_client_certificate("", "");
}

}  // namespace
}  // namespace pgcdc::test
