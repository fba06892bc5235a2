#include "config/config.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace pgcdc {
namespace {

namespace fs = std::filesystem;

const fs::path kSourceDir = PGCDC_SOURCE_DIR;
const fs::path kConfigData = kSourceDir / "tests/unit/data/configs";

// The ConfigError message `load` throws; fails the test if it throws nothing or something else.
std::string error_of(const std::function<void()>& load) {
  try {
    load();
  } catch (const ConfigError& error) {
    return error.what();
  } catch (const std::exception& error) {
    ADD_FAILURE() << "expected a ConfigError, got another exception: " << error.what();
    return "";
  }
  ADD_FAILURE() << "expected a ConfigError, but the config loaded";
  return "";
}

std::string toml_error(const std::string& text) {
  return error_of([&] { load_config_text(text, "toml"); });
}

// Sets (or unsets) an environment variable for the life of the object, then restores it.
class ScopedEnv {
 public:
  ScopedEnv(std::string name, const std::optional<std::string>& value) : name_(std::move(name)) {
    if (const char* old = std::getenv(name_.c_str())) old_ = old;
    if (value) {
      setenv(name_.c_str(), value->c_str(), 1);
    } else {
      unsetenv(name_.c_str());
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_.c_str(), old_->c_str(), 1);
    } else {
      unsetenv(name_.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

// A fresh directory under the system temp dir, removed afterwards.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "pgcdc-config-test-XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  fs::path write(const std::string& name, const std::string& text) const {
    fs::path file = path_ / name;
    std::ofstream(file, std::ios::binary) << text;
    return file;
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Every test runs without a PGCDC_BUFFER_SIZE from the developer's shell.
class ConfigTest : public ::testing::Test {
 private:
  ScopedEnv buffer_size_{"PGCDC_BUFFER_SIZE", std::nullopt};
};

const char* const kFullToml = R"(
[source]
url = "postgres://pgcdc@127.0.0.1:5432/app"
replication_url = "postgres://replicator@127.0.0.1:5432/app"
tables = ["public.orders", "public.customers"]
cdc = true
snapshot = true
publication_name = "pgcdc"
slot_name = "pgcdc"
alter_publication = false
drop_slot_on_stop = false
snapshot_chunk_rows = 10000
status_interval = "10s"
heartbeat_interval = "0s"

[sink.kafka]
brokers = "127.0.0.1:9092"
topic_prefix = "pgcdc"
tombstones = true
[sink.kafka.properties]
"compression.type" = "lz4"

[buffer]
max_records = 100000
max_bytes = 67108864

[offsets]
path = "/var/lib/pgcdc/offsets.json"

[metrics]
listen = "127.0.0.1:9187"

[log]
level = "info"
format = "text"
)";

const char* const kFullJson = R"({
  "source": {
    "url": "postgres://pgcdc@127.0.0.1:5432/app",
    "replication_url": "postgres://replicator@127.0.0.1:5432/app",
    "tables": ["public.orders", "public.customers"],
    "cdc": true,
    "snapshot": true,
    "publication_name": "pgcdc",
    "slot_name": "pgcdc",
    "alter_publication": false,
    "drop_slot_on_stop": false,
    "snapshot_chunk_rows": 10000,
    "status_interval": "10s",
    "heartbeat_interval": "0s"
  },
  "sink": {
    "kafka": {
      "brokers": "127.0.0.1:9092",
      "topic_prefix": "pgcdc",
      "tombstones": true,
      "properties": {"compression.type": "lz4"}
    }
  },
  "buffer": {"max_records": 100000, "max_bytes": 67108864},
  "offsets": {"path": "/var/lib/pgcdc/offsets.json"},
  "metrics": {"listen": "127.0.0.1:9187"},
  "log": {"level": "info", "format": "text"},
  "shutdown_timeout": "30s"
})";

TableConfig make_table(std::string schema, std::string name, std::vector<std::string> columns = {},
                       std::vector<std::string> key = {}) {
  TableConfig table;
  table.schema = std::move(schema);
  table.name = std::move(name);
  table.columns = std::move(columns);
  table.key = std::move(key);
  return table;
}

// The smallest valid TOML config plus `extra` lines in [source].
std::string minimal_toml(const std::string& extra_source = "") {
  return "[source]\nurl = \"postgres://pgcdc@127.0.0.1:5432/app\"\n" + extra_source +
         "\n[sink.stdout]\n";
}

// ---------------------------------------------------------------------------------------------
// Happy paths

TEST_F(ConfigTest, LoadsTheFullTomlExample) {
  Config config = load_config_text(kFullToml, "toml");
  EXPECT_EQ(config.source.url, "postgres://pgcdc@127.0.0.1:5432/app");
  EXPECT_EQ(config.source.replication_url, "postgres://replicator@127.0.0.1:5432/app");
  ASSERT_EQ(config.source.tables.size(), 2u);
  EXPECT_EQ(config.source.tables[0].qualified(), "public.orders");
  EXPECT_EQ(config.source.tables[1].qualified(), "public.customers");
  EXPECT_TRUE(config.source.tables[0].columns.empty());
  EXPECT_TRUE(config.source.tables[0].key.empty());
  EXPECT_EQ(config.source.snapshot_chunk_rows, 10000u);
  EXPECT_EQ(config.source.snapshot_chunk_bytes, std::size_t{8} << 20);  // the default
  EXPECT_EQ(config.source.status_interval, std::chrono::seconds(10));
  EXPECT_EQ(config.source.heartbeat_interval, std::chrono::milliseconds(0));
  EXPECT_EQ(config.sink.kind, SinkConfig::Kind::kKafka);
  EXPECT_EQ(config.sink.kafka.brokers, "127.0.0.1:9092");
  EXPECT_EQ(config.sink.kafka.properties,
            (std::map<std::string, std::string>{{"compression.type", "lz4"}}));
  EXPECT_EQ(config.buffer.max_bytes, 64u << 20);
  EXPECT_EQ(config.metrics.listen, "127.0.0.1:9187");
  EXPECT_EQ(config.shutdown_timeout, std::chrono::seconds(30));
}

TEST_F(ConfigTest, TheSameDocumentInJsonGivesAnEqualModel) {
  EXPECT_EQ(load_config_text(kFullJson, "json"), load_config_text(kFullToml, "toml"));
}

TEST_F(ConfigTest, LoadsConduitsSeedConfigVerbatim) {
  Config config = load_config_text(R"({"source": {"cdc": "true", "publication_name": "meroxademo",
      "slot_name": "meroxademo", "url": "postgres://...", "replication_url": "postgres://...",
      "table": "records", "columns": "key,column1,column2,column3"}, "sink": {"stdout": {}}})",
                                   "json");
  ASSERT_EQ(config.source.tables.size(), 1u);
  EXPECT_EQ(config.source.tables[0].schema, "public");
  EXPECT_EQ(config.source.tables[0].name, "records");
  EXPECT_EQ(config.source.tables[0].columns,
            (std::vector<std::string>{"key", "column1", "column2", "column3"}));
  EXPECT_TRUE(config.source.cdc);
  EXPECT_EQ(config.source.publication_name, "meroxademo");
  EXPECT_EQ(config.source.slot_name, "meroxademo");
  EXPECT_EQ(config.sink.kind, SinkConfig::Kind::kStdout);
  EXPECT_EQ(config.sink.stdout_sink.path, "-");
}

