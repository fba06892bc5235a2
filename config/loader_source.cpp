// The [source] section: the PostgreSQL side (connection strings, tables, columns and keys,
// slot and publication, snapshot and stream settings). Alone because it is the largest section
// and the only one with nested tables: each entry of source.tables is a table of its own.
#include <algorithm>
#include <chrono>
#include <cstdint>

#include "config/config_loader.h"
#include "config/value_parsers.h"

namespace pgcdc::config_detail {
namespace {

const char* const kOnSlotLost[] = {"fail", "resnapshot"};
const char* const kOnPublicationGap[] = {"resnapshot", "fail"};
constexpr std::uint64_t kMaxSnapshotChunkRows = 10'000'000;

}  // namespace

void Loader::read_source(const Node& node, SourceConfig& source) const {
  Section section = open_section(
      node, "source",
      with_file_keys({"table", "tables", "columns", "key", "cdc", "snapshot", "alter_publication",
                      "drop_slot_on_stop", "snapshot_chunk_rows", "snapshot_chunk_bytes",
                      "status_interval", "heartbeat_interval", "standby_interval", "on_slot_lost",
                      "wal_retention_warn", "on_publication_gap", "connection_timeout",
                      "failover_slot"},
                     {"url", "replication_url", "publication_name", "slot_name"}));

  std::optional<Text> url = string_or_file(section, "url");
  if (!url) fail(section.path_of("url"), "required key is missing", section.line());
  check_connection_string(url->value, section.path_of("url"), url->line);
  source.url = url->value;
  if (std::optional<Text> replication = string_or_file(section, "replication_url")) {
    check_connection_string(replication->value, section.path_of("replication_url"),
                            replication->line);
    source.replication_url = replication->value;
  } else {
    source.replication_url = source.url;
  }

  read_tables(section, source);

  if (const Node* value = section.get("cdc")) source.cdc = boolean(*value, section.path_of("cdc"));
  if (const Node* value = section.get("snapshot")) {
    source.snapshot = boolean(*value, section.path_of("snapshot"));
  }
  if (!source.cdc && !source.snapshot) {
    fail(section.path_of("cdc"), "cdc and snapshot are both false, so there is nothing to do",
         section.get("cdc")->line);
  }

  if (std::optional<Text> name = string_or_file(section, "publication_name")) {
    if (name->value.empty() || name->value.size() > kMaxIdentifierBytes) {
      fail(section.path_of("publication_name"),
           "must be 1 to 63 bytes long, got " + std::to_string(name->value.size()), name->line);
    }
    source.publication_name = name->value;
  }
  if (std::optional<Text> slot = string_or_file(section, "slot_name")) {
    bool valid = !slot->value.empty() && slot->value.size() <= kMaxIdentifierBytes;
    for (char c : slot->value) {
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) valid = false;
    }
    if (!valid) {
      fail(section.path_of("slot_name"),
           "replication slot names may contain only lower-case letters, digits and "
           "underscores, 1 to 63 characters; got " +
               in_quotes(slot->value),
           slot->line);
    }
    source.slot_name = slot->value;
  }
  if (const Node* value = section.get("alter_publication")) {
    source.alter_publication = boolean(*value, section.path_of("alter_publication"));
  }
  if (const Node* value = section.get("drop_slot_on_stop")) {
    source.drop_slot_on_stop = boolean(*value, section.path_of("drop_slot_on_stop"));
  }
  if (const Node* value = section.get("snapshot_chunk_rows")) {
    source.snapshot_chunk_rows = static_cast<std::uint32_t>(
        integer_between(*value, section.path_of("snapshot_chunk_rows"), 1, kMaxSnapshotChunkRows));
  }
  if (const Node* value = section.get("snapshot_chunk_bytes")) {
    source.snapshot_chunk_bytes =
        static_cast<std::size_t>(positive_integer(*value, section.path_of("snapshot_chunk_bytes")));
  }
  if (const Node* value = section.get("status_interval")) {
    source.status_interval = duration(*value, section.path_of("status_interval"));
    if (source.status_interval.count() == 0) {
      fail(section.path_of("status_interval"), "must be greater than zero", value->line);
    }
  }
  if (const Node* value = section.get("heartbeat_interval")) {
    source.heartbeat_interval = duration(*value, section.path_of("heartbeat_interval"));
  }
  if (const Node* value = section.get("on_slot_lost")) {
    source.on_slot_lost =
        one_of(*value, section.path_of("on_slot_lost"), kOnSlotLost) == "resnapshot"
            ? SourceConfig::OnSlotLost::kResnapshot
            : SourceConfig::OnSlotLost::kFail;
  }
  if (const Node* value = section.get("wal_retention_warn")) {
    source.wal_retention_warn = fraction(*value, section.path_of("wal_retention_warn"));
  }
  if (const Node* value = section.get("on_publication_gap")) {
    source.on_publication_gap =
        one_of(*value, section.path_of("on_publication_gap"), kOnPublicationGap) == "fail"
            ? SourceConfig::OnPublicationGap::kFail
            : SourceConfig::OnPublicationGap::kResnapshot;
  }
  if (const Node* value = section.get("failover_slot")) {
    // "auto" (the default: a failover slot wherever the server has them), or a boolean.
    if (value->type == Node::Type::kString && lower(value->string) == "auto") {
      source.failover_slot = SourceConfig::FailoverSlot::kAuto;
    } else {
      source.failover_slot = boolean(*value, section.path_of("failover_slot"))
                                 ? SourceConfig::FailoverSlot::kOn
                                 : SourceConfig::FailoverSlot::kOff;
    }
  }
  if (const Node* value = section.get("standby_interval")) {
    source.standby_interval = duration(*value, section.path_of("standby_interval"));
    if (source.standby_interval.count() == 0) {
      fail(section.path_of("standby_interval"), "must be greater than zero", value->line);
    }
  }
  if (const Node* value = section.get("connection_timeout")) {
    source.connection_timeout = duration(*value, section.path_of("connection_timeout"));
    // libpq counts connect_timeout and the keepalive times in whole seconds, at least 2 for
    // connect_timeout.
    if (source.connection_timeout < std::chrono::seconds(2)) {
      fail(section.path_of("connection_timeout"), "must be at least 2s", value->line);
    }
  }
}

