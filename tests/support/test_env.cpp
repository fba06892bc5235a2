#include "tests/support/test_env.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>

namespace pgcdc::test {
namespace {

std::string env_or_empty(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

TestEnv load() {
  TestEnv env{env_or_empty("PGCDC_PG_URL"),
              env_or_empty("PGCDC_KAFKA_BROKERS"),
              env_or_empty("PGCDC_DEV_DIR"),
              env_or_empty("PGCDC_KAFKA_SECURE_BROKERS"),
              env_or_empty("PGCDC_KAFKA_CA"),
              env_or_empty("PGCDC_KAFKA_SASL_USER"),
              env_or_empty("PGCDC_KAFKA_SASL_PASSWORD"),
              env_or_empty("PGCDC_KAFKA_MTLS_BROKERS"),
              env_or_empty("PGCDC_KAFKA_CLIENT_CERT"),
              env_or_empty("PGCDC_KAFKA_CLIENT_KEY"),
              env_or_empty("PGCDC_KAFKA_UNTRUSTED_CLIENT_CERT"),
              env_or_empty("PGCDC_KAFKA_UNTRUSTED_CLIENT_KEY")};
  if (!env.pg_url.empty() && !env.kafka_brokers.empty() && !env.kafka_secure_brokers.empty() &&
      !env.kafka_mtls_brokers.empty()) {
    return env;
  }
  std::ifstream file(env.dev_dir + "/env");
  std::string line;
  // Lines look like: export NAME=value
  while (std::getline(file, line)) {
    const std::string prefix = "export ";
    if (line.rfind(prefix, 0) != 0) continue;
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string name = line.substr(prefix.size(), eq - prefix.size());
    std::string value = line.substr(eq + 1);
    if (value.size() >= 2 && (value.front() == '\'' || value.front() == '"')) {
      value = value.substr(1, value.size() - 2);
    }
    if (name == "PGCDC_PG_URL" && env.pg_url.empty()) env.pg_url = value;
    if (name == "PGCDC_KAFKA_BROKERS" && env.kafka_brokers.empty()) env.kafka_brokers = value;
    if (name == "PGCDC_KAFKA_SECURE_BROKERS" && env.kafka_secure_brokers.empty()) {
      env.kafka_secure_brokers = value;
    }
    if (name == "PGCDC_KAFKA_CA" && env.kafka_ca.empty()) env.kafka_ca = value;
    if (name == "PGCDC_KAFKA_SASL_USER" && env.kafka_sasl_user.empty()) env.kafka_sasl_user = value;
    if (name == "PGCDC_KAFKA_SASL_PASSWORD" && env.kafka_sasl_password.empty()) {
      env.kafka_sasl_password = value;
    }
    if (name == "PGCDC_KAFKA_MTLS_BROKERS" && env.kafka_mtls_brokers.empty()) {
      env.kafka_mtls_brokers = value;
    }
    if (name == "PGCDC_KAFKA_CLIENT_CERT" && env.kafka_client_cert.empty()) {
      env.kafka_client_cert = value;
    }
    if (name == "PGCDC_KAFKA_CLIENT_KEY" && env.kafka_client_key.empty()) {
      env.kafka_client_key = value;
    }
    if (name == "PGCDC_KAFKA_UNTRUSTED_CLIENT_CERT" && env.kafka_untrusted_client_cert.empty()) {
      env.kafka_untrusted_client_cert = value;
    }
    if (name == "PGCDC_KAFKA_UNTRUSTED_CLIENT_KEY" && env.kafka_untrusted_client_key.empty()) {
      env.kafka_untrusted_client_key = value;
    }
  }
  return env;
}

}  // namespace

const TestEnv& test_env() {
  static const TestEnv env = load();
  if (env.pg_url.empty() || env.kafka_brokers.empty()) {
    ADD_FAILURE() << "no test environment: run `scripts/dev-env up` or ctest (its fixture starts "
                     "it); PGCDC_DEV_DIR=" << env.dev_dir;
  }
  return env;
}

std::string unique_name(const std::string& prefix) {
  static std::atomic<int> counter{0};
  return prefix + "_" + std::to_string(getpid()) + "_" + std::to_string(++counter);
}

}  // namespace pgcdc::test
