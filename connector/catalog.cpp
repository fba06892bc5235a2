#include "connector/catalog.h"

#include <algorithm>
#include <set>

namespace pgcdc {

ColumnType TypeCache::resolve(Oid oid) {
  if (auto it = cache_.find(oid); it != cache_.end()) return it->second;
  if (resolving_.count(oid)) {
    // PostgreSQL forbids a type that contains itself; should a catalog ever say otherwise, the
    // inner occurrence is written as its text (and counted as unknown) instead of recursing.
    ColumnType self;
    self.oid = oid;
    return self;
  }
  resolving_.insert(oid);
  ColumnType type;
  try {
    type = look_up(oid);
  } catch (...) {
    resolving_.erase(oid);
    throw;
  }
  resolving_.erase(oid);
  cache_[oid] = type;
  return type;
}

ColumnType TypeCache::look_up(Oid oid) {
  auto result = connection_.exec_params(
      "SELECT t.typtype, t.typcategory, t.typelem, t.typbasetype, t.typrelid, t.typdelim, "
      "       p.proname, r.rngsubtype, m.rngsubtype "
      "FROM pg_catalog.pg_type t "
      "JOIN pg_catalog.pg_proc p ON p.oid = t.typoutput "
      "LEFT JOIN pg_catalog.pg_range r ON r.rngtypid = t.oid "
      "LEFT JOIN pg_catalog.pg_range m ON m.rngmultitypid = t.oid "
      "WHERE t.oid = $1::oid",
      {std::to_string(oid)});
  ColumnType type;
  type.oid = oid;
  if (PQntuples(result.get()) != 1) return type;  // dropped meanwhile: written as text, counted
  auto oid_field = [&](int column) -> Oid {
    std::string_view text = field(result.get(), 0, column);
    return text.empty() ? 0 : static_cast<Oid>(std::stoul(std::string(text)));
  };
  const char typtype = field(result.get(), 0, 0)[0];
  type.category = field(result.get(), 0, 1)[0];
  const Oid element = oid_field(2);
  const Oid base = oid_field(3);
  const Oid relation = oid_field(4);
  const std::string_view delimiter = field(result.get(), 0, 5);
  if (!delimiter.empty()) type.delimiter = delimiter[0];
  const std::string_view output_function = field(result.get(), 0, 6);
  const Oid range_subtype = oid_field(7);
  const Oid multirange_subtype = oid_field(8);

  // Domains are written as their base type.
  if (typtype == 'd' && base != 0) return resolve(base);

  // typelem is also set for fixed-length types such as point and name that are not arrays; only
  // category-A types are arrays (int2vector and oidvector too, which the converter knows by OID).
  if (type.category == 'A' && element != 0) {
    // The element type, resolved the same way (a domain's base, an enum's category, a composite's
    // attributes): the converter needs it for citext[], enum arrays, arrays of composites, ...
    ColumnType element_type = resolve(element);
    type.kind = ColumnType::Kind::kArray;
    type.element_oid = element_type.oid;
    type.category = element_type.category;
    type.element = std::make_shared<const ColumnType>(std::move(element_type));
    return type;
  }
  if (typtype == 'r' && range_subtype != 0) {
    type.kind = ColumnType::Kind::kRange;
    type.element = std::make_shared<const ColumnType>(resolve(range_subtype));
    return type;
  }
  if (typtype == 'm' && multirange_subtype != 0) {
    type.kind = ColumnType::Kind::kMultirange;
    type.element = std::make_shared<const ColumnType>(resolve(multirange_subtype));
    return type;
  }
  if (typtype == 'c' && relation != 0) {
    // The attributes record_out prints: not dropped, in attribute order.
    auto attributes = connection_.exec_params(
        "SELECT a.attname, a.atttypid FROM pg_catalog.pg_attribute a "
        "WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        {std::to_string(relation)});
    auto composite = std::make_shared<CompositeType>();
    for (int row = 0; row < PQntuples(attributes.get()); ++row) {
      CompositeField attribute;
      attribute.name = std::string(field(attributes.get(), row, 0));
      attribute.type =
          resolve(static_cast<Oid>(std::stoul(std::string(field(attributes.get(), row, 1)))));
      composite->fields.push_back(std::move(attribute));
    }
    type.kind = ColumnType::Kind::kComposite;
    type.composite = std::move(composite);
    return type;
  }
  // hstore has no fixed OID (it is an extension's type, in whatever schema it was installed to):
  // its output function tells it.
  if (typtype == 'b' && output_function == "hstore_out") type.kind = ColumnType::Kind::kHstore;
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

// OIDs below this were assigned by initdb: the system catalogs (pg_catalog, information_schema).
constexpr Oid kFirstNormalObjectId = 16384;

bool contains(const std::vector<std::string>& items, const std::string& item) {
  return std::find(items.begin(), items.end(), item) != items.end();
}

// Every column pgoutput can send: not dropped, not system, not generated (PG15 never sends
// generated columns, so the snapshot leaves them out too and both paths agree).
std::vector<ColumnInfo> read_columns(PgConnection& connection, Oid table,
                                     std::vector<std::string>* generated) {
  auto columns = connection.exec_params(
      "SELECT a.attname, a.atttypid, a.attnotnull, a.attgenerated <> '', "
      "       pg_catalog.format_type(a.atttypid, a.atttypmod) "
      "FROM pg_catalog.pg_attribute a "
      "WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
      {std::to_string(table)});
  std::vector<ColumnInfo> all;
  for (int row = 0; row < PQntuples(columns.get()); ++row) {
    ColumnInfo column{std::string(field(columns.get(), row, 0)),
                      static_cast<Oid>(std::stoul(std::string(field(columns.get(), row, 1)))),
                      field(columns.get(), row, 2) == "t",
                      std::string(field(columns.get(), row, 4))};
    if (field(columns.get(), row, 3) == "t") {
      if (generated) generated->push_back(column.name);
    } else {
      all.push_back(std::move(column));
    }
  }
  return all;
}

std::vector<TableInfo::Ancestor> read_ancestors(PgConnection& connection, Oid table) {
  // pg_partition_ancestors lists the table itself first, then its parent, up to the root.
  auto result = connection.exec_params(
      "SELECT a.relid::oid, n.nspname, c.relname "
      "FROM pg_catalog.pg_partition_ancestors($1::oid::regclass) "
      "     WITH ORDINALITY AS a(relid, depth) "
      "JOIN pg_catalog.pg_class c ON c.oid = a.relid "
      "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
      "WHERE a.relid::oid <> $1::oid ORDER BY a.depth",
      {std::to_string(table)});
  std::vector<TableInfo::Ancestor> ancestors;
  for (int row = 0; row < PQntuples(result.get()); ++row) {
    ancestors.push_back({static_cast<Oid>(std::stoul(std::string(field(result.get(), row, 0)))),
                         std::string(field(result.get(), row, 1)) + "." +
                             std::string(field(result.get(), row, 2))});
  }
  return ancestors;
}

std::string replica_identity_name(char identity) {
  switch (identity) {
    case 'f':
      return "FULL";
    case 'i':
      return "USING INDEX";
    case 'n':
      return "NOTHING";
    default:
      return "DEFAULT";
  }
}

struct PartitionIdentities {
  std::set<std::string> columns;  // every partition's replica identity columns
  bool any_full = false;          // a partition has REPLICA IDENTITY FULL
};

// A partitioned table's rows are written, and logged, in its leaf partitions: each leaf's own
// replica identity decides what an UPDATE or DELETE logs (a root with REPLICA IDENTITY FULL does
// not make its partitions FULL), and pgoutput publishes that old row under the root. Refuses
// leaves whose changes could not be captured whole. Partitions created later are not seen here.
PartitionIdentities check_partitions(PgConnection& connection, const TableInfo& root) {
  auto result = connection.exec_params(
      "SELECT c.oid, n.nspname, c.relname, c.relkind, c.relpersistence, c.relreplident, "
      "       a.attname "
      "FROM pg_catalog.pg_partition_tree($1::oid::regclass) t "
      "JOIN pg_catalog.pg_class c ON c.oid = t.relid "
      "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
      "LEFT JOIN pg_catalog.pg_index i ON i.indrelid = c.oid AND "
      "     ((c.relreplident = 'd' AND i.indisprimary) OR "
      "      (c.relreplident = 'i' AND i.indisreplident)) "
      "LEFT JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) ON true "
      "LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum "
      "WHERE t.isleaf ORDER BY t.level, c.oid, k.ord",
      {std::to_string(root.oid)});
  PartitionIdentities identities;
  const int rows = PQntuples(result.get());
  for (int row = 0; row < rows;) {
    const std::string leaf_oid(field(result.get(), row, 0));
    const std::string leaf =
        std::string(field(result.get(), row, 1)) + "." + std::string(field(result.get(), row, 2));
    const std::string quoted = connection.quote_identifier(field(result.get(), row, 1)) + "." +
                               connection.quote_identifier(field(result.get(), row, 2));
    const char relkind = field(result.get(), row, 3)[0];
    const char persistence = field(result.get(), row, 4)[0];
    const char identity = field(result.get(), row, 5)[0];
    std::vector<std::string> identity_columns;
    for (; row < rows && field(result.get(), row, 0) == leaf_oid; ++row) {
      if (PQgetisnull(result.get(), row, 6)) continue;
      identity_columns.emplace_back(field(result.get(), row, 6));
    }
    const std::string partition = "partition " + leaf + " of " + root.qualified;
    if (relkind == 'f') {
      throw SetupError(partition + " is a foreign table: its rows are not in this server's WAL, " +
                       "so the snapshot would read them and the stream never see their " +
                       "changes. Detach it, or capture the other partitions as tables of their " +
                       "own");
    }
    if (persistence == 'u') {
      throw SetupError(partition + " is unlogged: its changes are not in the WAL and cannot be " +
                       "captured. ALTER TABLE " + quoted + " SET LOGGED");
    }
    if (identity == 'f') {
      identities.any_full = true;
      continue;
    }
    const std::string identity_name = "REPLICA IDENTITY " + replica_identity_name(identity);
    if (root.replica_identity == 'f') {
      // pgoutput marks the old row as complete (the root's FULL) while it holds only the
      // partition's key: the other columns would read as nulls in `before`.
      throw SetupError("partitioned table " + root.qualified + " has REPLICA IDENTITY FULL " +
                       "but its partition " + leaf + " has " + identity_name + ": each " +
                       "partition logs old rows by its own identity, so its updates and " +
                       "deletes would carry only part of the old row. ALTER TABLE " + quoted +
                       " REPLICA IDENTITY FULL (every partition, ones created later too)");
    }
    if (identity_columns.empty()) {
      throw SetupError(partition + " has no replica identity (" + identity_name + " without " +
                       "its index); publishing " + root.qualified + " would make UPDATE and " +
                       "DELETE on it fail: give " + root.qualified + " a primary key (its " +
                       "partitions inherit it), or ALTER TABLE " + quoted +
                       " REPLICA IDENTITY FULL");
    }
    for (const auto& name : root.key_columns) {
      if (!contains(identity_columns, name)) {
        throw SetupError("key column " + name + " of " + root.qualified + " is not part of " +
                         "the replica identity of its partition " + leaf + ", so that " +
                         "partition's deletes would not carry it: ALTER TABLE " + quoted +
                         " REPLICA IDENTITY FULL, or use the primary key as key");
      }
    }
    identities.columns.insert(identity_columns.begin(), identity_columns.end());
  }
  return identities;
}

}  // namespace

void check_partition_nesting(const std::vector<TableInfo>& tables) {
  for (const auto& table : tables) {
    for (const auto& other : tables) {
      for (const auto& ancestor : table.ancestors) {
        if (ancestor.oid != other.oid) continue;
        throw SetupError("tables " + other.qualified + " and " + table.qualified + " are both " +
                         "configured, but " + table.qualified + " is a partition of " +
                         other.qualified + ": its changes are published as changes of " +
                         other.qualified + " only (publish_via_partition_root), so its own " +
                         "topic would never get one. Configure one of them");
      }
    }
  }
}

std::string oid_array(const std::vector<TableInfo>& tables) {
  std::string oids = "{";
  for (std::size_t i = 0; i < tables.size(); ++i) {
    oids += (i ? "," : "") + std::to_string(tables[i].oid);
  }
  return oids + "}";
}

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
      "       has_table_privilege(c.oid, 'SELECT'), c.relpersistence, c.relispartition "
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
  // What CREATE PUBLICATION refuses: refused here, before any object is made.
  const char persistence = field(table.get(), 0, 4)[0];
  if (persistence != 'p') {
    throw SetupError("table " + info.qualified + " is " +
                     (persistence == 'u' ? "unlogged" : "temporary") +
                     ": its changes are not written to the WAL, so logical replication cannot "
                     "capture them" +
                     (persistence == 'u' ? ": ALTER TABLE " + info.quoted + " SET LOGGED" : ""));
  }
  if (info.oid < kFirstNormalObjectId) {
    throw SetupError("table " + info.qualified +
                     " is a system table, which PostgreSQL does not publish");
  }
  info.partitioned = relkind == 'p';
  info.replica_identity = field(table.get(), 0, 2)[0];
  if (field(table.get(), 0, 3) != "t") {
    throw SetupError("no SELECT privilege on table " + info.qualified +
                     ": GRANT SELECT ON " + info.quoted + " TO <pgcdc role>");
  }
  if (field(table.get(), 0, 5) == "t") info.ancestors = read_ancestors(connection, info.oid);

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
  // ("does not have a replica identity and publishes updates"): never do that to a user. A
  // partitioned table holds no rows: its partitions' identities count (checked below).
  if (!info.partitioned && info.replica_identity != 'f' && replica_identity_columns.empty()) {
    throw SetupError("table " + info.qualified + " has no replica identity (no primary key, or "
                     "REPLICA IDENTITY NOTHING); publishing it would make UPDATE and DELETE on it "
                     "fail: add a primary key, or ALTER TABLE " + info.quoted +
                     " REPLICA IDENTITY FULL and set source.key");
  }

  if (!config.key.empty()) {
    for (const auto& name : config.key) {
      const ColumnInfo* column = find_column(name);
      if (!column && contains(generated, name)) {
        throw SetupError("key column " + name + " of " + info.qualified +
                         " is a generated column, which pgoutput does not send (PostgreSQL 15), "
                         "so changes would carry no key: choose other columns in source.key");
      }
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
  // pgoutput leaves generated columns out of every tuple: a key taken from the catalog that holds
  // one could never be built, neither from the stream nor from the snapshot (which reads what
  // pgoutput sends).
  for (const auto& name : info.key_columns) {
    if (contains(generated, name)) {
      const std::string source = primary_key.empty() ? "replica identity index" : "primary key";
      throw SetupError("key column " + name + " of " + info.qualified + " (its " + source +
                       ") is a generated column, which pgoutput does not send (PostgreSQL 15), "
                       "so changes would carry no key: set source.key to columns that are not "
                       "generated and identify a row, with ALTER TABLE " +
                       info.quoted +
                       " REPLICA IDENTITY FULL (or REPLICA IDENTITY USING INDEX on a unique "
                       "index of them)");
    }
  }
  // The snapshot reads in key order (ORDER BY, and a row comparison with the last key read): a
  // key column needs a btree ordering, which a chosen key (source.key with REPLICA IDENTITY FULL)
  // may lack (json, xml, point, an array or composite of them). PostgreSQL's own look-up decides.
  for (const auto& name : info.key_columns) {
    const ColumnInfo* column = find_column(name);
    if (!column) continue;  // refused above or below
    try {
      connection.exec("SELECT 1 FROM (SELECT CAST(NULL AS " + column->type_name +
                      ")) AS k(value) ORDER BY value");
    } catch (const PgError& e) {
      if (e.sqlstate() != "42883") throw;  // undefined_function: no ordering operator
      throw SetupError("key column " + name + " of " + info.qualified + " has type " +
                       column->type_name +
                       ", which PostgreSQL cannot sort (no btree ordering); the snapshot reads a "
                       "table in key order: choose key columns whose types can be sorted "
                       "(source.key)");
    }
  }
  // Deletes carry only the replica identity: the key must be inside it, or the identity FULL.
  if (!info.partitioned && info.replica_identity != 'f') {
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
  // A column list cannot hold a generated column, so it cannot cover a replica identity that
  // has one either: publish every column then, as with FULL (`after` still holds `columns`).
  const bool generated_identity =
      std::any_of(replica_identity_columns.begin(), replica_identity_columns.end(),
                  [&](const std::string& name) { return contains(generated, name); });
  info.column_list = !config.columns.empty() && info.replica_identity != 'f' && !generated_identity;
  std::set<std::string> wanted(info.output_columns.begin(), info.output_columns.end());
  wanted.insert(info.key_columns.begin(), info.key_columns.end());
  wanted.insert(replica_identity_columns.begin(), replica_identity_columns.end());
  if (info.partitioned) {
    // With publish_via_partition_root the root's column list must cover each partition's
    // identity (PostgreSQL checks it at each UPDATE and DELETE on the partition).
    PartitionIdentities partitions = check_partitions(connection, info);
    if (partitions.any_full) info.column_list = false;
    wanted.insert(partitions.columns.begin(), partitions.columns.end());
  }
  for (const auto& c : all) {
    if (!info.column_list || wanted.count(c.name)) info.published.push_back(c);
  }
  if (info.column_list && info.published.size() == all.size()) info.column_list = false;
  return info;
}

void check_distinct_names(const std::vector<TableInfo>& tables) {
  for (std::size_t i = 0; i < tables.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (tables[i].topic == tables[j].topic || tables[i].qualified == tables[j].qualified) {
        throw SetupError("tables " + tables[j].quoted + " and " + tables[i].quoted +
                         " would share the topic " + tables[i].topic +
                         " (names are written schema.table with characters Kafka does not allow "
                         "replaced by '_'): capture them in separate pipelines with different "
                         "topic_prefix values");
      }
    }
  }
}

}  // namespace pgcdc
