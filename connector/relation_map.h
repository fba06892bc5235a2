#pragma once
// RelationMap: what each relation id of the stream stands for, from the Relation messages that
// come before a relation's first change in a session and after each change of its columns. Source
// thread only.
//
// A relation is matched to a configured table by OID, not by name: a renamed table is the same
// table, and the publication follows it by OID too. A relation that is not configured but holds
// rows pgcdc captures under another name (a partition of a configured partitioned table, an
// ancestor of a configured partition) stops the session at its first change: the publication did
// not publish it the configured way, and dropping it would lose the rows.
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "connector/catalog.h"
#include "connector/pg_connection.h"
#include "connector/pgoutput.h"
#include "connector/row_layout.h"

namespace pgcdc {

class RelationMap {
 public:
  struct Relation {
    const TableInfo* table = nullptr;  // nullptr: not configured, changes ignored
    RowLayout layout;                  // of its tuples, as the last Relation message said
    std::string name;  // as the last Relation message named it (renames are logged once)
    // Not configured, but a partition of a configured table, or an ancestor of a configured
    // partition: its changes hold rows captured under another name (for_change).
    const TableInfo* partition_relative = nullptr;
  };

  // `query` looks up partitions and `types` the columns' types; both must outlive this.
  // `start_over` ends the error of a change that cannot be decoded under the right name.
  RelationMap(const std::vector<TableInfo>& tables, PgConnection& query, TypeCache& types,
              std::string publication_name, std::string start_over);

  // A Relation message.
  void update(const pgoutput::Relation& relation);

  // The relation a change of `relation_id` is for; nullptr when it is not captured. Throws
  // pgoutput::DecodeError before its Relation message, and SetupError when it holds rows of a
  // captured table under another name.
  const Relation* for_change(std::uint32_t relation_id) const;

 private:
  // The configured table that relation `oid` (not configured) is a partition or an ancestor of;
  // nullptr when none.
  const TableInfo* partition_relative_of(std::uint32_t oid);

  const std::vector<TableInfo>& tables_;
  PgConnection& query_;
  TypeCache& types_;
  std::string publication_name_;
  std::string start_over_;
  std::unordered_map<std::uint32_t, Relation> relations_;
};

}  // namespace pgcdc
