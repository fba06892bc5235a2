// pgcdc: streams PostgreSQL tables into Kafka. See README.md.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include "config/config.h"
#include "daemon/check.h"
#include "daemon/logging.h"
#include "daemon/metrics.h"
#include "daemon/pipeline.h"

namespace {

// Set by SIGTERM/SIGINT; lock-free atomics are async-signal-safe.
std::atomic<bool> g_stop{false};

void on_stop_signal(int) { g_stop = true; }

const char* kUsage =
    "usage: pgcdc <command> [options]\n"
    "\n"
    "commands:\n"
    "  run -c FILE     stream the configured tables into the sink until stopped\n"
    "  check -c FILE   print the effective config (secrets redacted) and check the environment\n"
    "  version         print the version\n"
    "\n"
    "options:\n"
    "  -c, --config FILE   configuration file (.toml or .json)\n"
    "  -h, --help          this help\n"
    "\n"
    "exit codes: 0 ok, 1 runtime failure, 2 configuration or usage error\n";

int usage_error(const std::string& message) {
  std::fprintf(stderr, "pgcdc: %s\n\n%s", message.c_str(), kUsage);
  return pgcdc::kExitConfig;
}

int run(const pgcdc::Config& config) {
  std::signal(SIGPIPE, SIG_IGN);
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);

  std::unique_ptr<pgcdc::Metrics> metrics;
  try {
    metrics = std::make_unique<pgcdc::Metrics>(config.metrics.listen);
  } catch (const std::exception& e) {
    spdlog::error("metrics.listen: cannot listen on {}: {}", config.metrics.listen, e.what());
    return pgcdc::kExitConfig;
  }
  if (!config.metrics.listen.empty()) {
    spdlog::info("metrics on http://{}/metrics", config.metrics.listen);
  }
  pgcdc::Pipeline pipeline(config, *metrics);
  pipeline.on_ready = [] { sd_notify(0, "READY=1\nSTATUS=running"); };
  pipeline.on_status = [](const std::string& status) {
    sd_notify(0, ("STATUS=" + status).c_str());
  };
  int code = pipeline.run(g_stop);
  sd_notify(0, "STOPPING=1");
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage_error("no command given");
  std::string command = argv[1];
  if (command == "-h" || command == "--help" || command == "help") {
    std::printf("%s", kUsage);
    return 0;
  }
  if (command == "version" || command == "--version") {
    std::printf("pgcdc %s\n", PGCDC_VERSION);
    return 0;
  }
  if (command != "run" && command != "check") return usage_error("unknown command '" + command + "'");
  std::string config_path;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if ((arg == "-c" || arg == "--config") && i + 1 < argc) {
      config_path = argv[++i];
    } else if (arg.rfind("--config=", 0) == 0) {
      config_path = arg.substr(9);
    } else if (arg == "-h" || arg == "--help") {
      std::printf("%s", kUsage);
      return 0;
    } else {
      return usage_error("unexpected argument '" + arg + "'");
    }
  }
  if (config_path.empty()) return usage_error(command + " needs -c FILE");

  pgcdc::Config config;
  try {
    config = pgcdc::load_config_file(config_path);
    pgcdc::setup_logging(config.log);
  } catch (const pgcdc::ConfigError& e) {
    std::fprintf(stderr, "pgcdc: configuration error in %s: %s\n", config_path.c_str(), e.what());
    return pgcdc::kExitConfig;
  }
  if (command == "check") return pgcdc::run_checks(config);
  return run(config);
}
