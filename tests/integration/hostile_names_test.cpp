// Hostile identifiers end to end: the real pgcdc binary, PostgreSQL 15 and Kafka, with a schema,
// tables, columns and a publication named with quotes, spaces, dots, commas, backslashes, unicode,
// reserved words, SQL fragments and 63-byte (PostgreSQL's limit) names. Snapshot (several chunks,
// so keyset pagination runs on hostile key columns) and stream must both work, topics must be
// valid Kafka names, and keys must name the real columns.
#include <gtest/gtest.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <string>
#include <utility>
#include <vector>

#include "connector/catalog.h"
#include "tests/support/pipeline_fixture.h"

namespace pgcdc::test {
namespace {

using namespace std::chrono_literals;

// A JSON string literal, escaped the way pgcdc's writer escapes it.
std::string json_string(const std::string& text) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
  return buffer.GetString();
}

// A JSON object from member names and raw JSON values, in order.
std::string json_object(const std::vector<std::pair<std::string, std::string>>& members) {
  std::string out = "{";
  for (const auto& [name, value] : members) {
    if (out.size() > 1) out += ",";
    out += json_string(name) + ":" + value;
  }
  return out + "}";
}

// A name as the config writes it when it is odd: double-quoted, "" for each quote
// (docs/configuration.md, "Table names").
std::string config_quoted(const std::string& name) {
  std::string out = "\"";
  for (char c : name) {
    out += c;
    if (c == '"') out += '"';
  }
  return out + "\"";
}

// A TOML basic string ("..." with \" and \\ escapes).
std::string toml_string(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// Kafka accepts [a-zA-Z0-9._-]{1,249} in topic names.
bool valid_kafka_topic(const std::string& topic) {
  if (topic.empty() || topic.size() > 249) return false;
  for (char c : topic) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string repeat(const std::string& part, int times) {
  std::string out;
  for (int i = 0; i < times; ++i) out += part;
  return out;
}

class HostileNames : public PipelineTest {
 protected:
  void SetUp() override {
    PipelineTest::SetUp();
    if (HasFatalFailure()) return;
    schema_ = name_ + " Sch\"e.ma \xC3\xBC";         // quote, space, dot, ü
    publication_ = name_ + " pub'\"\\ \xC3\xBC";     // single and double quote, backslash
    long_table_ = "long_" + repeat("\xC3\xBC", 29);  // 5 + 58 = 63 bytes
    long_key_ = "k" + repeat("\xC3\xA9", 31);        // 63 bytes
    long_value_ = repeat("v", 63);
    ASSERT_EQ(long_table_.size(), 63u);
    ASSERT_EQ(long_key_.size(), 63u);
    odd_columns_ = {"Order By",
                    "\"quoted\"",
                    "\xC3\xBCn\xC3\xAF"
                    "c\xC3\xB6"
                    "d\xC3\xA9",
                    "a.b",
                    "x'); DROP TABLE y; --",
                    "back\\slash",
                    "$1",
                    "select"};
  }

  void TearDown() override {
    PipelineTest::TearDown();
    if (!db_) return;
    db_->exec("DROP PUBLICATION IF EXISTS " + q(publication_));
    db_->exec("DROP SCHEMA IF EXISTS " + q(schema_) + " CASCADE");
  }

  std::string q(const std::string& name) { return db().quote_identifier(name); }
  std::string table_sql(const std::string& table) { return q(schema_) + "." + q(table); }
  std::string topic_of(const std::string& table) const { return topic_for(name_, schema_, table); }

  // "select": a reserved word, with a reserved-word key column and every odd column name.
  void create_select_table(int rows) {
    std::string columns = q("from") + " int PRIMARY KEY";
    for (const auto& column : odd_columns_) columns += ", " + q(column) + " text";
    sql("CREATE TABLE " + table_sql("select") + " (" + columns + ")");
    for (int i = 1; i <= rows; ++i) insert_select_row(i);
  }
  void insert_select_row(int id) {
    std::string names = q("from"), placeholders = "$1";
    std::vector<std::optional<std::string>> values = {std::to_string(id)};
    for (std::size_t i = 0; i < odd_columns_.size(); ++i) {
      names += ", " + q(odd_columns_[i]);
      placeholders += ", $" + std::to_string(i + 2);
      values.emplace_back(select_value(id, i));
    }
    db().exec_params(
        "INSERT INTO " + table_sql("select") + " (" + names + ") VALUES (" + placeholders + ")",
        values);
  }
  // Values as hostile as the names: quotes, backslashes, newlines, unicode, SQL.
  static std::string select_value(int id, std::size_t column) {
    return "it's \"" + std::to_string(id) + "\" \\ \n\xE2\x82\xAC '); DELETE FROM x; -- " +
           std::to_string(column);
  }
  std::string select_after(int id, const std::string& order_by = "") const {
    std::vector<std::pair<std::string, std::string>> members = {{"from", std::to_string(id)}};
    for (std::size_t i = 0; i < odd_columns_.size(); ++i) {
      std::string value = (i == 0 && !order_by.empty()) ? order_by : select_value(id, i);
      members.emplace_back(odd_columns_[i], json_string(value));
    }
    return json_object(members);
  }

  std::string schema_;
  std::string publication_;
  std::string long_table_;
  std::string long_key_;
  std::string long_value_;
  std::vector<std::string> odd_columns_;
};

TEST_F(HostileNames, SnapshotAndStreamWithQuotedNamesEverywhere) {
  const std::string weird_table = "Weird.Table \"x\", y";
  sql("CREATE SCHEMA " + q(schema_));
  create_select_table(5);
  // 63-byte names, a composite key whose second column has a comma and a space.
  sql("CREATE TABLE " + table_sql(long_table_) + " (" + q(long_key_) + " int, " + q("Key, Two") +
      " text, " + q(long_value_) + " text, PRIMARY KEY (" + q(long_key_) + ", " + q("Key, Two") +
      "))");
  sql("INSERT INTO " + table_sql(long_table_) +
      " SELECT g, 'two ' || g, 'v ' || g FROM generate_series(1, 5) g");
  // Published through a column list (columns = ...): the list quotes each name.
  sql("CREATE TABLE " + table_sql(weird_table) + " (id int PRIMARY KEY, " + q("%s") + " text, " +
      q("secret \"col\"") + " text)");
  sql("INSERT INTO " + table_sql(weird_table) + " VALUES (1, '%s%n', 'hidden'), (2, '%d', 'no')");

  const auto& env = test_env();
  const std::string schema = config_quoted(schema_);
  std::string config =
      "{\"source\": {\"url\": " + json_string(env.pg_url) + ", \"tables\": [" +
      json_string(schema + "." + config_quoted("select")) +
      ", {\"schema\": " + json_string(schema) +
      ", \"name\": " + json_string(config_quoted(long_table_)) + ", \"key\": [" +
      json_string(config_quoted(long_key_)) + ", " + json_string(config_quoted("Key, Two")) +
      "]}, {\"schema\": " + json_string(schema) +
      ", \"name\": " + json_string(config_quoted(weird_table)) +
      ", \"columns\": \"id, \\\"%s\\\"\"}], \"slot_name\": " + json_string(name_) +
      ", \"publication_name\": " + json_string(publication_) +
      ", \"snapshot_chunk_rows\": 2},\n"
      "\"sink\": {\"kafka\": {\"brokers\": " +
      json_string(env.kafka_brokers) + ", \"topic_prefix\": " + json_string(name_) +
      "}},\n"
      "\"offsets\": {\"path\": " +
      json_string(dir_ + "/offsets.json") +
      "}, \"metrics\": {\"listen\": \"\"}, \"log\": {\"level\": \"debug\"}}\n";
  start_daemon(write_config(config, "json"));

  // Topics: every character Kafka refuses became '_' (ü is two bytes, so two of them).
  const std::string select_topic = topic_of("select");
  EXPECT_EQ(select_topic, name_ + "." + name_ + "_Sch_e.ma___.select");
  for (const auto& table : {std::string("select"), long_table_, weird_table}) {
    EXPECT_TRUE(valid_kafka_topic(topic_of(table))) << topic_of(table);
  }

  auto events = read_topic(select_topic, 5);
  ASSERT_EQ(events.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(events[i].op, "r");
    EXPECT_EQ(events[i].key, "{\"from\":" + std::to_string(i + 1) + "}");
    EXPECT_EQ(events[i].after, select_after(i + 1));
  }
  auto long_key = [&](int id) {
    return json_object(
        {{long_key_, std::to_string(id)}, {"Key, Two", json_string("two " + std::to_string(id))}});
  };
  auto long_events = read_topic(topic_of(long_table_), 5);
  ASSERT_EQ(long_events.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(long_events[i].key, long_key(i + 1));
    EXPECT_EQ(long_events[i].after,
              json_object({{long_key_, std::to_string(i + 1)},
                           {"Key, Two", json_string("two " + std::to_string(i + 1))},
                           {long_value_, json_string("v " + std::to_string(i + 1))}}));
  }
  auto weird_events = read_topic(topic_of(weird_table), 2);
  ASSERT_EQ(weird_events.size(), 2u);
  EXPECT_EQ(weird_events[0].key, R"({"id":1})");
  EXPECT_EQ(weird_events[0].after, R"({"id":1,"%s":"%s%n"})");

  // The stream: every change must arrive (changes committed before the slot are snapshot state).
  ASSERT_TRUE(wait_for_slot(60s));
  insert_select_row(100);
  db().exec_params("UPDATE " + table_sql("select") + " SET " + q("Order By") + " = $1 WHERE " +
                       q("from") + " = 1",
                   {std::string("changed \"'\\")});
  sql("DELETE FROM " + table_sql("select") + " WHERE " + q("from") + " = 2");
  sql("UPDATE " + table_sql(long_table_) + " SET " + q("Key, Two") + " = 'new key' WHERE " +
      q(long_key_) + " = 3");
  sql("INSERT INTO " + table_sql(weird_table) + " VALUES (10, 'ten', 'hidden')");

  events = read_topic(select_topic, 9, 60s, 1s);
  ASSERT_EQ(events.size(), 9u);  // 5 reads, insert, update, delete, tombstone
  EXPECT_EQ(events[5].op, "c");
  EXPECT_EQ(events[5].after, select_after(100));
  EXPECT_EQ(events[6].op, "u");
  EXPECT_EQ(events[6].key, R"({"from":1})");
  EXPECT_EQ(events[6].after, select_after(1, "changed \"'\\"));
  EXPECT_EQ(events[7].op, "d");
  EXPECT_EQ(events[7].key, R"({"from":2})");
  EXPECT_FALSE(events[8].value.has_value());

  long_events = read_topic(topic_of(long_table_), 8, 60s, 1s);
  ASSERT_EQ(long_events.size(), 8u);  // a key change: delete, tombstone, create
  EXPECT_EQ(long_events[5].op, "d");
  EXPECT_EQ(long_events[5].key, long_key(3));
  EXPECT_FALSE(long_events[6].value.has_value());
  EXPECT_EQ(long_events[7].op, "c");
  EXPECT_EQ(long_events[7].key,
            json_object({{long_key_, "3"}, {"Key, Two", json_string("new key")}}));

  weird_events = read_topic(topic_of(weird_table), 3, 60s, 1s);
  ASSERT_EQ(weird_events.size(), 3u);
  EXPECT_EQ(weird_events[2].op, "c");
  EXPECT_EQ(weird_events[2].after, R"({"id":10,"%s":"ten"})");

  // The hostile publication exists under its exact name, with the column list.
  auto publication = db().exec_params(
      "SELECT array_to_string(attnames, ',') FROM pg_catalog.pg_publication_tables "
      "WHERE pubname = $1 AND schemaname = $2 AND tablename = $3",
      {publication_, schema_, weird_table});
  ASSERT_EQ(PQntuples(publication.get()), 1);
  EXPECT_EQ(field(publication.get(), 0, 0), "id,%s");
  stop_daemon();

  // A restart resumes from the offsets file, whose keys are the hostile table names.
  sql("INSERT INTO " + table_sql(weird_table) + " VALUES (11, 'eleven', 'hidden')");
  start_daemon(write_config(config, "json"));
  weird_events = read_topic(topic_of(weird_table), 4, 60s, 1s);
  ASSERT_EQ(weird_events.size(), 4u);
  EXPECT_EQ(weird_events[3].after, R"({"id":11,"%s":"eleven"})");
  stop_daemon();
}

TEST_F(HostileNames, TomlConfigWithQuotedNamesSnapshotOnly) {
  sql("CREATE SCHEMA " + q(schema_));
  create_select_table(3);
  const auto& env = test_env();
  std::string config = "[source]\nurl = " + toml_string(env.pg_url) + "\ntables = [" +
                       toml_string(config_quoted(schema_) + "." + config_quoted("select")) +
                       "]\ncdc = false\nsnapshot_chunk_rows = 1\n"
                       "columns = " +
                       toml_string("from, " + config_quoted("Order By") + ", " +
                                   config_quoted("\"quoted\"") + ", " + config_quoted("a.b")) +
                       "\n[sink.kafka]\nbrokers = " + toml_string(env.kafka_brokers) +
                       "\ntopic_prefix = " + toml_string(name_) +
                       "\n[offsets]\npath = " + toml_string(dir_ + "/offsets.json") +
                       "\n[metrics]\nlisten = ''\n";
  auto& daemon = start_daemon(write_config(config));
  EXPECT_EQ(daemon.wait(60s), 0) << daemon.log();
  auto events = read_topic(topic_of("select"), 3, 60s, 1s);
  ASSERT_EQ(events.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(events[i].key, "{\"from\":" + std::to_string(i + 1) + "}");
    EXPECT_EQ(events[i].after, json_object({{"from", std::to_string(i + 1)},
                                            {"Order By", json_string(select_value(i + 1, 0))},
                                            {"\"quoted\"", json_string(select_value(i + 1, 1))},
                                            {"a.b", json_string(select_value(i + 1, 3))}}));
  }
}

TEST_F(HostileNames, APublishedLookAlikeIsNotTakenForTheConfiguredTable) {
  // schema_ has a dot, so "<schema_>"."t" and "<before the dot>"."<after the dot>.t" are two
  // tables whose schema.table text is the same. The publication has only the second one.
  const auto dot = schema_.find('.');
  ASSERT_NE(dot, std::string::npos);
  const std::string other_schema = schema_.substr(0, dot);
  const std::string other_table = q(other_schema) + "." + q(schema_.substr(dot + 1) + ".t");
  sql("CREATE SCHEMA " + q(schema_));
  sql("CREATE SCHEMA " + q(other_schema));
  sql("CREATE TABLE " + table_sql("t") + " (id int PRIMARY KEY)");
  sql("CREATE TABLE " + other_table + " (id int PRIMARY KEY)");
  sql("CREATE PUBLICATION " + q(publication_) + " FOR TABLE " + other_table);
  const auto& env = test_env();
  std::string config = "[source]\nurl = " + toml_string(env.pg_url) + "\ntables = [" +
                       toml_string(config_quoted(schema_) + "." + config_quoted("t")) +
                       "]\nslot_name = " + toml_string(name_) +
                       "\npublication_name = " + toml_string(publication_) +
                       "\n[sink.kafka]\nbrokers = " + toml_string(env.kafka_brokers) +
                       "\ntopic_prefix = " + toml_string(name_) +
                       "\n[offsets]\npath = " + toml_string(dir_ + "/offsets.json") +
                       "\n[metrics]\nlisten = ''\n";
  std::string output;
  // The configured table is not published: a clear failure, no slot (alter_publication is off).
  EXPECT_EQ(run_pgcdc({"run", "-c", write_config(config)}, output), 1) << output;
  EXPECT_NE(output.find("exists but does not publish"), std::string::npos) << output;
  EXPECT_FALSE(slot_exists());
  sql("DROP SCHEMA " + q(other_schema) + " CASCADE");
}

}  // namespace
}  // namespace pgcdc::test
