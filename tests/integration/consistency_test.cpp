// Invariant 2, no gap and no stale overwrite: writers change the table while pgcdc snapshots it;
// Kafka must end up holding every committed change, in commit order per key, with no snapshot row
// published after a newer change of its key, and the last record per key equal to the table.
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <signal.h>

#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "tests/support/pipeline_fixture.h"

namespace pgcdc::test {
namespace {

using namespace std::chrono_literals;

// A committed change made by a writer: v is unique and grows in commit order for each key.
struct Write {
  std::int64_t id;
  std::int64_t v;  // -1 for a delete
};

class Writer {
 public:
  // Writes to ids with id % 2 == parity (two writers never touch the same key, so per-key order
  // is each writer's commit order), `transactions` small transactions with 1..4 changes each.
  Writer(const std::string& table, int parity, int transactions, std::int64_t first_new_id)
      : table_(table), parity_(parity), transactions_(transactions), next_id_(first_new_id + parity) {}

  void run(std::int64_t max_existing_id) {
    PgConnection db(test_env().pg_url, PgConnection::Kind::kQuery);
    std::mt19937_64 random(static_cast<unsigned>(parity_ * 7919 + 1));
    for (int t = 0; t < transactions_; ++t) {
      std::vector<Write> pending;
      db.exec("BEGIN");
      int changes = 1 + static_cast<int>(random() % 4);
      for (int c = 0; c < changes; ++c) {
        int kind = static_cast<int>(random() % 10);
        if (kind < 2) {  // insert a new key
          std::int64_t id = next_id_;
          next_id_ += 2;
          auto r = db.exec("INSERT INTO " + table_ + " VALUES (" + std::to_string(id) +
                           ", nextval('" + table_ + "_seq')) RETURNING v");
          pending.push_back({id, std::stoll(std::string(field(r.get(), 0, 0)))});
        } else {
          std::int64_t id = static_cast<std::int64_t>(random() % static_cast<std::uint64_t>(max_existing_id / 2)) * 2 + parity_;
          if (kind < 9) {
            auto r = db.exec("UPDATE " + table_ + " SET v = nextval('" + table_ + "_seq') WHERE id = " +
                             std::to_string(id) + " RETURNING v");
            if (PQntuples(r.get()) == 1) pending.push_back({id, std::stoll(std::string(field(r.get(), 0, 0)))});
          } else {
            auto r = db.exec("DELETE FROM " + table_ + " WHERE id = " + std::to_string(id) + " RETURNING id");
            if (PQntuples(r.get()) == 1) pending.push_back({id, -1});
          }
        }
      }
      db.exec("COMMIT");
      writes_.insert(writes_.end(), pending.begin(), pending.end());
    }
  }

  const std::vector<Write>& writes() const { return writes_; }

 private:
  std::string table_;
  int parity_;
  int transactions_;
  std::int64_t next_id_;
  std::vector<Write> writes_;
};

std::int64_t value_of(const std::string& after_json) {
  rapidjson::Document doc;
  doc.Parse(after_json.c_str());
  return doc["v"].GetInt64();
}

std::int64_t id_of(const std::string& key_json) {
  rapidjson::Document doc;
  doc.Parse(key_json.c_str());
  return doc["id"].GetInt64();
}

class Consistency : public PipelineTest {
 protected:
  void create_table(int rows) {
    sql("CREATE SEQUENCE " + name_ + "_seq START 1");
    sql("CREATE TABLE " + name_ + " (id bigint PRIMARY KEY, v bigint NOT NULL)");
    sql("INSERT INTO " + name_ + " SELECT g, 0 FROM generate_series(1, " + std::to_string(rows) + ") g");
  }

