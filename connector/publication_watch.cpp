#include "connector/publication_watch.h"

namespace pgcdc {

PublicationMembership read_publication_membership(PgConnection& connection,
                                                  const std::string& publication_name,
                                                  const std::vector<TableInfo>& tables) {
  PublicationMembership membership;
  const std::string oids = oid_array(tables);
  auto result = connection.exec_params(
      "SELECT t.oid::text, CASE WHEN p.puballtables THEN 'all' ELSE coalesce("
      "  (SELECT 'table ' || r.oid FROM pg_catalog.pg_publication_rel r "
      "   WHERE r.prpubid = p.oid AND r.prrelid = t.oid), "
      "  (SELECT 'schema ' || n.oid FROM pg_catalog.pg_publication_namespace n "
      "   WHERE n.pnpubid = p.oid AND n.pnnspid = t.relnamespace), '') END "
      "FROM pg_catalog.pg_publication p "
      "LEFT JOIN pg_catalog.pg_class t ON t.oid = ANY($2::oid[]) "
      "WHERE p.pubname = $1",
      {publication_name, oids});
  membership.publication_exists = PQntuples(result.get()) > 0;
  std::map<std::string, std::string> by_oid;
  for (int row = 0; row < PQntuples(result.get()); ++row) {
    if (PQgetisnull(result.get(), row, 0)) continue;  // none of the tables exists any more
    by_oid[std::string(field(result.get(), row, 0))] = std::string(field(result.get(), row, 1));
  }
  for (const auto& table : tables) {
    auto it = by_oid.find(std::to_string(table.oid));
    membership.by_table[table.qualified] = it == by_oid.end() ? "" : it->second;  // "": dropped
  }
  return membership;
}

namespace {

std::vector<std::string> split_oids(const std::string& list) {
  std::vector<std::string> oids;
  std::size_t start = 0;
  while (start < list.size()) {
    std::size_t comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    oids.push_back(list.substr(start, comma - start));
    start = comma + 1;
  }
  return oids;
}

bool contains(const std::vector<std::string>& items, const std::string& item) {
  for (const auto& candidate : items) {
    if (candidate == item) return true;
  }
  return false;
}

}  // namespace

std::string leaf_partitions(PgConnection& connection, Oid table) {
  auto result = connection.exec_params(
      "SELECT coalesce(string_agg(relid::oid::text, ',' ORDER BY relid::oid), '') "
      "FROM pg_catalog.pg_partition_tree($1::oid::regclass) WHERE isleaf",
      {std::to_string(table)});
  return std::string(field(result.get(), 0, 0));
}

std::vector<std::string> attached_with_rows(PgConnection& connection, const std::string& before,
                                            const std::string& now) {
  const std::vector<std::string> known = split_oids(before);
  std::vector<std::string> attached;
  for (const auto& oid : split_oids(now)) {
    if (contains(known, oid)) continue;
    auto rows = connection.exec_params(
        "SELECT pg_catalog.format('%s', $1::oid::regclass), "
        "       pg_catalog.pg_relation_size($1::oid::regclass) > 0",
        {oid});
    if (field(rows.get(), 0, 1) == "t") attached.push_back(std::string(field(rows.get(), 0, 0)));
  }
  return attached;
}

std::vector<std::string> leaves_gone(const std::string& before, const std::string& now) {
  const std::vector<std::string> current = split_oids(now);
  std::vector<std::string> gone;
  for (const auto& oid : split_oids(before)) {
    if (!contains(current, oid)) gone.push_back(oid);
  }
  return gone;
}

std::vector<PublicationGap> find_publication_gaps(
    const SnapshotProgress& progress, const std::map<std::string, std::string>& current) {
  std::vector<PublicationGap> gaps;
  for (const auto& [table, now] : current) {
    auto recorded = progress.find(table);
    if (recorded == progress.end() || recorded->second.publication.empty()) continue;
    if (recorded->second.publication != now) {
      gaps.push_back({table, recorded->second.publication, now});
    }
  }
  return gaps;
}

}  // namespace pgcdc
