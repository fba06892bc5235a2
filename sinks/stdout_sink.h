#pragma once
// Sink that writes one JSON line per record, for debugging and dry runs:
//   {"topic":"pgcdc.public.t","key":{...},"value":{...}}      (value null for a tombstone)
// Key and value are already JSON text and are embedded as they are.
//
// "Delivered" means written and flushed: fflush() to standard output, or fflush() then fsync() for
// a file (so a dry run's output survives a crash exactly as far as its reported positions claim).
// To stay fast, send() only writes into stdio's buffer; reports are issued in a batch at the next
// poll() or flush(), after one fflush (+ fsync) of everything written so far. A write or flush
// error fails the affected records with strerror's text.
//
// Threads: everything runs on the sink thread, except in_flight() (any thread).
#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "sinks/sink.h"

namespace pgcdc {

class StdoutSink : public Sink {
 public:
  // Opens `config.path` for appending ("-" = standard output). Throws std::runtime_error naming
  // the path when it cannot be opened.
  StdoutSink(const StdoutSinkConfig& config, DeliveryListener& listener);
  StdoutSink(const StdoutSink&) = delete;
  StdoutSink& operator=(const StdoutSink&) = delete;
  // Flushes and reports what is still pending.
  ~StdoutSink() override;

  SendResult send(Record& record) override;
  // Flushes and reports everything written so far; never waits (no report can arrive later).
  void poll(std::chrono::milliseconds timeout) override;
  bool flush(std::chrono::milliseconds timeout) override;
  std::size_t in_flight() const override { return in_flight_.load(); }
  std::string name() const override { return "stdout"; }

  // The line written for `record`, without the trailing newline.
  static std::string format_line(const Record& record);

 private:
  struct Pending {
    ReportedRecord record;
    std::string error;  // set when writing this record failed
  };
  struct FileCloser {
    void operator()(std::FILE* file) const { std::fclose(file); }
  };

  void report_pending();

  DeliveryListener& listener_;
  std::string path_;
  std::unique_ptr<std::FILE, FileCloser> owned_file_;  // null when writing to stdout
  std::FILE* out_;                                     // owned_file_ or stdout
  bool sync_ = false;             // fsync before reporting: out_ is a regular file
  std::string line_;              // reused for each record
  std::vector<Pending> pending_;  // written, not yet flushed and reported
  std::atomic<std::size_t> in_flight_{0};
};

}  // namespace pgcdc
