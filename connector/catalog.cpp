#include "connector/catalog.h"

#include <algorithm>
#include <set>

namespace pgcdc {

ColumnType TypeCache::resolve(Oid oid) {
  if (auto it = cache_.find(oid); it != cache_.end()) return it->second;
  // Domains are written as their base type; arrays carry their element type.
  auto result = connection_.exec_params(
      "SELECT t.typcategory, t.typelem, t.typtype, t.typbasetype, t.typlen "
      "FROM pg_catalog.pg_type t WHERE t.oid = $1::oid",
      {std::to_string(oid)});
  ColumnType type;
  type.oid = oid;
  if (PQntuples(result.get()) == 1) {
    char typtype = field(result.get(), 0, 2)[0];
    Oid base = static_cast<Oid>(std::stoul(std::string(field(result.get(), 0, 3))));
    if (typtype == 'd' && base != 0) {
      type = resolve(base);
    } else {
      type.category = field(result.get(), 0, 0)[0];
      Oid element = static_cast<Oid>(std::stoul(std::string(field(result.get(), 0, 1))));
      // typelem is also set for fixed-length types such as point and name (typlen > 0) that are
      // not arrays; only variable-length category-A types are arrays.
      if (type.category == 'A' && element != 0) {
        // The converter needs the element's category (citext[], enum[]), a domain's base type
        // for arrays of domains.
        ColumnType element_type = resolve(element);
        type.element_oid = element_type.oid;
        type.category = element_type.category;
      }
    }
  }
  cache_[oid] = type;
  return type;
}

std::string topic_for(const std::string& prefix, const std::string& schema,
                      const std::string& table) {
  std::string topic = prefix.empty() ? "" : prefix + ".";
  topic += schema + "." + table;
  for (char& c : topic) {
    bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '.' || c == '_' || c == '-';
    if (!allowed) c = '_';
  }
  if (topic.size() > 249) topic.resize(249);
  return topic;
}

namespace {

bool contains(const std::vector<std::string>& items, const std::string& item) {
  return std::find(items.begin(), items.end(), item) != items.end();
}

// Every column pgoutput can send: not dropped, not system, not generated (PG15 never sends
// generated columns, so the snapshot leaves them out too and both paths agree).
std::vector<ColumnInfo> read_columns(PgConnection& connection, Oid table,
                                     std::vector<std::string>* generated) {
  auto columns = connection.exec_params(
      "SELECT a.attname, a.atttypid, a.attnotnull, a.attgenerated <> '' "
      "FROM pg_catalog.pg_attribute a "
      "WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
      {std::to_string(table)});
  std::vector<ColumnInfo> all;
  for (int row = 0; row < PQntuples(columns.get()); ++row) {
    ColumnInfo column{std::string(field(columns.get(), row, 0)),
                      static_cast<Oid>(std::stoul(std::string(field(columns.get(), row, 1)))),
                      field(columns.get(), row, 2) == "t"};
    if (field(columns.get(), row, 3) == "t") {
      if (generated) generated->push_back(column.name);
    } else {
      all.push_back(std::move(column));
    }
  }
  return all;
}

}  // namespace

void refresh_columns(PgConnection& connection, TableInfo& table) {
  std::vector<ColumnInfo> all = read_columns(connection, table.oid, nullptr);
  if (!table.column_list) {
    table.published = std::move(all);
    return;
  }
  std::vector<ColumnInfo> kept;
  for (auto& column : all) {
    for (const auto& published : table.published) {
      if (published.name == column.name) kept.push_back(column);
    }
  }
  table.published = std::move(kept);
}

TableInfo describe_table(PgConnection& connection, const TableConfig& config,
                         const std::string& topic_prefix) {
  TableInfo info;
  info.schema = config.schema;
  info.name = config.name;
  info.qualified = config.qualified();
  info.quoted = connection.quote_identifier(config.schema) + "." +
                connection.quote_identifier(config.name);
  info.topic = topic_for(topic_prefix, config.schema, config.name);

  auto table = connection.exec_params(
      "SELECT c.oid, c.relkind, c.relreplident, "
      "       has_table_privilege(c.oid, 'SELECT') "
      "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
      "WHERE n.nspname = $1 AND c.relname = $2",
      {config.schema, config.name});
  if (PQntuples(table.get()) != 1) {
    throw SetupError("table " + info.qualified + " does not exist (source.tables); create it or "
                     "fix the name (names are case-sensitive, as in the catalog)");
  }
  info.oid = static_cast<Oid>(std::stoul(std::string(field(table.get(), 0, 0))));
  char relkind = field(table.get(), 0, 1)[0];
  if (relkind != 'r' && relkind != 'p') {
    throw SetupError(info.qualified + " is not a table (relkind '" + std::string(1, relkind) +
                     "'); only ordinary and partitioned tables can be captured");
  }
  info.replica_identity = field(table.get(), 0, 2)[0];
  if (field(table.get(), 0, 3) != "t") {
    throw SetupError("no SELECT privilege on table " + info.qualified +
                     ": GRANT SELECT ON " + info.quoted + " TO <pgcdc role>");
  }

  std::vector<std::string> generated;
  std::vector<ColumnInfo> all = read_columns(connection, info.oid, &generated);
  auto find_column = [&](const std::string& name) -> const ColumnInfo* {
    for (const auto& c : all) {
      if (c.name == name) return &c;
    }
    return nullptr;
  };
  for (const auto& name : config.columns) {
    if (contains(generated, name)) {
      throw SetupError("column " + name + " of " + info.qualified + " is generated; PostgreSQL 15 "
                       "does not replicate generated columns: remove it from source.columns");
    }
    if (!find_column(name)) {
      throw SetupError("column " + name + " does not exist in table " + info.qualified +
                       " (source.columns)");
    }
  }

  // Replica identity columns: the primary key, or the REPLICA IDENTITY USING INDEX index.
  auto identity = connection.exec_params(
      "SELECT a.attname, i.indisprimary "
      "FROM pg_catalog.pg_index i "
      "CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) "
      "JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
      "WHERE i.indrelid = $1::oid AND (i.indisprimary OR i.indisreplident) "
      "ORDER BY i.indisreplident DESC, k.ord",
      {std::to_string(info.oid)});
  std::vector<std::string> primary_key, identity_index;
  for (int row = 0; row < PQntuples(identity.get()); ++row) {
    bool primary = field(identity.get(), row, 1) == "t";
    std::string name(field(identity.get(), row, 0));
    (primary ? primary_key : identity_index).push_back(name);
  }
  // The columns an old tuple ('K') carries for updates and deletes.
  std::vector<std::string> replica_identity_columns;
  if (info.replica_identity == 'i') {
    replica_identity_columns = identity_index.empty() ? primary_key : identity_index;
  } else if (info.replica_identity == 'd') {
    replica_identity_columns = primary_key;
  }

  // A published table without a replica identity makes the application's UPDATE and DELETE fail
  // ("does not have a replica identity and publishes updates"): never do that to a user.
  if (info.replica_identity != 'f' && replica_identity_columns.empty()) {
    throw SetupError("table " + info.qualified + " has no replica identity (no primary key, or "
                     "REPLICA IDENTITY NOTHING); publishing it would make UPDATE and DELETE on it "
                     "fail: add a primary key, or ALTER TABLE " + info.quoted +
                     " REPLICA IDENTITY FULL and set source.key");
  }

  if (!config.key.empty()) {
    for (const auto& name : config.key) {
      const ColumnInfo* column = find_column(name);
      if (!column) {
        throw SetupError("key column " + name + " does not exist in table " + info.qualified +
                         " (source.key)");
      }
      if (!column->not_null) {
        throw SetupError("key column " + name + " of " + info.qualified + " is nullable; a key "
                         "must identify every row: ALTER TABLE " + info.quoted +
                         " ALTER COLUMN ... SET NOT NULL, or choose other key columns");
      }
    }
    info.key_columns = config.key;
  } else if (!primary_key.empty()) {
    info.key_columns = primary_key;
  } else if (!identity_index.empty()) {
    info.key_columns = identity_index;
  } else {
    throw SetupError("table " + info.qualified + " has no primary key and no replica identity "
                     "index: add a primary key, or set source.key to columns that identify a row "
                     "(with REPLICA IDENTITY FULL so deletes carry them)");
  }
  // Deletes carry only the replica identity: the key must be inside it, or the identity FULL.
  if (info.replica_identity != 'f') {
    for (const auto& name : info.key_columns) {
      if (!contains(replica_identity_columns, name)) {
        throw SetupError("key column " + name + " of " + info.qualified + " is not part of the "
                         "table's replica identity, so deletes would not carry it: ALTER TABLE " +
                         info.quoted + " REPLICA IDENTITY FULL, or use the primary key as key");
      }
    }
  }

  info.output_columns = config.columns;
  info.all_columns = config.columns.empty();
  if (info.output_columns.empty()) {
    for (const auto& c : all) info.output_columns.push_back(c.name);
  }
  // The publication column list must cover the replica identity, or PostgreSQL rejects the
  // application's UPDATEs and DELETEs on the table; the key must be there to build record keys.
  // With REPLICA IDENTITY FULL every column is identity, so no column list is possible.
  info.column_list = !config.columns.empty() && info.replica_identity != 'f';
  std::set<std::string> wanted(info.output_columns.begin(), info.output_columns.end());
  wanted.insert(info.key_columns.begin(), info.key_columns.end());
  wanted.insert(replica_identity_columns.begin(), replica_identity_columns.end());
  for (const auto& c : all) {
    if (!info.column_list || wanted.count(c.name)) info.published.push_back(c);
  }
  if (info.column_list && info.published.size() == all.size()) info.column_list = false;
  return info;
}

}  // namespace pgcdc