// source.table or source.tables, then the source-level columns/key (one table only).
void Loader::read_tables(const Section& section, SourceConfig& source) const {
  const Node* table = section.get("table");
  const Node* tables = section.get("tables");
  if (table != nullptr && tables != nullptr) {
    fail(section.path_of("tables"), "set either source.table or source.tables, not both",
         tables->line);
  }
  if (table == nullptr && tables == nullptr) {
    fail(section.path_of("table"),
         "required key is missing; set source.table (one table) or source.tables (several)",
         section.line());
  }
  if (table != nullptr) {
    std::string path = section.path_of("table");
    source.tables.push_back(parse_table_name(string_value(*table, path), path, table->line));
  } else {
    std::string path = section.path_of("tables");
    if (tables->type != Node::Type::kArray) wrong_type(*tables, path, "an array of tables");
    if (tables->items.empty()) fail(path, "must list at least one table", tables->line);
    for (std::size_t i = 0; i < tables->items.size(); ++i) {
      const Node& item = tables->items[i];
      std::string item_path = index_path(path, i);
      if (item.type == Node::Type::kString) {
        source.tables.push_back(parse_table_name(item.string, item_path, item.line));
      } else if (item.type == Node::Type::kTable) {
        source.tables.push_back(read_table_object(item, item_path));
      } else {
        wrong_type(item, item_path,
                   "a table name or " + article_type(Node::Type::kTable) +
                       " with schema, name, columns, key");
      }
      for (std::size_t j = 0; j < i; ++j) {
        if (source.tables[j].schema == source.tables[i].schema &&
            source.tables[j].name == source.tables[i].name) {
          fail(item_path, "duplicate table " + source.tables[i].qualified(), item.line);
        }
      }
    }
  }

  const Node* columns = section.get("columns");
  const Node* key = section.get("key");
  if (columns == nullptr && key == nullptr) return;
  const Node& first = columns != nullptr ? *columns : *key;
  std::string first_path = section.path_of(columns != nullptr ? "columns" : "key");
  if (source.tables.size() != 1) {
    fail(first_path,
         "applies to a single table, but " + std::to_string(source.tables.size()) +
             " tables are configured; give each table its own in a table object, e.g. " +
             (format() == Format::kJson
                  ? "\"tables\": [{\"name\": \"orders\", \"columns\": [\"id\", \"total\"], "
                    "\"key\": [\"id\"]}]"
                  : "tables = [{name = \"orders\", columns = [\"id\", \"total\"], "
                    "key = [\"id\"]}]"),
         first.line);
  }
  TableConfig& only = source.tables.front();
  if (columns != nullptr) {
    if (!only.columns.empty()) {
      fail(section.path_of("columns"), "also set in source.tables[0]; set it in one place",
           columns->line);
    }
    only.columns = column_list(*columns, section.path_of("columns"));
  }
  if (key != nullptr) {
    if (!only.key.empty()) {
      fail(section.path_of("key"), "also set in source.tables[0]; set it in one place", key->line);
    }
    only.key = column_list(*key, section.path_of("key"));
  }
  std::string key_path =
      key != nullptr ? section.path_of("key") : section.path_of("tables") + "[0].key";
  check_key_within_columns(only, key_path, first.line);
}

// {schema = "s", name = "t", columns = [...], key = [...]}; name may also be "s.t".
TableConfig Loader::read_table_object(const Node& node, const std::string& path) const {
  Section section = open_section(node, path, {"schema", "name", "columns", "key"});
  const Node* name = section.get("name");
  if (name == nullptr) fail(section.path_of("name"), "required key is missing", node.line);
  TableConfig table = parse_table_name(string_value(*name, section.path_of("name")),
                                       section.path_of("name"), name->line);
  if (const Node* schema = section.get("schema")) {
    bool qualified = split_outside_quotes(name->string, '.').size() > 1;
    if (qualified) {
      fail(section.path_of("schema"),
           "the schema is also given in " + section.path_of("name") + "; set it in one place",
           schema->line);
    }
    table.schema = parse_identifier(string_value(*schema, section.path_of("schema")),
                                    section.path_of("schema"), schema->line);
  }
  if (const Node* columns = section.get("columns")) {
    table.columns = column_list(*columns, section.path_of("columns"));
  }
  if (const Node* key = section.get("key")) {
    table.key = column_list(*key, section.path_of("key"));
    check_key_within_columns(table, section.path_of("key"), key->line);
  }
  return table;
}

void Loader::check_key_within_columns(const TableConfig& table, const std::string& key_path,
                                      int line) {
  if (table.columns.empty()) return;  // every column is published: any key is fine
  for (const std::string& column : table.key) {
    if (std::find(table.columns.begin(), table.columns.end(), column) == table.columns.end()) {
      fail(key_path,
           "key column " + in_quotes(column) + " is not among the published columns of " +
               table.qualified(),
           line);
    }
  }
}

}  // namespace pgcdc::config_detail
