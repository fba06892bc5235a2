#pragma once
// The torture harness's writer: random transactions over the tables (inserts, updates, deletes,
// key changes and partition moves, transactions across tables, large ones, rollbacks and
// savepoints, TRUNCATE, ADD and DROP COLUMN), and the log of what committed.
//
// Every insert and update sets v = nextval(<sequence>): v is unique and, per key, grows in commit
// order. The oracle checks Kafka against that.
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "tests/torture/schema.h"

namespace pgcdc::torture {

struct WriteLog {
  // Per table: v of every committed insert or update; v drawn in rolled-back work (never
  // published); v of transactions whose commit's outcome is unknown (the connection failed).
  std::map<std::string, std::set<std::int64_t>> committed, rolled_back, uncertain;
  std::map<std::string, int> truncates, ddl;
  std::uint64_t transactions = 0;
};

class Writer {
 public:
  Writer(std::string pg_url, std::vector<TableShape>& tables,
         std::vector<std::vector<std::vector<std::string>>> keys, std::string sequence,
         std::uint64_t seed, bool large_transactions);

  // Writer thread: transactions until stop(); pauses between them while paused.
  void run();
  void stop() { stop_ = true; }
  // Any thread: no transaction runs from return until resume() (a server restart is coming).
  void pause();
  void resume();
  WriteLog log() const;

 private:
  void one_transaction(PgConnection& db);
  // One change inside an open transaction; v's drawn go to `drawn[table]`.
  void change(PgConnection& db, std::size_t table,
              std::map<std::string, std::vector<std::int64_t>>& drawn);
  void insert(PgConnection& db, std::size_t table,
              std::map<std::string, std::vector<std::int64_t>>& drawn);
  void large_insert(PgConnection& db, std::size_t table,
                    std::map<std::string, std::vector<std::int64_t>>& drawn);
  void ddl(PgConnection& db, std::size_t table);

  std::string pg_url_;
  std::vector<TableShape>& tables_;
  std::vector<std::vector<std::vector<std::string>>> keys_;  // per table, the live keys
  std::string sequence_;
  std::mt19937_64 random_;
  bool large_transactions_;
  std::atomic<bool> stop_{false};

  mutable std::mutex mutex_;  // guards log_, paused_, busy_
  std::condition_variable changed_;
  WriteLog log_;
  bool paused_ = false;
  bool busy_ = false;
};

}  // namespace pgcdc::torture
