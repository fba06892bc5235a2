#include "sinks/stdout_sink.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace pgcdc {
namespace {

void append_json_string(std::string& out, const std::string& text) {
  static const char kHex[] = "0123456789abcdef";
  out += '"';
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (byte < 0x20) {
          out += "\\u00";
          out += kHex[byte >> 4];
          out += kHex[byte & 0xf];
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

void append_line(std::string& out, const Record& record) {
  out += "{\"topic\":";
  append_json_string(out, record.topic);
  out += ",\"key\":";
  out += record.key;
  out += ",\"value\":";
  if (record.value) {
    out += *record.value;
  } else {
    out += "null";  // tombstone
  }
  out += '}';
}

}  // namespace

std::string StdoutSink::format_line(const Record& record) {
  std::string line;
  append_line(line, record);
  return line;
}

StdoutSink::StdoutSink(const StdoutSinkConfig& config, DeliveryListener& listener)
    : listener_(listener), path_(config.path.empty() ? "-" : config.path), out_(stdout) {
  if (path_ != "-") {
    owned_file_.reset(std::fopen(path_.c_str(), "a"));
    if (!owned_file_) {
      throw std::runtime_error("stdout sink: cannot open " + path_ +
                               " for appending: " + std::strerror(errno));
    }
    out_ = owned_file_.get();
    // fsync only where it means something: a regular file. A FIFO or a device (/dev/null, a
    // terminal) refuses it (EINVAL); there, as for standard output, "delivered" is "handed to
    // the kernel". (Refusing those paths made every session fail at its first report.)
    struct stat info {};
    sync_ = ::fstat(fileno(out_), &info) == 0 && S_ISREG(info.st_mode);
  }
}

StdoutSink::~StdoutSink() {
  report_pending();
}

Sink::SendResult StdoutSink::send(Record& record) {
  line_.clear();
  append_line(line_, record);
  line_ += '\n';

  Pending pending;
  pending.record.assign(record);
  if (std::fwrite(line_.data(), 1, line_.size(), out_) != line_.size()) {
    pending.error = "stdout sink: write to " + path_ + " failed: " + std::strerror(errno);
    std::clearerr(out_);
  }
  pending_.push_back(std::move(pending));
  in_flight_.fetch_add(1);
  return SendResult::kAccepted;
}

void StdoutSink::report_pending() {
  if (pending_.empty()) return;
  std::string flush_error;
  if (std::fflush(out_) != 0) {
    flush_error = "stdout sink: flush of " + path_ + " failed: " + std::strerror(errno);
    std::clearerr(out_);
  } else if (sync_ && ::fsync(fileno(out_)) != 0) {
    flush_error = "stdout sink: fsync of " + path_ + " failed: " + std::strerror(errno);
  }
  for (const Pending& pending : pending_) {
    DeliveryReport report = pending.record.report(DeliveryStatus::kDelivered, {});
    if (!pending.error.empty()) {
      report.status = DeliveryStatus::kFailed;
      report.error = pending.error;
    } else if (!flush_error.empty()) {
      report.status = DeliveryStatus::kFailed;
      report.error = flush_error;
    }
    in_flight_.fetch_sub(1);
    listener_.on_delivery(report);
  }
  pending_.clear();
}

void StdoutSink::poll(std::chrono::milliseconds /*timeout*/) {
  report_pending();
}

bool StdoutSink::flush(std::chrono::milliseconds /*timeout*/) {
  report_pending();
  return true;
}

}  // namespace pgcdc
