#include "tests/support/test_env.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <utility>

namespace pgcdc::test {
namespace {

std::string env_or_empty(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

// Each variable and the field it fills: from the environment first, else from the dev env's file.
constexpr std::pair<const char*, std::string TestEnv::*> kVariables[] = {
    {"PGCDC_PG_URL", &TestEnv::pg_url},
    {"PGCDC_KAFKA_BROKERS", &TestEnv::kafka_brokers},
    {"PGCDC_DEV_DIR", &TestEnv::dev_dir},
    {"PGCDC_KAFKA_SECURE_BROKERS", &TestEnv::kafka_secure_brokers},
    {"PGCDC_KAFKA_CA", &TestEnv::kafka_ca},
    {"PGCDC_KAFKA_SASL_USER", &TestEnv::kafka_sasl_user},
    {"PGCDC_KAFKA_SASL_PASSWORD", &TestEnv::kafka_sasl_password},
    {"PGCDC_KAFKA_MTLS_BROKERS", &TestEnv::kafka_mtls_brokers},
    {"PGCDC_KAFKA_CLIENT_CERT", &TestEnv::kafka_client_cert},
    {"PGCDC_KAFKA_CLIENT_KEY", &TestEnv::kafka_client_key},
    {"PGCDC_KAFKA_UNTRUSTED_CLIENT_CERT", &TestEnv::kafka_untrusted_client_cert},
    {"PGCDC_KAFKA_UNTRUSTED_CLIENT_KEY", &TestEnv::kafka_untrusted_client_key},
    {"PGCDC_KAFKA_PROXIED_BROKERS", &TestEnv::kafka_proxied_brokers},
    {"PGCDC_KAFKA_PROXIED_UPSTREAM", &TestEnv::kafka_proxied_upstream},
    {"PGCDC_PG_BIN", &TestEnv::pg_bin},
};

TestEnv load() {
  TestEnv env;
  for (const auto& [name, field] : kVariables) env.*field = env_or_empty(name);
  if (!env.pg_url.empty() && !env.kafka_brokers.empty() && !env.kafka_secure_brokers.empty() &&
      !env.kafka_mtls_brokers.empty() && !env.kafka_proxied_brokers.empty()) {
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
    for (const auto& [variable, field] : kVariables) {
      if (name == variable && (env.*field).empty()) env.*field = value;
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
