#include "daemon/logging.h"

#include <spdlog/details/file_helper.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <mutex>

namespace pgcdc {

// An append-only file sink that can reopen its file by name (SIGHUP after logrotate). spdlog's
// basic_file_sink cannot: it keeps writing into the renamed file.
class ReopenableFileSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  // Throws spdlog::spdlog_ex when the file cannot be opened.
  explicit ReopenableFileSink(std::string path) : path_(std::move(path)) {
    file_ = std::make_unique<spdlog::details::file_helper>();
    file_->open(path_, /*truncate=*/false);
  }

  // Any thread. Opens the new file before closing the old one, so a failure loses nothing.
  // The reason when the new file cannot be opened.
  std::optional<std::string> reopen() {
    auto fresh = std::make_unique<spdlog::details::file_helper>();
    try {
      fresh->open(path_, /*truncate=*/false);
    } catch (const spdlog::spdlog_ex& e) {
      return e.what();
    }
    std::lock_guard lock(mutex_);  // base_sink's mutex: no line is being written
    file_->flush();
    file_ = std::move(fresh);
    return std::nullopt;
  }

 protected:
  // Called by base_sink with mutex_ held.
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    file_->write(formatted);
  }
  void flush_() override { file_->flush(); }

 private:
  const std::string path_;
  std::unique_ptr<spdlog::details::file_helper> file_;  // guarded by mutex_
};

std::optional<std::string> LogOutput::reopen() {
  if (!file_) return std::nullopt;
  return file_->reopen();
}

namespace {

// %j in the pattern: the message, escaped for a JSON string.
class JsonEscapedMessage : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    for (char c : std::string_view(msg.payload.data(), msg.payload.size())) {
      switch (c) {
        case '"': dest.append(std::string_view("\\\"")); break;
        case '\\': dest.append(std::string_view("\\\\")); break;
        case '\n': dest.append(std::string_view("\\n")); break;
        case '\r': dest.append(std::string_view("\\r")); break;
        case '\t': dest.append(std::string_view("\\t")); break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            char escaped[8];
            std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
            dest.append(std::string_view(escaped));
          } else {
            dest.push_back(c);
          }
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonEscapedMessage>();
  }
};

// %P in the pattern: the syslog priority journald reads from a "<N>" line prefix.
class SyslogPriority : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    char priority = '6';
    switch (msg.level) {
      case spdlog::level::trace:
      case spdlog::level::debug: priority = '7'; break;
      case spdlog::level::info: priority = '6'; break;
      case spdlog::level::warn: priority = '4'; break;
      case spdlog::level::err: priority = '3'; break;
      case spdlog::level::critical: priority = '2'; break;
      default: break;
    }
    dest.push_back(priority);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<SyslogPriority>();
  }
};

}  // namespace

LogOutput setup_logging(const LogConfig& config) {
  auto level = spdlog::level::from_str(config.level);
  if (level == spdlog::level::off && config.level != "off") {
    throw ConfigError("log.level: unknown level '" + config.level + "'");
  }
  std::shared_ptr<ReopenableFileSink> file;
  spdlog::sink_ptr sink;
  if (!config.file.empty()) {
    try {
      file = std::make_shared<ReopenableFileSink>(config.file);
    } catch (const spdlog::spdlog_ex& e) {
      throw ConfigError("log.file: cannot open " + config.file + ": " + e.what());
    }
    sink = file;
  } else {
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  }
  auto logger = std::make_shared<spdlog::logger>("pgcdc", sink);

  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  if (config.format == "json") {
    formatter->add_flag<JsonEscapedMessage>('j').set_pattern(
        R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","thread":%t,"msg":"%j"})");
  } else if (config.file.empty() && std::getenv("JOURNAL_STREAM")) {
    // journald stamps each line itself; the prefix carries the level.
    formatter->add_flag<SyslogPriority>('P').set_pattern("<%P>%l %v");
  } else {
    formatter->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v");
  }
  logger->set_formatter(std::move(formatter));
  logger->set_level(level);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  return LogOutput(std::move(file));
}

}  // namespace pgcdc
