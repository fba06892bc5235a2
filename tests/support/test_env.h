#pragma once
// Where the integration tests find the real PostgreSQL and Kafka that scripts/dev-env started.
#include <chrono>
#include <string>

namespace pgcdc::test {

// source.connection_timeout's default, for the tests' own connections to PostgreSQL.
inline constexpr std::chrono::milliseconds kTestConnectionTimeout{30000};

struct TestEnv {
  std::string pg_url;         // postgres://postgres@127.0.0.1:PORT/pgcdc
  std::string kafka_brokers;  // 127.0.0.1:PORT
  std::string dev_dir;        // scripts/dev-env state directory
  // The same broker's SASL_SSL listener (SASL/PLAIN over TLS with a self-signed certificate).
  std::string kafka_secure_brokers;
  std::string kafka_ca;  // the listener's certificate (PEM), to verify it
  std::string kafka_sasl_user;
  std::string kafka_sasl_password;
  // The same broker's SSL listener (mutual TLS: the broker's certificate is kafka_ca; it requires
  // a client certificate signed by its client CA).
  std::string kafka_mtls_brokers;
  std::string kafka_client_cert;  // CN=pgcdc, signed by the client CA (PEM)
  std::string kafka_client_key;
  std::string kafka_untrusted_client_cert;  // CN=pgcdc, signed by a CA the broker does not trust
  std::string kafka_untrusted_client_key;
  // The same broker's PROXIED listener (PLAINTEXT): it advertises kafka_proxied_brokers, where a
  // test's TCP proxy listens and forwards to kafka_proxied_upstream.
  std::string kafka_proxied_brokers;
  std::string kafka_proxied_upstream;
  // The server's binaries (initdb, pg_ctl, postgres): Debian's 15, or those of `up --pg N`.
  std::string pg_bin;
};

// From PGCDC_PG_URL / PGCDC_KAFKA_BROKERS when set, otherwise from $PGCDC_DEV_DIR/env (written by
// `scripts/dev-env up`). Fails the calling test (ADD_FAILURE + empty strings) when neither exists.
const TestEnv& test_env();

// A name unique to this process and call, for tables, topics, slots: "<prefix>_<pid>_<n>".
std::string unique_name(const std::string& prefix);

}  // namespace pgcdc::test
