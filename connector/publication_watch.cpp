#include "connector/publication_watch.h"

#include <spdlog/spdlog.h>

#include "connector/replication_setup.h"

namespace pgcdc {
namespace {

// Resets `entry` so its table is read again from its start.
void read_again(TableSnapshotProgress& entry, const std::string& table, PublicationCheck& check) {
  entry.done = false;
  entry.rows = 0;
  entry.last_key.reset();
  check.read_again.push_back(table);
}

// A partitioned table's leaves against those its offsets recorded in `entry`.
void check_partitions(PgConnection& query, const TableInfo& table, TableSnapshotProgress& entry,
                      PublicationCheck& check) {
  const std::string leaves = leaf_partitions(query, table.oid);
  if (entry.partitions.empty() || entry.partitions == leaves) {
    entry.partitions = leaves;
    return;
  }
  for (const std::string& oid : leaves_gone(entry.partitions, leaves)) {
    spdlog::warn(
        "a partition (oid {}) left {} (DETACH PARTITION or DROP TABLE): PostgreSQL "
        "writes no deletes for its rows, so their last records stay in topic {}",
        oid, table.qualified, table.topic);
  }
  const std::vector<std::string> attached = attached_with_rows(query, entry.partitions, leaves);
  entry.partitions = leaves;
  if (attached.empty()) return;  // created empty: its rows are streamed through the root
  std::string names;
  for (const auto& name : attached) names += (names.empty() ? "" : ", ") + name;
  spdlog::warn(
      "partition(s) {} joined {} holding rows that PostgreSQL never streams (ATTACH "
      "PARTITION): reading {} again with watermark chunks",
      names, table.qualified, table.qualified);
  read_again(entry, table.qualified, check);
}

}  // namespace

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

PublicationCheck watch_publication(PgConnection& query, const SourceOptions& options,
                                   const std::vector<TableInfo>& tables,
                                   const SnapshotProgress& progress,
                                   std::atomic<std::uint64_t>& gaps_seen) {
  const SourceConfig& source = options.source;
  PublicationMembership membership =
      read_publication_membership(query, source.publication_name, tables);
  if (!membership.publication_exists) {
    throw SetupError("publication " + source.publication_name +
                     " was dropped while pgcdc "
                     "streams from it: changes since then cannot be decoded: " +
                     start_over_advice(options));
  }
  bool missing = false;
  for (const auto& [table, how] : membership.by_table) missing = missing || how.empty();
  if (missing) {
    // Adds them back when source.alter_publication allows it; otherwise throws naming the fix.
    ensure_publication(query, source, tables);
    membership = read_publication_membership(query, source.publication_name, tables);
  }
  PublicationCheck check;
  check.progress = progress;
  for (const PublicationGap& gap : find_publication_gaps(progress, membership.by_table)) {
    const std::string what = "table " + gap.table + " left publication " + source.publication_name +
                             (gap.current.empty() ? "" : " and was added back") +
                             " while its changes were streamed: changes made meanwhile were "
                             "not decoded";
    ++gaps_seen;
    if (source.on_publication_gap == SourceConfig::OnPublicationGap::kFail) {
      throw SetupError(what +
                       " (source.on_publication_gap = fail). Set on_publication_gap = "
                       "\"resnapshot\" to read the table again, or start over with a new "
                       "snapshot");
    }
    spdlog::error(
        "{}; reading it again with watermark chunks while streaming goes on "
        "(source.on_publication_gap = resnapshot)",
        what);
    TableSnapshotProgress& entry = check.progress[gap.table];
    entry.publication = gap.current;
    read_again(entry, gap.table, check);
    check.gaps.push_back(gap.table);
  }
  for (const auto& table : tables) {
    auto entry = check.progress.find(table.qualified);
    if (entry == check.progress.end()) {
      TableSnapshotProgress fresh;
      fresh.done = !source.snapshot;  // no snapshot wanted: streamed from now on only
      entry = check.progress.emplace(table.qualified, std::move(fresh)).first;
    }
    if (entry->second.publication.empty())
      entry->second.publication = membership.by_table[table.qualified];
    if (table.partitioned) check_partitions(query, table, entry->second, check);
  }
  return check;
}

}  // namespace pgcdc
