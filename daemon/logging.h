#pragma once
#include <memory>
#include <optional>
#include <string>

#include "config/config.h"

namespace pgcdc {

class ReopenableFileSink;

// What setup_logging() installed. Kept by main for SIGHUP.
class LogOutput {
 public:
  explicit LogOutput(std::shared_ptr<ReopenableFileSink> file) : file_(std::move(file)) {}
  // Any thread (the service thread on SIGHUP). Reopens log.file by name, so a file that logrotate
  // renamed is left behind and a new one started. The reason when the new file cannot be opened;
  // logging then goes on into the old one. Nothing to do (nullopt) when logging to stderr.
  std::optional<std::string> reopen();
  bool to_file() const { return file_ != nullptr; }

 private:
  std::shared_ptr<ReopenableFileSink> file_;
};

// Sets up spdlog's default logger: stderr (journald picks it up under systemd) or log.file, text or
// JSON lines, the configured level. Under journald (JOURNAL_STREAM set, text format, no file) each
// line starts with its syslog priority ("<3>") instead of a timestamp, so `journalctl -p err`
// works. Throws ConfigError on an unknown level or a log file that cannot be opened.
LogOutput setup_logging(const LogConfig& config);

}  // namespace pgcdc