TEST_F(ConfigTest, AppliesTheModelsDefaults) {
  Config config = load_config_text(minimal_toml("table = \"records\"\n"), "toml");
  Config expected;
  expected.source.url = "postgres://pgcdc@127.0.0.1:5432/app";
  expected.source.replication_url = expected.source.url;  // defaults to url
  expected.source.tables.push_back(make_table("public", "records", {}, {}));
  expected.sink.kind = SinkConfig::Kind::kStdout;
  expected.sink.kafka.transactional_id = "pgcdc-pgcdc";  // derived from slot_name
  expected.sink.kafka.offsets_topic = "pgcdc._offsets";   // derived from topic_prefix
  EXPECT_EQ(config, expected);
}

TEST_F(ConfigTest, ReadsTablesAsObjectsStringsAndArraysOfTables) {
  Config config = load_config_text(minimal_toml(R"(tables = [
  {name = "orders", key = ["id"]},
  {schema = "sales", name = "customers", columns = " id , name,email", key = "id"},
  "audit.events",
  {name = "inventory.items", columns = ["sku", "warehouse", "qty"], key = ["sku", "warehouse"]},
])"),
                                   "toml");
  const auto& tables = config.source.tables;
  ASSERT_EQ(tables.size(), 4u);
  EXPECT_EQ(tables[0], (make_table("public", "orders", {}, {"id"})));
  EXPECT_EQ(tables[1], (make_table("sales", "customers", {"id", "name", "email"}, {"id"})));
  EXPECT_EQ(tables[2], (make_table("audit", "events", {}, {})));
  EXPECT_EQ(tables[3],
            (make_table("inventory", "items", {"sku", "warehouse", "qty"}, {"sku", "warehouse"})));

  Config array_of_tables = load_config_text(R"(
[source]
url = "postgres://h/app"
[[source.tables]]
name = "orders"
key = "id"
[[source.tables]]
schema = "sales"
name = "customers"
[sink.stdout]
)",
                                            "toml");
  ASSERT_EQ(array_of_tables.source.tables.size(), 2u);
  EXPECT_EQ(array_of_tables.source.tables[1].qualified(), "sales.customers");
}

