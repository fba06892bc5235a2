#include "tests/support/pipeline_fixture.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <signal.h>

#include <thread>

namespace pgcdc::test {

std::string member_json(const rapidjson::Value& object, const char* name) {
  if (!object.IsObject() || !object.HasMember(name)) return "null";
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  object[name].Accept(writer);
  return buffer.GetString();
}

namespace {

// Length of the JSON value starting at `pos` (strings, objects, arrays, scalars).
std::size_t value_length(const std::string& json, std::size_t pos) {
  std::size_t i = pos;
  int depth = 0;
  bool in_string = false;
  for (; i < json.size(); ++i) {
    char c = json[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') {
        in_string = false;
        if (depth == 0) return i + 1 - pos;
      }
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '{' || c == '[') ++depth;
    else if (c == '}' || c == ']') {
      if (depth == 0) return i - pos;  // end of the enclosing object: scalar ended
      if (--depth == 0) return i + 1 - pos;
    } else if (c == ',' && depth == 0) {
      return i - pos;
    }
  }
  return i - pos;
}

// The raw text of a top-level member of the envelope, exactly as pgcdc wrote it (re-serializing
// through a DOM would turn 1.10 into 1.1 and hide what the converter did).
std::string raw_member(const std::string& json, const std::string& name) {
  std::string needle = "\"" + name + "\":";
  // Top-level members of the envelope come in a fixed order before "source"; search from the
  // start: nested objects never hold a member named "before", "after" or "op" before these.
  auto pos = json.find(needle);
  if (pos == std::string::npos) return "null";
  pos += needle.size();
  return json.substr(pos, value_length(json, pos));
}

}  // namespace

ChangeEvent parse_event(const ConsumedMessage& message) {
  ChangeEvent event;
  event.key = message.key;
  event.value = message.value;
  if (!message.value) return event;
  rapidjson::Document doc;
  doc.Parse(message.value->c_str());
  if (doc.HasParseError() || !doc.IsObject()) {
    ADD_FAILURE() << "record value is not a JSON object: " << *message.value;
    return event;
  }
  event.op = doc["op"].GetString();
  event.before = raw_member(*message.value, "before");
  event.after = raw_member(*message.value, "after");
  if (doc.HasMember("source") && doc["source"].HasMember("snapshot")) {
    event.snapshot = doc["source"]["snapshot"].GetString();
  }
  return event;
}

std::map<std::string, std::optional<std::string>> last_per_key(
    const std::vector<ChangeEvent>& events) {
  std::map<std::string, std::optional<std::string>> last;
  for (const auto& event : events) {
    if (!event.value || event.op == "d") {
      last[event.key] = std::nullopt;
    } else {
      last[event.key] = event.after;
    }
  }
  return last;
}

void PipelineTest::SetUp() {
  const auto& env = test_env();
  ASSERT_FALSE(env.pg_url.empty());
  name_ = unique_name("t");
  dir_ = make_temp_dir("pgcdc-test");
  db_ = std::make_unique<PgConnection>(env.pg_url, PgConnection::Kind::kQuery,
                                       kTestConnectionTimeout);
}