  // Checks Kafka against the writers' log and the table's final state. `exactly_once_delivery`:
  // no session was killed, so there must be no duplicate record either.
  void verify(const std::vector<ChangeEvent>& events, const std::vector<Write>& writes,
              bool no_duplicates) {
    std::map<std::int64_t, std::vector<const ChangeEvent*>> by_key;
    for (const auto& e : events) {
      if (!e.value) continue;  // tombstones are checked with their delete
      by_key[id_of(e.key)].push_back(&e);
    }
    // Final state of the table.
    std::map<std::int64_t, std::int64_t> table;
    auto rows = db().exec("SELECT id, v FROM " + name_);
    for (int r = 0; r < PQntuples(rows.get()); ++r) {
      table[std::stoll(std::string(field(rows.get(), r, 0)))] = std::stoll(std::string(field(rows.get(), r, 1)));
    }
    // 1. The last record of every key equals the table (a deleted row ends with a delete).
    int wrong_final = 0;
    for (const auto& [id, v] : table) {
      auto it = by_key.find(id);
      if (it == by_key.end()) {
        ++wrong_final;
        ADD_FAILURE() << "row " << id << " never reached Kafka";
        continue;
      }
      const ChangeEvent* last = it->second.back();
      if (last->op == "d" || value_of(last->after) != v) {
        if (++wrong_final < 10) ADD_FAILURE() << "row " << id << ": last record " << last->op << " " << last->after << ", table has v=" << v;
      }
    }
    for (const auto& [id, list] : by_key) {
      if (!table.count(id) && list.back()->op != "d") {
        if (++wrong_final < 10) ADD_FAILURE() << "deleted row " << id << " ends with " << list.back()->op;
      }
    }
    EXPECT_EQ(wrong_final, 0);

    // 2. Every committed change is present.
    int missing = 0;
    for (const auto& w : writes) {
      bool found = false;
      for (const auto* e : by_key[w.id]) {
        if (w.v < 0 ? e->op == "d" : (e->op != "d" && value_of(e->after) == w.v && e->op != "r")) {
          found = true;
          break;
        }
      }
      if (!found && ++missing < 10) ADD_FAILURE() << "committed change id=" << w.id << " v=" << w.v << " is missing";
    }
    EXPECT_EQ(missing, 0);

    // 3. Per key, values only grow, and no snapshot row follows a delete of its key (when no
    //    session was killed; a restart may legitimately replay older changes).
    if (!no_duplicates) return;
    int stale = 0, duplicates = 0;
    for (const auto& [id, list] : by_key) {
      std::int64_t highest = -1;
      bool deleted = false;
      std::set<std::string> seen;
      for (const auto* e : list) {
        if (!seen.insert(e->op + e->after + e->before).second) ++duplicates;
        if (e->op == "d") {
          deleted = true;
          continue;
        }
        std::int64_t v = value_of(e->after);
        if (v < highest || (e->op == "r" && deleted)) {
          if (++stale < 10) ADD_FAILURE() << "stale " << e->op << " for id " << id << ": v=" << v << " after v=" << highest;
        }
        highest = std::max(highest, v);
        if (e->op != "r") deleted = false;
      }
    }
    EXPECT_EQ(stale, 0);
    EXPECT_EQ(duplicates, 0);
  }

