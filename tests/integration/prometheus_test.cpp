// pgcdc watched by a real Prometheus (Debian's package, installed by scripts/install-deps), against
// the real PostgreSQL 15 and Kafka: `promtool check metrics` finds nothing to lint in a live
// scrape; a Prometheus on loopback, with its data in a temporary directory, scrapes pgcdc, answers
// a query for a pgcdc series through its HTTP API, evaluates packaging/prometheus/alerts.yml
// without errors, and runs every query of the Grafana dashboard.
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "tests/support/daemon_process.h"
#include "tests/support/http_get.h"
#include "tests/support/pipeline_fixture.h"
#include "tests/support/waiting.h"

namespace pgcdc::test {
namespace {

using namespace std::chrono_literals;

std::string url_encode(const std::string& text) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// Runs a shell command; returns its exit status and puts its combined output in `output`.
int run_shell(const std::string& command, std::string& output) {
  output.clear();
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return -1;
  char buffer[4096];
  while (std::fgets(buffer, sizeof buffer, pipe)) output += buffer;
  int status = ::pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool installed(const std::string& program) {
  std::string ignored;
  return run_shell("command -v " + program, ignored) == 0;
}

// Every "expr" in the dashboard's JSON, wherever it sits (panels, rows' panels, variables).
void collect_exprs(const rapidjson::Value& value, std::vector<std::string>& out) {
  if (value.IsObject()) {
    for (const auto& member : value.GetObject()) {
      if (std::string(member.name.GetString()) == "expr" && member.value.IsString()) {
        out.emplace_back(member.value.GetString());
      } else {
        collect_exprs(member.value, out);
      }
    }
  } else if (value.IsArray()) {
    for (const auto& item : value.GetArray()) collect_exprs(item, out);
  }
}

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

class Prometheus : public PipelineTest {
 protected:
  void TearDown() override {
    if (prometheus_ && prometheus_->running()) {
      prometheus_->signal(SIGTERM);
      if (prometheus_->wait(30s) == -1) ADD_FAILURE() << "prometheus did not stop on SIGTERM";
    }
    prometheus_.reset();
    PipelineTest::TearDown();
  }

  // GET on Prometheus's HTTP API: the JSON body ("" when nothing answers).
  std::string api(const std::string& path_and_query) {
    HttpResponse response = http_get(prometheus_port_, path_and_query);
    return response.body;  // the API answers errors in JSON too
  }
  std::string query(const std::string& promql) {
    return api("/api/v1/query?query=" + url_encode(promql));
  }

  std::unique_ptr<DaemonProcess> prometheus_;
  int prometheus_port_ = 0;
};

TEST_F(Prometheus, ScrapesPgcdcEvaluatesTheAlertRulesAndRunsTheDashboardQueries) {
  ASSERT_TRUE(installed("prometheus") && installed("promtool"))
      << "prometheus and promtool are missing: scripts/install-deps installs Debian's prometheus";
  sql("CREATE TABLE " + name_ + " (id int PRIMARY KEY, v text)");
  sql("INSERT INTO " + name_ + " SELECT g, 'v' FROM generate_series(1, 50) g");
  const int pgcdc_port = free_port();
  std::string text = toml_config({name_});
  const std::string off = "listen = ''\n";
  text.replace(
      text.find(off), off.size(),
      "listen = '127.0.0.1:" + std::to_string(pgcdc_port) + "'\nslot_sample_interval = '1s'\n");
  start_daemon(write_config(text));
  ASSERT_EQ(read_topic(topic(name_), 50).size(), 50u) << daemon_->log();
  sql("INSERT INTO " + name_ + " VALUES (51, 'streamed')");
  ASSERT_EQ(read_topic(topic(name_), 51).size(), 51u) << daemon_->log();

  // promtool's linter on what pgcdc serves: names, types, help, units.
  HttpResponse scrape = http_get(pgcdc_port, "/metrics");
  ASSERT_EQ(scrape.status, 200);
  write_file(dir_ + "/scrape.txt", scrape.body);
  std::string lint;
  EXPECT_EQ(run_shell("promtool check metrics < '" + dir_ + "/scrape.txt'", lint), 0) << lint;
  EXPECT_EQ(lint, "") << "promtool check metrics found problems in a live scrape";

  // Prometheus on loopback, data in the test's directory, scraping every second and evaluating
  // the shipped alert rules every second.
  prometheus_port_ = free_port();
  const std::string rules = std::string(PGCDC_SOURCE_DIR) + "/packaging/prometheus/alerts.yml";
  write_file(dir_ + "/prometheus.yml",
             "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
             "rule_files:\n  - '" +
                 rules +
                 "'\n"
                 "scrape_configs:\n  - job_name: pgcdc\n    static_configs:\n"
                 "      - targets: ['127.0.0.1:" +
                 std::to_string(pgcdc_port) + "']\n");
  prometheus_ = std::make_unique<DaemonProcess>(
      "prometheus",
      std::vector<std::string>{"--config.file=" + dir_ + "/prometheus.yml",
                               "--storage.tsdb.path=" + dir_ + "/prometheus-data",
                               "--web.listen-address=127.0.0.1:" + std::to_string(prometheus_port_),
                               "--log.level=warn"},
      dir_ + "/prometheus.log");
  prometheus_->start();

  // A pgcdc series through the HTTP API: the records this test delivered, by table.
  const std::string delivered =
      "pgcdc_records_delivered_total{job=\"pgcdc\",table=\"public." + name_ + "\",op=\"read\"}";
  std::string answer;
  ASSERT_TRUE(wait_until(
      [&] {
        answer = query(delivered);
        return answer.find("\"50\"") != std::string::npos;
      },
      60s))
      << "query " << delivered << " answered: " << answer << "\nprometheus log:\n"
      << read_file(dir_ + "/prometheus.log");
  EXPECT_NE(query("up{job=\"pgcdc\"}").find("\"1\"]"), std::string::npos);

  // The alert rules loaded and evaluated against real series, none in error.
  std::string rules_state;
  ASSERT_TRUE(wait_until(
      [&] {
        rules_state = api("/api/v1/rules");
        return rules_state.find("\"PgcdcNotReady\"") != std::string::npos &&
               rules_state.find("\"lastEvaluation\":\"0001-01-01") == std::string::npos;
      },
      30s))
      << rules_state;
  rapidjson::Document rules_json;
  rules_json.Parse(rules_state.c_str());
  ASSERT_TRUE(rules_json.IsObject() && rules_json.HasMember("data")) << rules_state;
  int evaluated = 0;
  for (const auto& group : rules_json["data"]["groups"].GetArray()) {
    for (const auto& rule : group["rules"].GetArray()) {
      ++evaluated;
      EXPECT_STREQ(rule["health"].GetString(), "ok")
          << rule["name"].GetString() << ": "
          << (rule.HasMember("lastError") ? rule["lastError"].GetString() : "");
    }
  }
  EXPECT_GE(evaluated, 10);

  // Every query of the Grafana dashboard runs, with its variables filled in as Grafana would:
  // the instance variable lists pgcdc_build_info's instances; "All" is ".*".
  EXPECT_NE(api("/api/v1/label/instance/values?match%5B%5D=pgcdc_build_info")
                .find("\"127.0.0.1:" + std::to_string(pgcdc_port) + "\""),
            std::string::npos);
  rapidjson::Document dashboard;
  dashboard.Parse(
      read_file(std::string(PGCDC_SOURCE_DIR) + "/packaging/grafana-dashboard.json").c_str());
  ASSERT_FALSE(dashboard.HasParseError());
  std::vector<std::string> exprs;
  collect_exprs(dashboard, exprs);
  ASSERT_GT(exprs.size(), 20u);
  for (std::string expr : exprs) {
    replace_all(expr, "$instance", ".*");
    replace_all(expr, "$__rate_interval", "1m");
    std::string result = query(expr);
    EXPECT_NE(result.find("\"status\":\"success\""), std::string::npos) << expr << ": " << result;
  }
  stop_daemon();
}

}  // namespace
}  // namespace pgcdc::test
