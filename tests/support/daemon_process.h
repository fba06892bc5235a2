#pragma once
// Runs the real pgcdc binary (or another server a test needs, such as Prometheus) as a child
// process, as an operator would, for integration tests.
#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace pgcdc::test {

class DaemonProcess {
 public:
  // `args` after the binary, e.g. {"run", "-c", path}. Output goes to `log_path`.
  DaemonProcess(std::vector<std::string> args, std::string log_path);
  // Runs `binary` (a path, or a name looked up in PATH) instead of pgcdc.
  DaemonProcess(std::string binary, std::vector<std::string> args, std::string log_path);
  ~DaemonProcess();  // SIGKILLs a child still running
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;

  void start();
  void signal(int signal_number);
  // Waits for exit; returns the exit code (128+signal when killed), or -1 on timeout.
  int wait(std::chrono::milliseconds timeout);
  bool running();
  std::string log() const;
  pid_t pid() const { return pid_; }

 private:
  std::string binary_;
  std::vector<std::string> args_;
  std::string log_path_;
  pid_t pid_ = -1;
  int exit_code_ = -1;
};

// Runs pgcdc to completion (e.g. `check`, or a run that must fail) and returns its exit code;
// the combined output goes to `output`.
int run_pgcdc(const std::vector<std::string>& args, std::string& output,
              std::chrono::milliseconds timeout = std::chrono::seconds(60));

// A fresh temporary directory for one test (removed by the caller or left for inspection).
std::string make_temp_dir(const std::string& prefix);
void write_file(const std::string& path, const std::string& content);

}  // namespace pgcdc::test
