#include "sinks/stdout_sink.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "sinks/sink_factory.h"

namespace pgcdc {
namespace {

struct SavedReport {
  DeliveryToken token;
  DeliveryStatus status;
  std::string error;
  Operation op;
  std::string table;
  std::size_t payload_bytes;
  std::int64_t commit_time_us;
};

class RecordingListener : public DeliveryListener {
 public:
  void on_delivery(const DeliveryReport& r) override {
    reports.push_back({r.token, r.status, std::string(r.error), r.op, std::string(r.table),
                       r.payload_bytes, r.commit_time_us});
  }
  std::vector<SavedReport> reports;
};

Record make_record(DeliveryToken token, std::string key, std::optional<std::string> value,
                   std::string topic = "pgcdc.public.t") {
  Record r;
  r.topic = std::move(topic);
  r.key = std::move(key);
  r.value = std::move(value);
  r.token = token;
  r.op = value ? Operation::kCreate : Operation::kTombstone;
  r.table = "public.t";
  r.commit_time_us = 1700000000000000 + static_cast<std::int64_t>(token);
  return r;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class StdoutSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = std::filesystem::temp_directory_path() /
            ("pgcdc_stdout_sink_" + std::to_string(getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".jsonl");
    std::filesystem::remove(path_);
  }
  void TearDown() override { std::filesystem::remove(path_); }
  StdoutSinkConfig config() const { return StdoutSinkConfig{path_.string()}; }

  std::filesystem::path path_;
  RecordingListener listener_;
};

TEST_F(StdoutSinkTest, WritesOneExactJsonLinePerRecord) {
  StdoutSink sink(config(), listener_);
  Record a = make_record(1, R"({"id":1})", std::string(R"({"op":"c","after":{"id":1}})"));
  Record b = make_record(1, R"({"id":2})", std::nullopt);
  Record c = make_record(2, R"({"id":3})", std::string("{}"), "odd\"topic\\");
  EXPECT_EQ(sink.send(a), Sink::SendResult::kAccepted);
  EXPECT_EQ(sink.send(b), Sink::SendResult::kAccepted);
  EXPECT_EQ(sink.send(c), Sink::SendResult::kAccepted);
  EXPECT_TRUE(sink.flush(std::chrono::milliseconds(1000)));
  EXPECT_EQ(read_file(path_),
            "{\"topic\":\"pgcdc.public.t\",\"key\":{\"id\":1},\"value\":{\"op\":\"c\",\"after\":"
            "{\"id\":1}}}\n"
            "{\"topic\":\"pgcdc.public.t\",\"key\":{\"id\":2},\"value\":null}\n"
            "{\"topic\":\"odd\\\"topic\\\\\",\"key\":{\"id\":3},\"value\":{}}\n");
}

TEST_F(StdoutSinkTest, ReportsOncePerRecordAndOnlyAfterTheFlush) {
  StdoutSink sink(config(), listener_);
  for (DeliveryToken t = 1; t <= 3; ++t) {
    Record r = make_record(t, "{\"id\":" + std::to_string(t) + "}", std::string("{\"v\":1}"));
    ASSERT_EQ(sink.send(r), Sink::SendResult::kAccepted);
  }
  // Written to stdio's buffer only: not delivered, nothing reported.
  EXPECT_TRUE(listener_.reports.empty());
  EXPECT_EQ(sink.in_flight(), 3u);

  sink.poll(std::chrono::milliseconds(0));
  ASSERT_EQ(listener_.reports.size(), 3u);
  EXPECT_EQ(sink.in_flight(), 0u);
  // Everything reported is already in the file.
  const std::string written = read_file(path_);
  EXPECT_EQ(std::count(written.begin(), written.end(), '\n'), 3);
  for (DeliveryToken t = 1; t <= 3; ++t) {
    const SavedReport& r = listener_.reports[t - 1];
    EXPECT_EQ(r.token, t);
    EXPECT_EQ(r.status, DeliveryStatus::kDelivered);
    EXPECT_TRUE(r.error.empty());
    EXPECT_EQ(r.op, Operation::kCreate);
    EXPECT_EQ(r.table, "public.t");
    EXPECT_EQ(r.commit_time_us, 1700000000000000 + static_cast<std::int64_t>(t));
    EXPECT_EQ(r.payload_bytes, std::string("pgcdc.public.t").size() + 8 + 7);
  }
  // Nothing is reported twice.
  sink.poll(std::chrono::milliseconds(0));
  EXPECT_TRUE(sink.flush(std::chrono::milliseconds(0)));
  EXPECT_EQ(listener_.reports.size(), 3u);
}

TEST_F(StdoutSinkTest, AppendsToAnExistingFile) {
  { std::ofstream(path_) << "earlier line\n"; }
  StdoutSink sink(config(), listener_);
  Record r = make_record(1, "{}", std::nullopt, "t");
  sink.send(r);
  sink.flush(std::chrono::milliseconds(0));
  EXPECT_EQ(read_file(path_), "earlier line\n{\"topic\":\"t\",\"key\":{},\"value\":null}\n");
}

TEST_F(StdoutSinkTest, DestructorFlushesAndReportsWhatIsPending) {
  {
    StdoutSink sink(config(), listener_);
    Record r = make_record(7, "{}", std::string("{}"));
    sink.send(r);
  }
  ASSERT_EQ(listener_.reports.size(), 1u);
  EXPECT_EQ(listener_.reports[0].status, DeliveryStatus::kDelivered);
  EXPECT_FALSE(read_file(path_).empty());
}

TEST_F(StdoutSinkTest, UnopenablePathThrowsNamingIt) {
  StdoutSinkConfig bad{"/nonexistent-dir/pgcdc/out.jsonl"};
  try {
    StdoutSink sink(bad, listener_);
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent-dir/pgcdc/out.jsonl"), std::string::npos);
  }
}

TEST_F(StdoutSinkTest, WriteErrorsAreFailedReportsWithTheSystemError) {
  if (!std::filesystem::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  StdoutSink sink(StdoutSinkConfig{"/dev/full"}, listener_);
  Record a = make_record(1, "{}", std::string("{}"));
  Record b = make_record(2, "{}", std::nullopt);
  sink.send(a);
  sink.send(b);
  EXPECT_TRUE(sink.flush(std::chrono::milliseconds(0)));
  ASSERT_EQ(listener_.reports.size(), 2u);
  for (const SavedReport& r : listener_.reports) {
    EXPECT_EQ(r.status, DeliveryStatus::kFailed);
    EXPECT_NE(r.error.find("No space left on device"), std::string::npos) << r.error;
    EXPECT_NE(r.error.find("/dev/full"), std::string::npos) << r.error;
  }
  EXPECT_EQ(sink.in_flight(), 0u);
}

TEST_F(StdoutSinkTest, ADeviceOrPipeIsDeliveredWithoutFsync) {
  // fsync on /dev/null or a FIFO fails with EINVAL: those records are delivered once written, as
  // on standard output (it made every session with path = "/dev/null" fail at its first report).
  if (!std::filesystem::exists("/dev/null")) GTEST_SKIP() << "no /dev/null";
  StdoutSink sink(StdoutSinkConfig{"/dev/null"}, listener_);
  Record a = make_record(1, "{}", std::string("{}"));
  sink.send(a);
  EXPECT_TRUE(sink.flush(std::chrono::milliseconds(0)));
  ASSERT_EQ(listener_.reports.size(), 1u);
  EXPECT_EQ(listener_.reports[0].status, DeliveryStatus::kDelivered) << listener_.reports[0].error;
}

TEST_F(StdoutSinkTest, FactoryBuildsTheConfiguredSink) {
  SinkConfig config;
  config.kind = SinkConfig::Kind::kStdout;
  config.stdout_sink.path = path_.string();
  std::unique_ptr<Sink> sink = make_sink(config, listener_);
  EXPECT_EQ(sink->name(), "stdout");
  EXPECT_FALSE(sink->ping(std::chrono::milliseconds(10)));
  EXPECT_FALSE(sink->fatal());
}

}  // namespace
}  // namespace pgcdc