  std::size_t expected_minimum(const std::vector<Write>& writes) {
    std::size_t count = 0;
    for (const auto& w : writes) count += w.v < 0 ? 2 : 1;
    return count;
  }
};

TEST_F(Consistency, WritersDuringTheSnapshotLoseNothingAndOverwriteNothing) {
  const int rows = 100000;
  create_table(rows);
  start_daemon(write_config(toml_config({name_}, "snapshot_chunk_rows = 1000\n")));
  ASSERT_TRUE(wait_for_slot(60s)) << daemon_->log();
  Writer even(name_, 0, 1500, rows + 1), odd(name_, 1, 1500, rows + 1);
  std::thread a([&] { even.run(rows); });
  std::thread b([&] { odd.run(rows); });
  a.join();
  b.join();
  ASSERT_TRUE(wait_for_slot_to_catch_up(120s)) << daemon_->log();
  std::vector<Write> writes = even.writes();
  writes.insert(writes.end(), odd.writes().begin(), odd.writes().end());
  auto events = read_topic(topic(name_), expected_minimum(writes) + 1, 120s, 3s);
  verify(events, writes, /*no_duplicates=*/true);
  stop_daemon();
}

TEST_F(Consistency, KilledMidSnapshotAndMidStreamLosesNothing) {
  const int rows = 50000;
  create_table(rows);
  std::string config = write_config(toml_config({name_}, "snapshot_chunk_rows = 200\n"));
  start_daemon(config);
  ASSERT_TRUE(wait_for_slot(60s)) << daemon_->log();
  Writer even(name_, 0, 2500, rows + 1), odd(name_, 1, 2500, rows + 1);
  std::thread a([&] { even.run(rows); });
  std::thread b([&] { odd.run(rows); });

  // Mid-snapshot: as soon as a few thousand records are in Kafka.
  read_topic(topic(name_), 3000, 60s);
  daemon_->signal(SIGKILL);
  daemon_->wait(10s);
  start_daemon(config);
  // Mid-stream: once the snapshot is complete (all rows published at least once).
  read_topic(topic(name_), rows + 3000, 120s);
  std::this_thread::sleep_for(500ms);
  daemon_->signal(SIGKILL);
  daemon_->wait(10s);
  start_daemon(config);
  a.join();
  b.join();
  ASSERT_TRUE(wait_for_slot_to_catch_up(120s)) << daemon_->log();
  std::vector<Write> writes = even.writes();
  writes.insert(writes.end(), odd.writes().begin(), odd.writes().end());
  auto events = read_topic(topic(name_), rows + expected_minimum(writes), 120s, 3s);
  verify(events, writes, /*no_duplicates=*/false);
  stop_daemon();
}

}  // namespace
}  // namespace pgcdc::test

namespace pgcdc::test {
namespace {

using namespace std::chrono_literals;

// Exactly-once: the same kills as above, and a read_committed reader must see every committed
// change exactly once: no loss, no duplicate, no stale overwrite.
TEST_F(Consistency, ExactlyOnceKilledMidSnapshotAndMidStreamNeitherLosesNorDuplicates) {
  const int rows = 30000;
  create_table(rows);
  // delivery belongs to [sink.kafka]: insert it right after the section header.
  std::string text = toml_config({name_}, "snapshot_chunk_rows = 300\n");
  text.replace(text.find("[sink.kafka]\n"), 13,
               "[sink.kafka]\ndelivery = 'exactly_once'\ntransaction_interval = '50ms'\n");
  std::string config = write_config(text);
  start_daemon(config);
  ASSERT_TRUE(wait_for_slot(60s)) << daemon_->log();
  Writer even(name_, 0, 1500, rows + 1), odd(name_, 1, 1500, rows + 1);
  std::thread a([&] { even.run(rows); });
  std::thread b([&] { odd.run(rows); });

  read_topic(topic(name_), 2000, 60s);  // mid-snapshot
  daemon_->signal(SIGKILL);
  daemon_->wait(10s);
  start_daemon(config);
  read_topic(topic(name_), rows + 1000, 120s);  // snapshot done, streaming
  std::this_thread::sleep_for(300ms);
  daemon_->signal(SIGKILL);
  daemon_->wait(10s);
  start_daemon(config);
  a.join();
  b.join();
  ASSERT_TRUE(wait_for_slot_to_catch_up(120s)) << daemon_->log();
  std::vector<Write> writes = even.writes();
  writes.insert(writes.end(), odd.writes().begin(), odd.writes().end());
  auto events = read_topic(topic(name_), rows + expected_minimum(writes), 120s, 3s);
  verify(events, writes, /*no_duplicates=*/true);
  stop_daemon();
}

}  // namespace
}  // namespace pgcdc::test
