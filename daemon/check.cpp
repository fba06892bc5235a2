#include "daemon/check.h"

#include <cstdio>
#include <functional>
#include <set>

#include "connector/catalog.h"
#include "connector/failover_slot.h"
#include "connector/pg_connection.h"
#include "connector/replication_setup.h"
#include "connector/session_setup.h"
#include "core/offset_store.h"
#include "core/position_ledger.h"
#include "sinks/kafka_handles.h"
#include "sinks/kafka_sink.h"
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
      // First: a Kafka message quotes librdkafka's reason, which may read like a libpq one
      // ("Connection refused").
      {"not reachable within",
       "check {key}: are the brokers running, and do they listen on those addresses?"},
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

namespace {

// Why this role cannot create (or alter) the publication for `tables`; empty when it can.
std::string publication_privilege_problems(PgConnection& connection, const std::string& name,
                                           const std::vector<TableInfo>& tables, bool create) {
  auto role = connection.exec(
      "SELECT rolsuper, current_user, current_database(), "
      "       has_database_privilege(current_database(), 'CREATE') "
      "FROM pg_catalog.pg_roles WHERE rolname = current_user");
  if (field(role.get(), 0, 0) == "t") return "";
  std::string user(field(role.get(), 0, 1));
  std::vector<std::string> problems;
  if (create && field(role.get(), 0, 3) != "t") {
    problems.push_back("role " + user + " may not create publications in database " +
                       std::string(field(role.get(), 0, 2)) + " (GRANT CREATE ON DATABASE " +
                       connection.quote_identifier(field(role.get(), 0, 2)) + " TO " +
                       connection.quote_identifier(user) + ")");
  }
  if (!create) {
    auto owner = connection.exec_params(
        "SELECT pg_has_role(pubowner, 'USAGE') FROM pg_catalog.pg_publication WHERE pubname = $1",
        {name});
    if (PQntuples(owner.get()) == 1 && field(owner.get(), 0, 0) != "t") {
      problems.push_back("role " + user + " does not own publication " + name +
                         " and cannot add tables to it");
    }
  }
  for (const auto& table : tables) {
    auto owner = connection.exec_params(
        "SELECT pg_has_role(relowner, 'USAGE') FROM pg_catalog.pg_class WHERE oid = $1::oid",
        {std::to_string(table.oid)});
    if (PQntuples(owner.get()) == 1 && field(owner.get(), 0, 0) != "t") {
      problems.push_back("role " + user + " does not own table " + table.qualified +
                         ", which a publication for it requires");
    }
  }
  std::string text;
  for (const auto& problem : problems) text += (text.empty() ? "" : "; ") + problem;
  if (!text.empty()) {
    text += ". Or create the publication once as the tables' owner: CREATE PUBLICATION " +
            connection.quote_identifier(name) + " FOR TABLE ...";
  }
  return text;
}

// Which of the tables' topics exist, and whether the broker would let this client create the
// others (CreateTopics with validate_only: nothing is created).
std::string topic_creation_check(rd_kafka_t* rk, const Config& config,
                                 const std::vector<TableInfo>& tables) {
  // Metadata for all topics: asking for one missing topic by name would make a broker with
  // auto.create.topics.enable create it, and check changes nothing.
  RdKafkaMetadataPtr metadata;
  rd_kafka_resp_err_t err = fetch_metadata(rk, true, nullptr, 10000, metadata);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw std::runtime_error(std::string("cannot list topics: ") + rd_kafka_err2str(err));
  }
  std::set<std::string> existing;
  for (int i = 0; i < metadata->topic_cnt; ++i) existing.insert(metadata->topics[i].topic);
  std::vector<std::string> missing;
  for (const auto& table : tables) {
    if (!existing.count(table.topic)) missing.push_back(table.topic);
  }
  if (config.sink.kafka.delivery == KafkaSinkConfig::Delivery::kExactlyOnce &&
      !existing.count(config.sink.kafka.offsets_topic)) {
    missing.push_back(config.sink.kafka.offsets_topic);
  }
  if (missing.empty()) return "every topic exists";
  std::vector<RdKafkaNewTopicPtr> requests;
  std::vector<rd_kafka_NewTopic_t*> request_handles;  // borrowed from `requests`, for the call
  char errstr[512];
  for (const auto& name : missing) {
    requests.emplace_back(rd_kafka_NewTopic_new(name.c_str(), -1, -1, errstr, sizeof errstr));
    request_handles.push_back(requests.back().get());
  }
  RdKafkaAdminOptionsPtr options(rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS));
  rd_kafka_AdminOptions_set_validate_only(options.get(), 1, errstr, sizeof errstr);
  RdKafkaQueuePtr queue(rd_kafka_queue_new(rk));
  rd_kafka_CreateTopics(rk, request_handles.data(), request_handles.size(), options.get(),
                        queue.get());
  RdKafkaEventPtr event(rd_kafka_queue_poll(queue.get(), 15000));
  std::string problems;
  if (!event) {
    problems = "no answer to a validate-only CreateTopics request";
  } else {
    size_t count = 0;
    const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(event.get());
    const rd_kafka_topic_result_t** results =
        result ? rd_kafka_CreateTopics_result_topics(result, &count) : nullptr;
    if (!result && rd_kafka_event_error(event.get())) {
      problems = rd_kafka_event_error_string(event.get());
    }
    for (size_t i = 0; i < count; ++i) {
      rd_kafka_resp_err_t err = rd_kafka_topic_result_error(results[i]);
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        problems += (problems.empty() ? "" : "; ") + std::string(rd_kafka_topic_result_name(results[i])) +
                    ": " + rd_kafka_err2str(err);
      }
    }
  }
  if (!problems.empty()) {
    throw std::runtime_error("topics cannot be created: " + problems +
                             " (create them, or grant this client Create on the topics)");
  }
  return std::to_string(missing.size()) + " topic(s) missing, creation allowed";
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
      connection.emplace(config.source.url, PgConnection::Kind::kQuery,
                         config.source.connection_timeout);
    } catch (const std::exception& e) {
      throw_with_hint(e, "source.url");
    }
    return "server " + std::to_string(connection->server_version() / 10000) + ", database " +
           connection->database();
  });
  std::vector<TableInfo> tables;
  std::optional<SlotState> slot;
  bool slot_checked = false;
  if (connected) {
    check("server settings and privileges", [&] {
      check_server(*connection, config.source.cdc);
      check_failover_setting(config.source, connection->server_version());
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
    if (tables.size() > 1) {
      check("topics of the tables", [&] {
        check_distinct_names(tables);
        return std::string("one per table");
      });
    }
    if (tables.size() == config.source.tables.size()) {
      check("partitioned tables", [&] {
        check_partition_nesting(tables);
        std::size_t partitioned = 0;
        for (const auto& table : tables) partitioned += table.partitioned ? 1 : 0;
        return partitioned ? std::to_string(partitioned) +
                                 " partitioned table(s), captured through their root"
                           : std::string("none");
      });
    }
    if (config.source.cdc) {
      check("publication " + config.source.publication_name, [&] {
        const bool alter = config.source.alter_publication;
        auto state = find_publication(*connection, config.source.publication_name, tables);
        if (state) {
          std::string problem = publication_key_problem(config.source.publication_name, *state);
          if (problem.empty()) {
            problem =
                publication_problem(*connection, *state, config.source.publication_name, alter);
          }
          if (!problem.empty()) throw SetupError(problem);
        }
        const bool set_via_root =
            state && !state->via_partition_root && !state->partitioned_tables.empty();
        const bool add_tables = state && !state->missing_tables.empty();
        if (!state || add_tables || set_via_root) {
          // Creating it, or altering it, needs CREATE on the database (to create), the
          // publication's ownership (to alter) and the ownership of every table it adds.
          std::string problems = publication_privilege_problems(
              *connection, config.source.publication_name, tables, /*create=*/!state);
          if (!problems.empty()) throw SetupError(problems);
          if (!state) return std::string("does not exist; it will be created (privileges checked)");
          std::string changes = add_tables ? "the missing tables will be added" : "";
          if (set_via_root) {
            changes += std::string(changes.empty() ? "" : " and ") +
                       "publish_via_partition_root will be set";
          }
          return "exists; " + changes;
        }
        return std::string("exists");
      });
      slot_checked = check("replication slot " + config.source.slot_name, [&] {
        slot = find_slot(*connection, config.source.slot_name);
        if (!slot) return std::string("does not exist; it will be created");
        if (slot->plugin != "pgoutput") throw SetupError("uses plugin " + slot->plugin);
        if (slot->wal_status == "lost") throw SetupError("invalidated (wal_status lost)");
        return "exists, confirmed flush " + format_lsn(slot->confirmed_flush) +
               (slot->active ? ", in use by another process" : "");
      });
      if (slot_checked) {
        check("failover (source.failover_slot)", [&] {
          const int version = connection->server_version();
          const bool wanted = wants_failover_slot(config.source, version);
          if (version < kFailoverSlotsVersion) {
            return "PostgreSQL " + std::to_string(version / 10000) +
                   " has no failover slots: the slot does not survive a failover to a standby "
                   "(docs/operations.md, \"PostgreSQL versions and failover\")";
          }
          if (!slot) {
            return std::string(wanted ? "the slot will be created as a failover slot"
                                      : "the slot will be created as a plain slot "
                                        "(source.failover_slot = false)");
          }
          if (slot->failover != wanted) {
            return std::string(wanted ? "the slot is not a failover slot; the next run makes it one"
                                      : "the slot is a failover slot; the next run makes it a "
                                        "plain one (source.failover_slot = false)");
          }
          return read_failover_readiness(*connection, config.source.slot_name).describe();
        });
      }
    }
    // The position run() resumes from, and what it would refuse about it. With exactly-once it
    // is in Kafka (read only by a run: reading it fences the running producer).
    if (config.sink.kind != SinkConfig::Kind::kKafka ||
        config.sink.kafka.delivery != KafkaSinkConfig::Delivery::kExactlyOnce) {
      check("offsets file " + config.offsets.path, [&] {
        std::optional<SourceOffset> offset = FileOffsetStore(config.offsets.path).load();
        const bool cdc = config.source.cdc && slot_checked;
        if (cdc && !slot && offset && offset->lsn != 0) {
          throw SetupError("says streaming reached " + format_lsn(offset->lsn) +
                           ", but replication slot " + config.source.slot_name +
                           " does not exist: changes since then cannot be recovered. Remove the "
                           "offsets file to start over with a new snapshot");
        }
        if (offset) {
          return offset->lsn != 0 ? "streaming reached " + format_lsn(offset->lsn)
                                  : std::string("holds snapshot progress");
        }
        return std::string(cdc && slot ? "missing, but the slot exists: run reads every table "
                                         "again and streams from the slot's position "
                                         "(duplicates, no loss)"
                                       : "missing; it will be created");
      });
    }
  }
  if (config.source.cdc) {
    check("replication connection (source.replication_url)", [&] {
      std::optional<PgConnection> replication;
      try {
        replication.emplace(config.source.replication_url, PgConnection::Kind::kReplication,
                            config.source.connection_timeout);
      } catch (const std::exception& e) {
        throw_with_hint(e, "source.replication_url");
      }
      refuse_standby(*replication);
      auto system = replication->exec("IDENTIFY_SYSTEM");
      return "system " + std::string(field(system.get(), 0, 0)) + ", WAL at " +
             std::string(field(system.get(), 0, 2));
    });
  }
  NullListener listener;
  check(config.sink.kind == SinkConfig::Kind::kKafka ? "kafka (sink.kafka.brokers)" : "stdout sink",
        [&] {
          auto sink = make_sink(config.sink, listener);
          if (std::optional<Error> unreachable = sink->ping(std::chrono::milliseconds(10000))) {
            throw_with_hint(*unreachable, "sink.kafka.brokers");
          }
          if (auto* kafka = dynamic_cast<KafkaSink*>(sink.get())) {
            return "reachable; " + topic_creation_check(kafka->native_handle(), config, tables);
          }
          return std::string("reachable");
        });
  std::printf("%s\n", failures ? "some checks failed" : "all checks passed");
  return failures ? 1 : 0;
}

}  // namespace pgcdc
