#include "daemon/check.h"

#include <cstdio>
#include <functional>

#include "connector/catalog.h"
#include "connector/pg_connection.h"
#include "connector/replication_setup.h"
#include "core/position_ledger.h"
#include "sinks/sink_factory.h"

namespace pgcdc {
namespace {

class NullListener : public DeliveryListener {
 public:
  void on_delivery(const DeliveryReport&) override {}
};

// The fix for a connection failure, from libpq's or librdkafka's message; empty when unknown.
std::string connection_hint(const std::string& message, const std::string& key) {
  struct Hint {
    const char* says;
    const char* fix;
  };
  static const Hint kHints[] = {
      {"password authentication failed", "check the user and password in {key} (or {key}_file)"},
      {"no password supplied", "put the password in {key} (or {key}_file), or use a .pgpass file"},
      {"no pg_hba.conf entry",
       "add a pg_hba.conf line for this user, database and host (for {key}), then reload "
       "PostgreSQL"},
      {"does not exist", "check the user and database names in {key}"},
      {"must be superuser or replication role", "ALTER ROLE <user> REPLICATION"},
      {"Connection refused",
       "is PostgreSQL running and listening on that host and port? check {key}, "
       "listen_addresses and the firewall"},
      {"timeout expired", "nothing answered in time: check the host in {key} and the firewall"},
      {"could not translate host name", "check the host name in {key}"},
      {"not reachable within",
       "check {key}: are the brokers running, and do they listen on those addresses?"},
  };
  for (const auto& hint : kHints) {
    if (message.find(hint.says) == std::string::npos) continue;
    std::string fix = hint.fix;
    for (auto at = fix.find("{key}"); at != std::string::npos; at = fix.find("{key}")) {
      fix.replace(at, 5, key);
    }
    return fix;
  }
  return {};
}

// Rethrows a connection failure with its fix appended.
[[noreturn]] void throw_with_hint(const std::exception& e, const std::string& key) {
  std::string hint = connection_hint(e.what(), key);
  throw std::runtime_error(std::string(e.what()) + (hint.empty() ? "" : "; " + hint));
}

}  // namespace

int run_checks(const Config& config) {
  std::printf("# effective configuration (secrets redacted)\n%s\n", describe_config(config).c_str());
  int failures = 0;
  auto check = [&](const std::string& what, const std::function<std::string()>& body) {
    try {
      std::string detail = body();
      std::printf("ok    %s%s%s\n", what.c_str(), detail.empty() ? "" : ": ", detail.c_str());
      return true;
    } catch (const std::exception& e) {
      std::printf("FAIL  %s: %s\n", what.c_str(), e.what());
      ++failures;
      return false;
    }
  };

  std::optional<PgConnection> connection;
  bool connected = check("postgresql connection (source.url)", [&] {
    try {
      connection.emplace(config.source.url, PgConnection::Kind::kQuery);
    } catch (const std::exception& e) {
      throw_with_hint(e, "source.url");
    }
    return "server " + std::to_string(connection->server_version() / 10000) + ", database " +
           connection->database();
  });
  std::vector<TableInfo> tables;
  if (connected) {
    check("server settings and privileges", [&] {
      check_server(*connection, config.source.cdc);
      return std::string(config.source.cdc ? "wal_level logical, role may replicate" : "");
    });
    for (const auto& table : config.source.tables) {
      check("table " + table.qualified(), [&] {
        tables.push_back(describe_table(*connection, table, config.sink.kafka.topic_prefix));
        std::string key;
        for (const auto& k : tables.back().key_columns) key += (key.empty() ? "" : ",") + k;
        return "key (" + key + "), " + std::to_string(tables.back().output_columns.size()) +
               " column(s)";
      });
    }
    if (config.source.cdc) {
      check("publication " + config.source.publication_name, [&] {
        auto state = find_publication(*connection, config.source.publication_name, tables);
        if (!state) return std::string("does not exist; it will be created");
        if (!state->missing_tables.empty() && !config.source.alter_publication) {
          std::string missing;
          for (const auto& t : state->missing_tables) missing += (missing.empty() ? "" : ", ") + t;
          throw SetupError("exists but does not publish " + missing +
                           "; add them or set source.alter_publication = true");
        }
        return std::string("exists");
      });
      check("replication slot " + config.source.slot_name, [&] {
        auto slot = find_slot(*connection, config.source.slot_name);
        if (!slot) return std::string("does not exist; it will be created");
        if (slot->plugin != "pgoutput") throw SetupError("uses plugin " + slot->plugin);
        if (slot->wal_status == "lost") throw SetupError("invalidated (wal_status lost)");
        return "exists, confirmed flush " + format_lsn(slot->confirmed_flush) +
               (slot->active ? ", in use by another process" : "");
      });
    }
  }
  if (config.source.cdc) {
    check("replication connection (source.replication_url)", [&] {
      std::optional<PgConnection> replication;
      try {
        replication.emplace(config.source.replication_url, PgConnection::Kind::kReplication);
      } catch (const std::exception& e) {
        throw_with_hint(e, "source.replication_url");
      }
      auto system = replication->exec("IDENTIFY_SYSTEM");
      return "system " + std::string(field(system.get(), 0, 0)) + ", WAL at " +
             std::string(field(system.get(), 0, 2));
    });
  }
  NullListener listener;
  check(config.sink.kind == SinkConfig::Kind::kKafka ? "kafka (sink.kafka.brokers)" : "stdout sink",
        [&] {
          auto sink = make_sink(config.sink, listener);
          std::string error;
          if (!sink->ping(std::chrono::milliseconds(10000), error)) {
            throw_with_hint(std::runtime_error(error), "sink.kafka.brokers");
          }
          return std::string("reachable");
        });
  std::printf("%s\n", failures ? "some checks failed" : "all checks passed");
  return failures ? 1 : 0;
}

}  // namespace pgcdc
