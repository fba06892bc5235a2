#include "tests/support/daemon_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

namespace pgcdc::test {

DaemonProcess::DaemonProcess(std::vector<std::string> args, std::string log_path)
    : DaemonProcess(PGCDC_BINARY, std::move(args), std::move(log_path)) {}

DaemonProcess::DaemonProcess(std::string binary, std::vector<std::string> args,
                             std::string log_path)
    : binary_(std::move(binary)), args_(std::move(args)), log_path_(std::move(log_path)) {}

DaemonProcess::~DaemonProcess() {
  if (pid_ > 0 && running()) {
    ::kill(pid_, SIGKILL);
    wait(std::chrono::seconds(10));
  }
}

void DaemonProcess::start() {
  exit_code_ = -1;
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    int fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
      ::close(fd);
    }
    std::vector<char*> argv;
    argv.push_back(binary_.data());
    for (auto& arg : args_) argv.push_back(arg.data());
    argv.push_back(nullptr);
    ::execvp(binary_.c_str(), argv.data());
    _exit(127);
  }
}

void DaemonProcess::signal(int signal_number) {
  if (pid_ > 0) ::kill(pid_, signal_number);
}

int DaemonProcess::wait(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return exit_code_;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t done = ::waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      pid_ = -1;
      return exit_code_;
    }
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

bool DaemonProcess::running() {
  if (pid_ <= 0) return false;
  return wait(std::chrono::milliseconds(0)) == -1;
}

std::string DaemonProcess::log() const {
  std::ifstream file(log_path_);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

int run_pgcdc(const std::vector<std::string>& args, std::string& output,
              std::chrono::milliseconds timeout) {
  std::string dir = make_temp_dir("pgcdc-run");
  DaemonProcess process(args, dir + "/output.log");
  process.start();
  int code = process.wait(timeout);
  if (code == -1) {
    process.signal(SIGKILL);
    process.wait(std::chrono::seconds(10));
  }
  output = process.log();
  return code;
}

std::string make_temp_dir(const std::string& prefix) {
  std::string pattern = "/tmp/" + prefix + "-XXXXXX";
  if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  return pattern;
}

void write_file(const std::string& path, const std::string& content) {
  std::ofstream file(path, std::ios::trunc);
  file << content;
  if (!file) throw std::runtime_error("cannot write " + path);
}

}  // namespace pgcdc::test
