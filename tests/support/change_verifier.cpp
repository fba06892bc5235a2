#include "tests/support/change_verifier.h"

#include <rapidjson/document.h>

#include <chrono>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "tests/support/test_env.h"

namespace pgcdc::test {
namespace {

std::int64_t value_of(const std::string& after_json) {
  rapidjson::Document doc;
  doc.Parse(after_json.c_str());
  return doc.IsObject() && doc.HasMember("v") ? doc["v"].GetInt64() : -2;
}

std::int64_t id_of(const std::string& key_json) {
  rapidjson::Document doc;
  doc.Parse(key_json.c_str());
  return doc.IsObject() && doc.HasMember("id") ? doc["id"].GetInt64() : -1;
}

}  // namespace

void create_verifier_table(PgConnection& db, const std::string& table, int rows) {
  db.exec("CREATE SEQUENCE " + table + "_seq START 1");
  db.exec("CREATE TABLE " + table + " (id bigint PRIMARY KEY, v bigint NOT NULL)");
  db.exec("INSERT INTO " + table + " SELECT g, 0 FROM generate_series(1, " + std::to_string(rows) +
          ") g");
}

namespace {

// Whether the transaction whose changes are `pending` committed, from the table as it is now: its
// last change is there (a key's v is unique, and only this writer touches its keys).
bool committed(PgConnection& db, const std::string& table, const std::vector<Write>& pending) {
  if (pending.empty()) return false;
  const Write& last = pending.back();
  auto r = db.exec("SELECT v FROM " + table + " WHERE id = " + std::to_string(last.id));
  if (last.v == -1) return PQntuples(r.get()) == 0;
  return PQntuples(r.get()) == 1 && std::stoll(std::string(field(r.get(), 0, 0))) == last.v;
}

}  // namespace

void Writer::run(std::int64_t max_existing_id, const std::atomic<bool>* stop) {
  const std::string url = url_.empty() ? test_env().pg_url : url_;
  PgConnection db(url, PgConnection::Kind::kQuery, kTestConnectionTimeout);
  std::mt19937_64 random(static_cast<unsigned>(parity_ * 7919 + 1));
  const std::string next = "nextval('" + table_ + "_seq')";
  for (int t = 0; t < transactions_ && !(stop && *stop); ++t) {
    std::vector<Write> pending;
    try {
      write_one(db, random, next, max_existing_id, pending);
    } catch (const PgError&) {
      if (url_.empty()) throw;
      // The server went away mid-transaction: connect again (up to a minute) and ask the table
      // whether the transaction committed before it did.
      std::optional<PgConnection> again;
      for (int attempt = 0; attempt < 600 && !again; ++attempt) {
        try {
          again.emplace(url, PgConnection::Kind::kQuery, kTestConnectionTimeout);
        } catch (const PgError&) {
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
      }
      if (!again) throw;
      db = std::move(*again);
      ++reconnects_;
      if (committed(db, table_, pending)) {
        writes_.insert(writes_.end(), pending.begin(), pending.end());
      } else {
        // Not committed: the keys it inserted stay unused, so later inserts take new ones.
      }
      continue;
    }
    writes_.insert(writes_.end(), pending.begin(), pending.end());
  }
}

void Writer::write_one(PgConnection& db, std::mt19937_64& random, const std::string& next,
                       std::int64_t max_existing_id, std::vector<Write>& pending) {
  db.exec("BEGIN");
  int changes = 1 + static_cast<int>(random() % 4);
  for (int c = 0; c < changes; ++c) {
    int kind = static_cast<int>(random() % 10);
    if (kind < 2) {  // a new key
      std::int64_t id = next_id_;
      next_id_ += 2;
      auto r = db.exec("INSERT INTO " + table_ + " VALUES (" + std::to_string(id) + ", " + next +
                       ") RETURNING v");
      pending.push_back({id, std::stoll(std::string(field(r.get(), 0, 0)))});
      continue;
    }
    std::int64_t id =
        static_cast<std::int64_t>(random() % static_cast<std::uint64_t>(max_existing_id / 2)) * 2 +
        parity_;
    if (kind < 9) {
      auto r = db.exec("UPDATE " + table_ + " SET v = " + next +
                       " WHERE id = " + std::to_string(id) + " RETURNING v");
      if (PQntuples(r.get()) == 1) {
        pending.push_back({id, std::stoll(std::string(field(r.get(), 0, 0)))});
      }
    } else {
      auto r =
          db.exec("DELETE FROM " + table_ + " WHERE id = " + std::to_string(id) + " RETURNING id");
      if (PQntuples(r.get()) == 1) pending.push_back({id, -1});
    }
  }
  db.exec("COMMIT");
}

std::string VerifyReport::summary() const {
  std::string text = "lost=" + std::to_string(lost) + " duplicated=" + std::to_string(duplicated) +
                     " out_of_order=" + std::to_string(out_of_order) +
                     " wrong_final=" + std::to_string(wrong_final);
  for (const auto& example : examples) text += "\n  " + example;
  return text;
}

std::size_t minimum_records(const std::vector<Write>& writes) {
  std::size_t count = 0;
  for (const auto& w : writes) count += w.v < 0 ? 2 : 1;
  return count;
}

VerifyReport verify_changes(PgConnection& db, const std::string& table,
                            const std::vector<ChangeEvent>& events,
                            const std::vector<Write>& writes) {
  VerifyReport report;
  auto note = [&](const std::string& text) {
    if (report.examples.size() < 12) report.examples.push_back(text);
  };
  std::map<std::int64_t, std::vector<const ChangeEvent*>> by_key;
  for (const auto& e : events) {
    if (e.value) by_key[id_of(e.key)].push_back(&e);  // tombstones go with their delete
  }
  std::map<std::int64_t, std::int64_t> rows;
  auto result = db.exec("SELECT id, v FROM " + table);
  for (int r = 0; r < PQntuples(result.get()); ++r) {
    rows[std::stoll(std::string(field(result.get(), r, 0)))] =
        std::stoll(std::string(field(result.get(), r, 1)));
  }

  // Final state: the last record of every key equals the table.
  for (const auto& [id, v] : rows) {
    auto it = by_key.find(id);
    if (it == by_key.end()) {
      ++report.wrong_final;
      note("row " + std::to_string(id) + " never reached Kafka");
      continue;
    }
    const ChangeEvent* last = it->second.back();
    if (last->op == "d" || value_of(last->after) != v) {
      ++report.wrong_final;
      note("row " + std::to_string(id) + ": last record " + last->op + " " + last->after +
           ", table has v=" + std::to_string(v));
    }
  }
  for (const auto& [id, list] : by_key) {
    if (!rows.count(id) && list.back()->op != "d") {
      ++report.wrong_final;
      note("deleted row " + std::to_string(id) + " ends with " + list.back()->op);
    }
  }

  // Every committed change is present (as a change record, not only as a snapshot read).
  for (const auto& w : writes) {
    bool found = false;
    for (const auto* e : by_key[w.id]) {
      if (w.v < 0 ? e->op == "d" : (e->op != "d" && e->op != "r" && value_of(e->after) == w.v)) {
        found = true;
        break;
      }
    }
    if (!found) {
      ++report.lost;
      note("committed change id=" + std::to_string(w.id) + " v=" + std::to_string(w.v) +
           " is missing");
    }
  }

  // Duplicates, and order: replays after a crash repeat earlier records (duplicates); taking each
  // record's first occurrence, values must grow per key, and a snapshot read must never be older
  // than a change published before it.
  for (const auto& [id, list] : by_key) {
    std::set<std::string> seen;
    std::int64_t highest = -1;
    bool deleted = false;
    for (const auto* e : list) {
      if (!seen.insert(e->op + e->after + e->before).second) {
        ++report.duplicated;
        continue;
      }
      if (e->op == "d") {
        deleted = true;
        continue;
      }
      std::int64_t v = value_of(e->after);
      if (v < highest || (e->op == "r" && deleted)) {
        ++report.out_of_order;
        note("out of order " + e->op + " for id " + std::to_string(id) + ": v=" +
             std::to_string(v) + " after v=" + std::to_string(highest) +
             (deleted ? " (deleted before)" : ""));
      }
      highest = std::max(highest, v);
      if (e->op != "r") deleted = false;
    }
  }
  return report;
}

}  // namespace pgcdc::test
