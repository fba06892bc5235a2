#include "connector/relation_map.h"

#include <spdlog/spdlog.h>

#include "connector/record_builder.h"

namespace pgcdc {

RelationMap::RelationMap(const std::vector<TableInfo>& tables, PgConnection& query,
                         TypeCache& types, std::string publication_name,
                         std::string start_over)
    : tables_(tables),
      query_(query),
      types_(types),
      publication_name_(std::move(publication_name)),
      start_over_(std::move(start_over)) {}

void RelationMap::update(const pgoutput::Relation& relation) {
  Relation state;
  // By OID, not by name: a renamed table is the same table, and its changes must not be dropped
  // (the publication follows it by OID too).
  for (const auto& table : tables_) {
    if (table.oid == relation.id) state.table = &table;
  }
  auto known = relations_.find(relation.id);
  const bool seen = known != relations_.end();
  if (state.table && relation.name != state.table->name &&
      (!seen || known->second.name != relation.name)) {
    spdlog::warn("table {} is now named {}.{}; its changes keep going to topic {}",
                 state.table->qualified, relation.schema, relation.name, state.table->topic);
  }
  if (!state.table) state.partition_relative = partition_relative_of(relation.id);
  // pgoutput sends a partition's Relation message beside its root's when it publishes the
  // partition's change under the root: only the root's name is in the changes then.
  if (!state.table && !state.partition_relative && !seen) {
    spdlog::info(
        "changes of {}.{} (oid {}) are not captured: it is in publication {} but not in "
        "source.tables",
        relation.schema, relation.name, relation.id, publication_name_);
  }
  state.name = relation.name;
  if (state.table) {
    std::vector<std::string> names;
    std::vector<ColumnType> types;
    for (const auto& column : relation.columns) {
      names.push_back(column.name);
      types.push_back(types_.resolve(column.type_oid));
    }
    state.layout = make_row_layout(*state.table, names, types);
  }
  relations_[relation.id] = std::move(state);
}

const RelationMap::Relation* RelationMap::for_change(std::uint32_t relation_id) const {
  auto it = relations_.find(relation_id);
  if (it == relations_.end()) {
    throw pgoutput::DecodeError("change for relation " + std::to_string(relation_id) +
                                " before its Relation message");
  }
  const Relation& relation = it->second;
  if (!relation.table && relation.partition_relative) {
    // Rows of a captured table under another table's name: publish_via_partition_root was not
    // in effect for them (changed behind pgcdc's back, or set after they were written), or a
    // configured partition's ancestor joined the publication. Never drop them quietly; stop
    // before the position passes them.
    const TableInfo& captured = *relation.partition_relative;
    throw SetupError("a change of " + relation.name + " (oid " + std::to_string(relation_id) +
                     ") holds rows of captured table " + captured.qualified + ", which pgcdc " +
                     "receives only under " + captured.qualified + "'s own name: publication " +
                     publication_name_ +
                     " did not publish it that way when the change was written. " +
                     "ALTER PUBLICATION " + query_.quote_identifier(publication_name_) +
                     " SET (publish_via_partition_root = true) and publish the partitioned " +
                     "table itself, not an ancestor of a configured partition; changes already " +
                     "written this way cannot be decoded again under the right name: " +
                     start_over_);
  }
  return relation.table ? &relation : nullptr;
}

const TableInfo* RelationMap::partition_relative_of(std::uint32_t oid) {
  const TableInfo* partitioned = nullptr;
  for (const auto& table : tables_) {
    for (const auto& ancestor : table.ancestors) {
      if (ancestor.oid == oid) return &table;  // an ancestor of a configured partition
    }
    if (table.partitioned) partitioned = &table;
  }
  if (!partitioned) return nullptr;  // no configured table has partitions: spare the query
  // A partition of a configured table, by the catalog as it is now (it may have been created
  // after the start).
  auto ancestors = query_.exec_params(
      "SELECT relid::oid FROM pg_catalog.pg_partition_ancestors($1::oid::regclass)",
      {std::to_string(oid)});
  for (int row = 0; row < PQntuples(ancestors.get()); ++row) {
    const std::string ancestor(field(ancestors.get(), row, 0));
    for (const auto& table : tables_) {
      if (table.partitioned && std::to_string(table.oid) == ancestor) return &table;
    }
  }
  return nullptr;
}

}  // namespace pgcdc
