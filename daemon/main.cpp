// pgcdc: streams PostgreSQL tables into Kafka. See README.md.
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include "config/config.h"
#include "core/thread_name.h"
#include "daemon/check.h"
#include "daemon/http_endpoint.h"
#include "daemon/logging.h"
#include "daemon/metrics.h"
#include "daemon/pipeline.h"
#include "daemon/server_sampler.h"
#include "daemon/systemd_notifier.h"

namespace {

// Set by the signal handlers; lock-free atomics are async-signal-safe.
std::atomic<bool> g_stop{false};          // SIGTERM, SIGINT: graceful stop
std::atomic<bool> g_reopen_logs{false};   // SIGHUP: reopen log.file

void on_stop_signal(int) { g_stop = true; }
void on_hup_signal(int) { g_reopen_logs = true; }

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
    "signals: SIGTERM/SIGINT stop gracefully, SIGHUP reopens log.file\n"
    "exit codes: 0 ok, 1 runtime failure, 2 configuration or usage error\n";

int usage_error(const std::string& message) {
  std::fprintf(stderr, "pgcdc: %s\n\n%s", message.c_str(), kUsage);
  return pgcdc::kExitConfig;
}

void install_signal_handlers() {
  std::signal(SIGPIPE, SIG_IGN);
  struct sigaction action {};
  sigemptyset(&action.sa_mask);
  action.sa_handler = on_stop_signal;
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
  action.sa_handler = on_hup_signal;
  sigaction(SIGHUP, &action, nullptr);
}

pgcdc::HttpAnswer health_answer(const pgcdc::HealthAnswer& answer, const char* bad_word) {
  return {answer.ok ? 200 : 503, "text/plain; charset=utf-8",
          std::string(answer.ok ? "ok: " : bad_word) + answer.reason + "\n"};
}

int run(const pgcdc::Config& config, pgcdc::LogOutput& log_output) {
  install_signal_handlers();

  // systemd's watchdog (WatchdogSec=): the main loop must turn well within it.
  const auto watchdog = pgcdc::SystemdNotifier::watchdog_interval_from_environment();
  pgcdc::HealthLimits limits;
  if (watchdog.count() > 0) {
    limits.loop_stall = std::chrono::duration_cast<std::chrono::milliseconds>(watchdog / 2);
    spdlog::info("systemd watchdog every {} ms", watchdog.count() / 1000);
  }
  pgcdc::Metrics metrics(config, limits);

  std::unique_ptr<pgcdc::HttpEndpoint> http;
  if (!config.metrics.listen.empty()) {
    pgcdc::HttpEndpoint::Handlers handlers;
    handlers.metrics = [&metrics] { return metrics.text_exposition(); };
    handlers.healthz = [&metrics] { return health_answer(metrics.liveness(), "unhealthy: "); };
    handlers.readyz = [&metrics] { return health_answer(metrics.readiness(), "not ready: "); };
    try {
      http = std::make_unique<pgcdc::HttpEndpoint>(config.metrics.listen, std::move(handlers));
    } catch (const std::exception& e) {
      spdlog::error("metrics.listen: cannot listen on {}: {}", config.metrics.listen, e.what());
      return pgcdc::kExitConfig;
    }
    spdlog::info("metrics on http://{}/metrics, health on /healthz and /readyz",
                 config.metrics.listen);
  }
  // Slot health and row estimates, on its own connection and thread.
  pgcdc::ServerSampler server_sampler(
      config, [&metrics](const pgcdc::ServerSample& sample) { metrics.record_server_sample(sample); });

  // The service thread: SIGHUP, and systemd's READY/STATUS/WATCHDOG/STOPPING.
  pgcdc::SystemdNotifier notifier([](const std::string& message) { sd_notify(0, message.c_str()); },
                                  watchdog);
  auto notifier_inputs = [&metrics](bool stopping) {
    return pgcdc::NotifierInputs{metrics.started(), metrics.liveness().ok, stopping,
                                 metrics.status_line()};
  };
  std::atomic<bool> service_stop{false};
  std::thread service([&] {
    pgcdc::name_this_thread("pgcdc-service");
    while (!service_stop) {
      if (g_reopen_logs.exchange(false)) {
        if (!log_output.to_file()) {
          spdlog::info("SIGHUP: logging to stderr, nothing to reopen (configuration changes "
                       "need a restart)");
        } else if (std::optional<std::string> error = log_output.reopen()) {
          spdlog::error("SIGHUP: cannot reopen log file {}: {}; still writing to the old one",
                        config.log.file, *error);
        } else {
          spdlog::info("SIGHUP: log file {} reopened", config.log.file);
        }
      }
      notifier.tick(notifier_inputs(g_stop), std::chrono::steady_clock::now());
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });

  pgcdc::Pipeline pipeline(config, metrics);
  int code = pipeline.run(g_stop);
  service_stop = true;
  service.join();
  metrics.sample();
  notifier.tick(notifier_inputs(/*stopping=*/true), std::chrono::steady_clock::now());
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
  std::optional<pgcdc::LogOutput> log_output;
  try {
    config = pgcdc::load_config_file(config_path);
    log_output = pgcdc::setup_logging(config.log);
  } catch (const pgcdc::ConfigError& e) {
    std::fprintf(stderr, "pgcdc: configuration error in %s: %s\n", config_path.c_str(), e.what());
    return pgcdc::kExitConfig;
  }
  if (command == "check") return pgcdc::run_checks(config);
  return run(config, *log_output);
}
