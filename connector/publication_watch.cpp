#include "connector/publication_watch.h"

namespace pgcdc {

PublicationMembership read_publication_membership(PgConnection& connection,
                                                  const std::string& publication_name,
                                                  const std::vector<TableInfo>& tables) {
  PublicationMembership membership;
  std::string oids = "{";
  for (std::size_t i = 0; i < tables.size(); ++i) {
    oids += (i ? "," : "") + std::to_string(tables[i].oid);
  }
  oids += "}";
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
