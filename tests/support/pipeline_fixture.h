#pragma once
// Shared set-up for tests that run the real pgcdc binary against the real PostgreSQL and Kafka:
// unique names, a config file, the daemon process, reading the topic back, cleaning up the slot.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "connector/pg_connection.h"
#include "tests/support/daemon_process.h"
#include "tests/support/kafka_consumer.h"
#include "tests/support/test_env.h"

namespace pgcdc::test {

// One record read back from Kafka, parsed.
struct ChangeEvent {
  std::string key;                  // key JSON ("" = null key)
  std::optional<std::string> value; // envelope JSON; nullopt = tombstone
  std::string op;                   // "r", "c", "u", "d", "t"; "" for tombstones
  std::string after;                // the `after` object as compact JSON, "null" when absent
  std::string before;
  std::string snapshot;             // source.snapshot
};

ChangeEvent parse_event(const ConsumedMessage& message);
// The last record of each key in `events`: its `after` JSON, or nullopt when that record is a
// delete or a tombstone (the key is gone).
std::map<std::string, std::optional<std::string>> last_per_key(
    const std::vector<ChangeEvent>& events);
// Compact JSON of a member of an object ("null" when missing).
std::string member_json(const rapidjson::Value& object, const char* name);

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // SQL on a fresh connection per call site is wasteful; one shared connection.
  PgConnection& db() { return *db_; }
  void sql(const std::string& statement) { db_->exec(statement); }

  // A config in TOML for `tables` (names as written in the config), with this test's unique slot,
  // publication, topic prefix and offsets file. `extra_source` lines are appended to [source].
  std::string toml_config(const std::vector<std::string>& tables, const std::string& extra_source = "",
                          const std::string& extra = "") const;
  std::string write_config(const std::string& text, const std::string& extension = "toml");
  // The same config text, connecting as `role` (no password: the test server trusts loopback).
  std::string as_role(std::string config_text, const std::string& role) const;
  // Exactly-once tests differ from toml_config only in [sink.kafka]: one place that turns it on.
  static std::string with_exactly_once(std::string config_text,
                                       const std::string& transaction_interval = "");

  // Starts `pgcdc run -c <config>`.
  DaemonProcess& start_daemon(const std::string& config_path);
  // SIGTERM and wait; expects a clean exit.
  void stop_daemon();

  std::string topic(const std::string& table, const std::string& schema = "public") const;
  // Reads the topic until `count` messages arrived (or timeout), plus `linger`.
  std::vector<ChangeEvent> read_topic(const std::string& topic, std::size_t count,
                                      std::chrono::milliseconds timeout = std::chrono::seconds(60),
                                      std::chrono::milliseconds linger = std::chrono::milliseconds(0));
  // Waits until the slot's confirmed_flush_lsn is at least the current WAL insert position
  // captured at the call (everything written so far was delivered and committed).
  bool wait_for_slot_to_catch_up(std::chrono::milliseconds timeout);
  // Waits until pgcdc created its slot and streams from it: changes committed from then on must all be streamed
  // (earlier ones exist only as table state, which the snapshot reads).
  bool wait_for_slot(std::chrono::milliseconds timeout);
  // Whether this test's slot and publication exist (a failed start must create neither).
  bool slot_exists();
  bool publication_exists();

  std::string name_;   // unique: slot, publication, topic prefix
  std::string dir_;    // temporary directory: config, offsets, logs
  std::unique_ptr<PgConnection> db_;
  std::unique_ptr<DaemonProcess> daemon_;
  int daemon_starts_ = 0;
};

}  // namespace pgcdc::test
