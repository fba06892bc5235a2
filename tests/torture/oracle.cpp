#include "tests/torture/oracle.h"

#include <rapidjson/document.h>

#include <map>
#include <optional>
#include <set>
#include <tuple>

namespace pgcdc::torture {
namespace {

std::optional<std::int64_t> v_of(const std::string& after) {
  rapidjson::Document doc;
  doc.Parse(after.c_str());
  if (!doc.IsObject() || !doc.HasMember("v") || !doc["v"].IsInt64()) return std::nullopt;
  return doc["v"].GetInt64();
}

}  // namespace

void check_table(PgConnection& db, const std::string& table, const std::string& sql_name,
                 const std::vector<test::ChangeEvent>& events, const WriteLog& log,
                 Verdict& verdict) {
  static const std::set<std::int64_t> kNone;
  auto of = [&](const std::map<std::string, std::set<std::int64_t>>& sets) -> const auto& {
    auto it = sets.find(table);
    return it == sets.end() ? kNone : it->second;
  };
  const auto& committed = of(log.committed);
  const auto& rolled_back = of(log.rolled_back);
  const auto& detached = of(log.detached);
  // A table read again repeats its rows as snapshot reads: those are no duplicates.
  const bool reread = log.rereads.count(table) > 0;

  std::map<std::string, std::int64_t> newest;  // key -> newest v published for it
  // (key, v, read by the snapshot) published. A snapshot row equal to a change streamed before it
  // is no duplicate: a chunk reads the rows as they are, and changes before its window stay.
  std::set<std::tuple<std::string, std::int64_t, bool>> seen;
  std::set<std::int64_t> seen_v;
  std::map<std::string, std::optional<std::int64_t>> live;  // key -> v, nullopt once deleted
  for (const auto& event : events) {
    ++verdict.records;
    if (!event.value) continue;  // a tombstone follows its delete
    if (event.op == "t") {       // TRUNCATE: every key before it is gone
      for (auto& [key, v] : live) v = std::nullopt;
      continue;
    }
    if (event.op == "d") {
      live[event.key] = std::nullopt;
      continue;
    }
    std::optional<std::int64_t> v = v_of(event.after);
    if (!v) {
      ++verdict.lost;
      verdict.example(table + ": a record without v: " + *event.value);
      continue;
    }
    if (rolled_back.count(*v)) {
      ++verdict.out_of_order;
      verdict.example(table + ": a record of rolled-back work, key " + event.key + " v " +
                      std::to_string(*v));
    }
    if (!seen.emplace(event.key, *v, event.op == "r").second) {
      if (!(reread && event.op == "r")) ++verdict.duplicates;
    } else if (auto it = newest.find(event.key); it != newest.end() && *v < it->second) {
      if (event.op == "r") {
        ++verdict.stale;
        verdict.example(table + ": snapshot row v " + std::to_string(*v) + " of " + event.key +
                        " after v " + std::to_string(it->second));
      } else {
        ++verdict.out_of_order;
        verdict.example(table + ": change v " + std::to_string(*v) + " of " + event.key +
                        " after v " + std::to_string(it->second));
      }
    }
    auto& top = newest[event.key];
    top = std::max(top, *v);
    seen_v.insert(*v);
    live[event.key] = v;
  }
  for (std::int64_t v : committed) {
    if (!seen_v.count(v)) {
      ++verdict.lost;
      verdict.example(table + ": committed v " + std::to_string(v) + " never published");
    }
  }
  // The end state: the live records are exactly the table's rows (each row's v is unique).
  std::set<std::int64_t> in_table, in_kafka;
  auto rows = db.exec("SELECT v FROM " + sql_name);
  for (int row = 0; row < PQntuples(rows.get()); ++row) {
    in_table.insert(std::stoll(std::string(field(rows.get(), row, 0))));
  }
  for (const auto& [key, v] : live) {
    if (v) in_kafka.insert(*v);
  }
  for (std::int64_t v : in_table) {
    if (!in_kafka.count(v)) {
      ++verdict.lost;
      verdict.example(table + ": row with v " + std::to_string(v) +
                      " is not the last record of "
                      "its key");
    }
  }
  for (std::int64_t v : in_kafka) {
    // A detached partition's rows leave the table without a delete: their records stay.
    if (!in_table.count(v) && !detached.count(v)) {
      ++verdict.stale;
      verdict.example(table + ": the last record of a key has v " + std::to_string(v) +
                      ", which the table no longer holds");
    }
  }
}

}  // namespace pgcdc::torture