void PipelineTest::TearDown() {
  if (daemon_ && daemon_->running()) {
    daemon_->signal(SIGKILL);
    daemon_->wait(std::chrono::seconds(10));
  }
  if (HasFailure() && daemon_) {
    std::cerr << "---- pgcdc log (" << dir_ << ") ----\n" << daemon_->log() << "\n----\n";
  }
  if (!db_) return;
  // The slot retains WAL for as long as it exists: always drop it (it may take a moment to be
  // released by the walsender of a killed daemon).
  for (int attempt = 0; attempt < 100; ++attempt) {
    try {
      db_->exec_params(
          "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
          "WHERE slot_name = $1",
          {name_});
      break;
    } catch (const std::exception&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  db_->exec("DROP PUBLICATION IF EXISTS " + db_->quote_identifier(name_));
}

std::string PipelineTest::toml_config(const std::vector<std::string>& tables,
                                      const std::string& extra_source,
                                      const std::string& extra) const {
  const auto& env = test_env();
  std::string list;
  for (const auto& table : tables) {
    list += (list.empty() ? "" : ", ") + std::string("'") + table + "'";
  }
  return "[source]\n"
         "url = '" + env.pg_url + "'\n"
         "tables = [" + list + "]\n"
         "slot_name = '" + name_ + "'\n"
         "publication_name = '" + name_ + "'\n" +
         extra_source +
         "\n[sink.kafka]\n"
         "brokers = '" + env.kafka_brokers + "'\n"
         "topic_prefix = '" + name_ + "'\n"
         "\n[offsets]\n"
         "path = '" + dir_ + "/offsets.json'\n"
         "\n[metrics]\n"
         "listen = ''\n"
         "\n[log]\n"
         "level = 'debug'\n" + extra;
}

std::string PipelineTest::write_config(const std::string& text, const std::string& extension) {
  std::string path = dir_ + "/pgcdc." + extension;
  write_file(path, text);
  return path;
}

std::string PipelineTest::as_role(std::string config_text, const std::string& role) const {
  const std::string& url = test_env().pg_url;
  std::string role_url = url;
  role_url.replace(role_url.find("postgres@"), 9, role + "@");
  for (auto at = config_text.find(url); at != std::string::npos;
       at = config_text.find(url, at + role_url.size())) {
    config_text.replace(at, url.size(), role_url);
  }
  return config_text;
}

std::string PipelineTest::with_exactly_once(std::string config_text,
                                            const std::string& transaction_interval) {
  const std::string section = "[sink.kafka]\n";
  std::string settings = section + "delivery = 'exactly_once'\n";
  if (!transaction_interval.empty()) {
    settings += "transaction_interval = '" + transaction_interval + "'\n";
  }
  config_text.replace(config_text.find(section), section.size(), settings);
  return config_text;
}

DaemonProcess& PipelineTest::start_daemon(const std::string& config_path) {
  if (daemon_ && daemon_->running()) ADD_FAILURE() << "daemon already running";
  daemon_ = std::make_unique<DaemonProcess>(std::vector<std::string>{"run", "-c", config_path},
                                            dir_ + "/pgcdc.log");
  daemon_->start();
  ++daemon_starts_;
  return *daemon_;
}

void PipelineTest::stop_daemon() {
  ASSERT_TRUE(daemon_);
  daemon_->signal(SIGTERM);
  int code = daemon_->wait(std::chrono::seconds(60));
  EXPECT_EQ(code, 0) << daemon_->log();
}

std::string PipelineTest::topic(const std::string& table, const std::string& schema) const {
  return name_ + "." + schema + "." + table;
}

std::vector<ChangeEvent> PipelineTest::read_topic(const std::string& topic, std::size_t count,
                                                  std::chrono::milliseconds timeout,
                                                  std::chrono::milliseconds linger) {
  std::vector<ChangeEvent> events;
  for (const auto& message : consume_all(test_env().kafka_brokers, topic, count, timeout, linger)) {
    events.push_back(parse_event(message));
  }
  return events;
}

bool PipelineTest::wait_for_slot_to_catch_up(std::chrono::milliseconds timeout) {
  auto target = db_->exec("SELECT pg_current_wal_insert_lsn()::text");
  std::string lsn(field(target.get(), 0, 0));
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto result = db_->exec_params(
        "SELECT confirmed_flush_lsn >= $2::pg_lsn FROM pg_replication_slots WHERE slot_name = $1",
        {name_, lsn});
    if (PQntuples(result.get()) == 1 && field(result.get(), 0, 0) == "t") return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

bool PipelineTest::slot_exists() {
  auto result =
      db_->exec_params("SELECT 1 FROM pg_replication_slots WHERE slot_name = $1", {name_});
  return PQntuples(result.get()) == 1;
}

bool PipelineTest::publication_exists() {
  auto result = db_->exec_params("SELECT 1 FROM pg_publication WHERE pubname = $1", {name_});
  return PQntuples(result.get()) == 1;
}

bool PipelineTest::wait_for_slot(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    // A slot is listed, and even active, while CREATE_REPLICATION_SLOT still waits for a
    // consistent point (for transactions already running, e.g. another test's long one); changes
    // that commit before that point are not decoded, only read by the snapshot. Its walsender
    // reports catchup or streaming only once START_REPLICATION runs.
    auto result = db_->exec_params(
        "SELECT 1 FROM pg_catalog.pg_replication_slots s JOIN pg_catalog.pg_stat_replication r "
        "ON r.pid = s.active_pid WHERE s.slot_name = $1 AND r.state IN ('catchup', 'streaming')",
        {name_});
    if (PQntuples(result.get()) == 1) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

}  // namespace pgcdc::test