TEST_F(ConfigTest, SourceLevelColumnsAndKeyApplyToASingleEntryOfTables) {
  Config config = load_config_text(
      minimal_toml("tables = [\"orders\"]\ncolumns = [\"id\", \"total\"]\nkey = \"id\"\n"), "toml");
  EXPECT_EQ(config.source.tables[0], (make_table("public", "orders", {"id", "total"}, {"id"})));
}

TEST_F(ConfigTest, ReadsQuotedIdentifiersAndKeepsUnquotedNamesAsWritten) {
  auto table = [](const std::string& name) {
    std::string toml = minimal_toml("table = '" + name + "'\n");
    return load_config_text(toml, "toml").source.tables.at(0);
  };
  EXPECT_EQ(table(R"("My Schema"."Weird.Table")"), (make_table("My Schema", "Weird.Table")));
  EXPECT_EQ(table(R"(Sales.Orders)"), (make_table("Sales", "Orders")));  // not lower-cased
  EXPECT_EQ(table(R"("say ""hi""")"), (make_table("public", R"(say "hi")")));
  EXPECT_EQ(table(R"(public."a,b")"), (make_table("public", "a,b")));

  Config config = load_config_text(
      minimal_toml(
          "table = \"t\"\ncolumns = '\"Order Id\", \"a,b\", Total'\nkey = '\"Order Id\"'\n"),
      "toml");
  EXPECT_EQ(config.source.tables[0].columns,
            (std::vector<std::string>{"Order Id", "a,b", "Total"}));
  EXPECT_EQ(config.source.tables[0].key, (std::vector<std::string>{"Order Id"}));
}

TEST_F(ConfigTest, ReadsDurationsAsUnitStringsOrMilliseconds) {
  auto interval = [](const std::string& value) {
    return load_config_text(minimal_toml("table = \"t\"\nstatus_interval = " + value + "\n"),
                            "toml")
        .source.status_interval;
  };
  EXPECT_EQ(interval("\"500ms\""), std::chrono::milliseconds(500));
  EXPECT_EQ(interval("\"10s\""), std::chrono::seconds(10));
  EXPECT_EQ(interval("\"5m\""), std::chrono::minutes(5));
  EXPECT_EQ(interval("\"1h\""), std::chrono::hours(1));
  EXPECT_EQ(interval("\"1m30s\""), std::chrono::seconds(90));
  EXPECT_EQ(interval("250"), std::chrono::milliseconds(250));
  EXPECT_NE(toml_error(minimal_toml("table = \"t\"\nstatus_interval = \"1.5s\"\n"))
                .find("source.status_interval: expected a duration"),
            std::string::npos);
}

TEST_F(ConfigTest, ReadsTheConnectionTimeoutAndRefusesOneBelowTwoSeconds) {
  EXPECT_EQ(load_config_text(minimal_toml("table = \"t\"\n"), "toml").source.connection_timeout,
            std::chrono::seconds(30));
  EXPECT_EQ(load_config_text(minimal_toml("table = \"t\"\nconnection_timeout = \"3s\"\n"), "toml")
                .source.connection_timeout,
            std::chrono::seconds(3));
  const std::string error =
      toml_error(minimal_toml("table = \"t\"\nconnection_timeout = \"1500ms\"\n"));
  EXPECT_NE(error.find("source.connection_timeout"), std::string::npos) << error;
  EXPECT_NE(error.find("must be at least 2s"), std::string::npos) << error;
}

TEST_F(ConfigTest, ReadsFailoverSlotAsAutoOrABoolean) {
  auto failover = [](const std::string& lines) {
    return load_config_text(minimal_toml("table = \"t\"\n" + lines), "toml").source.failover_slot;
  };
  EXPECT_EQ(failover(""), SourceConfig::FailoverSlot::kAuto);
  EXPECT_EQ(failover("failover_slot = \"auto\"\n"), SourceConfig::FailoverSlot::kAuto);
  EXPECT_EQ(failover("failover_slot = true\n"), SourceConfig::FailoverSlot::kOn);
  EXPECT_EQ(failover("failover_slot = \"off\"\n"), SourceConfig::FailoverSlot::kOff);
  std::string error = toml_error(minimal_toml("table = \"t\"\nfailover_slot = \"sometimes\"\n"));
  EXPECT_NE(error.find("source.failover_slot"), std::string::npos) << error;
}

TEST_F(ConfigTest, ReadsTheWalRetentionWarningAsAFractionUpToOne) {
  auto warn = [](const std::string& value) {
    return load_config_text(minimal_toml("table = \"t\"\nwal_retention_warn = " + value + "\n"),
                            "toml")
        .source.wal_retention_warn;
  };
  EXPECT_EQ(load_config_text(minimal_toml("table = \"t\"\n"), "toml").source.wal_retention_warn,
            0.8);
  EXPECT_EQ(warn("0.5"), 0.5);
  EXPECT_EQ(warn("1"), 1.0);
  EXPECT_EQ(load_config_text(R"({"source": {"url": "postgres://h/d", "table": "t",
      "wal_retention_warn": 0.25}, "sink": {"stdout": {}}})",
                             "json")
                .source.wal_retention_warn,
            0.25);
  const std::string error = toml_error(minimal_toml("table = \"t\"\nwal_retention_warn = -0.1\n"));
  EXPECT_NE(error.find("source.wal_retention_warn: must be above 0 and at most 1, got -0.1"),
            std::string::npos)
      << error;
}

TEST_F(ConfigTest, ReadsBooleansFromStringsInAnyCase) {
  auto source = [](const std::string& lines) {
    return load_config_text(minimal_toml("table = \"t\"\n" + lines), "toml").source;
  };
  EXPECT_FALSE(source("cdc = \"FALSE\"\n").cdc);
  EXPECT_FALSE(source("snapshot = \"off\"\n").snapshot);
  EXPECT_TRUE(source("alter_publication = \"Yes\"\n").alter_publication);
  EXPECT_TRUE(source("drop_slot_on_stop = \"1\"\n").drop_slot_on_stop);
  EXPECT_FALSE(source("cdc = \"no\"\nsnapshot = \"on\"\n").cdc);
}

TEST_F(ConfigTest, ConvertsKafkaPropertyValuesToStrings) {
  Config config = load_config_text(R"(
[source]
url = "postgres://h/app"
table = "t"
[sink.kafka]
brokers = "k:9092"
[sink.kafka.properties]
"compression.type" = "lz4"
"linger.ms" = 5
"enable.idempotence" = true
"queue.buffering.max.ms" = 0.5
)",
                                   "toml");
  EXPECT_EQ(config.sink.kafka.properties,
            (std::map<std::string, std::string>{{"compression.type", "lz4"},
                                                {"enable.idempotence", "true"},
                                                {"linger.ms", "5"},
                                                {"queue.buffering.max.ms", "0.5"}}));
}

TEST_F(ConfigTest, ReplacesEnvironmentVariablesInEveryString) {
  ScopedEnv password("PGCDC_TEST_PASSWORD", "s3cret");
  ScopedEnv brokers("PGCDC_TEST_BROKERS", "kafka1:9092,kafka2:9092");
  Config config = load_config_text(R"(
[source]
url = "postgres://pgcdc:${PGCDC_TEST_PASSWORD}@db/app"
table = "t"
publication_name = "cost_$${not_a_variable}"
[sink.kafka]
brokers = "${PGCDC_TEST_BROKERS}"
[sink.kafka.properties]
"sasl.password" = "${PGCDC_TEST_PASSWORD}"
"client.id" = "pgcdc-$5"
)",
                                   "toml");
  EXPECT_EQ(config.source.url, "postgres://pgcdc:s3cret@db/app");
  EXPECT_EQ(config.source.replication_url, "postgres://pgcdc:s3cret@db/app");
  EXPECT_EQ(config.source.publication_name, "cost_${not_a_variable}");
  EXPECT_EQ(config.sink.kafka.brokers, "kafka1:9092,kafka2:9092");
  EXPECT_EQ(config.sink.kafka.properties.at("sasl.password"), "s3cret");
  EXPECT_EQ(config.sink.kafka.properties.at("client.id"), "pgcdc-$5");
}

TEST_F(ConfigTest, UnsetEnvironmentVariableNamesTheKey) {
  ScopedEnv unset("PGCDC_TEST_UNSET", std::nullopt);
  EXPECT_EQ(error_of([] {
              load_config_text(R"({"source": {"url": "postgres://u:${PGCDC_TEST_UNSET}@h/db",
                                   "table": "t"}, "sink": {"stdout": {}}})",
                               "json");
            }),
            "source.url: environment variable PGCDC_TEST_UNSET is not set (line 1)");
}

TEST_F(ConfigTest, ReadsSecretsFromFiles) {
  TempDir dir;
  dir.write("pg_url", "postgres://pgcdc:from-file@db/app\n");
  dir.write("kafka_password", "kafka-secret\r\n");
  fs::path config_file = dir.write("pgcdc.toml", R"(
[source]
url_file = "pg_url"   # relative to the config file
table = "t"
[sink.kafka]
brokers = "k:9092"
[sink.kafka.properties]
"sasl.password_file" = ")" + (dir.path() / "kafka_password").string() +
                                                     R"("
)");
  Config config = load_config_file(config_file.string());
  EXPECT_EQ(config.source.url, "postgres://pgcdc:from-file@db/app");
  EXPECT_EQ(config.sink.kafka.properties.at("sasl.password"), "kafka-secret");
  EXPECT_EQ(config.sink.kafka.properties.count("sasl.password_file"), 0u);
}

TEST_F(ConfigTest, UnreadableSecretFileNamesTheKeyAndTheFile) {
  TempDir dir;
  fs::path config_file =
      dir.write("pgcdc.toml", minimal_toml("table = \"t\"\nreplication_url_file = \"missing\"\n"));
  std::string message = error_of([&] { load_config_file(config_file.string()); });
  EXPECT_EQ(message, "source.replication_url_file: cannot read " +
                         (dir.path() / "missing").string() +
                         ": No such file or directory (line 4)");
}

TEST_F(ConfigTest, PgcdcBufferSizeOverridesMaxRecords) {
  std::string text = minimal_toml("table = \"t\"\n") + "[buffer]\nmax_records = 10\n";
  {
    ScopedEnv size("PGCDC_BUFFER_SIZE", "2500");
    EXPECT_EQ(load_config_text(text, "toml").buffer.max_records, 2500u);
  }
  EXPECT_EQ(load_config_text(text, "toml").buffer.max_records, 10u);
  for (const char* bad : {"abc", "0", "-5", "", "12k"}) {
    ScopedEnv size("PGCDC_BUFFER_SIZE", bad);
    EXPECT_EQ(toml_error(text),
              std::string("PGCDC_BUFFER_SIZE: expected a positive integer, got \"") + bad + "\"");
  }
}

TEST_F(ConfigTest, ChoosesTheFormatByExtensionThenByContent) {
  TempDir dir;
  std::string json =
      R"({"source": {"url": "postgres://h/db", "table": "t"}, "sink": {"stdout": {}}})";
  std::string toml = minimal_toml("table = \"t\"\n");
  EXPECT_NO_THROW(load_config_file(dir.write("a.JSON", json).string()));
  EXPECT_NO_THROW(load_config_file(dir.write("b.conf", "  \n" + json).string()));
  EXPECT_NO_THROW(load_config_file(dir.write("c", toml).string()));
  // The extension wins over the content.
  EXPECT_NE(error_of([&] {
              load_config_file(dir.write("d.toml", json).string());
            }).find("config syntax error at line 1"),
            std::string::npos);
  EXPECT_THROW(load_config_text(toml, "yaml"), ConfigError);
}

TEST_F(ConfigTest, UnreadableConfigFileNamesThePath) {
  EXPECT_EQ(error_of([] { load_config_file("/nonexistent/pgcdc.toml"); }),
            "/nonexistent/pgcdc.toml: cannot read the config file: No such file or directory");
  TempDir dir;
  EXPECT_EQ(error_of([&] { load_config_file(dir.path().string()); }),
            dir.path().string() + ": cannot read the config file: Is a directory");
}

TEST_F(ConfigTest, SyntaxErrorsGiveLineAndColumn) {
  EXPECT_EQ(
      error_of([] { load_config_text("{\n  \"source\": {\n    \"url\": 'x'\n  }\n}", "json"); }),
      "config syntax error at line 3, column 12: Invalid value.");
  std::string toml_message = toml_error("[source]\nurl = \"x\"\ntable = = 1\n");
  EXPECT_EQ(toml_message.rfind("config syntax error at line 3, column 9: ", 0), 0u) << toml_message;
}

TEST_F(ConfigTest, UnknownKeysSuggestTheClosestKnownKey) {
  EXPECT_EQ(toml_error(minimal_toml("table = \"t\"\nslot_nme = \"x\"\n")),
            "source.slot_nme: unknown key (did you mean source.slot_name?) (line 4)");
  EXPECT_EQ(toml_error(minimal_toml("table = \"t\"\nSNAPSHOT = true\n")),
            "source.SNAPSHOT: unknown key (did you mean source.snapshot?) (line 4)");
  // Too far from any key: no hint.
  EXPECT_EQ(toml_error(minimal_toml("table = \"t\"\nwhatever = 1\n")),
            "source.whatever: unknown key (line 4)");
}

// ---------------------------------------------------------------------------------------------
// The corpora: every file in bad/ must fail with its expected message; every file in good/ load.

// The expectation of a bad file: "# expect: ..." on the first line of a TOML file, or the
// first line of the "<name>.json.expect" sidecar of a JSON file.
std::string expectation_of(const fs::path& file) {
  std::string first_line;
  if (file.extension() == ".json") {
    std::ifstream sidecar(file.string() + ".expect");
    std::getline(sidecar, first_line);
    return first_line;
  }
  std::ifstream in(file);
  std::getline(in, first_line);
  const std::string marker = "# expect: ";
  return first_line.rfind(marker, 0) == 0 ? first_line.substr(marker.size()) : "";
}

TEST_F(ConfigTest, EveryBadConfigFailsWithItsExpectedMessage) {
  ScopedEnv unset("PGCDC_TEST_UNSET_VARIABLE", std::nullopt);
  int checked = 0;
  for (const auto& entry : fs::directory_iterator(kConfigData / "bad")) {
    const fs::path& file = entry.path();
    if (file.extension() == ".expect") continue;
    SCOPED_TRACE(file.filename().string());
    std::string expected = expectation_of(file);
    ASSERT_FALSE(expected.empty()) << "no expectation for " << file;
    std::string message = error_of([&] { load_config_file(file.string()); });
    EXPECT_NE(message.find(expected), std::string::npos)
        << "expected: " << expected << "\n     got: " << message;
    ++checked;
  }
  EXPECT_GE(checked, 30);
}

// libpq's parser checks key=value strings too (a word without "=" used to load, and then
// `pgcdc check` described it as "***", which does not load). Its reason is given with what it
// quotes from the string hidden: the word may be part of a password.
TEST_F(ConfigTest, LibpqRefusesAConnectionStringWithoutShowingItsWords) {
  const std::string message = error_of([] {
    load_config_text("[source]\nurl = \"host=db password=se cret dbname=app\"\n"
                     "table = \"t\"\n[sink.kafka]\nbrokers = \"k:9092\"\n",
                     "toml");
  });
  EXPECT_NE(message.find("source.url: libpq cannot parse this connection string"),
            std::string::npos)
      << message;
  EXPECT_EQ(message.find("cret"), std::string::npos) << message;
  EXPECT_EQ(message.find("=se"), std::string::npos) << message;
  // A refused word with a double quote in it: none of it shows either.
  const std::string quoted = error_of([] {
    load_config_text("[source]\nurl = 'host=db password=se c\"ret\"x dbname=app'\n"
                     "table = \"t\"\n[sink.kafka]\nbrokers = \"k:9092\"\n",
                     "toml");
  });
  EXPECT_NE(quoted.find("libpq cannot parse this connection string"), std::string::npos) << quoted;
  EXPECT_EQ(quoted.find("ret"), std::string::npos) << quoted;
  EXPECT_EQ(quoted.find("x dbname"), std::string::npos) << quoted;
  // What libpq accepts still loads: quoted values with spaces, spaces around "=".
  EXPECT_NO_THROW(load_config_text(
      "[source]\nurl = \"host=db password='se cret' dbname = app\"\ntable = \"t\"\n"
      "[sink.kafka]\nbrokers = \"k:9092\"\n",
      "toml"));
}

TEST_F(ConfigTest, EveryGoodConfigLoads) {
  int checked = 0;
  for (const auto& entry : fs::directory_iterator(kConfigData / "good")) {
    if (!entry.is_regular_file()) continue;  // secrets/ holds files the configs point at
    SCOPED_TRACE(entry.path().filename().string());
    EXPECT_NO_THROW(load_config_file(entry.path().string()));
    ++checked;
  }
  EXPECT_GE(checked, 3);
}

TEST_F(ConfigTest, GoodCorpusFilesMeanWhatTheySay) {
  Config many = load_config_file((kConfigData / "good/many_tables.toml").string());
  ASSERT_EQ(many.source.tables.size(), 3u);
  EXPECT_EQ(many.source.tables[1],
            (make_table("Sales", "Line Items", {}, {"order_id", "line_no"})));
  EXPECT_EQ(many.source.tables[2], (make_table("My Schema", "Weird.Table", {}, {})));
  EXPECT_EQ(many.shutdown_timeout, std::chrono::seconds(90));
  EXPECT_EQ(many.metrics.listen, "[::1]:9187");

  Config secret = load_config_file((kConfigData / "good/secret_from_file.toml").string());
  EXPECT_EQ(secret.source.url, "postgres://pgcdc:file-secret@127.0.0.1:5432/app");

  Config sniffed = load_config_file((kConfigData / "good/sniffed.conf").string());
  EXPECT_FALSE(sniffed.source.snapshot);
}

TEST_F(ConfigTest, ReadsTheFormatOptions) {
  // Defaults: what pgcdc wrote before the options existed.
  Config defaults = load_config_text(minimal_toml("table = \"t\"\n"), "toml");
  EXPECT_EQ(defaults.format.numeric, FormatConfig::Numeric::kString);
  EXPECT_EQ(defaults.format.bytea, FormatConfig::Bytea::kBase64);
  EXPECT_EQ(defaults.format.temporal, FormatConfig::Temporal::kIso);
  EXPECT_EQ(defaults.format.json, FormatConfig::Json::kEmbedded);

  Config toml = load_config_file((kConfigData / "good/format_options.toml").string());
  EXPECT_EQ(toml.format.numeric, FormatConfig::Numeric::kNumber);
  EXPECT_EQ(toml.format.bytea, FormatConfig::Bytea::kHex);
  EXPECT_EQ(toml.format.temporal, FormatConfig::Temporal::kEpochMillis);
  EXPECT_EQ(toml.format.json, FormatConfig::Json::kString);

  Config json = load_config_text(R"({"source": {"url": "postgres://h/db", "table": "t"},
      "sink": {"stdout": {}}, "format": {"temporal": "epoch_micros", "numeric": "string"}})",
                                 "json");
  EXPECT_EQ(json.format.temporal, FormatConfig::Temporal::kEpochMicros);
  EXPECT_EQ(json.format.numeric, FormatConfig::Numeric::kString);
  EXPECT_EQ(json.format.bytea, FormatConfig::Bytea::kBase64);

  // describe_config shows them, and its text loads back to the same choices.
  std::string text = describe_config(toml);
  EXPECT_NE(text.find("[format]\nnumeric = \"number\"\nbytea = \"hex\"\n"
                      "temporal = \"epoch_millis\"\njson = \"string\"\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(load_config_text(text, "toml"), toml);
}

TEST_F(ConfigTest, BothExamplesLoadToTheSameModelOfDefaults) {
  Config toml = load_config_file((kSourceDir / "examples/pgcdc.toml").string());
  Config json = load_config_file((kSourceDir / "examples/pgcdc.json").string());
  EXPECT_EQ(toml, json);
  // The examples spell out the defaults: only the required keys differ from a fresh Config.
  Config defaults;
  defaults.source.url = toml.source.url;
  defaults.source.replication_url = toml.source.url;
  defaults.source.tables = toml.source.tables;
  defaults.sink.kafka.brokers = toml.sink.kafka.brokers;
  defaults.sink.kafka.transactional_id = "pgcdc-pgcdc";  // derived from slot_name
  defaults.sink.kafka.offsets_topic = "pgcdc._offsets";   // derived from topic_prefix
  EXPECT_EQ(toml, defaults);
}

// ---------------------------------------------------------------------------------------------
// Redaction and describe_config

TEST(RedactUrl, HidesPasswordsInUrlsAndKeyValueStrings) {
  EXPECT_EQ(redact_url("postgres://u:secret@h/db"), "postgres://u:***@h/db");
  EXPECT_EQ(redact_url("postgresql://u:p%40ss@h1:5432,h2:5433/db?sslmode=require"),
            "postgresql://u:***@h1:5432,h2:5433/db?sslmode=require");
  EXPECT_EQ(redact_url("postgres://u:pa/ss@h/db"), "postgres://u:***@h/db");
  EXPECT_EQ(redact_url("postgres://u:p@ss@h/db"), "postgres://u:***@h/db");
  EXPECT_EQ(redact_url("postgres://u:secret@h/db@x"), "postgres://u:***@h/db@x");
  // An '@' in the database name after an authority without a password: nothing to hide, and the
  // host and port stay as they were (the config fuzzer's case).
  EXPECT_EQ(redact_url("postgres://u@127.0.0.1:5432/apostgres://u@127.0.0.1:54p"),
            "postgres://u@127.0.0.1:5432/apostgres://u@127.0.0.1:54p");
  EXPECT_EQ(redact_url("postgres://u@h/db?sslmode=require&password=secret"),
            "postgres://u@h/db?sslmode=require&password=***");
  EXPECT_EQ(redact_url("postgres://u@h:5432/db"), "postgres://u@h:5432/db");
  // No user info before the first '/': an '@' after it is in the database name (libpq's reading),
  // unless the part before the '/' cannot be a host list (then it hides a password with a '/').
  EXPECT_EQ(redact_url("postgres://h.example=1:5432/pa@b:54p"), "postgres://h.example=1:5432/pa@b:54p");
  EXPECT_EQ(redact_url("postgres://h1:5432,[::1]:5433/db@x"), "postgres://h1:5432,[::1]:5433/db@x");
  EXPECT_EQ(redact_url("postgres://u:pa/ss@h/db"), "postgres://u:***@h/db");
  EXPECT_EQ(redact_url("host=h password=secret dbname=db"), "host=h password=*** dbname=db");
  EXPECT_EQ(redact_url("host=h password = 'it\\'s secret' user=u"), "host=h password = *** user=u");
  EXPECT_EQ(redact_url("password=secret"), "password=***");
  EXPECT_EQ(redact_url("host=h dbname=db"), "host=h dbname=db");
  EXPECT_EQ(redact_url("garbage password secret"), "***");
}

TEST_F(ConfigTest, DescribeConfigNeverShowsPasswords) {
  ScopedEnv password("PGCDC_TEST_PASSWORD", "hunter2");
  Config config = load_config_text(R"(
[source]
url = "postgres://pgcdc:${PGCDC_TEST_PASSWORD}@db/app"
replication_url = "host=db user=replicator password=${PGCDC_TEST_PASSWORD}"
table = "t"
[sink.kafka]
brokers = "k:9092"
[sink.kafka.properties]
"sasl.password" = "${PGCDC_TEST_PASSWORD}"
"ssl.key.pem" = "${PGCDC_TEST_PASSWORD}"
"sasl.oauthbearer.config" = "principal=x secret=${PGCDC_TEST_PASSWORD}"
"compression.type" = "lz4"
)",
                                   "toml");
  std::string text = describe_config(config);
  EXPECT_EQ(text.find("hunter2"), std::string::npos) << text;
  EXPECT_NE(text.find("url = \"postgres://pgcdc:***@db/app\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"sasl.password\" = \"***\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"compression.type\" = \"lz4\""), std::string::npos) << text;
}

TEST_F(ConfigTest, DescribeConfigLoadsBackToTheSameModel) {
  for (const char* name : {"many_tables.toml", "conduit_seed.json", "sniffed.conf"}) {
    SCOPED_TRACE(name);
    Config config = load_config_file((kConfigData / "good" / name).string());
    std::string text = describe_config(config);
    Config again;
    ASSERT_NO_THROW(again = load_config_text(text, "toml")) << text;
    EXPECT_EQ(again, config) << text;
  }
  // Strings that look like interpolation survive the round trip.
  Config config =
      load_config_text(minimal_toml("table = \"t\"\npublication_name = \"a$${b}\"\n"), "toml");
  EXPECT_EQ(load_config_text(describe_config(config), "toml"), config);
  // A fraction comes back as the same double, written as a float even when whole.
  for (const char* warn : {"0.3", "1"}) {
    config = load_config_text(
        minimal_toml("table = \"t\"\nwal_retention_warn = " + std::string(warn) + "\n"), "toml");
    EXPECT_EQ(load_config_text(describe_config(config), "toml"), config) << describe_config(config);
  }
}

}  // namespace
}  // namespace pgcdc
